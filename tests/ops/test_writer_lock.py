"""The writer lock across real processes: the second writer waits, then runs; a dead holder frees it."""

from __future__ import annotations

import multiprocessing as mp
import os
import signal
import time
from pathlib import Path

import pytest

from warehouse.lock import WriterLockTimeout, lock_path, writer_lock


def _append(log: str, line: str) -> None:
    with open(log, "a") as fh:
        fh.write(line + "\n")


def _hold(root: str, seconds: float, ready: mp.synchronize.Event, log: str) -> None:  # type: ignore[name-defined]
    with writer_lock(Path(root), run_id="holder"):
        _append(log, f"holder-start {time.monotonic()}")
        ready.set()
        time.sleep(seconds)
        _append(log, f"holder-end {time.monotonic()}")


def test_second_writer_waits_then_runs(tmp_path: Path) -> None:
    ctx = mp.get_context("fork")
    ready = ctx.Event()
    log = tmp_path / "log"
    p = ctx.Process(target=_hold, args=(str(tmp_path), 1.0, ready, str(log)))
    p.start()
    assert ready.wait(10)
    waits: list[str] = []
    with writer_lock(tmp_path, run_id="second", on_wait=waits.append) as waited:
        entered = time.monotonic()
    p.join(10)
    lines = dict(line.split() for line in log.read_text().splitlines())
    assert entered >= float(lines["holder-end"])  # never inside the lock together
    assert waited > 0.5
    assert len(waits) == 1 and "run holder" in waits[0] and f"pid {p.pid}" in waits[0]


def test_timeout_names_the_holder(tmp_path: Path) -> None:
    ctx = mp.get_context("fork")
    ready = ctx.Event()
    p = ctx.Process(target=_hold, args=(str(tmp_path), 3.0, ready, str(tmp_path / "log")))
    p.start()
    assert ready.wait(10)
    try:
        with (
            pytest.raises(WriterLockTimeout, match=r"run holder .*gave up waiting"),
            writer_lock(tmp_path, run_id="late", timeout_s=0.5),
        ):
            pass
    finally:
        p.join(10)


def test_a_killed_holder_releases_the_lock(tmp_path: Path) -> None:
    ctx = mp.get_context("fork")
    ready = ctx.Event()
    p = ctx.Process(target=_hold, args=(str(tmp_path), 60.0, ready, str(tmp_path / "log")))
    p.start()
    assert ready.wait(10)
    assert p.pid is not None
    os.kill(p.pid, signal.SIGKILL)
    p.join(10)
    with writer_lock(tmp_path, run_id="after-crash", timeout_s=2) as waited:
        assert waited < 2
    assert lock_path(tmp_path).read_text() == ""  # released cleanly: no stale holder recorded
