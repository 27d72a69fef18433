"""A run's processes have a lifecycle (issue 14): a run with workers and Excel workbooks finishes, and
SIGTERM or SIGKILL of `biomarkers ingest` leaves no process behind — checked by PID, over the run's whole
process tree (Prefect's temporary server, the workers, their Excel parser children)."""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import time
from pathlib import Path

import pytest

from tests.processes import BIN, cmdline, descendants, still_running

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def night(tmp_path_factory: pytest.TempPathFactory, corpus: Path) -> Path:
    """A night's delivery as the issue measured it: 40 generated plate exports (the hang began at 16) and
    two real Bio-Plex workbooks (.xls and .xlsx) named to be processed first."""
    from synth.generator import generate_study

    out = tmp_path_factory.mktemp("night")
    generate_study(out, seed=21, participants=20)  # 40 files
    for name in ("labkey_10JAN07_plate_1.xls", "labkey_RawAndSummary.xlsx"):
        shutil.copy(corpus / "bioplex" / name, out / "inbox" / f"0-{name}")
    return out


def _start(night: Path, tmp_path: Path) -> tuple[subprocess.Popen[bytes], Path]:
    env = {**os.environ, "BIOMARKERS_DATA": str(tmp_path / "data"), "COLUMNS": "200"}
    for k in ("BIOMARKERS_WAREHOUSE", "PREFECT_API_URL"):
        env.pop(k, None)
    log = tmp_path / "run.log"
    proc = subprocess.Popen(
        [str(BIN), "ingest", "--inbox", str(night / "inbox"), "--manifest", str(night / "manifest.csv"),
         "--warehouse", str(tmp_path / "wh")],
        env=env, stdout=log.open("wb"), stderr=subprocess.STDOUT,
    )  # fmt: skip
    return proc, log


@pytest.mark.skipif(not Path("/proc/self/task").is_dir(), reason="needs Linux /proc to follow the PIDs")
def test_a_night_with_excel_files_and_workers_finishes(night: Path, tmp_path: Path) -> None:
    proc, log = _start(night, tmp_path)
    seen: set[int] = set()
    workers = 0
    deadline = time.monotonic() + 900
    while proc.poll() is None and time.monotonic() < deadline:
        seen |= descendants(proc.pid)
        workers = max(workers, sum("spawn_main" in cmdline(p) for p in descendants(proc.pid)))
        time.sleep(0.3)
    if proc.poll() is None:
        seen |= descendants(proc.pid)
        proc.kill()
        pytest.fail(f"the run hung; processes: {[cmdline(p)[:80] for p in seen]}")
    out = log.read_text(errors="replace")
    assert proc.returncode == 0, out
    assert "Traceback" not in out
    assert workers >= 2, "the run did not use its worker pool"
    assert "0-labkey_10JAN07_plate_1.xls" in out
    assert still_running(seen) == []


@pytest.mark.skipif(not Path("/proc/self/task").is_dir(), reason="needs Linux /proc to follow the PIDs")
@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGKILL])
def test_stopping_a_run_leaves_no_process(night: Path, tmp_path: Path, sig: signal.Signals) -> None:
    proc, log = _start(night, tmp_path)
    seen: set[int] = set()
    deadline = time.monotonic() + 600
    ready = False
    while proc.poll() is None and time.monotonic() < deadline:
        tree = descendants(proc.pid)
        seen |= tree
        cmds = [cmdline(p) for p in tree]
        workers = sum("spawn_main" in c for c in cmds)
        if workers >= 2 and any("forkserver" in c for c in cmds):  # workers, and an Excel parser child
            ready = True
            break
        time.sleep(0.2)
    assert ready, f"the run ended or never started its workers: {log.read_text(errors='replace')[-2000:]}"
    seen |= descendants(proc.pid)
    proc.send_signal(sig)
    proc.wait(60)
    out = log.read_text(errors="replace")
    if sig == signal.SIGTERM:
        assert proc.returncode == 143, out
        assert "the run was stopped (SIGTERM)" in out and "Traceback" not in out
    assert still_running(seen) == [], f"processes left after {sig.name}"
