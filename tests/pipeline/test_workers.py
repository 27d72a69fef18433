"""The worker pool: real processes (spawn), results in submission order, a dying worker loses nothing,
and workers leave when their parent is killed."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest

from pipeline.workers import OrderedPool
from schemas.operations import Processing


def square_with_pid(x: int, offset: int) -> tuple[int, int]:
    time.sleep(0.01 * (x % 3))  # uneven durations: later items often finish first
    return x * x + offset, os.getpid()


def die_in_worker_at(x: int, parent: int, at: int) -> int:
    if x == at and os.getpid() != parent:
        os._exit(3)  # a crash the worker cannot report (segfault, OOM kill)
    return x + 100


def test_results_come_back_in_order_from_other_processes() -> None:
    pool: OrderedPool[tuple[int], tuple[int, int]] = OrderedPool(square_with_pid, (7,), workers=2, ahead=3)
    got = list(pool.map((i,) for i in range(20)))
    assert [item for item, _ in got] == [(i,) for i in range(20)]
    assert [out for _, (out, _) in got] == [i * i + 7 for i in range(20)]
    pids = {pid for _, (_, pid) in got}
    assert os.getpid() not in pids and len(pids) >= 1
    assert pool.fell_back is None


def test_one_worker_means_this_process() -> None:
    pool: OrderedPool[tuple[int], tuple[int, int]] = OrderedPool(square_with_pid, (0,), workers=1)
    assert {pid for _, (_, pid) in pool.map((i,) for i in range(4))} == {os.getpid()}


def test_a_dying_worker_loses_no_item() -> None:
    pool: OrderedPool[tuple[int], int] = OrderedPool(die_in_worker_at, (os.getpid(), 5), workers=2, ahead=2)
    got = [out for _, out in pool.map((i,) for i in range(12))]
    assert got == [i + 100 for i in range(12)]  # every item, in order, the crashed one redone here
    assert pool.fell_back is not None and "worker process died" in pool.fell_back


def test_workers_leave_when_the_parent_is_killed(tmp_path: Path) -> None:
    script = tmp_path / "parent.py"
    script.write_text(
        textwrap.dedent(
            """
            import sys, time
            from pipeline.workers import OrderedPool
            from tests.pipeline.test_workers import square_with_pid
            if __name__ == "__main__":
                import multiprocessing
                pool = OrderedPool(square_with_pid, (0,), workers=2)
                for _ in pool.map((i,) for i in range(10_000)):
                    kids = multiprocessing.active_children()
                    if len(kids) == 2:
                        print(" ".join(str(k.pid) for k in kids), flush=True)
                        time.sleep(60)
            """
        )
    )
    root = Path(__file__).resolve().parents[2]
    env = {**os.environ, "PYTHONPATH": str(root)}
    proc = subprocess.Popen([sys.executable, str(script)], stdout=subprocess.PIPE, text=True, env=env)
    assert proc.stdout is not None
    line = proc.stdout.readline()
    kids = [int(p) for p in line.split()]
    assert len(kids) == 2, f"no worker pids from the parent: {line!r}"
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    deadline = time.monotonic() + 10
    alive = kids
    while alive and time.monotonic() < deadline:
        time.sleep(0.2)
        alive = [k for k in kids if _alive(k)]
    assert not alive, f"worker processes {alive} outlived their killed parent"


def _alive(pid: int) -> bool:
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except FileNotFoundError:
        return False
    return stat.split(")")[-1].split()[0] != "Z"  # a zombie has exited


@pytest.mark.parametrize(
    ("workers", "min_files", "n", "want"),
    [("auto", 16, 3, 1), (4, 16, 100, 4), (4, 1, 2, 2), (1, 1, 100, 1)],
)
def test_worker_count_follows_configuration(workers: int | str, min_files: int, n: int, want: int) -> None:
    assert Processing.model_validate({"workers": workers, "min_files": min_files}).workers_for(n) == want


def test_zero_workers_is_refused() -> None:
    with pytest.raises(ValueError, match="workers must be 1 or more"):
        Processing.model_validate({"workers": 0})
