"""Named kill points, for testing that a run survives being killed at any moment.

`kill_point(name)` does nothing unless the environment variable BENCHSUITE_KILL_AT is `<name>[:<n>[:<signal>]]`:
then the process sends itself SIGKILL the n-th time (default the first) it reaches that point, exactly as a
crash, an out-of-memory kill or a pulled plug would end it, with no cleanup; or the named signal instead
(`INT` as Ctrl-C, `TERM`), to test how a run stops on it. The points:

- `run.owned`: the run folder is taken, nothing written yet;
- `<file>.half`, `<file>.written`, `<file>.rotated`, `<file>.replaced` for file = record, resumes, checkpoint:
  halfway through writing the temporary file, once it is complete and verified, after the previous checkpoint
  was moved aside (checkpoint only), and once it replaced the old file;
- `metrics.half`, `metrics.appended`: halfway through and after appending an evaluation's lines;
- `epoch.<stage>`: after an epoch of a stage's training loop, before its evaluation (stage names with `_`
  for spaces, e.g. `epoch.train`, `epoch.identification`, `epoch.linear_probe` inside the probe);
- `stage.start`, `stage.end`: before and after each of a method's stages (JTT's error set is computed between
  `stage.end:1` and `stage.start:2`).

tests/fault_injection.py kills a run at 20 such points, resumes it each time and compares it with a run that
was never killed.
"""

from __future__ import annotations

import os
import signal
from collections import Counter

ENVIRONMENT = "BENCHSUITE_KILL_AT"
_reached: Counter[str] = Counter()


def kill_point(name: str) -> None:
    """SIGKILL this process (or send it the named signal) if BENCHSUITE_KILL_AT names this point and this is
    its n-th arrival."""
    spec = os.environ.get(ENVIRONMENT)
    if not spec:
        return
    point, count, kind = [*spec.split(":"), "", ""][:3]
    if point != name:
        return
    _reached[name] += 1
    if _reached[name] == int(count or 1):
        os.kill(os.getpid(), getattr(signal, f"SIG{kind or 'KILL'}"))
