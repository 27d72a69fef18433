"""The writer's turn (pipeline/writer_turn.py): a run that arrives while another writes waits, says whom
it waits for, and counts the wait — real file locks, no Prefect server (no deployment: no server slot)."""

from __future__ import annotations

import threading
import time
from pathlib import Path

from pipeline.writer_turn import server_writer_slot, writer_turn
from schemas.operations import WriterLock
from warehouse.lock import writer_lock


def test_a_free_warehouse_is_taken_at_once(tmp_path: Path) -> None:
    said: list[str] = []
    with writer_turn(tmp_path, run_id="r1", lock=WriterLock(), on_server=False, say=said.append) as turn:
        assert (tmp_path / "ingest.lock").read_text().count("r1") == 1
    assert said == [] and turn.waited_for == "" and turn.waited_s < 0.5


def test_the_second_run_waits_and_names_the_holder(tmp_path: Path) -> None:
    held = threading.Event()

    def first() -> None:
        with writer_lock(tmp_path, run_id="nightly-run"):
            held.set()
            time.sleep(1.0)

    t = threading.Thread(target=first)
    t.start()
    assert held.wait(10)
    said: list[str] = []
    with writer_turn(
        tmp_path, run_id="upload-run", lock=WriterLock(), on_server=False, say=said.append
    ) as turn:
        pass
    t.join()
    assert turn.waited_s >= 0.5
    assert "nightly-run" in turn.waited_for
    assert len(said) == 1 and said[0].startswith("waiting for the warehouse: it is being written by run ")


def test_no_server_slot_without_a_limit() -> None:
    """Outside a deployment (``biomarkers ingest``) there is no server slot to take: no wait, no Prefect."""
    with server_writer_slot(None, 10) as waited:
        assert waited == 0.0
