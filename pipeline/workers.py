"""Processing files in worker processes while the one writer loads them in order.

Reading, curve fitting and validating a file is a pure function of its bytes, the configuration and the
manifest (pipeline/process.py), and it is most of the cost of an ingestion; loading is serial by design
(one writer, one transaction per file, Levey–Jennings against the runs loaded before). So the files are
processed ahead in a small pool of processes and handed back **in submission order**: the warehouse is
the same, row for row, as a serial run's, only sooner.

Worker processes are started with ``spawn`` (never ``fork``: the parent holds a DuckDB connection and
Prefect's threads). Each receives the shared arguments (configuration, manifest) once, at start-up, not
per file. As with any ``spawn`` pool, a script that starts an ingestion must do so under
``if __name__ == "__main__":`` (the ``biomarkers`` command, Prefect workers and pytest do). A worker exits
by itself when its parent dies (a killed ingestion leaves no orphans). A worker that crashes is not a lost
file: that file and every later one are processed in the parent instead; a result that cannot cross the
process boundary is redone in the parent; either way the reason is logged.

Processes have a lifecycle: the pool's workers are shut down when the files are done, and killed when the
run stops early (an error, SIGTERM) or an item overruns its time limit — waiting on a stuck worker would be
waiting for ever. A worker's own child (the Excel parser, readers/isolation.py) is stopped when the worker
exits and dies with it when it is killed.
"""

from __future__ import annotations

import contextlib
import logging
import multiprocessing
import os
import pickle
import signal
import tempfile
import threading
import time
from collections import deque
from collections.abc import Callable, Generator, Iterable, Iterator
from concurrent.futures import Future, ProcessPoolExecutor
from concurrent.futures import TimeoutError as FuturesTimeout
from concurrent.futures.process import BrokenProcessPool
from typing import Any, Generic, TypeVar

log = logging.getLogger(__name__)

Item = TypeVar("Item", bound=tuple[Any, ...])
Out = TypeVar("Out")

_SHARED: tuple[Any, ...] = ()


def _watch_parent(parent: int) -> None:
    """A worker whose parent is gone (SIGKILL, OOM) has nobody to report to: it leaves at once."""
    while True:
        if os.getppid() != parent:
            os._exit(0)
        time.sleep(0.5)


def _start_worker(shared_file: str, parent: int) -> None:
    global _SHARED
    with open(shared_file, "rb") as fh:
        _SHARED = pickle.load(fh)
    threading.Thread(target=_watch_parent, args=(parent,), name="watch-parent", daemon=True).start()


def _run(fn: Callable[..., Any], item: tuple[Any, ...]) -> Any:
    return fn(*item, *_SHARED)


class FileTimeout(BaseException):
    """Raised in this process when one item overruns the time limit (a BaseException, so that the code
    being interrupted — which catches ``Exception`` to quarantine a file — does not swallow it)."""


def _alarm(signum: int, frame: object) -> None:
    raise FileTimeout


@contextlib.contextmanager
def _time_limit(seconds: float | None) -> Iterator[None]:
    """A time limit on Python code running in this process's main thread (SIGALRM); elsewhere, none. Native
    code that never returns to Python is not interrupted: the Excel parser has its own child and limit
    (readers/isolation.py), and a pool of workers (``workers > 1``) enforces the limit by killing them."""
    usable = (
        seconds is not None
        and hasattr(signal, "setitimer")
        and threading.current_thread() is threading.main_thread()
    )
    if not usable:
        yield
        return
    assert seconds is not None
    previous = signal.signal(signal.SIGALRM, _alarm)
    signal.setitimer(signal.ITIMER_REAL, seconds)
    try:
        yield
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, previous)


