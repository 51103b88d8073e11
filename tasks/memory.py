"""The process's heap: Arrow's allocations on the system allocator, and freed memory given back."""

from __future__ import annotations

import pyarrow as pa


def use_system_pool() -> None:
    """Arrow's default pool (mimalloc) keeps the pages that freed tables held, and the process's
    RSS with them; the system pool gives them back on ``give_back``."""
    pa.set_memory_pool(pa.system_memory_pool())


def give_back() -> None:
    """Give the heap freed so far back to the system: malloc's free pages (malloc_trim), and
    what Arrow's mimalloc still holds (some of Arrow's allocations use it whatever the default
    pool is)."""
    pa.default_memory_pool().release_unused()
    try:
        pa.mimalloc_memory_pool().release_unused()
    except NotImplementedError:  # a pyarrow built without mimalloc
        pass
