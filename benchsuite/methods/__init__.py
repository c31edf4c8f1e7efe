"""The registered methods, one file each."""

from benchsuite.methods import dcl, erm, hcl, jtt, simclr, wcl  # noqa: F401  registration side effects
