"""The malloc settings a CPU run applies: they take effect where glibc is the C library."""

from __future__ import annotations

import platform
import subprocess
import sys

import pytest


@pytest.mark.skipif(platform.libc_ver()[0] != "glibc", reason="mallopt(3) settings are glibc's")
def test_glibc_accepts_the_settings_and_freed_memory_stays_in_the_process():
    # In a fresh process: 512 MiB allocated and freed from the heap top, then the process's RSS. With glibc's
    # defaults the heap top is trimmed (RSS drops back); with the settings the pages stay resident.
    script = """
import ctypes, ctypes.util, sys
from benchsuite.training.host_memory import retain_freed_memory
libc = ctypes.CDLL(ctypes.util.find_library("c"))
libc.malloc.restype = ctypes.c_void_p
libc.mallopt(-3, 1 << 30)  # M_MMAP_THRESHOLD: these blocks come from the heap, not from mmap
applied = retain_freed_memory() if sys.argv[1] == "on" else False
blocks = [libc.malloc(1 << 20) for _ in range(512)]
for block in blocks:
    ctypes.memset(block, 1, 1 << 20)
for block in reversed(blocks):
    libc.free(ctypes.c_void_p(block))
rss_kib = next(int(line.split()[1]) for line in open("/proc/self/status") if line.startswith("VmRSS"))
print(applied, rss_kib)
"""
    def rss(setting: str) -> tuple[str, int]:
        out = subprocess.run([sys.executable, "-c", script, setting], capture_output=True, text=True, check=True)
        applied, kib = out.stdout.split()
        return applied, int(kib)

    (applied_on, kept), (_, default) = rss("on"), rss("off")
    assert applied_on == "True"
    assert kept - default > 400 * 1024, (kept, default)  # about the 512 MiB stay resident

