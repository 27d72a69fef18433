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
"""

from __future__ import annotations

import logging
import multiprocessing
import os
import pickle
import tempfile
import threading
import time
from collections import deque
from collections.abc import Callable, Generator, Iterable
from concurrent.futures import Future, ProcessPoolExecutor
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


class OrderedPool(Generic[Item, Out]):
    """``fn(*item, *shared)`` over items, in worker processes, results yielded in item order.

    ``workers <= 1`` runs in this process (no start-up cost: an upload's single file, the tests' small
    inboxes). ``ahead`` bounds how many results may wait in memory for the writer."""

    def __init__(
        self,
        fn: Callable[..., Out],
        shared: tuple[Any, ...],
        *,
        workers: int,
        ahead: int | None = None,
    ) -> None:
        self.fn = fn
        self.shared = shared
        self.workers = max(1, workers)
        self.ahead = max(self.workers, ahead if ahead is not None else 2 * self.workers)
        self.fell_back: str | None = None  # why the pool stopped and the parent took over, if it did

    def _here(self, item: Item) -> Out:
        return self.fn(*item, *self.shared)

    def map(self, items: Iterable[Item]) -> Generator[tuple[Item, Out]]:
        if self.workers == 1:
            for item in items:
                yield item, self._here(item)
            return
        # The shared arguments go through a file, not the start-up pipe: a pipe write blocks until the
        # child has imported enough to unpickle them (seconds), and workers are started one after another.
        with tempfile.NamedTemporaryFile(prefix="biomarkers-", suffix=".pickle", delete=False) as shared:
            pickle.dump(self.shared, shared, protocol=pickle.HIGHEST_PROTOCOL)
        pool = ProcessPoolExecutor(
            max_workers=self.workers,
            mp_context=multiprocessing.get_context("spawn"),
            initializer=_start_worker,
            initargs=(shared.name, os.getpid()),
        )
        pending: deque[tuple[Item, Future[Out]]] = deque()
        source = iter(items)
        try:
            for item in source:
                pending.append((item, pool.submit(_run, self.fn, item)))
                if len(pending) >= self.ahead:
                    break
            while pending:
                item, future = pending.popleft()
                out = self._collect(item, future)
                if self.fell_back is None:
                    for nxt in source:
                        pending.append((nxt, pool.submit(_run, self.fn, nxt)))
                        break
                yield item, out
            for item in source:  # after a fall-back: the rest in this process
                yield item, self._here(item)
        finally:
            pool.shutdown(wait=True, cancel_futures=True)
            os.unlink(shared.name)

    def _collect(self, item: Item, future: Future[Out]) -> Out:
        if self.fell_back is None:
            try:
                return future.result()
            except BrokenProcessPool as exc:
                self.fell_back = f"a worker process died ({exc}); the remaining files are processed here"
            except Exception as exc:  # e.g. a result that cannot be pickled: only this file is redone here
                log.warning("a worker failed on an item (%s: %s); redone here", type(exc).__name__, exc)
                return self._here(item)
            log.warning("%s", self.fell_back)
        else:
            future.cancel()
        return self._here(item)