class OrderedPool(Generic[Item, Out]):
    """``fn(*item, *shared)`` over items, in worker processes, results yielded in item order.

    ``workers <= 1`` runs in this process (no start-up cost: an upload's single file, the tests' small
    inboxes). ``ahead`` bounds how many results may wait in memory for the writer. ``timeout`` bounds one
    item: an item that overruns it (a file that hangs a parser) gets ``on_timeout(item, message)`` as its
    result — its worker is killed and a fresh pool takes the items after it — and the run goes on."""

    def __init__(
        self,
        fn: Callable[..., Out],
        shared: tuple[Any, ...],
        *,
        workers: int,
        ahead: int | None = None,
        timeout: float | None = None,
        on_timeout: Callable[[Item, str], Out] | None = None,
        startup_grace: float = 60.0,
    ) -> None:
        self.fn = fn
        self.shared = shared
        self.workers = max(1, workers)
        self.ahead = max(self.workers, ahead if ahead is not None else 2 * self.workers)
        self.timeout = timeout if on_timeout is not None else None
        self.on_timeout = on_timeout
        self.fell_back: str | None = None  # why the pool stopped and the parent took over, if it did
        self.timed_out: list[Item] = []
        self.pids: set[int] = set()  # every worker process started (tests check they are gone)
        self._pool: ProcessPoolExecutor | None = None
        self._pool_started = 0.0
        # A fresh pool's workers take seconds to start (spawn, imports; more on a busy machine): that time
        # is not the item's, so an item waited on soon after a (re)start gets this much more.
        self.startup_grace = startup_grace
        self._shared_file = ""
        self._pending: deque[tuple[Item, Future[Out]]] = deque()  # submitted, not yet yielded, in order

    def _overran(self, item: Item) -> Out:
        assert self.on_timeout is not None and self.timeout is not None
        self.timed_out.append(item)
        msg = f"processing took longer than {self.timeout:.0f} s and was stopped"
        log.warning("%s: %s", item[0] if item else item, msg)
        return self.on_timeout(item, msg)

    def _here(self, item: Item) -> Out:
        if self.timeout is None:
            return self.fn(*item, *self.shared)
        try:
            with _time_limit(self.timeout):
                return self.fn(*item, *self.shared)
        except FileTimeout:
            return self._overran(item)

    def _start_pool(self) -> ProcessPoolExecutor:
        self._pool = ProcessPoolExecutor(
            max_workers=self.workers,
            mp_context=multiprocessing.get_context("spawn"),
            initializer=_start_worker,
            initargs=(self._shared_file, os.getpid()),
        )
        self._pool_started = time.monotonic()
        return self._pool

    def _submit(self, item: Item) -> Future[Out]:
        assert self._pool is not None
        future = self._pool.submit(_run, self.fn, item)
        self.pids.update(self._pool._processes or {})  # started on demand, on submit
        return future

    def _kill_pool(self) -> None:
        """Kill the workers now (a stuck item, the run stopped): waiting for them could be for ever."""
        pool, self._pool = self._pool, None
        if pool is None:
            return
        procs = list((pool._processes or {}).values())
        for p in procs:
            with contextlib.suppress(OSError):
                p.kill()
        for p in procs:
            p.join(5)
        pool.shutdown(wait=True, cancel_futures=True)

    def next_in_progress(self) -> bool:
        """Whether the next result is still being computed by a worker (a consumer that batches its
        results closes the batch rather than wait; pipeline/batches.py). False in this process: there the
        next item is processed when it is asked for."""
        return self.fell_back is None and bool(self._pending) and not self._pending[0][1].done()

    def map(self, items: Iterable[Item]) -> Generator[tuple[Item, Out]]:
        if self.workers == 1:
            for item in items:
                yield item, self._here(item)
            return
        # The shared arguments go through a file, not the start-up pipe: a pipe write blocks until the
        # child has imported enough to unpickle them (seconds), and workers are started one after another.
        with tempfile.NamedTemporaryFile(prefix="biomarkers-", suffix=".pickle", delete=False) as shared:
            pickle.dump(self.shared, shared, protocol=pickle.HIGHEST_PROTOCOL)
        self._shared_file = shared.name
        self._start_pool()
        pending = self._pending = deque()
        source = iter(items)
        finished = False
        try:
            for item in source:
                pending.append((item, self._submit(item)))
                if len(pending) >= self.ahead:
                    break
            while pending:
                item, future = pending.popleft()
                out = self._collect(item, future, pending)
                if self.fell_back is None:
                    for nxt in source:
                        pending.append((nxt, self._submit(nxt)))
                        break
                yield item, out
            for item in source:  # after a fall-back: the rest in this process
                yield item, self._here(item)
            finished = True
        finally:
            if finished and self._pool is not None:
                self._pool.shutdown(wait=True, cancel_futures=True)
            else:  # stopped early (an error, SIGTERM, the consumer gone): nobody waits for the workers
                self._kill_pool()
            os.unlink(shared.name)

    def _collect(self, item: Item, future: Future[Out], pending: deque[tuple[Item, Future[Out]]]) -> Out:
        if self.fell_back is None:
            try:
                wait = None
                if self.timeout is not None:
                    young = self.startup_grace - (time.monotonic() - self._pool_started)
                    wait = self.timeout + max(0.0, young)
                return future.result(timeout=wait)
            except FuturesTimeout:
                # The worker is stuck: kill the pool, give this item its verdict, redo the others afresh.
                self._kill_pool()
                self._start_pool()
                for i, (other, _) in enumerate(pending):
                    pending[i] = (other, self._submit(other))
                return self._overran(item)
            except BrokenProcessPool as exc:
                self.fell_back = f"a worker process died ({exc}); the remaining files are processed here"
            except Exception as exc:  # e.g. a result that cannot be pickled: only this file is redone here
                log.warning("a worker failed on an item (%s: %s); redone here", type(exc).__name__, exc)
                return self._here(item)
            log.warning("%s", self.fell_back)
        else:
            future.cancel()
        return self._here(item)
