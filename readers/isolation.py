"""Running a native-code parser in a child process with a memory ceiling.

python-calamine (Rust) can be driven by a damaged workbook into asking for tens of GB; a failed allocation
there aborts the whole process, which no ``try`` can catch — it would take the nightly run with it. Parsing
binary Excel in a long-lived child process with an address-space limit turns that into an error for one
file. The child is started once (forkserver: no threads inherited from Prefect) and reused.
"""

from __future__ import annotations

import multiprocessing
import resource
import threading
from collections.abc import Callable
from concurrent.futures import ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from typing import Any, TypeVar

T = TypeVar("T")

MEMORY_LIMIT_BYTES = 3 * 1024**3
TIMEOUT_S = 120.0

_lock = threading.Lock()
_pool: ProcessPoolExecutor | None = None


class IsolatedCrash(Exception):
    """The child process died (out of memory, native crash) or timed out."""


def _limit_memory(limit: int) -> None:
    resource.setrlimit(resource.RLIMIT_AS, (limit, limit))


def _get_pool() -> ProcessPoolExecutor:
    global _pool
    with _lock:
        if _pool is None:
            ctx = multiprocessing.get_context("forkserver")
            _pool = ProcessPoolExecutor(
                max_workers=1, mp_context=ctx, initializer=_limit_memory, initargs=(MEMORY_LIMIT_BYTES,)
            )
        return _pool


def _reset_pool() -> None:
    global _pool
    with _lock:
        if _pool is not None:
            _pool.shutdown(wait=False, cancel_futures=True)
        _pool = None


def run_isolated(fn: Callable[..., T], *args: Any) -> T:
    """``fn(*args)`` in the memory-limited child; exceptions raised by ``fn`` come back as they are."""
    try:
        return _get_pool().submit(fn, *args).result(timeout=TIMEOUT_S)
    except BrokenProcessPool as exc:
        _reset_pool()
        raise IsolatedCrash("the parser process died (out of memory or a native crash)") from exc
    except TimeoutError as exc:
        _reset_pool()
        raise IsolatedCrash(f"the parser took longer than {TIMEOUT_S:.0f} s") from exc
