"""Labs own their plates: lab B's file carrying lab A's plate ID is quarantined and changes nothing of lab A;
a re-assay by the same lab supersedes and says what it replaces; audit entries name the lab."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from schemas.config import Config
from tests.warehouse.factories import outcome, result_row, sha
from warehouse.paths import WarehousePaths
from warehouse.store import WriterStore


@pytest.fixture
def store(tmp_path: Path) -> Iterator[WriterStore]:
    s = WriterStore(WarehousePaths.at(tmp_path / "wh"), actor="tester")
    yield s
    s.close()


def _plate(name: str, plate: str, samples: list[str], value: float, analyte: str = "IL-6"):  # type: ignore[no-untyped-def]
    src = sha(name + str(value))
    rows = [result_row(src, plate, s, analyte, value, assay_id="LX-NTF", source_file=name) for s in samples]
    return outcome(name, rows, plate=plate, src=src)


def _current(store: WriterStore) -> list[tuple[str, str, float]]:
    return store.con.execute(
        """SELECT r.sample_id, f.lab, r.conc_pg_ml FROM results_all r JOIN files f USING (source_sha256)
        JOIN (SELECT result_id, arg_max(is_current, event_seq) AS c FROM result_currency GROUP BY ALL) s
        USING (result_id) WHERE s.c ORDER BY ALL"""
    ).fetchall()


SAMPLES = [f"S{i}" for i in range(6)]


def test_another_labs_plate_id_is_quarantined_and_changes_nothing(store: WriterStore, config: Config) -> None:
    store.load(
        _plate("a.csv", "P-A1", SAMPLES, 10.0), "r1", config=config, lab="lab-a", actor="lab lab-a (upload)"
    )
    before = _current(store)
    assert [r[1] for r in before] == ["lab-a"] * 6
    rep = store.load(
        _plate("b.csv", "P-A1", SAMPLES, 99.0), "r2", config=config, lab="lab-b", actor="lab lab-b (upload)"
    )
    assert rep.outcome is not None and rep.outcome.status == "quarantined"
    msg = rep.outcome.message
    assert "plate P-A1 belongs to lab lab-a" in msg and "a.csv" in msg and "received from lab lab-b" in msg
    assert _current(store) == before  # nothing of lab A changed
    assert store.con.execute("SELECT count(*) FROM plates WHERE lab = 'lab-b'").fetchall() == [(0,)]
    assert store.con.execute("SELECT count(*) FROM results_all WHERE conc_pg_ml = 99").fetchall() == [(0,)]
    q = store.con.execute("SELECT rule, plate_id FROM quarantine WHERE source_file = 'b.csv'").fetchall()
    assert q == [("plate_owned_by_another_lab", "P-A1")]
    actors = store.con.execute(
        "SELECT DISTINCT actor FROM audit_log WHERE entity_id = 'b.csv' ORDER BY ALL"
    ).fetchall()
    assert actors == [("lab lab-b (upload)",)]
    assert store.con.execute("SELECT count(*) FROM audit_log WHERE event = 'superseded'").fetchall() == [(0,)]


def test_a_reassay_by_the_same_lab_replaces_and_says_so(store: WriterStore, config: Config) -> None:
    store.load(_plate("a.csv", "P-A1", SAMPLES, 10.0), "r1", config=config, lab="lab-a")
    rep = store.load(_plate("a_v2.csv", "P-A1", SAMPLES, 12.0), "r2", config=config, lab="lab-a")
    assert rep.outcome is not None and rep.outcome.status == "loaded"
    assert rep.n_superseded == 6
    assert "replaces 6 results of a.csv, 20" in rep.outcome.message
    stored = store.con.execute("SELECT message FROM files WHERE source_file = 'a_v2.csv'").fetchall()[0][0]
    assert "replaces 6 results of a.csv" in stored
    assert {r[2] for r in _current(store)} == {12.0}


def test_another_labs_sample_is_held_not_made_current(store: WriterStore, config: Config) -> None:
    store.load(_plate("a.csv", "P-A1", SAMPLES, 10.0), "r1", config=config, lab="lab-a")
    rep = store.load(_plate("b.csv", "P-B1", SAMPLES[:2], 50.0), "r2", config=config, lab="lab-b")
    assert rep.outcome is not None and rep.outcome.status == "loaded_with_issues"
    assert "2 results held: the sample was measured by another lab (lab-a)" in rep.outcome.message
    assert {r[2] for r in _current(store)} == {10.0}  # lab A's results stay current
    held = store.con.execute(
        "SELECT status, hold_reason FROM results_all WHERE source_file = 'b.csv'"
    ).fetchall()
    assert all(s == "held" and "measured by lab lab-a (file a.csv)" in h for s, h in held)


def test_files_without_a_lab_keep_todays_behaviour(store: WriterStore, config: Config) -> None:
    store.load(_plate("a.csv", "P1", SAMPLES, 10.0), "r1", config=config)
    rep = store.load(_plate("a2.csv", "P1", SAMPLES, 11.0), "r2", config=config)
    assert rep.n_superseded == 6
    assert store.con.execute("SELECT DISTINCT actor FROM audit_log").fetchall() == [("tester",)]
