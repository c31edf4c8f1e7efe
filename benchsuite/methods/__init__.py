"""The registered methods, one file each."""

from benchsuite.methods import erm, simclr  # noqa: F401  registration side effects
