"""benchsuite: a declarative benchmark suite for debiased representation learning.

Importing the package is cheap and loads neither torch nor any plugin. The built-in methods, datasets and
backbones register with their registries and with gin when `benchsuite.experiment.components.load()` runs: the
command line and `execute` call it before they parse gin; call it yourself before calling gin directly on the
suite's files. The folders, from the top down (a folder imports only from those below it): cli, sweep,
experiment, methods, evaluation, training, models, then datasets, losses and leaderboard, then the core
modules beside this file (config, registry, records, faults, errors).
"""

__version__ = "0.1.0"
