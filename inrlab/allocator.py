"""The CPU memory switch, `enable()` (`inrlab.fast_allocator()`): importing inrlab changes
nothing; the CLI and every study notebook call this first thing.

1. PyTorch's transparent huge pages (`THP_MEM_ALLOC_ENABLE=1`, set unless the variable is
   already set): CPU tensors of 2 MB and more sit on 2 MB pages, so a fresh activation-sized
   tensor is faulted in 2 MB at a time instead of 4 KB. PyTorch reads the variable once, at
   its first CPU allocation, so call `enable()` before any tensor is made (right after the
   imports is fine: importing torch and inrlab allocates none).
2. With huge pages on and glibc's malloc, two malloc settings (`mallopt`): allocations below
   32 MiB come from the heap (`M_MMAP_THRESHOLD`) and up to 1 GiB of free memory at the heap's
   top is kept (`M_TRIM_THRESHOLD`). Without them each 2-32 MB tensor PyTorch frees goes back
   to the kernel and the next one is mapped and zeroed afresh; glibc's own adaptive threshold
   would reach 32 MiB too, but PyTorch's 2 MB-aligned huge-page allocations never let it
   adapt. The price is a higher peak of resident memory where 2-32 MB tensors of different
   sizes come and go (README, Measured results).

`THP_MEM_ALLOC_ENABLE=0` in the environment keeps PyTorch's and glibc's defaults for both.
`SETTINGS` records what was applied (empty until `enable()` runs).
"""

from __future__ import annotations

import ctypes
import os
import sys

HEAP_BELOW = 32 << 20    # M_MMAP_THRESHOLD: glibc's largest adaptive value on 64-bit
TRIM_ABOVE = 1 << 30     # M_TRIM_THRESHOLD
_M_TRIM_THRESHOLD, _M_MMAP_THRESHOLD = -1, -3   # glibc's <malloc.h> parameter numbers

SETTINGS: dict = {}


def _glibc():
    """glibc's C library, or None (another libc, another OS)."""
    if not sys.platform.startswith("linux"):
        return None
    try:  # the process's own symbols, libc's among them (no ldconfig subprocess)
        libc = ctypes.CDLL(None)
        libc.gnu_get_libc_version.restype = ctypes.c_char_p
        libc.gnu_get_libc_version()
        return libc
    except (OSError, AttributeError):
        return None


def enable() -> dict:
    """Apply the settings above (once per process) and return `SETTINGS`."""
    if SETTINGS:
        return SETTINGS
    os.environ.setdefault("THP_MEM_ALLOC_ENABLE", "1")
    thp = os.environ["THP_MEM_ALLOC_ENABLE"]
    heap_below = trim_above = None
    libc = _glibc() if thp == "1" else None
    if libc is not None and libc.mallopt(_M_MMAP_THRESHOLD, HEAP_BELOW) == 1:
        heap_below = HEAP_BELOW
        if libc.mallopt(_M_TRIM_THRESHOLD, TRIM_ABOVE) == 1:
            trim_above = TRIM_ABOVE
    SETTINGS.update({"THP_MEM_ALLOC_ENABLE": thp, "malloc_heap_below": heap_below,
                     "malloc_trim_above": trim_above})
    return SETTINGS

