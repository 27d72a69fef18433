"""The writer store on a real DuckDB file: one transaction per file, no-op re-loads, supersession."""

from __future__ import annotations

import subprocess
import sys
import textwrap
import time
from pathlib import Path

import duckdb
import polars as pl
import pytest

from schemas.results import RESULT_SCHEMA
from tests.warehouse.factories import outcome, result_row, sha
from warehouse.paths import WarehousePaths
from warehouse.store import WarehouseBusyError, WriterStore

REPO = Path(__file__).resolve().parents[2]


@pytest.fixture
def store(tmp_path: Path) -> WriterStore:
    s = WriterStore(WarehousePaths.at(tmp_path / "wh"))
    yield s
    s.close()


def test_load_then_reload_is_a_no_op(store: WriterStore) -> None:
    o = outcome("plate1.csv", [result_row(sha("plate1.csv"), "P1", "S1", "VEGF-A", 12.5)])
    first = store.load(o, "run-1")
    before = store.counts()
    second = store.load(o, "run-2")
    assert first.loaded and first.n_results == 1
    assert not second.loaded
    assert store.counts() == before
    assert before["results_all"] == 1 and before["wells"] == 2 and before["files"] == 1


def test_a_failing_load_leaves_the_store_as_it_was(store: WriterStore) -> None:
    good = outcome("good.csv", [result_row(sha("good.csv"), "P1", "S1", "VEGF-A", 1.0)])
    store.load(good, "run-1")
    before = store.counts()
    bad = outcome("bad.csv", [result_row(sha("bad.csv"), "P2", "S2", "VEGF-A", 2.0)])
    # analyte_class is NOT NULL in the DDL: the results insert fails after files/plates/wells went in.
    bad.results = bad.results.with_columns(pl.lit(None, pl.String).alias("analyte_class"))
    with pytest.raises(duckdb.ConstraintException):
        store.load(bad, "run-1")
    assert store.counts() == before
    assert sha("bad.csv") not in store.known_files()


def test_a_re_assay_supersedes_and_keeps_history(store: WriterStore) -> None:
    first = outcome("run1.csv", [result_row(sha("run1.csv"), "P1", "S1", "VEGF-A", 5.0)])
    store.load(first, "run-1")
    again = outcome("run2.csv", [result_row(sha("run2.csv"), "P9", "S1", "VEGF-A", 6.0)], plate="P9")
    other_assay = outcome(
        "elisa.csv",
        [
            result_row(
                sha("elisa.csv"), "E1", "S1", "VEGF-A", 7.0, assay_id="ELISA-VEGF", platform="plate_reader"
            )
        ],
        plate="E1",
    )
    rep = store.load(again, "run-2")
    rep_other = store.load(other_assay, "run-2")
    assert rep.n_superseded == 1
    assert rep_other.n_superseded == 0  # another platform is another result, never a replacement
    rows = store.con.execute(
        "SELECT r.plate_id, arg_max(c.superseded_by, c.event_seq) IS NOT NULL, count(*) FROM results_all r "
        "JOIN result_currency c USING (result_id) GROUP BY ALL ORDER BY r.plate_id"
    ).fetchall()
    # P1 was current, then superseded: two state rows, the first kept (history stays).
    assert rows == [("E1", False, 1), ("P1", True, 2), ("P9", False, 1)]
    assert store.counts()["results_current"] == 2


def test_each_supersession_is_audited_once_however_many_re_assays(store: WriterStore) -> None:
    """Issue 14: every re-assay used to re-audit every earlier run ("superseded by" the newest), so the
    audit log grew with the square of the re-assays."""
    runs = 6
    for k in range(runs):
        name = f"run{k}.csv"
        store.load(
            outcome(name, [result_row(sha(name), f"P{k}", "S1", "VEGF-A", 5.0 + k)], plate=f"P{k}"), f"r{k}"
        )
    (n_sup,) = store.con.execute("SELECT count(*) FROM audit_log WHERE event = 'superseded'").fetchall()[0]
    assert n_sup == runs - 1  # one per result replaced, once
    assert store.counts()["results_current"] == 1
    current = store.con.execute(
        "SELECT plate_id FROM results_all r JOIN (SELECT result_id, arg_max(is_current, event_seq) AS c "
        "FROM result_currency GROUP BY 1) USING (result_id) WHERE c"
    ).fetchall()
    assert current == [(f"P{runs - 1}",)]


def test_held_and_unresolved_results_are_kept_but_not_current(store: WriterStore) -> None:
    src = sha("mixed.csv")
    rows = [
        result_row(src, "P1", "S1", "BDNF", 28.0, status="held", hold_reason="implausible"),
        result_row(src, "P1", "S2", "BDNF", 30000.0, participant_id=None, visit=None, status="unresolved"),
        result_row(src, "P1", "S3", "BDNF", 31000.0),
    ]
    store.load(outcome("mixed.csv", rows, status="loaded_with_issues"), "run-1")
    c = store.counts()
    assert (c["results_all"], c["results_current"]) == (3, 1)


def test_schema_of_results_all_matches_the_result_contract(store: WriterStore) -> None:
    cols = [r[0] for r in store.con.execute("DESCRIBE results_all").fetchall()]
    assert cols[: len(RESULT_SCHEMA)] == list(RESULT_SCHEMA)


def test_a_second_writer_process_is_told_plainly(tmp_path: Path) -> None:
    root = tmp_path / "wh"
    holder = subprocess.Popen(
        [
            sys.executable,
            "-c",
            textwrap.dedent(f"""
            import sys, time
            sys.path.insert(0, {str(REPO)!r})
            from warehouse.paths import WarehousePaths
            from warehouse.store import WriterStore
            s = WriterStore(WarehousePaths.at({str(root)!r}))
            print("ready", flush=True)
            time.sleep(30)
        """),
        ],
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert holder.stdout is not None and holder.stdout.readline().strip() == "ready"
        t0 = time.monotonic()
        with pytest.raises(WarehouseBusyError, match="another ingestion"):
            WriterStore(WarehousePaths.at(root))
        assert time.monotonic() - t0 < 10
    finally:
        holder.kill()
        holder.wait()
