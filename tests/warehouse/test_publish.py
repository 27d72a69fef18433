"""Publishing to the analyst store: views over an immutable snapshot, swapped in atomically."""

from __future__ import annotations

from pathlib import Path

import duckdb
import pytest

from tests.warehouse.factories import outcome, result_row, sha
from warehouse.analyst import NoAnalystStoreError, connect_analyst, list_views
from warehouse.paths import WarehousePaths
from warehouse.publish import publish
from warehouse.store import WriterStore


@pytest.fixture
def store(tmp_path: Path) -> WriterStore:
    s = WriterStore(WarehousePaths.at(tmp_path / "wh"))
    yield s
    s.close()


def _load(store: WriterStore, name: str, plate: str, sample: str, conc: float) -> None:
    store.load(outcome(name, [result_row(sha(name), plate, sample, "VEGF-A", conc)], plate=plate), "run")


def test_empty_warehouse_publishes_queryable_views(store: WriterStore) -> None:
    assert publish(store) is not None
    con = connect_analyst(store.paths)
    assert {"results", "results_all", "wells", "plates", "files", "quarantine", "unresolved"} <= set(
        list_views(con)
    )
    assert con.execute("select count(*) from results").fetchall() == [(0,)]


def test_publish_is_a_no_op_when_nothing_changed(store: WriterStore) -> None:
    _load(store, "a.csv", "P1", "S1", 1.0)
    assert publish(store) is not None
    assert publish(store) is None


def test_results_view_shows_current_rows_with_traceability(store: WriterStore) -> None:
    _load(store, "a.csv", "P1", "S1", 1.0)
    _load(store, "b.csv", "P2", "S1", 2.0)  # re-assay of S1
    publish(store)
    con = connect_analyst(store.paths)
    assert con.execute("select plate_id, conc_pg_ml, source_file_sha256 from results").fetchall() == [
        ("P2", 2.0, sha("b.csv"))
    ]
    hist = con.execute(
        "select plate_id, superseded_by is not null from results_all order by plate_id"
    ).fetchall()
    assert hist == [("P1", True), ("P2", False)]
    # every result leads back to its wells
    n = con.execute(
        "select count(*) from results r join wells w on w.source_sha256 = r.source_file_sha256 "
        "and w.plate_id = r.plate_id and w.sample_id = r.sample_id and w.analyte = r.analyte"
    ).fetchall()
    assert n == [(2,)]


def test_open_analyst_session_survives_a_publish_and_next_session_sees_new_rows(store: WriterStore) -> None:
    _load(store, "a.csv", "P1", "S1", 1.0)
    publish(store)
    analyst = connect_analyst(store.paths)  # an analyst's notebook, kept open
    _load(store, "b.csv", "P2", "S2", 2.0)
    publish(store)  # must not be blocked by the open read-only session
    assert analyst.execute("select count(*) from results").fetchall() == [(1,)]
    analyst.close()
    assert connect_analyst(store.paths).execute("select count(*) from results").fetchall() == [(2,)]


def test_analyst_store_is_read_only_and_missing_store_is_explained(
    tmp_path: Path, store: WriterStore
) -> None:
    with pytest.raises(NoAnalystStoreError, match="biomarkers ingest"):
        connect_analyst(WarehousePaths.at(tmp_path / "nowhere"))
    publish(store)
    con = connect_analyst(store.paths)
    with pytest.raises(duckdb.Error):
        con.execute("create table x (a int)")


def test_old_snapshots_are_pruned(store: WriterStore) -> None:
    for i in range(8):
        _load(store, f"f{i}.csv", f"P{i}", f"S{i}", float(i))
        publish(store, keep=3, keep_hours=0)
    snaps = [p for p in store.paths.published_dir.iterdir() if p.is_dir()]
    assert len(snaps) == 3


def test_recent_snapshots_outlive_the_count_so_long_sessions_keep_reading(store: WriterStore) -> None:
    _load(store, "f0.csv", "P0", "S0", 1.0)
    publish(store)
    con = connect_analyst(store.paths)  # an analyst session opened now, kept open across many loads
    try:
        for i in range(1, 8):
            _load(store, f"f{i}.csv", f"P{i}", f"S{i}", float(i))
            publish(store, keep=3)  # default keep_hours: nothing younger than that is removed
        assert con.execute("select count(*) from results").fetchall()[0][0] == 1
    finally:
        con.close()
    snaps = [p for p in store.paths.published_dir.iterdir() if p.is_dir()]
    assert len(snaps) == 8


