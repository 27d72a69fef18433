"""The real ingestion flow (Prefect test harness) over a generated study into a real warehouse."""

from __future__ import annotations

import csv
import hashlib
import json
import shutil
from pathlib import Path

import duckdb
import pytest

from flows.ingest import ingest_flow
from warehouse.analyst import connect_analyst
from warehouse.paths import WarehousePaths

pytestmark = [pytest.mark.integration, pytest.mark.usefixtures("prefect_harness")]

COUNTS = {
    "results": "select count(*) from results",
    "results_all": "select count(*) from results_all",
    "files": "select count(*) from files",
    "wells": "select count(*) from wells",
    "quarantine": "select count(*) from quarantine",
}


def counts(con: duckdb.DuckDBPyConnection) -> dict[str, int]:
    return {k: con.execute(q).fetchall()[0][0] for k, q in COUNTS.items()}


@pytest.fixture(scope="module")
def loaded(small_study: Path, tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path, object]:
    inbox = tmp_path_factory.mktemp("inbox")
    for p in (small_study / "inbox").iterdir():
        shutil.copy(p, inbox / p.name)
    (inbox / "notes.txt").write_text("this is not a plate export\n")
    wh = tmp_path_factory.mktemp("wh")
    summary = ingest_flow(
        inbox=str(inbox), manifest=str(small_study / "manifest.csv"), warehouse=str(wh), trigger="test"
    )
    return inbox, wh, summary


def test_every_file_is_accounted_for(loaded: tuple[Path, Path, object], small_study: Path) -> None:
    inbox, wh, summary = loaded
    n_inbox = sum(1 for _ in inbox.iterdir())
    assert summary.count("quarantined") == 1  # type: ignore[attr-defined]
    con = connect_analyst(WarehousePaths.at(wh))
    assert con.execute("select count(*) from files").fetchall()[0][0] == n_inbox
    statuses = dict(con.execute("select source_file, status from files").fetchall())
    assert statuses["notes.txt"] == "quarantined"
    assert sum(1 for s in statuses.values() if s.startswith("loaded")) == n_inbox - 1 - sum(
        1 for s in statuses.values() if s == "companion"
    )
    msg = con.execute("select message from quarantine where source_file = 'notes.txt'").fetchall()[0][0]
    assert "Tried" in msg  # names the formats it tried


def test_results_are_resolved_and_traceable(loaded: tuple[Path, Path, object]) -> None:
    _, wh, _ = loaded
    paths = WarehousePaths.at(wh)
    con = connect_analyst(paths)
    n = con.execute("select count(*) from results where participant_id is not null and visit is not null")
    assert n.fetchall()[0][0] > 100
    # key: one current result per participant x visit x matrix x analyte x assay
    dup = con.execute(
        "select count(*) from (select participant_id, visit, matrix, analyte, assay_id, count(*) c "
        "from results group by all having c > 1)"
    ).fetchall()[0][0]
    assert dup == 0
    # every result leads to its wells and its raw file, byte-for-byte
    orphans = con.execute(
        "select count(*) from results r where not exists (select 1 from wells w where "
        "w.source_sha256 = r.source_file_sha256 and w.plate_id = r.plate_id and w.sample_id = r.sample_id "
        "and w.analyte = r.analyte)"
    ).fetchall()[0][0]
    assert orphans == 0
    for (sha,) in con.execute("select distinct source_file_sha256 from results").fetchall():
        raw = paths.root / "raw" / sha[:2] / sha
        assert hashlib.sha256(raw.read_bytes()).hexdigest() == sha


def test_censored_values_are_qualifier_plus_limit(loaded: tuple[Path, Path, object]) -> None:
    _, wh, _ = loaded
    con = connect_analyst(WarehousePaths.at(wh))
    rows = con.execute(
        "select qualifier, count(*), count(conc_pg_ml), count(*) filter (where qualifier = '<' and "
        "abs(conc_pg_ml - lloq) > 1e-9 * lloq) from results group by qualifier"
    ).fetchall()
    by_q = {q: (n, n_num, off) for q, n, n_num, off in rows}
    assert by_q["<"][0] > 0, "CSF neurotrophic factors below LLOQ are expected in the synthetic study"
    assert by_q["<"][1] == by_q["<"][0]  # never a bare qualifier
    assert by_q["<"][2] == 0  # the stored number is the limit
    # issue 14: a value the instrument extrapolated beyond the run's range is censored, never `=` (unless
    # the assay reports extrapolated values as a documented deviation, and then it says so)
    outside = con.execute(
        "select count(*) from results where qualifier = '=' and not extrapolated and "
        "(conc_pg_ml < lloq * (1 - 1e-9) or conc_pg_ml > uloq * (1 + 1e-9))"
    ).fetchall()[0][0]
    assert outside == 0, f"{outside} results are '=' with a value outside [LLOQ, ULOQ]"


