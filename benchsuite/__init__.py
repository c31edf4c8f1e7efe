"""benchsuite: a declarative benchmark suite for debiased representation learning.

Importing the package is cheap and loads neither torch nor any plugin. The built-in methods, datasets and
backbones register with their registries and with gin on the first registry lookup or gin parse
(`benchsuite.config.parse`), followed by the installed plugins; `import benchsuite.builtins` registers the
built-ins at once, e.g. before calling gin yourself.
"""

__version__ = "0.1.0"
