"""Verdicts computed in a small pool of memory-limited worker processes, each file with a time limit.

One hostile file (a zip bomb, a workbook that drives the native parser into tens of GB, a pathological
layout) must not delay another lab's verdict: with the parsing inside the service's own process, one such
file held the only parser for ~9 s and every lab waited behind it. Here each verdict runs in one of
``verdict_workers`` processes, each under an address-space limit; a file that takes longer than
``verdict_seconds`` gets its worker killed and replaced, and its lab a plain verdict saying so, while the
other workers go on. Workers die with the service even when it is killed outright (Linux parent-death
signal), so no parser is left behind (docs/access.md).
"""

from __future__ import annotations

import contextlib
import ctypes
import logging
import multiprocessing
import queue
import resource
import signal
import sys
import threading
import time
from collections.abc import Iterator
from multiprocessing.connection import Connection
from multiprocessing.process import BaseProcess
from pathlib import Path

from service.verdict import ManifestCache, ManifestUnavailableError, Verdict

log = logging.getLogger(__name__)

_PR_SET_PDEATHSIG = 1


class VerdictRefusedError(Exception):
    """The file could not be judged within the worker's limits; the message is for the lab."""


def die_with_parent() -> None:
    """Ask Linux to kill this process when its parent dies (also when the parent is SIGKILLed)."""
    with contextlib.suppress(OSError, AttributeError):
        libc = ctypes.CDLL("libc.so.6", use_errno=True)
        libc.prctl(_PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0)


def _worker(conn: Connection, config_dir: str | None, manifest: str, memory_bytes: int, parent: int) -> None:
    import os

    die_with_parent()
    if os.getppid() != parent:  # the service died before the signal was armed
        os._exit(0)
    resource.setrlimit(resource.RLIMIT_AS, (memory_bytes, memory_bytes))
    from schemas.config import load_config
    from service.verdict import judge

    config = load_config(Path(config_dir) if config_dir else None)
    manifests = ManifestCache(Path(manifest), config)
    conn.send(("ready", None))
    while True:
        try:
            name, data, sha, siblings, assay = conn.recv()
        except EOFError:
            return
        try:
            verdict, _ = judge(name, data, sha, config, manifests.get(), siblings, assay)
            conn.send(("ok", verdict.model_dump_json()))
        except ManifestUnavailableError as exc:
            conn.send(("manifest", str(exc)))
        except MemoryError:
            conn.send(("refused", "memory"))
        except Exception as exc:  # a pipeline defect: the parent turns it into the internal-error verdict
            conn.send(("error", f"{type(exc).__name__}: {exc}"))


_start_lock = threading.Lock()


@contextlib.contextmanager
def _main_not_reimported() -> Iterator[None]:
    """A spawned worker re-imports the parent's __main__ (`python -m biomarkers.cli`: the whole command
    line, whose modules import each other); the worker needs none of it, so it is hidden while the worker
    starts (multiprocessing reads it in Process.start)."""
    main = sys.modules["__main__"]
    spec, file = getattr(main, "__spec__", None), getattr(main, "__file__", None)
    with _start_lock:
        main.__spec__ = None
        if file is not None:
            del main.__file__
        try:
            yield
        finally:
            main.__spec__ = spec
            if file is not None:
                main.__file__ = file


class _Worker:
    def __init__(self, proc: BaseProcess, conn: Connection) -> None:
        self.proc = proc
        self.conn = conn
        self.ready = False  # its imports done (it said so)