def test_seeded_defects_are_caught(loaded: tuple[Path, Path, object], small_study: Path) -> None:
    _, wh, _ = loaded
    con = connect_analyst(WarehousePaths.at(wh))
    defects = json.loads((small_study / "defects.json").read_text())
    items = defects["defects"] if isinstance(defects, dict) else defects
    kinds = {d["kind"] for d in items}
    unresolved = {r[0] for r in con.execute("select sample_id from unresolved").fetchall()}
    rules = {r[0] for r in con.execute("select distinct rule from quarantine").fetchall()}
    for d in items:
        if "manifest" in d["kind"] or "typo" in d["kind"]:
            assert d["sample_id"] in unresolved
    if any("unit" in k or "ng" in k for k in kinds):
        assert "plausible_range" in rules
        held = con.execute("select count(*) from results_all where status = 'held' and analyte = 'BDNF'")
        assert held.fetchall()[0][0] > 0


def test_second_run_changes_nothing(loaded: tuple[Path, Path, object], small_study: Path) -> None:
    inbox, wh, _ = loaded
    before = counts(connect_analyst(WarehousePaths.at(wh)))
    summary = ingest_flow(
        inbox=str(inbox), manifest=str(small_study / "manifest.csv"), warehouse=str(wh), trigger="test"
    )
    assert summary.files_new == 0
    assert not summary.published
    assert counts(connect_analyst(WarehousePaths.at(wh))) == before


def test_no_allocation_in_the_analyst_store(loaded: tuple[Path, Path, object], small_study: Path) -> None:
    _, wh, _ = loaded
    con = connect_analyst(WarehousePaths.at(wh))
    cols = con.execute("select table_name, column_name from duckdb_columns()").fetchall()
    for table, col in cols:
        assert not any(w in col.lower() for w in ("arm", "treat", "alloc", "random")), (table, col)
    with open(small_study / "allocation.csv", newline="") as fh:
        arms = {r["arm"] for r in csv.DictReader(fh)}
    for table, col in cols:
        if table in ("results", "results_all", "wells", "files", "plates", "quarantine", "unresolved"):
            marks = ",".join("?" * len(arms))
            sql = f'select count(*) from "{table}" where cast("{col}" as varchar) in ({marks})'
            hits = con.execute(sql, list(arms)).fetchall()[0][0]
            assert hits == 0, (table, col)


def test_every_run_has_its_curve_and_acceptance_verdict(loaded: tuple[Path, Path, object]) -> None:
    _, wh, _ = loaded
    # the full store: a lab-QC check over every run (the blinded one replaces withheld results' reasons)
    con = connect_analyst(WarehousePaths.at(wh), full=True)
    missing = con.execute(
        "select count(*) from (select distinct w.source_sha256, w.plate_id, w.analyte from wells w "
        "where w.sample_type = 'standard' and w.signal is not null and w.analyte is not null) s "
        "anti join curves c using (source_sha256, plate_id, analyte)"
    ).fetchall()[0][0]
    assert missing == 0
    elisa = con.execute(
        "select distinct concentrations_from from curves where assay_id like 'ELISA-%'"
    ).fetchall()
    assert elisa == [("fitted curve",)]
    assert con.execute("select count(*) from curves where not converged").fetchall()[0][0] == 0
    # a run that failed acceptance: its results are kept, never current, and say why
    failed = con.execute(
        "select distinct plate_id, analyte from run_acceptance where not run_accepted"
    ).fetchall()
    for plate_id, analyte in failed:
        n_current = con.execute(
            "select count(*) from results where plate_id = ? and analyte = ?", [plate_id, analyte]
        ).fetchall()[0][0]
        kept = con.execute(
            "select count(*), count(*) filter (where hold_reason like 'run failed acceptance%') "
            "from results_all where plate_id = ? and analyte = ? and status = 'run_rejected'",
            [plate_id, analyte],
        ).fetchall()[0]
        assert n_current == 0 and kept[0] == kept[1]


def _config_with_processing(tmp: Path, workers: int, min_files: int) -> Path:
    """The shipped configuration with only ``processing`` changed."""
    import yaml

    from schemas.config import DEFAULT_CONFIG_DIR

    out = tmp / f"config-{workers}"
    shutil.copytree(DEFAULT_CONFIG_DIR, out)
    ops = yaml.safe_load((out / "operations.yaml").read_text())
    ops["processing"] = {"workers": workers, "min_files": min_files}
    (out / "operations.yaml").write_text(yaml.safe_dump(ops))
    return out


_VOLATILE = {"run_id", "current_from", "current_to", "superseded_at", "state_since", "valid_from"} | {
    f"{w}_at" for w in ("loaded", "judged", "changed", "created", "received", "recorded", "logged", "started")
}
_COMPARED = (
    "results_all",
    "wells",
    "plates",
    "curves",
    "calibrators",
    "run_acceptance",
    "qc_trend",
    "quarantine",
    "unresolved",
)


