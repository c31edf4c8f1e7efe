"""The registered datasets, one file per family; synthetic.py is the embedded default."""

from benchsuite.datasets import synthetic  # noqa: F401  registration side effects
