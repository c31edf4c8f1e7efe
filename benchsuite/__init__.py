"""benchsuite: a declarative benchmark suite for debiased representation learning.

Importing the package registers the built-in methods, datasets and backbones with their registries and
with gin, so that gin files can bind them.
"""

from benchsuite import backbones, datasets, methods, run  # noqa: F401  registration with gin

__version__ = "0.1.0"