def test_worker_processes_give_the_same_warehouse_as_one_process(small_study: Path, tmp_path: Path) -> None:
    """Files processed ahead in worker processes (pipeline/workers.py) load exactly what one process
    loads: every table, row for row, apart from load times and run IDs."""

    frames = {}
    for workers in (1, 2):
        wh = tmp_path / f"wh-{workers}"
        summary = ingest_flow(
            inbox=str(small_study / "inbox"),
            manifest=str(small_study / "manifest.csv"),
            warehouse=str(wh),
            config_dir=str(_config_with_processing(tmp_path, workers, min_files=1)),
            trigger="test",
        )
        assert summary.files_new >= 4
        con = connect_analyst(WarehousePaths.at(wh))
        try:
            frames[workers] = {}
            for table in _COMPARED:
                df = con.sql(f"select * from {table}").pl()
                df = df.drop([c for c in df.columns if c in _VOLATILE])
                frames[workers][table] = df.sort(df.columns, nulls_last=True)
        finally:
            con.close()
    for table in _COMPARED:
        one, two = frames[1][table], frames[2][table]
        assert one.height > 0 or table == "unresolved", f"{table} is empty: the comparison proves nothing"
        assert one.equals(two, null_equal=True), f"{table} differs between 1 and 2 worker processes"


def test_each_file_is_named_on_the_run_page_with_one_task_per_batch(
    loaded: tuple[Path, Path, object],
) -> None:
    """Group commit (issue 18): one load task per batch (one transaction), not per file; every file is
    still named on the run page — a row in the ``ingest-files`` artifact and a log line of its own."""
    from prefect.client.orchestration import get_client
    from prefect.client.schemas.filters import (
        ArtifactFilter,
        ArtifactFilterKey,
        FlowRunFilter,
        FlowRunFilterId,
        LogFilter,
        LogFilterFlowRunId,
    )

    inbox, _, summary = loaded
    run_id = summary.run_id  # type: ignore[attr-defined]
    exports = {p.name for p in inbox.iterdir() if "platemap" not in p.name}
    with get_client(sync_client=True) as client:
        runs = client.read_task_runs(
            flow_run_filter=FlowRunFilter(id=FlowRunFilterId(any_=[run_id])), limit=200
        )
        artifacts = client.read_artifacts(
            artifact_filter=ArtifactFilter(key=ArtifactFilterKey(any_=["ingest-files"])),
            flow_run_filter=FlowRunFilter(id=FlowRunFilterId(any_=[run_id])),
        )
        logs = client.read_logs(
            log_filter=LogFilter(flow_run_id=LogFilterFlowRunId(any_=[run_id])), limit=200
        )
    loads = [r for r in runs if r.name.startswith("ingest ")]
    assert len(loads) == summary.batches <= len(exports)  # type: ignore[attr-defined]
    assert all(r.state_type is not None and r.state_type.value == "COMPLETED" for r in runs)
    assert len(artifacts) == 1
    rows = artifacts[0].data
    rows = json.loads(rows) if isinstance(rows, str) else rows
    assert sorted(r["file"] for r in rows) == sorted(exports)
    assert {r["batch"] for r in rows} == set(range(1, summary.batches + 1))  # type: ignore[attr-defined]
    for name in exports:
        assert sum(1 for m in logs if m.message.startswith(name)) == 1, f"no log line of its own: {name}"


def test_links_are_refused_and_partial_files_listed_as_waiting(small_study: Path, tmp_path: Path) -> None:
    """Issue 14: a symbolic link was followed (and archived into raw/); `.part` and hidden files were
    skipped without a word. Now: the link is refused with a message, the others listed as waiting."""
    inbox = tmp_path / "inbox"
    inbox.mkdir()
    export = sorted((small_study / "inbox").glob("*LX-*.csv"))[0]
    shutil.copy(export, inbox / export.name)
    (inbox / "passwd.csv").symlink_to("/etc/passwd")
    (inbox / "next-plate.csv.part").write_text("still being copied")
    (inbox / ".~lock.plate.csv#").write_text("lock")
    wh = tmp_path / "wh"
    summary = ingest_flow(
        inbox=str(inbox), manifest=str(small_study / "manifest.csv"), warehouse=str(wh), trigger="test"
    )
    assert [f.name for f in summary.files] == [export.name]
    assert summary.waiting == [".~lock.plate.csv#", "next-plate.csv.part"]
    assert len(summary.refused) == 1 and summary.refused[0].startswith("passwd.csv: a symbolic link")
    raw = [p for p in (wh / "raw").rglob("*") if p.is_file()]
    passwd = Path("/etc/passwd").read_bytes()
    assert all(p.read_bytes() != passwd for p in raw), "the link's target was archived"
