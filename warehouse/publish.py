"""Publishing: the writer store → an immutable Parquet snapshot → a fresh analyst.duckdb, swapped in
atomically.

Analysts never open the writer's file (DuckDB's cross-process lock would let an open notebook stop the
night's run). Each publish writes a new snapshot directory and a new analyst store that points at it by
absolute path, then renames it over the old one: a session already open keeps reading its old snapshot;
the next connection sees the new data, and never half a load.
"""

from __future__ import annotations

import os
import shutil
import time
from dataclasses import dataclass
from datetime import UTC, datetime
from importlib import resources
from pathlib import Path

import duckdb

from schemas.config import Config, load_config
from warehouse.analyst_sql import results_wide_sql, visit_schedule_sql
from warehouse.blinding import blinded_view_sql
from warehouse.paths import WarehousePaths
from warehouse.store import WriterStore

KEEP_SNAPSHOTS = 5
KEEP_HOURS = 72.0
"""A snapshot is removed only when it is older than KEEP_HOURS *and* not among the last KEEP_SNAPSHOTS: an
analyst session open for hours (or over a weekend's loads) keeps reading the snapshot it opened."""

_SINGLE_FILE_TABLES = (
    "result_currency",
    "exclusions",
    "exclusion_lifts",
    "file_versions",
    "audit_log",
    "wells",
    "plates",
    "files",
    "quarantine",
    "unresolved",
    "curves",
    "calibrators",
    "run_acceptance",
    "qc_trend",
)


@dataclass(frozen=True)
class PublishReport:
    snapshot: Path
    load_seq: int


_COMPUTED_RESULTS = (
    "CREATE VIEW results AS\n"
    "SELECT * EXCLUDE (current_to, superseded_by, superseded_reason, superseded_at, exclusion_id, "
    "is_current, status, hold_reason)\nFROM results_all\nWHERE is_current;\n"
)
MATERIALIZED = {"results": "results_current.parquet", "results_wide": "results_wide.parquet"}
"""The two views analysts read most, written as files into each snapshot at publish (dbt's "table"
materialisation): computed once per publish from the same SQL, read as a scan by every query after."""


def views_sql(root: Path) -> str:
    template = resources.files("warehouse").joinpath("analyst_views.sql").read_text(encoding="utf-8")
    sql = template.replace("{root}", str(root).replace("'", "''"))
    current = root / MATERIALIZED["results"]
    if current.exists():
        if _COMPUTED_RESULTS not in sql:
            raise RuntimeError(
                "analyst_views.sql: the results view changed; update publish._COMPUTED_RESULTS"
            )
        sql = sql.replace(
            _COMPUTED_RESULTS, f"CREATE VIEW results AS SELECT * FROM read_parquet({_q(current)});\n"
        )
    return sql


def _q(path: Path) -> str:
    return "'" + str(path).replace("'", "''") + "'"


def install_views(con: duckdb.DuckDBPyConnection, root: Path, config: Config) -> None:
    """Every analyst view over the snapshot at ``root`` (the analyst store, a data cut, the unblinded
    store's source): the fixed ones of analyst_views.sql and those shaped by configuration."""
    con.execute(visit_schedule_sql(config.study))  # baseline_change in analyst_views.sql reads it
    con.execute(views_sql(root))
    wide = root / MATERIALIZED["results_wide"]
    con.execute(results_wide_sql(config, str(wide) if wide.exists() else None))
    con.execute(blinded_view_sql(config))


def materialize(tmp: Path, config: Config, memory_limit: str) -> None:
    """Write the MATERIALIZED views into the snapshot being built, from the computed views over it."""
    con = duckdb.connect(config={"memory_limit": memory_limit})
    try:
        install_views(con, tmp, config)
        con.execute(
            f"COPY (SELECT * FROM results ORDER BY matrix, participant_id, visitnum, analyte, assay_id) "
            f"TO {_q(tmp / MATERIALIZED['results'])} (FORMAT parquet)"
        )
        con.execute(f"COPY results_wide TO {_q(tmp / MATERIALIZED['results_wide'])} (FORMAT parquet)")
    finally:
        con.close()


def needs_publish(store: WriterStore) -> bool:
    return store.change_seq() != store.published_seq() or not store.paths.analyst_db.exists()


def publish(
    store: WriterStore,
    *,
    config: Config | None = None,
    keep: int = KEEP_SNAPSHOTS,
    keep_hours: float = KEEP_HOURS,
) -> PublishReport | None:
    """Publish what the writer store holds now; None when the analyst store is already up to date.

    ``config`` shapes the views that come from configuration (visit schedule, one column per analyte in
    results_wide, the blinded view); the shipped configuration when not given."""
    if not needs_publish(store):
        return None
    config = config or load_config()
    paths = store.paths
    seq = store.change_seq()
    stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%S%fZ")
    final = paths.published_dir / f"{seq:08d}-{stamp}"
    tmp = paths.published_dir / f".{final.name}.tmp"
    tmp.mkdir(parents=True)
    con = store.con
    has_results = con.execute("SELECT count(*) FROM results_all").fetchall()[0][0] > 0
    if has_results:
        con.execute(
            f"COPY (SELECT * FROM results_all ORDER BY matrix, participant_id, visitnum, analyte) "
            f"TO {_q(tmp / 'results_all')} (FORMAT parquet, PARTITION_BY (matrix))"
        )
    else:
        empty = tmp / "results_all" / "matrix=__HIVE_DEFAULT_PARTITION__"
        empty.mkdir(parents=True)
        con.execute(
            f"COPY (SELECT * EXCLUDE (matrix) FROM results_all LIMIT 0) TO {_q(empty / 'data_0.parquet')} "
            "(FORMAT parquet)"
        )
    for table in _SINGLE_FILE_TABLES:
        con.execute(f"COPY {table} TO {_q(tmp / (table + '.parquet'))} (FORMAT parquet)")
    materialize(tmp, config, store.memory_limit)
    os.rename(tmp, final)

    build = paths.analyst_db.with_name(f".{paths.analyst_db.name}.{os.getpid()}.tmp")
    build.unlink(missing_ok=True)
    acon = duckdb.connect(str(build))
    try:
        install_views(acon, final, config)
        acon.execute("CHECKPOINT")
    finally:
        acon.close()
    os.replace(build, paths.analyst_db)
    store.set_published_seq(seq)
    _prune(paths, keep=keep, keep_hours=keep_hours, current=final)
    return PublishReport(snapshot=final, load_seq=seq)


def current_snapshot(paths: WarehousePaths) -> Path | None:
    """The snapshot the analyst store points at now (the newest complete one)."""
    if not paths.published_dir.exists():
        return None
    done = sorted(p for p in paths.published_dir.iterdir() if p.is_dir() and not p.name.startswith("."))
    return done[-1] if done else None


def _prune(paths: WarehousePaths, *, keep: int, keep_hours: float, current: Path) -> None:
    for stale in paths.root.glob(f".{paths.analyst_db.name}.*.tmp"):  # a publish killed mid-build
        if stale.name != f".{paths.analyst_db.name}.{os.getpid()}.tmp":
            stale.unlink(missing_ok=True)
    snaps = sorted(p for p in paths.published_dir.iterdir() if p.is_dir())
    for p in snaps:
        if p.name.startswith(".") and p != current:  # an interrupted publish: no analyst store points here
            shutil.rmtree(p, ignore_errors=True)
    done = [p for p in snaps if not p.name.startswith(".")]
    cutoff = time.time() - keep_hours * 3600
    for p in done[:-keep]:
        if p != current and p.stat().st_mtime < cutoff:
            shutil.rmtree(p, ignore_errors=True)
