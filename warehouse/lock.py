"""The writer lock: one ingestion writes a warehouse at a time; the next one waits its turn.

DuckDB already refuses a second writer (WarehouseBusyError), but refusing would make an upload that lands
during the nightly run fail. Every flow run therefore takes this lock *before* opening the writer store and
waits for it. It is an OS advisory lock (``flock``) on ``<warehouse>/ingest.lock``: the kernel releases it
when the holder exits, even on a crash or ``kill -9``, so a dead run can never leave the warehouse locked.
The holder writes who it is into the file so a waiting run can say whom it is waiting for.
"""

from __future__ import annotations

import fcntl
import json
import os
import socket
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path


class WriterLockTimeout(Exception):
    """The writer lock was not free within the configured time (another ingestion is still running)."""


def lock_path(warehouse_root: Path) -> Path:
    return Path(warehouse_root) / "ingest.lock"


def read_holder(path: Path) -> str:
    """Who holds (or last held) the lock, in words; best effort (the file may be mid-write)."""
    try:
        h = json.loads(path.read_text(encoding="utf-8") or "{}")
    except (OSError, ValueError):
        return "another ingestion"
    if not h:
        return "another ingestion"
    pid, host, since = h.get("pid", "?"), h.get("host", "?"), h.get("since", "?")
    return f"run {h.get('run_id', '?')} (pid {pid} on {host}, since {since})"


@contextmanager
def writer_lock(
    warehouse_root: Path,
    *,
    run_id: str,
    timeout_s: float = 3600.0,
    poll_s: float = 0.25,
    on_wait: Callable[[str], None] | None = None,
) -> Iterator[float]:
    """Hold the warehouse's writer lock for the ``with`` block; yields the seconds spent waiting.

    Waits (polling, so a timeout is possible) rather than failing; ``on_wait`` is told once whom we wait
    for. Raises WriterLockTimeout naming the holder when ``timeout_s`` passes."""
    path = lock_path(warehouse_root)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
    started = time.monotonic()
    told = False
    try:
        while True:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except BlockingIOError:
                waited = time.monotonic() - started
                if waited >= timeout_s:
                    raise WriterLockTimeout(
                        f"the warehouse at {warehouse_root} has been written by {read_holder(path)} for "
                        f"longer than {timeout_s:.0f} s; this run gave up waiting. Check that run on the "
                        "Prefect server; when it has finished, run this one again"
                    ) from None
                if not told and on_wait is not None:
                    on_wait(read_holder(path))
                    told = True
                time.sleep(poll_s)
        waited = time.monotonic() - started
        holder = {
            "run_id": run_id,
            "pid": os.getpid(),
            "host": socket.gethostname(),
            "since": datetime.now(UTC).isoformat(timespec="seconds"),
        }
        os.ftruncate(fd, 0)
        os.pwrite(fd, json.dumps(holder).encode(), 0)
        try:
            yield waited
        finally:
            os.ftruncate(fd, 0)
            fcntl.flock(fd, fcntl.LOCK_UN)
    finally:
        os.close(fd)
