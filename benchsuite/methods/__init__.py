"""The registered methods, one file each."""

from benchsuite.methods import clad, dcl, erm, hcl, jtt, simclr, wcl  # noqa: F401  registration side effects
