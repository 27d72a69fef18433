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
from tests.processes import alive, still_running


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
    left = still_running(kids, within=10)
    assert not left, f"worker processes {left} outlived their killed parent"


@pytest.mark.parametrize(
    ("workers", "min_files", "n", "want"),
    [("auto", 16, 3, 1), (4, 16, 100, 4), (4, 1, 2, 2), (1, 1, 100, 1)],
)
def test_worker_count_follows_configuration(workers: int | str, min_files: int, n: int, want: int) -> None:
    assert Processing.model_validate({"workers": workers, "min_files": min_files}).workers_for(n) == want


def test_zero_workers_is_refused() -> None:
    with pytest.raises(ValueError, match="workers must be 1 or more"):
        Processing.model_validate({"workers": 0})


def parse_in_child(x: int) -> tuple[int, int]:
    """What a worker does with an Excel workbook: hand the parsing to its isolated child."""
    from readers.isolation import run_isolated

    return x, run_isolated(os.getpid)


def hang_on(x: int, bad: int) -> int:
    if x == bad:
        while True:  # a parser stuck in a loop on a hostile file
            time.sleep(0.01)
    return x * 10


def test_workers_whose_excel_child_ran_exit_with_the_pool(tmp_path: Path) -> None:
    """The hang of issue 14: a worker that had started the Excel parser child waited for ever on it at
    exit, and the pool's shutdown on the worker. Run in a subprocess so that a regression fails, not hangs."""
    script = tmp_path / "excel_pool.py"
    script.write_text(
        textwrap.dedent(
            """
            from pipeline.workers import OrderedPool
            from tests.pipeline.test_workers import parse_in_child
            if __name__ == "__main__":
                pool = OrderedPool(parse_in_child, (), workers=2)
                got = list(pool.map((i,) for i in range(6)))
                print(" ".join(str(child) for _, (_, child) in got), flush=True)
            """
        )
    )
    root = Path(__file__).resolve().parents[2]
    env = {**os.environ, "PYTHONPATH": str(root)}
    try:
        p = subprocess.run(
            [sys.executable, str(script)], capture_output=True, text=True, env=env, timeout=90, cwd=root
        )
    except subprocess.TimeoutExpired:
        pytest.fail("the pool did not finish: a worker is waiting on its Excel parser child")
    assert p.returncode == 0, p.stderr
    children = {int(c) for c in p.stdout.split()}
    assert len(children) >= 1
    assert not still_running(children, within=10), "Excel parser children outlived the run"


def test_an_item_that_hangs_a_worker_is_timed_out_and_the_rest_go_on() -> None:
    pool: OrderedPool[tuple[int], int | str] = OrderedPool(
        hang_on,
        (4,),
        workers=2,
        ahead=3,
        timeout=3,
        on_timeout=lambda item, why: f"stopped: {why}",
        startup_grace=20,
    )
    started = time.monotonic()
    got = [out for _, out in pool.map((i,) for i in range(9))]
    assert got[:4] == [0, 10, 20, 30] and got[5:] == [50, 60, 70, 80]
    assert isinstance(got[4], str) and "longer than 3 s" in got[4]
    assert pool.timed_out == [(4,)]
    assert time.monotonic() - started < 120
    time.sleep(1)
    assert not [p for p in pool.pids if alive(p)], "the stuck worker was not killed"


def test_an_item_that_hangs_in_this_process_is_timed_out() -> None:
    pool: OrderedPool[tuple[int], int | str] = OrderedPool(
        hang_on, (1,), workers=1, timeout=1, on_timeout=lambda item, why: "stopped"
    )
    assert [out for _, out in pool.map((i,) for i in range(3))] == [0, "stopped", 20]


def test_a_parser_child_that_overruns_is_killed_and_replaced() -> None:
    from readers.isolation import IsolatedCrash, child_pid, run_isolated, shutdown

    with pytest.raises(IsolatedCrash, match="longer than 1 s"):
        run_isolated(time.sleep, 30, timeout=1)
    assert run_isolated(sum, [1, 2]) == 3
    pid = child_pid()
    assert pid is not None and alive(pid)
    shutdown()
    assert child_pid() is None and not alive(pid)
