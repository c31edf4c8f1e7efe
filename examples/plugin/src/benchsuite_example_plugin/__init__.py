"""An example benchsuite plugin: importing the package registers its method and its dataset.

The entry points of pyproject.toml name the two modules; a gin `import benchsuite_example_plugin` line or
`--plugin benchsuite_example_plugin` loads both without installing the package.
"""

from benchsuite_example_plugin import label_smoothing, severe_backgrounds  # noqa: F401  registration
