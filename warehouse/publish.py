"""Publishing: the writer store → two immutable Parquet snapshots → two fresh analyst stores, each swapped
in atomically: the blinded store analysts are given (``analyst/analyst.duckdb``; post-dose values that can
reveal the arm physically absent, warehouse/blinding.py) and the full store (``full/full.duckdb``) for the
roles cleared to see them. Each lives in its own folder, with the group and modes configured in
operations.yaml ``stores``, so file permissions separate who reads which (docs/access.md).

Analysts never open the writer's file (DuckDB's cross-process lock would let an open notebook stop the
night's run). Each publish writes a new snapshot directory and a new store that points at it by
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
from schemas.operations import StoreAccess, load_operations
from warehouse import review
from warehouse.access import apply_access
from warehouse.analyst_sql import results_wide_sql, visit_schedule_sql
from warehouse.blinding import blinded_selects, blinded_view_sql
from warehouse.data_dictionary import inherit_comments
from warehouse.paths import WarehousePaths
from warehouse.sample_views import sample_views_sql
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
    "manifest_samples",
    "run_signatures",
)
# Written at publish from the writer store (warehouse/review.py STATE_SQL): the signature checks need the
# unmasked results, so both snapshots get the state the writer computed.
_REVIEW_FILE = "run_review.parquet"


@dataclass(frozen=True)
class PublishReport:
    snapshot: Path  # the blinded snapshot (what analyst.duckdb reads)
    load_seq: int
    full_snapshot: Path | None = None  # the full store's snapshot


_COMPUTED_RESULTS = (
    "CREATE VIEW results AS\n"
    "SELECT * EXCLUDE (current_to, superseded_by, superseded_reason, superseded_at, exclusion_id, "
    "is_current, status, hold_reason, review_state, review_meaning, reviewed_by, reviewed_by_name, "
    "reviewed_at, review_signature_id)\nFROM results_all\nWHERE is_current;\n"
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
    for name, empty in review.EMPTY.items():  # a snapshot (or data cut) published before issue 21
        if not (root / name).exists():
            sql = sql.replace(f"read_parquet({_q(root / name)})", f"({empty})")
    return sql


def _q(path: Path) -> str:
    return "'" + str(path).replace("'", "''") + "'"


def install_views(
    con: duckdb.DuckDBPyConnection, root: Path, config: Config, *, comments: bool = True
) -> None:
    """Every analyst view over the snapshot at ``root`` (the analyst store, a data cut, the unblinded
    store's source): the fixed ones of analyst_views.sql and those shaped by configuration.

    ``comments=False`` for a throwaway connection (materialize): DuckDB's ~450 ``COMMENT ON`` statements
    take two thirds of installing the views (measured 0.14 of 0.20 s for analyst_views.sql), and nobody
    reads the data dictionary of a connection closed a second later."""
    keep = (lambda sql: sql) if comments else _without_comments
    con.execute(keep(visit_schedule_sql(config.study)))  # baseline_change in analyst_views.sql reads it
    con.execute(keep(views_sql(root)))
    con.execute(keep(sample_views_sql(config, root)))
    wide = root / MATERIALIZED["results_wide"]
    con.execute(keep(results_wide_sql(config, str(wide) if wide.exists() else None)))
    con.execute(keep(blinded_view_sql(config)))
    if comments:
        inherit_comments(con)  # the data dictionary: pass-through columns keep their source's comment


def _without_comments(sql: str) -> str:
    """``sql`` without its ``COMMENT ON`` statements (each from a line starting with it to the ``;`` that
    ends it outside a quoted string; a comment's text may hold ``;`` and doubled quotes)."""
    out: list[str] = []
    i, n = 0, len(sql)
    while i < n:
        start = sql.find("COMMENT ON ", i)
        while start > 0 and sql[start - 1] != "\n":
            start = sql.find("COMMENT ON ", start + 1)
        if start < 0:
            out.append(sql[i:])
            break
        out.append(sql[i:start])
        j, quoted = start, False
        while j < n and (quoted or sql[j] != ";"):
            if sql[j] == "'":
                quoted = not quoted  # a doubled quote flips twice: still inside
            j += 1
        i = j + 1
    return "".join(out)


def materialize(tmp: Path, config: Config, memory_limit: str) -> None:
    """Write the MATERIALIZED views into the snapshot being built, from the computed views over it."""
    con = duckdb.connect(config={"memory_limit": memory_limit})
    try:
        install_views(con, tmp, config, comments=False)
        con.execute(
            f"COPY (SELECT * FROM results ORDER BY matrix, participant_id, visitnum, analyte, assay_id) "
            f"TO {_q(tmp / MATERIALIZED['results'])} (FORMAT parquet)"
        )
        con.execute(f"COPY results_wide TO {_q(tmp / MATERIALIZED['results_wide'])} (FORMAT parquet)")
    finally:
        con.close()


def needs_publish(store: WriterStore) -> bool:
    p = store.paths
    return store.change_seq() != store.published_seq() or not (p.analyst_db.exists() and p.full_db.exists())


def _write_snapshot(
    store: WriterStore, published: Path, name: str, selects: dict[str, str], config: Config
) -> Path:
    """Write one snapshot of the writer store into ``published``/``name``: ``selects`` replaces the plain
    copy of a table by the SELECT given (the blinded snapshot's masking)."""
    final = published / name
    tmp = published / f".{name}.tmp"
    tmp.mkdir(mode=0o700, parents=True)  # nobody else reads a file while it is being written
    con = store.con

    def source(table: str) -> str:
        return f"({selects[table]})" if table in selects else table

    has_results = con.execute("SELECT count(*) FROM results_all").fetchall()[0][0] > 0
    if has_results:
        con.execute(
            f"COPY (SELECT * FROM {source('results_all')} "
            "ORDER BY matrix, participant_id, visitnum, analyte) "
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
        target = _q(tmp / (table + ".parquet"))
        con.execute(f"COPY (SELECT * FROM {source(table)}) TO {target} (FORMAT parquet)")
    con.execute(f"COPY ({review.STATE_SQL}) TO {_q(tmp / _REVIEW_FILE)} (FORMAT parquet)")
    materialize(tmp, config, store.memory_limit)
    os.rename(tmp, final)
    return final


def _build_store(db: Path, snapshot: Path, config: Config) -> None:
    build = db.with_name(f".{db.name}.{os.getpid()}.tmp")
    build.unlink(missing_ok=True)
    acon = duckdb.connect(str(build))
    try:
        install_views(acon, snapshot, config)
        acon.execute("CHECKPOINT")
    finally:
        acon.close()
    os.replace(build, db)


def publish(
    store: WriterStore,
    *,
    config: Config | None = None,
    keep: int = KEEP_SNAPSHOTS,
    keep_hours: float = KEEP_HOURS,
    access: StoreAccess | None = None,
) -> PublishReport | None:
    """Publish what the writer store holds now, to the full and the blinded store; None when both are
    already up to date.

    ``config`` shapes the views that come from configuration (visit schedule, one column per analyte in
    results_wide, the blinded view) and what is withheld; the shipped configuration when not given.
    ``access``: the stores' group and modes (operations.yaml ``stores``; read from the configuration's
    folder when not given)."""
    if not needs_publish(store):
        return None
    config = config or load_config()
    access = access or load_operations(config.source_dir).stores
    paths = store.paths
    paths.ensure()
    seq = store.change_seq()
    stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%S%fZ")
    name = f"{seq:08d}-{stamp}"
    full = _write_snapshot(store, paths.full_published_dir, name, {}, config)
    _build_store(paths.full_db, full, config)
    apply_access(paths.full_dir, full, paths.full_db, access.full_group, access)
    blinded = _write_snapshot(store, paths.published_dir, name, blinded_selects(config), config)
    _build_store(paths.analyst_db, blinded, config)
    apply_access(paths.analyst_dir, blinded, paths.analyst_db, access.blinded_group, access)
    store.set_published_seq(seq)
    _remove_legacy(paths)
    for db, published, current in (
        (paths.full_db, paths.full_published_dir, full),
        (paths.analyst_db, paths.published_dir, blinded),
    ):
        _prune(db, published, keep=keep, keep_hours=keep_hours, current=current)
    return PublishReport(snapshot=blinded, load_seq=seq, full_snapshot=full)


def _remove_legacy(paths: WarehousePaths) -> None:
    """A warehouse published before the blinded/full split kept one unblinded analyst store at the root,
    where blinded analysts were pointed: written by publish (never by anyone else), it is removed once both
    new stores exist, so no copy of the withheld values is left where blinded analysts look."""
    db, published = paths.legacy_analyst_files()
    db.unlink(missing_ok=True)
    if published.is_dir():
        shutil.rmtree(published, ignore_errors=True)


def current_snapshot(paths: WarehousePaths, *, full: bool = False) -> Path | None:
    """The snapshot a store points at now (the newest complete one): the blinded store's, or with
    ``full`` the full store's."""
    published = paths.full_published_dir if full else paths.published_dir
    if not published.exists():
        return None
    done = sorted(p for p in published.iterdir() if p.is_dir() and not p.name.startswith("."))
    return done[-1] if done else None


def _prune(db: Path, published: Path, *, keep: int, keep_hours: float, current: Path) -> None:
    for stale in db.parent.glob(f".{db.name}.*.tmp"):  # a publish killed mid-build
        if stale.name != f".{db.name}.{os.getpid()}.tmp":
            stale.unlink(missing_ok=True)
    snaps = sorted(p for p in published.iterdir() if p.is_dir())
    for p in snaps:
        if p.name.startswith(".") and p != current:  # an interrupted publish: no store points here
            shutil.rmtree(p, ignore_errors=True)
    done = [p for p in snaps if not p.name.startswith(".")]
    cutoff = time.time() - keep_hours * 3600
    for p in done[:-keep]:
        if p != current and p.stat().st_mtime < cutoff:
            shutil.rmtree(p, ignore_errors=True)