class VerdictPool:
    """``pool(name, data, sha256, siblings, assay) -> (verdict, seconds)``, each verdict computed in a worker
    process of its own (see the module doc)."""

    def __init__(
        self,
        *,
        config_dir: Path | None,
        manifest: Path,
        manifests: ManifestCache,
        workers: int,
        seconds: float,
        memory_mb: int,
    ) -> None:
        self.manifests = manifests  # the service checks the manifest at start-up with it
        self.config_dir = str(config_dir) if config_dir else None
        self.manifest = str(manifest)
        self.seconds = seconds
        self.memory_bytes = memory_mb * 1024 * 1024
        self._ctx = multiprocessing.get_context("spawn")  # no threads or locks inherited from the server
        self._free: queue.Queue[_Worker] = queue.Queue()
        self._all: set[_Worker] = set()
        self._lock = threading.Lock()
        self._closed = False
        for _ in range(workers):
            self._free.put(self._start())

    def _start(self) -> _Worker:
        import os

        parent, child = self._ctx.Pipe()
        proc = self._ctx.Process(
            target=_worker,
            args=(child, self.config_dir, self.manifest, self.memory_bytes, os.getpid()),
            name="verdict-worker",
            daemon=True,
        )
        with _main_not_reimported():
            proc.start()
        child.close()
        w = _Worker(proc, parent)
        with self._lock:
            self._all.add(w)
        return w

    def pids(self) -> list[int]:
        with self._lock:
            return [w.proc.pid for w in self._all if w.proc.pid is not None]

    def _replace(self, w: _Worker) -> _Worker:
        with contextlib.suppress(Exception):
            w.proc.kill()
            w.proc.join(timeout=5)
        w.conn.close()
        with self._lock:
            self._all.discard(w)
        return self._start()

    def _wait_ready(self, w: _Worker) -> _Worker:
        """A fresh worker's imports take seconds: wait for its "ready" (they are not the file's time)."""
        if w.ready:
            if w.proc.is_alive():
                return w
            w = self._replace(w)
        for _ in range(2):  # a worker that died starting is replaced once
            try:
                if w.conn.poll(120):
                    w.conn.recv()
                    w.ready = True
                    return w
            except (EOFError, OSError):
                w = self._replace(w)
                continue
            break
        self._free.put(self._replace(w))
        raise VerdictRefusedError("the verdict service is starting; upload the file again in a minute")

    def __call__(
        self,
        name: str,
        data: bytes,
        sha256: str,
        siblings: dict[str, bytes] | None = None,
        assay: str | None = None,
    ) -> tuple[Verdict, float]:
        w: _Worker | None = self._wait_ready(self._free.get())
        assert w is not None
        started = time.perf_counter()
        try:
            w.conn.send((name, data, sha256, siblings, assay))
            if not w.conn.poll(self.seconds):
                self._free.put(self._replace(w))
                w = None
                raise VerdictRefusedError(
                    f"reading {name} took longer than {self.seconds:.0f} s, so it was stopped: the file is "
                    "kept and not loaded. A plate export reads in well under a second; check that this is "
                    "the instrument's export (not a workbook of many runs or a damaged file)"
                )
            try:
                kind, payload = w.conn.recv()
            except (EOFError, OSError):
                self._free.put(self._replace(w))
                w = None
                kind, payload = "refused", "died"
        except BaseException:
            if w is not None:
                self._free.put(self._replace(w))
            raise
        if w is not None:
            self._free.put(w)
        if kind == "ok":
            return Verdict.model_validate_json(payload), time.perf_counter() - started
        if kind == "manifest":
            raise ManifestUnavailableError(payload)
        if kind == "refused":
            raise VerdictRefusedError(
                f"reading {name} needed more memory than a plate export can (over "
                f"{self.memory_bytes // 1048576} MiB), so it was stopped: the file is kept and not loaded; "
                "check that this is the instrument's export and not a damaged or hostile file"
            )
        raise RuntimeError(payload)

    def warm(self) -> None:
        """Wait until every worker has finished its imports, so the first verdicts do not wait for them."""
        for _ in range(self._free.qsize()):
            try:
                self._free.put(self._wait_ready(self._free.get()))
            except VerdictRefusedError:
                log.warning("a verdict worker did not start; it was replaced")

    def close(self) -> None:
        with self._lock:
            workers = list(self._all)
            self._all.clear()
        for w in workers:
            with contextlib.suppress(Exception):
                w.conn.close()
                w.proc.kill()
                w.proc.join(timeout=5)