def _rows(con: duckdb.DuckDBPyConnection, sql: str) -> list[tuple[object, ...]]:
    return sorted(con.execute(sql).fetchall(), key=repr)


def test_results_and_wide_are_materialized_and_equal_to_the_computed_views(
    store: WriterStore, tmp_path: Path
) -> None:
    """The analysts' two main views are read from files written at publish; those files hold exactly
    what the computed views give over the same snapshot (after a re-assay, so currency matters)."""
    from schemas.config import load_config
    from warehouse.publish import MATERIALIZED, current_snapshot, install_views

    _load(store, "a.csv", "P1", "S1", 1.0)
    _load(store, "b.csv", "P2", "S1", 2.0)
    _load(store, "c.csv", "P3", "S2", 3.0)
    publish(store)
    snap = current_snapshot(store.paths)
    assert snap is not None and all((snap / f).exists() for f in MATERIALIZED.values())
    con = connect_analyst(store.paths)
    defs = dict(con.execute("select view_name, sql from duckdb_views() where not internal").fetchall())
    assert "results_current.parquet" in defs["results"] and "results_wide.parquet" in defs["results_wide"]
    comments = dict(
        con.execute("select view_name, comment from duckdb_views() where not internal").fetchall()
    )
    assert comments["results"] and comments["results_wide"]

    old = tmp_path / "old-snapshot"  # as a data cut made before materialisation: no such files
    import shutil

    shutil.copytree(snap, old)
    for f in MATERIALIZED.values():
        (old / f).unlink()
    computed = duckdb.connect()
    install_views(computed, old, load_config())
    cdefs = dict(computed.execute("select view_name, sql from duckdb_views() where not internal").fetchall())
    assert "parquet" not in cdefs["results"]
    for view in ("results", "results_wide"):
        assert con.execute(f"describe {view}").fetchall() == computed.execute(f"describe {view}").fetchall()
        mat, com = _rows(con, f"select * from {view}"), _rows(computed, f"select * from {view}")
        assert mat == com and mat, view
    assert _rows(con, "select plate_id from results") == [("P2",), ("P3",)]


def test_the_writer_bounds_duckdb_memory(store: WriterStore, tmp_path: Path) -> None:
    """DuckDB's default is 80 % of the machine; the writer's connection takes the installation's limit
    (config/operations.yaml), or the one the flow passes from the run's own operations file."""
    from schemas.operations import load_operations

    assert load_operations().processing.duckdb_memory_limit == "512MB"
    got = store.con.execute("select current_setting('memory_limit')").fetchall()[0][0]
    assert got == "488.2 MiB"  # DuckDB reports 512 MB (10^6) in MiB
    with WriterStore(WarehousePaths.at(tmp_path / "other"), memory_limit="256MB") as small:
        assert small.con.execute("select current_setting('memory_limit')").fetchall() == [("244.1 MiB",)]


def test_views_without_comments_keep_every_statement_but_the_comments() -> None:
    """The throwaway materializing connection skips COMMENT ON (warehouse/publish.py): a comment's text may
    hold ';', doubled quotes and line breaks; the statements around it stay whole."""
    from warehouse.publish import _without_comments

    sql = (
        "CREATE VIEW a AS SELECT 1 AS x;\n"
        "COMMENT ON VIEW a IS 'one; two ''quoted; still''\nnext line';\n"
        "CREATE VIEW b AS SELECT 'COMMENT ON ' AS y;\n"
        "COMMENT ON COLUMN b.y IS 'z';\n"
    )
    kept = _without_comments(sql)
    assert kept == "CREATE VIEW a AS SELECT 1 AS x;\n\nCREATE VIEW b AS SELECT 'COMMENT ON ' AS y;\n\n"
    con = duckdb.connect()
    con.execute(kept)
    assert con.execute("SELECT x FROM a").fetchall() == [(1,)]
