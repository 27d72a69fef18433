"""A run leaves no process behind, however it ends.

An ingestion is a tree of processes: the flow, Prefect's temporary API server (a ``uvicorn`` child in
no-server mode), the worker pool (pipeline/workers.py) and each worker's Excel parser child
(readers/isolation.py). Workers and parser children watch their parents; Prefect's server does not. So:

- SIGTERM (a scheduler stopping the run, ``kill``) becomes ``SystemExit``: the pool kills its workers, the
  writer's transaction rolls back, the lock is released, Prefect stops its server — exit code 143.
- SIGKILL cannot be caught. A tiny reaper process, started beside the run, records the run's descendants
  every half second and, when the run is gone, terminates those that are still the same processes (same
  start time: a recycled PID is left alone), then leaves.
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
from collections.abc import Iterator
from types import FrameType

_REAPER = r"""
import os, signal, sys, time
for s in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP):
    signal.signal(s, signal.SIG_IGN)
run = int(sys.argv[1])
me = os.getpid()

def children(pid):
    out = []
    try:
        for t in os.listdir(f"/proc/{pid}/task"):
            with open(f"/proc/{pid}/task/{t}/children") as fh:
                out += [int(x) for x in fh.read().split()]
    except OSError:
        pass
    return out

def started(pid):
    try:
        with open(f"/proc/{pid}/stat") as fh:
            return fh.read().rsplit(")", 1)[1].split()[19]
    except OSError:
        return None

known = {}
while os.getppid() == run:
    todo = [run]
    while todo:
        for k in children(todo.pop()):
            if k != me and k not in known:
                known[k] = started(k)
            if k != me:
                todo.append(k)
    time.sleep(0.5)
left = [p for p, st in known.items() if st is not None and started(p) == st]
for sig in (signal.SIGTERM, signal.SIGKILL):
    for p in left:
        try:
            os.kill(p, sig)
        except OSError:
            pass
    deadline = time.monotonic() + 3
    while time.monotonic() < deadline:
        left = [p for p in left if started(p) == known[p]]
        if not left:
            break
        time.sleep(0.1)
"""


class Terminated(SystemExit):
    """The run received SIGTERM; raised in the main thread so that every ``finally`` runs."""


def _on_sigterm(signum: int, frame: FrameType | None) -> None:
    signal.signal(signal.SIGTERM, signal.SIG_DFL)  # a second SIGTERM ends the process at once
    raise Terminated(128 + signum)


@contextlib.contextmanager
def run_lifecycle() -> Iterator[None]:
    """Around a whole run in the main thread of its own process (``biomarkers ingest``)."""
    reaper: subprocess.Popen[bytes] | None = None
    if sys.platform.startswith("linux") and os.path.isdir(f"/proc/{os.getpid()}/task"):
        with contextlib.suppress(OSError):
            reaper = subprocess.Popen(
                [sys.executable, "-S", "-c", _REAPER, str(os.getpid())],
                stdin=subprocess.DEVNULL,
                stdout=subprocess.DEVNULL,
                stderr=subprocess.DEVNULL,
                start_new_session=True,
            )
    previous = signal.signal(signal.SIGTERM, _on_sigterm)
    try:
        yield
    except BaseException:  # the reaper stays: it cleans up whatever is left when this process exits
        raise
    else:  # a normal end: the run's processes are already stopped
        if reaper is not None:
            reaper.kill()
            reaper.wait()
    finally:
        signal.signal(signal.SIGTERM, previous)
