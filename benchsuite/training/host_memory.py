"""Keeping freed host memory in the process during CPU training (glibc's malloc settings, set at run time).

A training step on the CPU allocates and frees the same large activation buffers every step. With glibc's
defaults, free() hands much of that memory back to the kernel (trimming the heap top, unmapping large chunks),
and the next step faults every page in again: on 2 cores a quarter of the process's time went to the kernel.
Raising the trim threshold and the top pad keeps the memory for the next step; the small CNN's full training
step ran 12-23% faster on the CPU (benchmarks/README.md), for about 0.1 GiB more peak RSS. These are what the
MALLOC_TRIM_THRESHOLD_ and MALLOC_TOP_PAD_ environment variables set, applied through mallopt(3) so that
`python -m benchsuite run` needs no wrapper. Other C libraries (musl, macOS) are left as they are.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import platform

# mallopt(3) parameters (malloc.h)
_M_TRIM_THRESHOLD = -1
_M_TOP_PAD = -2
#: the largest value mallopt's int argument takes: never trim
_NEVER_TRIM = 2**31 - 1
_TOP_PAD = 1 << 30


def retain_freed_memory() -> bool:
    """Set glibc's trim threshold and top pad so that freed memory stays in the heap; return whether applied."""
    if platform.system() != "Linux" or platform.libc_ver()[0] != "glibc":
        return False
    libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6")
    return bool(libc.mallopt(_M_TRIM_THRESHOLD, _NEVER_TRIM)) and bool(libc.mallopt(_M_TOP_PAD, _TOP_PAD))
