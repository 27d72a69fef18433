"""Waiting for the warehouse's writer turn: one ingestion writes a warehouse at a time, the next waits.

Two guards, taken in this order and released in reverse:

- on a Prefect server (a deployment run), the server's global concurrency limit named in
  ``operations.yaml`` (``writer_lock.prefect_limit``): the run page shows who is writing, and runs on other
  hosts queue too;
- always, the warehouse's file lock (warehouse/lock.py), which also guards ``biomarkers ingest`` without a
  server and is released by the kernel when its holder dies.

Kept out of the flow (issue 17) so the flow reads as its story and this glue — who is waited for, for how
long, what the run page says — can be used and tested without a flow run.
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

from schemas.operations import WriterLock
from warehouse.lock import writer_lock

SLOT_WAIT_WORTH_SAYING_S = 0.5
"""A shorter wait for the server's slot is the request's own latency, not another run."""


@dataclass
class WriterTurn:
    """How long this run waited for its turn, and for whom ("" = the warehouse was free)."""

    waited_s: float = 0.0
    waited_for: str = ""


@contextlib.contextmanager
def server_writer_slot(limit: str | None, timeout_s: float) -> Iterator[float]:
    """Hold the Prefect server's writer concurrency limit ``limit`` (None: no server slot, e.g. a run
    without a deployment); yields the seconds waited. ``strict``: a limit missing on the server is an
    error, not a silent pass (Prefect only warns otherwise)."""
    if not limit:
        yield 0.0
        return
    from prefect.concurrency.sync import concurrency

    started = time.monotonic()
    with concurrency(limit, occupy=1, timeout_seconds=timeout_s, strict=True):
        yield time.monotonic() - started


@contextlib.contextmanager
def writer_turn(
    warehouse_root: Path,
    *,
    run_id: str,
    lock: WriterLock,
    on_server: bool,
    say: Callable[[str], None],
) -> Iterator[WriterTurn]:
    """Hold the writer's turn for the ``with`` block: the server's slot when ``on_server`` (a deployment
    run), then the file lock. ``say`` is told, once, whom the run waits for (the run's log)."""
    turn = WriterTurn()

    def waiting(holder: str) -> None:
        turn.waited_for = holder
        say(f"waiting for the warehouse: it is being written by {holder}")

    with (
        server_writer_slot(lock.prefect_limit if on_server else None, lock.timeout_s) as slot_wait,
        writer_lock(warehouse_root, run_id=run_id, timeout_s=lock.timeout_s, on_wait=waiting) as waited,
    ):
        turn.waited_s = slot_wait + waited
        if slot_wait >= SLOT_WAIT_WORTH_SAYING_S and not turn.waited_for:
            turn.waited_for = f"another deployment run (Prefect limit {lock.prefect_limit})"
            say(f"waited {slot_wait:.1f} s for the writer slot: {turn.waited_for}")
        yield turn
