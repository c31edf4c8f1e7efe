"""Sweeps: `grid.py` expands the `Sweep` gin root into run specs and their states, `submit.py` sends them through
submitit (SLURM job arrays, the local machine), `rerun.py` runs each entry's best setting with new seeds.

A sweep file's `import benchsuite.sweep` line imports this package, which registers the `Sweep` gin root.
"""

from benchsuite.sweep import grid  # noqa: F401  registers the `Sweep` gin root
