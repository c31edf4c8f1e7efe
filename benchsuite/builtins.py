"""The built-in methods, datasets and backbones: importing this module registers them with their registries and
with gin (with the `run` gin root, the Trainer and the augmentations that gin files bind).

The registries and the gin parser import it on their first use (through `benchsuite.plugins`, built-ins before
plugins), so `import benchsuite` stays light: the leaderboard, which reads records only, never loads torch.
Import it yourself before calling gin directly on the suite's files.
"""

from benchsuite import backbones, datasets, methods, pretraining, run  # noqa: F401  registration with gin
