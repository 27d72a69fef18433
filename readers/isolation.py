"""Running a native-code parser in a child process with a memory ceiling and a time limit.

python-calamine (Rust) can be driven by a damaged workbook into asking for tens of GB; a failed allocation
there aborts the whole process, which no ``try`` can catch — it would take the nightly run with it. Parsing
binary Excel in a long-lived child process with an address-space limit turns that into an error for one
file. The child is started once per process that needs it (forkserver: no threads inherited from Prefect)
and reused.

The child has a lifecycle of its own, because a process that forgets its child cannot exit: Python joins
non-daemonic children at exit, so a worker process (pipeline/workers.py) that had parsed one workbook used
to wait for ever on its idle parser child, and the pool's shutdown on the worker — the whole run hung.
So: the child is stopped when the process that started it exits normally (a multiprocessing finaliser,
which runs before that join, and ``atexit``); it is killed when a call overruns its time limit; and it
dies with its parent when that parent is killed (``PR_SET_PDEATHSIG`` where Linux offers it, and a thread
watching the parent otherwise), so a SIGTERM/SIGKILL of the run leaves no parser behind.
"""

from __future__ import annotations

import atexit
import contextlib
import ctypes
import multiprocessing
import os
import resource
import signal
import sys
import threading
import time
from collections.abc import Callable
from multiprocessing.connection import Connection
from multiprocessing.process import BaseProcess
from multiprocessing.util import Finalize
from typing import Any, TypeVar

T = TypeVar("T")

MEMORY_LIMIT_BYTES = 3 * 1024**3
TIMEOUT_S = 120.0

_PR_SET_PDEATHSIG = 1


class IsolatedCrash(Exception):
    """The child process died (out of memory, native crash) or timed out."""


def _die_with_parent() -> None:
    """The child must not outlive the process it serves (its parent: the forkserver, which itself leaves
    when the process that started it is gone). The kernel's parent-death signal is immediate; the thread
    is the portable fallback."""
    if sys.platform.startswith("linux"):
        with contextlib.suppress(OSError, AttributeError):
            ctypes.CDLL(None, use_errno=True).prctl(_PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0)
    parent = os.getppid()

    def watch() -> None:
        while os.getppid() == parent:
            time.sleep(0.5)
        os._exit(0)

    threading.Thread(target=watch, name="watch-parent", daemon=True).start()
    if os.getppid() != parent:  # the parent died before the signal was armed
        os._exit(0)


def _child_main(conn: Connection, limit: int) -> None:
    resource.setrlimit(resource.RLIMIT_AS, (limit, limit))
    _die_with_parent()
    while True:
        try:
            msg = conn.recv()
        except (EOFError, OSError):
            return
        if msg is None:
            return
        fn, args = msg
        try:
            reply: tuple[bool, Any] = (True, fn(*args))
        except BaseException as exc:  # every failure goes back to the caller, as it is
            reply = (False, exc)
        try:
            conn.send(reply)
        except OSError:  # the caller is gone (its run was stopped): nobody to answer, nothing to print
            return
        except Exception as exc:  # a result or exception that cannot be pickled
            try:
                conn.send((False, RuntimeError(f"{type(exc).__name__}: {exc}")))
            except OSError:
                return


class _Child:
    def __init__(self) -> None:
        ctx = multiprocessing.get_context("forkserver")
        self.conn, theirs = ctx.Pipe()
        self.process: BaseProcess = ctx.Process(
            target=_child_main, args=(theirs, MEMORY_LIMIT_BYTES), name="excel-parser", daemon=True
        )
        self.process.start()
        theirs.close()

    def call(self, fn: Callable[..., T], args: tuple[Any, ...], timeout: float) -> T:
        try:
            self.conn.send((fn, args))
            ready = self.conn.poll(timeout)
            if not ready:
                raise IsolatedCrash(f"the parser took longer than {timeout:.0f} s and was stopped")
            ok, value = self.conn.recv()
        except (EOFError, BrokenPipeError, ConnectionResetError) as exc:
            raise IsolatedCrash("the parser process died (out of memory or a native crash)") from exc
        if ok:
            return value
        raise value

    def stop(self, *, kill: bool = False) -> None:
        """Ask the child to leave (or kill it), and reap it: no zombie, no orphan."""
        if not kill and self.process.is_alive():
            with contextlib.suppress(OSError):
                self.conn.send(None)
            self.process.join(2)
        if self.process.is_alive():
            self.process.kill()
            self.process.join(5)
        self.conn.close()


_lock = threading.Lock()
_child: _Child | None = None
_finaliser_pid: int | None = None


def shutdown() -> None:
    """Stop this process's parser child, if it has one (called at exit; safe to call any time)."""
    global _child
    with _lock:
        if _child is not None:
            _child.stop()
        _child = None


def child_pid() -> int | None:
    """The running parser child's PID, if any (tests check that it goes away)."""
    with _lock:
        return _child.process.pid if _child is not None else None


def _get_child() -> _Child:
    global _child, _finaliser_pid
    if _child is None or not _child.process.is_alive():
        if _child is not None:
            _child.stop(kill=True)
        _child = _Child()
        if _finaliser_pid != os.getpid():
            # Before multiprocessing joins this process's children at exit (a worker's exit), and at the
            # interpreter's exit (the flow's own process).
            Finalize(None, shutdown, exitpriority=100)
            atexit.register(shutdown)
            _finaliser_pid = os.getpid()
    return _child


def run_isolated(fn: Callable[..., T], *args: Any, timeout: float | None = None) -> T:
    """``fn(*args)`` in the memory-limited child; exceptions raised by ``fn`` come back as they are. A
    child that dies or overruns ``timeout`` (default ``TIMEOUT_S``) is killed and replaced at the next call;
    the caller gets ``IsolatedCrash``."""
    global _child
    with _lock:
        child = _get_child()
        try:
            return child.call(fn, args, TIMEOUT_S if timeout is None else timeout)
        except IsolatedCrash:
            child.stop(kill=True)
            _child = None
            raise
