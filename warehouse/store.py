"""The writer store: ingestion's own DuckDB file, loaded one file per transaction or one batch of files
per transaction (group commit).

A file is loaded wholly or not at all: its file record, plates, wells, results, quarantine and
unresolved rows go in one transaction, so a crash mid-load leaves the store as it was before that file.
Nothing is ever updated in place; supersession is a row of its own.

Group commit (issue 18): a COMMIT and the bookkeeping around it cost more than many small files' rows, so
the flow loads the files that are ready inside :meth:`WriterStore.group` — one transaction. Each file's
load inside it decides exactly as it would alone (currency, exclusions, versions, audit entries, in
order: each load reads what the earlier ones of the batch wrote), so the warehouse is the same row for
row. A crash or an error leaves the store as it was before the batch; the run's in-memory state is then
read afresh from the store.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from importlib import resources
from types import TracebackType
from typing import TYPE_CHECKING

import duckdb
import polars as pl

from schemas import settings
from schemas.config import Config
from schemas.outcome import FileOutcome
from schemas.results import QUARANTINE_SCHEMA
from warehouse import audit, currency, ownership
from warehouse.audit import AuditEvent
from warehouse.paths import WarehousePaths
from warehouse.raw import raw_relpath

if TYPE_CHECKING:
    from warehouse.trend_history import TrendHistory


class WarehouseBusyError(Exception):
    """Another process holds the writer store (another ingestion is running)."""


@dataclass(frozen=True)
class LoadReport:
    source_sha256: str
    loaded: bool  # False when the file was already in the store (a no-op)
    n_results: int
    n_superseded: int
    lost_exclusions: int = 0
    outcome: FileOutcome | None = None  # the file as loaded: ownership may have held rows or quarantined it


_FILE_COLUMNS = (
    "source_sha256, source_file, size_bytes, format, status, message, raw_path, companions, load_seq, "
    "loaded_at, run_id, lab"
)


def _ddl() -> str:
    return resources.files("warehouse").joinpath("ddl.sql").read_text(encoding="utf-8")


def now_utc() -> datetime:
    return datetime.now(UTC)


def _loaded_results(results: pl.DataFrame | None) -> pl.DataFrame:
    """The results of a file that take part in currency (status loaded)."""
    if results is None or results.height == 0:
        return pl.DataFrame(schema={c: pl.String() for c in ("result_id", *currency.GROUP, "status")})
    return results.filter(pl.col("status") == "loaded")


@dataclass
class _Group:
    """The batch transaction open (:meth:`WriterStore.group`): the audit head to log once it commits."""

    head: tuple[int, str] | None = None


class WriterStore:
    """Read-write connection to ``ingest.duckdb``. Use as a context manager; one per process."""

    def __init__(
        self, paths: WarehousePaths, *, actor: str | None = None, memory_limit: str | None = None
    ) -> None:
        """``memory_limit``: DuckDB's memory for this writer (loads, publish; larger sorts spill to disk);
        None: the installation's ``processing.duckdb_memory_limit`` (config/operations.yaml)."""
        if memory_limit is None:
            from schemas.operations import load_operations

            memory_limit = load_operations().processing.duckdb_memory_limit
        self.memory_limit = memory_limit
        paths.ensure()
        self.paths = paths
        self.actor = actor or settings.actor()
        try:
            self.con = duckdb.connect(str(paths.ingest_db), config={"memory_limit": memory_limit})
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
        self._backfill_currency()
        # State of this run kept in memory so a load costs the same in a large warehouse as in an empty
        # one; each piece is changed only after the transaction it describes has committed.
        self.trend_history: TrendHistory | None = None  # set by warehouse.trend_history.for_store
        self._on_commit: list[Callable[[FileOutcome, int], None]] = []
        self._on_discard: list[Callable[[], None]] = []
        self._group: _Group | None = None  # the batch transaction open, if any (group commit)
        self._measured: set[int] | None = None  # hash((sample_id, assay_id)) of every loaded result
        self._names_plates: tuple[set[str], set[str]] | None = None  # file names and plate IDs loaded
        self._seq: int | None = None  # load_seq of the last file loaded

    def _backfill_currency(self) -> None:
        """A store written before the currency log existed: decide every group once (idempotent)."""
        if self.con.execute("SELECT count(*) FROM result_currency").fetchall()[0][0]:
            return
        keys = self.con.sql(
            "SELECT DISTINCT sample_id, analyte, assay_id FROM results_all WHERE status = 'loaded'"
        ).pl()
        if keys.height:
            self.con.execute("BEGIN TRANSACTION")
            currency.refresh(self.con, keys, None, at=now_utc(), run_id="backfill")
            self.con.execute("COMMIT")

    def audit(self, events: list[AuditEvent], *, at: datetime | None = None) -> None:
        """Append audit entries in their own transaction (for changes made outside ``load``)."""
        self.con.execute("BEGIN TRANSACTION")
        try:
            new_head = audit.append(self.con, events, actor=self.actor, at=at)
            self.con.execute("COMMIT")
        except BaseException:
            self.con.execute("ROLLBACK")
            raise
        audit.record_head(self.paths.ingest_db, new_head)

    def record_config(self, config: Config, run_id: str) -> None:
        """Record the configuration a run uses; a change since the last run is an audit entry naming the
        files that changed, with their old and new SHA-256."""
        now = {
            p.name: hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(config.source_dir.glob("*.yaml"))
        }
        row = self.con.execute("SELECT value FROM meta WHERE key = 'config_files'").fetchall()
        before: dict[str, str] = json.loads(row[0][0]) if row else {}
        if now == before:
            return
        changed = sorted(k for k in set(now) | set(before) if now.get(k) != before.get(k))
        self.con.execute("BEGIN TRANSACTION")
        try:
            self.con.execute(
                "INSERT OR REPLACE INTO meta VALUES ('config_files', ?)", [json.dumps(now, sort_keys=True)]
            )
            new_head = audit.append(
                self.con,
                [
                    AuditEvent(
                        event="config_changed" if before else "config_recorded",
                        entity="config",
                        entity_id=str(config.source_dir),
                        old_value=json.dumps({k: before.get(k) for k in changed}) if before else None,
                        new_value=json.dumps({k: now.get(k) for k in changed}),
                        reason=f"configuration in use by run {run_id}: {', '.join(changed)}",
                    )
                ],
                actor=self.actor,
            )
            self.con.execute("COMMIT")
        except BaseException:
            self.con.execute("ROLLBACK")
            raise
        audit.record_head(self.paths.ingest_db, new_head)

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

    def is_known(self, sha256: str) -> bool:
        """Whether a file with this content is in the store (a primary-key lookup)."""
        return bool(self.con.execute("SELECT 1 FROM files WHERE source_sha256 = ?", [sha256]).fetchall())

    def on_commit(self, listener: Callable[[FileOutcome, int], None]) -> None:
        """Call ``listener(outcome, load_seq)`` after each file's load has committed, or inside a batch
        (:meth:`group`) once it is applied, so the batch's next file sees it; ``on_discard`` listeners are
        told when a batch is rolled back."""
        self._on_commit.append(listener)

    def on_discard(self, listener: Callable[[], None]) -> None:
        """Call ``listener()`` when a batch's transaction is rolled back: what it was told since the batch
        began never happened (read the store afresh)."""
        self._on_discard.append(listener)

    @contextlib.contextmanager
    def group(self) -> Iterator[None]:
        """One transaction around every :meth:`load` in the block (group commit: see the module doc).

        Committed when the block ends normally; on any exception (or a kill) nothing of the batch stays,
        the run state held in memory is dropped (read afresh from the store on next use) and the exception
        goes on — the caller retries the files one by one (pipeline/intake.py ``load_batch``)."""
        if self._group is not None:
            raise RuntimeError("WriterStore.group() is already open: batches do not nest")
        # run state is read before the transaction, so what it holds is committed
        self.load_seq()
        self._measured_groups()
        self._loaded_names_plates()
        self.con.execute("BEGIN TRANSACTION")
        group = self._group = _Group()
        try:
            yield
            self.con.execute("COMMIT")
        except BaseException:
            self._group = None
            with contextlib.suppress(duckdb.Error):  # a connection already lost has nothing to roll back
                self.con.execute("ROLLBACK")
            self._forget()
            raise
        self._group = None
        audit.record_head(self.paths.ingest_db, group.head)

    def _forget(self) -> None:
        """A batch rolled back: drop the run state that followed its loads; next use reads the store."""
        self._measured = None
        self._names_plates = None
        self._seq = None
        for listener in self._on_discard:
            listener()

    def known_manifests(self) -> set[str]:
        return {r[0] for r in self.con.execute("SELECT source_sha256 FROM manifests").fetchall()}

    def _meta_int(self, key: str) -> int:
        row = self.con.execute("SELECT value FROM meta WHERE key = ?", [key]).fetchall()
        return int(row[0][0]) if row else 0

    def load_seq(self) -> int:
        """The load sequence of the last file loaded (read once; only ``load`` moves it, after a commit)."""
        if self._seq is None:
            row = self.con.execute("SELECT coalesce(max(load_seq), 0) FROM files").fetchall()
            self._seq = int(row[0][0])
        return self._seq

    def change_seq(self) -> int:
        """A counter that moves with every change (each is an audit entry): loads, exclusions, lifts."""
        return audit.head(self.con)[0]

    def published_seq(self) -> int:
        return self._meta_int("published_change_seq")

    def set_published_seq(self, seq: int) -> None:
        self.con.execute("INSERT OR REPLACE INTO meta VALUES ('published_change_seq', ?)", [str(seq)])

    def counts(self) -> dict[str, int]:
        sql = {
            "files": "SELECT count(*) FROM files WHERE status <> 'companion'",
            "files_quarantined": "SELECT count(*) FROM files WHERE status = 'quarantined'",
            "plates": "SELECT count(*) FROM plates",
            "wells": "SELECT count(*) FROM wells",
            "results_all": "SELECT count(*) FROM results_all",
            "results_current": (
                "SELECT count(*) FROM (SELECT arg_max(is_current, event_seq) AS c "
                "FROM result_currency GROUP BY result_id) WHERE c"
            ),
            "quarantine_rows": "SELECT count(*) FROM quarantine",
            "unresolved_samples": (  # still unresolved: no manifest received since lists them
                "SELECT count(DISTINCT sample_id) FROM unresolved u WHERE NOT EXISTS (SELECT 1 FROM "
                "results_all r WHERE r.sample_id = u.sample_id AND r.participant_id IS NOT NULL)"
            ),
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
        self,
        outcome: FileOutcome,
        run_id: str,
        companions: list[tuple[str, str, int]] | None = None,
        *,
        config: Config | None = None,
        received_at: datetime | None = None,
        lab: str | None = None,
        actor: str | None = None,
    ) -> LoadReport:
        """Load one processed file in one transaction (inside :meth:`group`: in the batch's transaction);
        a file already present is a no-op.

        ``lab``: who sent the file (the upload token's lab, the lab its delivery source is configured
        for): its plates are recorded as that lab's, and it changes nothing another lab loaded
        (warehouse/ownership.py). ``actor``: who the file's audit entries name (the store's actor when
        not given).

        Everything the file changes goes in the same transaction: its rows, the currency decisions of the
        samples it measures (re-assays), exclusions that no longer match (a re-import), its version record
        and its audit entries. ``companions`` are (sha256, name, size) of files read together with it
        (plate maps), recorded with the export's verdict."""
        con = self.con
        sha = outcome.source_sha256
        if con.execute("SELECT 1 FROM files WHERE source_sha256 = ?", [sha]).fetchall():
            return LoadReport(sha, loaded=False, n_results=0, n_superseded=0)
        at = now_utc()
        measured = self._measured_groups()  # run state is read before the transaction, never inside it
        names_plates = self._loaded_names_plates()
        if lab is not None:
            ids = [p.plate_id for p in outcome.plates]
            claims = ownership.plate_claims(con, ids, lab) if any(i in names_plates[1] for i in ids) else []
            if claims:
                outcome = ownership.conflict_outcome(outcome, claims, lab)
            elif outcome.results is not None and any(
                hash(k) in measured for k in outcome.results.select("sample_id", "assay_id").iter_rows()
            ):
                outcome = ownership.hold_foreign(con, outcome, lab)
        loaded = _loaded_results(outcome.results)
        group = self._group
        if group is None:
            con.execute("BEGIN TRANSACTION")
        try:
            seq = self.load_seq() + 1
            for p in outcome.plates:
                con.execute(
                    "INSERT INTO plates (source_sha256, plate_id, assay_id, platform, matrix, protocol, "
                    "instrument, acquired_at, kit_lot, n_wells, curve_note, lab) "
                    "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
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
                        lab,
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
            versions = self._record_versions(outcome, at)
            message = outcome.message
            lost = self._lost_exclusions(outcome, at, run_id)
            if lost:
                message += " " + " ".join(e.reason or "" for e in lost)
            # groups measured before are re-decided with their stored results; the others only have
            # this file's (a re-assay is the rare case that reads the store)
            keys = (
                outcome.results.select(currency.GROUP).unique(maintain_order=True)
                if outcome.results is not None and outcome.results.height
                else pl.DataFrame(schema=dict.fromkeys(currency.GROUP, pl.String()))
            )
            again = [hash((s, a)) in measured for s, a in keys.select("sample_id", "assay_id").iter_rows()]
            change = currency.refresh(
                con,
                keys.filter(pl.Series(again, dtype=pl.Boolean)),
                config,
                at=at,
                run_id=run_id,
                incoming=loaded.with_columns(pl.lit(seq, pl.Int64).alias("load_seq")),
            )
            replaced = ownership.replaces_text(
                con,
                [
                    e.source_sha256
                    for e in change.events
                    if e.event == "superseded"
                    and e.old_value == "current"
                    and e.source_sha256
                    and e.source_sha256 != sha
                ],
            )
            if replaced:
                message += " " + replaced
            con.execute(
                f"INSERT INTO files ({_FILE_COLUMNS}) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                [
                    sha,
                    outcome.source_file,
                    outcome.size_bytes,
                    outcome.format,
                    outcome.status,
                    message,
                    raw_relpath(sha),
                    ";".join(c[0] for c in companions or []) or None,
                    seq,
                    at,
                    run_id,
                    lab,
                ],
            )
            for c_sha, c_name, c_size in companions or []:
                con.execute(
                    f"INSERT OR IGNORE INTO files ({_FILE_COLUMNS}) "
                    "VALUES (?, ?, ?, 'platemap', 'companion', ?, ?, NULL, ?, ?, ?, ?)",
                    [
                        c_sha,
                        c_name,
                        c_size,
                        f"plate map read with {outcome.source_file}",
                        raw_relpath(c_sha),
                        seq,
                        at,
                        run_id,
                        lab,
                    ],
                )
            events = self._file_events(outcome, message, companions, received_at or at, run_id)
            events += versions + change.events + lost
            new_head = audit.append(con, events, actor=actor or self.actor, at=at)
            if group is None:
                con.execute("COMMIT")
        except BaseException:
            if group is None:
                # a COMMIT that failed (e.g. a full disk) has ended the transaction itself
                with contextlib.suppress(duckdb.TransactionException):
                    con.execute("ROLLBACK")
            raise  # in a batch, group() rolls back the whole batch and drops the run state
        # committed (or applied in the batch): the run state follows first (before anything that can
        # fail), then the heads log (a batch's once, at its commit)
        self._seq = seq
        measured.update(hash(k) for k in loaded.select("sample_id", "assay_id").iter_rows())
        if self._names_plates is not None:
            self._names_plates[0].add(outcome.source_file)
            self._names_plates[1].update(p.plate_id for p in outcome.plates)
        for listener in self._on_commit:
            listener(outcome, seq)
        if group is None:
            audit.record_head(self.paths.ingest_db, new_head)
        else:
            group.head = new_head or group.head
        n_res = 0 if outcome.results is None else outcome.results.height
        return LoadReport(
            sha,
            loaded=True,
            n_results=n_res,
            n_superseded=change.superseded,
            lost_exclusions=len(lost),
            outcome=replace(outcome, message=message),
        )

    def _measured_groups(self) -> set[int]:
        """Which (sample, assay) pairs have a loaded result: read once per run, kept up to date after each
        commit. Hashes only (small); a collision merely sends a new group down the re-assay path."""
        if self._measured is None:
            rows = self.con.execute(
                "SELECT DISTINCT sample_id, assay_id FROM results_all WHERE status = 'loaded'"
            ).fetchall()
            self._measured = {hash((s, a)) for s, a in rows}
        return self._measured

    def _loaded_names_plates(self) -> tuple[set[str], set[str]]:
        """Names of the files and IDs of the plates in the store: read once per run, kept up to date after
        each commit, so a file that is no new version of anything costs no read of files or plates."""
        if self._names_plates is None:
            names = self.con.execute("SELECT source_file FROM files WHERE status <> 'companion'").fetchall()
            plates = self.con.execute("SELECT DISTINCT plate_id FROM plates").fetchall()
            self._names_plates = ({r[0] for r in names}, {r[0] for r in plates})
        return self._names_plates

    def _file_events(
        self,
        outcome: FileOutcome,
        message: str,
        companions: list[tuple[str, str, int]] | None,
        received_at: datetime,
        run_id: str,
    ) -> list[AuditEvent]:
        sha = outcome.source_sha256
        plates = ", ".join(p.plate_id for p in outcome.plates) or None
        events = [
            AuditEvent(
                event="received",
                entity="file",
                entity_id=outcome.source_file,
                source_sha256=sha,
                new_value=f"{outcome.size_bytes} bytes kept at {raw_relpath(sha)} "
                f"({received_at.isoformat()})",
                reason=f"ingestion run {run_id}",
            )
        ]
        for c_sha, c_name, c_size in companions or []:
            events.append(
                AuditEvent(
                    event="received",
                    entity="file",
                    entity_id=c_name,
                    source_sha256=c_sha,
                    new_value=f"{c_size} bytes kept at {raw_relpath(c_sha)}",
                    reason=f"plate map read with {outcome.source_file}",
                )
            )
        n = 0 if outcome.results is None else outcome.results.height
        events.append(
            AuditEvent(
                event="quarantined" if outcome.status == "quarantined" else "loaded",
                entity="file",
                entity_id=outcome.source_file,
                source_sha256=sha,
                plate_id=plates,
                new_value=f"{outcome.status}; {n} results; format {outcome.format}",
                reason=message,
            )
        )
        return events

    def _record_versions(self, outcome: FileOutcome, at: datetime) -> list[AuditEvent]:
        """A different file with an earlier file's name, or with a plate ID already loaded, is a new version
        of it: recorded, never an overwrite (the earlier file and its results stay)."""
        sha = outcome.source_sha256
        plate_ids = [p.plate_id for p in outcome.plates]
        names, plates = self._loaded_names_plates()
        if outcome.source_file not in names and not any(p in plates for p in plate_ids):
            return []  # neither the name nor a plate ID was seen before: nothing to look up
        prev = self.con.execute(
            """
            WITH earlier AS (
                SELECT f.source_sha256, 'file name' AS matched_on, f.source_file AS matched_value, f.load_seq
                FROM files f WHERE f.source_file = ? AND f.source_sha256 <> ? AND f.status <> 'companion'
                UNION
                SELECT DISTINCT p.source_sha256, 'plate ID', p.plate_id, f.load_seq
                FROM plates p JOIN files f USING (source_sha256)
                WHERE list_contains(?, p.plate_id) AND p.source_sha256 <> ?
            )
            SELECT matched_on, matched_value, count(DISTINCT source_sha256) AS n,
                   arg_max(source_sha256, load_seq) AS latest
            FROM earlier GROUP BY ALL ORDER BY ALL
            """,
            [outcome.source_file, sha, plate_ids, sha],
        ).fetchall()
        events = []
        for on, value, n_earlier, prev_sha in prev:
            version_no = int(n_earlier) + 1
            self.con.execute(
                "INSERT OR IGNORE INTO file_versions VALUES (?, ?, ?, ?, ?, ?)",
                [sha, prev_sha, on, value, version_no, at],
            )
            events.append(
                AuditEvent(
                    event="new_version",
                    entity="file",
                    entity_id=outcome.source_file,
                    source_sha256=sha,
                    plate_id=value if on == "plate ID" else None,
                    old_value=prev_sha,
                    new_value=sha,
                    reason=f"same {on} {value!r} as an earlier file: version {version_no}; the earlier "
                    "file and its results are kept",
                )
            )
        return events

    def _lost_exclusions(self, outcome: FileOutcome, at: datetime, run_id: str) -> list[AuditEvent]:
        """Exclusions on a plate this file re-imports that match nothing in it: reported, never silent."""
        plate_ids = [p.plate_id for p in outcome.plates]
        if not plate_ids:
            return []
        if not self.con.execute(
            "SELECT 1 FROM exclusions WHERE list_contains(?, plate_id) LIMIT 1", [plate_ids]
        ).fetchall():
            return []  # nothing excluded on these plates: no need to look at the results
        rows = self.con.execute(
            """
            WITH active AS (
                SELECT e.* FROM exclusions e
                WHERE list_contains(?, e.plate_id)
                  AND NOT EXISTS (SELECT 1 FROM exclusion_lifts l WHERE l.exclusion_id = e.exclusion_id)
            )
            SELECT a.exclusion_id, a.scope, a.plate_id, a.well, a.sample_id, a.analyte, a.reason
            FROM active a
            WHERE NOT EXISTS (
                SELECT 1 FROM results_all r
                WHERE r.source_sha256 = ? AND r.plate_id = a.plate_id
                  AND (a.sample_id IS NULL OR r.sample_id = a.sample_id)
                  AND (a.analyte IS NULL OR r.analyte = a.analyte)
                  AND (a.well IS NULL OR list_contains(
                        list_transform(string_split(r.wells, ','), lambda w: trim(w)), a.well))
            )
            ORDER BY a.exclusion_id
            """,
            [plate_ids, outcome.source_sha256],
        ).fetchall()
        events: list[AuditEvent] = []
        q_rows = []
        for ex_id, scope, plate, well, sample, analyte, reason in rows:
            what = ", ".join(
                f"{k} {v}" for k, v in (("well", well), ("sample", sample), ("analyte", analyte)) if v
            )
            msg = (
                f"Exclusion {ex_id} ({scope} on plate {plate}{': ' + what if what else ''}; "
                f"reason: {reason}) "
                f"matches nothing in this new file of plate {plate}: it no longer applies (lost). Check "
                "the re-imported plate and exclude again if needed."
            )
            q_rows.append(
                {
                    "source_file": outcome.source_file,
                    "source_sha256": outcome.source_sha256,
                    "plate_id": plate,
                    "well": well,
                    "sample_id": sample,
                    "analyte": analyte,
                    "rule": "exclusion_lost",
                    "severity": "warning",
                    "message": msg,
                }
            )
            events.append(
                AuditEvent(
                    event="exclusion_lost",
                    entity="exclusion",
                    entity_id=ex_id,
                    source_sha256=outcome.source_sha256,
                    plate_id=plate,
                    sample_id=sample,
                    old_value="active",
                    new_value="matches nothing in the re-imported plate",
                    reason=msg,
                )
            )
        if q_rows:
            frame = pl.DataFrame(q_rows).select(
                [
                    pl.col(k).cast(v) if k in q_rows[0] else pl.lit(None, v).alias(k)
                    for k, v in QUARANTINE_SCHEMA.items()
                ]
            )
            self._insert("quarantine", frame, {"created_at": at, "run_id": run_id})
        return events

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
