"""The writer store: ingestion's own DuckDB file, loaded one file per transaction.

A file is loaded wholly or not at all: its file record, plates, wells, results, quarantine and
unresolved rows go in one transaction, so a crash mid-load leaves the store as it was before that file.
Nothing is ever updated in place; supersession is a row of its own.
"""

from __future__ import annotations

import contextlib
import re
from dataclasses import dataclass
from datetime import UTC, datetime
from importlib import resources
from types import TracebackType

import duckdb
import polars as pl

from pipeline.outcome import FileOutcome
from warehouse.paths import WarehousePaths
from warehouse.raw import raw_relpath


class WarehouseBusyError(Exception):
    """Another process holds the writer store (another ingestion is running)."""


@dataclass(frozen=True)
class LoadReport:
    source_sha256: str
    loaded: bool  # False when the file was already in the store (a no-op)
    n_results: int
    n_superseded: int


def _ddl() -> str:
    return resources.files("warehouse").joinpath("ddl.sql").read_text(encoding="utf-8")


def now_utc() -> datetime:
    return datetime.now(UTC)


class WriterStore:
    """Read-write connection to ``ingest.duckdb``. Use as a context manager; one per process."""

    def __init__(self, paths: WarehousePaths) -> None:
        paths.ensure()
        self.paths = paths
        try:
            self.con = duckdb.connect(str(paths.ingest_db))
        except duckdb.IOException as exc:
            if "lock" in str(exc).lower():
                pid = re.search(r"PID (\d+)", str(exc))
                who = f" (process {pid.group(1)})" if pid else ""
                raise WarehouseBusyError(
                    f"the warehouse at {paths.root} is being written by another ingestion{who}; "
                    "wait for it to finish and run again"
                ) from None
            raise
        self.con.execute(_ddl())

    def __enter__(self) -> WriterStore:
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()

    def close(self) -> None:
        self.con.close()

    # --- reads -------------------------------------------------------------------------------
    def known_files(self) -> set[str]:
        return {r[0] for r in self.con.execute("SELECT source_sha256 FROM files").fetchall()}

    def known_manifests(self) -> set[str]:
        return {r[0] for r in self.con.execute("SELECT source_sha256 FROM manifests").fetchall()}

    def _meta_int(self, key: str) -> int:
        row = self.con.execute("SELECT value FROM meta WHERE key = ?", [key]).fetchall()
        return int(row[0][0]) if row else 0

    def load_seq(self) -> int:
        row = self.con.execute("SELECT coalesce(max(load_seq), 0) FROM files").fetchall()
        return int(row[0][0])

    def published_seq(self) -> int:
        return self._meta_int("published_seq")

    def set_published_seq(self, seq: int) -> None:
        self.con.execute("INSERT OR REPLACE INTO meta VALUES ('published_seq', ?)", [str(seq)])

    def counts(self) -> dict[str, int]:
        sql = {
            "files": "SELECT count(*) FROM files WHERE status <> 'companion'",
            "files_quarantined": "SELECT count(*) FROM files WHERE status = 'quarantined'",
            "plates": "SELECT count(*) FROM plates",
            "wells": "SELECT count(*) FROM wells",
            "results_all": "SELECT count(*) FROM results_all",
            "results_current": (
                "SELECT count(*) FROM results_all r WHERE status = 'loaded' "
                "AND NOT EXISTS (SELECT 1 FROM supersessions s WHERE s.result_id = r.result_id)"
            ),
            "quarantine_rows": "SELECT count(*) FROM quarantine",
            "unresolved_samples": "SELECT count(DISTINCT sample_id) FROM unresolved",
        }
        return {k: int(self.con.execute(q).fetchall()[0][0]) for k, q in sql.items()}

    # --- writes ------------------------------------------------------------------------------
    def begin_run(self, run_id: str, *, inbox: str | None, manifest: str | None, trigger: str) -> None:
        self.con.execute(
            "INSERT OR IGNORE INTO ingest_runs VALUES (?, ?, ?, ?, ?)",
            [run_id, now_utc(), inbox, manifest, trigger],
        )

    def record_manifest(self, sha256: str, name: str, n_samples: int, run_id: str) -> None:
        self.con.execute(
            "INSERT OR IGNORE INTO manifests VALUES (?, ?, ?, ?, ?)",
            [sha256, name, n_samples, now_utc(), run_id],
        )

    def load(
        self, outcome: FileOutcome, run_id: str, companions: list[tuple[str, str, int]] | None = None
    ) -> LoadReport:
        """Load one processed file in one transaction; a file already present is a no-op.

        ``companions`` are (sha256, name, size) of files read together with it (plate maps); they are
        recorded in the same transaction, their verdict being that of the export."""
        con = self.con
        sha = outcome.source_sha256
        if con.execute("SELECT 1 FROM files WHERE source_sha256 = ?", [sha]).fetchall():
            return LoadReport(sha, loaded=False, n_results=0, n_superseded=0)
        at = now_utc()
        con.execute("BEGIN TRANSACTION")
        try:
            seq = self.load_seq() + 1
            con.execute(
                "INSERT INTO files VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                [
                    sha,
                    outcome.source_file,
                    outcome.size_bytes,
                    outcome.format,
                    outcome.status,
                    outcome.message,
                    raw_relpath(sha),
                    ";".join(c[0] for c in companions or []) or None,
                    seq,
                    at,
                    run_id,
                ],
            )
            for c_sha, c_name, c_size in companions or []:
                con.execute(
                    "INSERT OR IGNORE INTO files "
                    "VALUES (?, ?, ?, 'platemap', 'companion', ?, ?, NULL, ?, ?, ?)",
                    [
                        c_sha,
                        c_name,
                        c_size,
                        f"plate map read with {outcome.source_file}",
                        raw_relpath(c_sha),
                        seq,
                        at,
                        run_id,
                    ],
                )
            for p in outcome.plates:
                con.execute(
                    "INSERT INTO plates VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                    [
                        sha,
                        p.plate_id,
                        p.assay_id,
                        p.platform,
                        p.matrix,
                        p.protocol,
                        p.instrument,
                        p.acquired_at,
                        p.kit_lot,
                        p.n_wells,
                        p.curve_note,
                    ],
                )
            extra = {"run_id": run_id}
            self._insert("wells", outcome.wells, {"source_sha256": sha})
            self._insert("results_all", outcome.results, {"loaded_at": at, **extra})
            self._insert("quarantine", outcome.quarantine, {"created_at": at, **extra})
            self._insert("unresolved", outcome.unresolved, {"created_at": at, **extra})
            for table, df in (
                ("curves", outcome.curves),
                ("calibrators", outcome.calibrators),
                ("run_acceptance", outcome.acceptance),
                ("qc_trend", outcome.qc_trend),
            ):
                self._insert(table, df, {"source_sha256": sha})
            n_sup = self._supersede(sha, at, run_id)
            con.execute("COMMIT")
        except BaseException:
            con.execute("ROLLBACK")
            raise
        n_res = 0 if outcome.results is None else outcome.results.height
        return LoadReport(sha, loaded=True, n_results=n_res, n_superseded=n_sup)

    def _insert(self, table: str, df: pl.DataFrame | None, constants: dict[str, object]) -> None:
        if df is None or df.height == 0:
            return
        cols = {k: v for k, v in constants.items() if k not in df.columns}
        frame = df.with_columns([pl.lit(v).alias(k) for k, v in cols.items()]) if cols else df
        view = f"_incoming_{table}"
        self.con.register(view, frame.to_arrow())
        try:
            self.con.execute(f"INSERT INTO {table} BY NAME SELECT * FROM {view}")
        finally:
            # In an aborted transaction unregister itself fails; the next register replaces the view.
            with contextlib.suppress(duckdb.Error):
                self.con.unregister(view)

    def _supersede(self, sha: str, at: datetime, run_id: str) -> int:
        """Re-assay rule (latest accepted run wins): a newly loaded result replaces the current result of
        the same sample × analyte × assay from an earlier file. Different assays (platform, kit) are
        separate results and never replace each other."""
        before = self.con.execute("SELECT count(*) FROM supersessions").fetchall()[0][0]
        self.con.execute(
            """
            INSERT INTO supersessions
            SELECT old.result_id, new.result_id,
                   're-assay: replaced by plate ' || new.plate_id || ' (file ' || new.source_file || ')',
                   ?, ?
            FROM results_all new
            JOIN results_all old
              ON old.sample_id = new.sample_id AND old.analyte = new.analyte AND old.assay_id = new.assay_id
             AND old.source_sha256 <> new.source_sha256
            WHERE new.source_sha256 = ? AND new.status = 'loaded' AND old.status = 'loaded'
              AND NOT EXISTS (SELECT 1 FROM supersessions s WHERE s.result_id = old.result_id)
            """,
            [at, run_id, sha],
        )
        after = self.con.execute("SELECT count(*) FROM supersessions").fetchall()[0][0]
        return int(after - before)
