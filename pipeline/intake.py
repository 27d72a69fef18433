"""Taking discovered files into the warehouse: raw copy first, then process, then load — the files that
are ready together in one transaction (group commit), each decided as if alone.

The raw bytes are kept before anything else happens, so even a file that crashes the reader is preserved
under its SHA-256. Anything unexpected while processing quarantines that file with the reason and lets
the other files go on; so does a load that fails: the batch is rolled back and loaded again file by file,
and only the file whose load fails is quarantined.

In ``pipeline/`` (issue 17): it drives the pipeline (process, trend) and then the warehouse (raw copy, load),
so it sits on the floor above the warehouse, never inside it.
"""

from __future__ import annotations

import contextlib
import logging
import time
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime

import polars as pl

from pipeline.discover import Candidate, copying_message
from pipeline.process import process_file
from pipeline.report import one_line
from pipeline.trend import judge_trend
from readers.base import FileInput
from schemas.config import Config
from schemas.manifest import Manifest
from schemas.outcome import FileOutcome
from schemas.results import QUARANTINE_SCHEMA
from warehouse.health import storage_fault
from warehouse.paths import WarehousePaths
from warehouse.raw import keep_raw, sha256_of
from warehouse.store import LoadReport, WriterStore
from warehouse.trend_history import for_store

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class IntakeContext:
    config: Config
    manifest: Manifest
    store: WriterStore
    run_id: str


def internal_error_outcome(c: Candidate, exc: BaseException) -> FileOutcome:
    msg = (
        f"{c.name}: the pipeline failed on this file ({type(exc).__name__}: {exc}). The file is kept and "
        "quarantined; tell the data team, who will fix the pipeline and re-run it."
    )
    return _file_quarantined(c, "internal_error", msg)


def timed_out(c: Candidate, paths: WarehousePaths, why: str) -> Prepared:
    """A file whose processing was stopped (it hung a parser): its bytes kept, the file quarantined with
    the reason; the run goes on with the other files (pipeline/workers.py)."""
    with contextlib.suppress(OSError):  # the worker usually kept it before it hung
        keep_raw(paths, c.path.read_bytes(), c.sha256)
    msg = (
        f"{c.name}: {why} — the file is probably damaged or far larger than a plate export. The file is "
        "kept and quarantined; check it opens in the instrument software and re-export it, or tell the "
        "data team if it is a normal export."
    )
    return Prepared(c, _file_quarantined(c, "file_timeout", msg))


def _file_quarantined(c: Candidate, rule: str, msg: str) -> FileOutcome:
    q = pl.DataFrame(
        [
            {
                "source_file": c.name,
                "source_sha256": c.sha256,
                "rule": rule,
                "severity": "reject",
                "message": msg,
            }
        ],
        schema_overrides=QUARANTINE_SCHEMA,
    )
    return FileOutcome(
        source_file=c.name,
        source_sha256=c.sha256,
        size_bytes=c.size,
        format=None,
        status="quarantined",
        message=msg,
        quarantine=q.select(
            [
                pl.col(k).cast(v) if k in q.columns else pl.lit(None, v).alias(k)
                for k, v in QUARANTINE_SCHEMA.items()
            ]
        ),
    )


def trend_at_load(outcome: FileOutcome, ctx: IntakeContext) -> FileOutcome:
    """Levey–Jennings/Westgard on the file's runs against the earlier runs in the store (pipeline/trend.py);
    a file already in the store is left alone (its load is a no-op)."""
    if outcome.plates == [] or ctx.store.is_known(outcome.source_sha256):
        return outcome
    assay_ids = sorted({p.assay_id for p in outcome.plates if p.assay_id})
    analytes = [] if outcome.curves is None else outcome.curves["analyte"].unique().to_list()
    if outcome.wells is not None:
        analytes = sorted({*analytes, *outcome.wells["analyte"].drop_nulls().unique().to_list()})
    try:
        lots = {p.kit_lot or "" for p in outcome.plates if p.assay_id}
        history, n_history = for_store(ctx.store, ctx.config).earlier(assay_ids, analytes, lots)
        return judge_trend(
            outcome,
            history,
            ctx.config,
            order=ctx.store.load_seq() + 1,
            at=datetime.now(UTC),
            n_history=n_history,
        )
    except Exception:  # trending must never lose a file: load it untrended, say so in the log
        log.exception(
            "Levey-Jennings trending of %s failed; the file is loaded without it", outcome.source_file
        )
        return outcome


@dataclass(frozen=True)
class Prepared:
    """A file read, kept and processed — everything before the load, which needs the writer. ``left``:
    the file was not complete (it changed since discovery, or its format's end marker is missing while it
    is still being written): nothing is kept or loaded, and this says why (read again next run)."""

    candidate: Candidate
    outcome: FileOutcome
    left: str | None = None

    @property
    def rows(self) -> int:
        """Rows the file writes that count against a batch's size (pipeline/batches.py): wells, results."""
        o = self.outcome
        return (0 if o.wells is None else o.wells.height) + (0 if o.results is None else o.results.height)


_UNFINISHED = ("looks truncated", "end line", "the file ends inside")
"""What readers say when a format's end is missing (xPONENT's "-- CRC --", a section cut off by the end
of the file, a row cut short): the words they already use, so no reader needs to know about copying."""


def looks_unfinished(outcome: FileOutcome) -> bool:
    said = [outcome.message, *outcome.warnings] if outcome.status == "quarantined" else outcome.warnings
    return any(word in text for text in said for word in _UNFINISHED)


def _left(c: Candidate, why: str) -> Prepared:
    msg = copying_message(c.name, why)
    return Prepared(c, _file_quarantined(c, "still_copying", msg), left=msg)


def prepare_file(
    c: Candidate,
    siblings: list[Candidate],
    paths: WarehousePaths,
    config: Config,
    manifest: Manifest,
    assay: str | None = None,
    unfinished_wait_s: float = 0.0,
) -> Prepared:
    """Keep the raw bytes (file and plate maps) under their SHA-256, then process them. Pure apart from
    the raw copy (idempotent, atomic): safe in a worker process (pipeline/workers.py). The assay the
    file was uploaded with (``c.assay``) comes before the run's ``assay``.

    A file (or plate map) whose bytes are not those hashed at discovery is still being copied in: it is
    left for the next run, not loaded (issue 14: 21 of 148 results were published as the
    plate). So is one whose reader misses its format's end marker while it was written to less than
    ``unfinished_wait_s`` seconds ago (operations.yaml ``processing.unfinished_wait_s``)."""
    try:
        data = c.path.read_bytes()
        sib_bytes = {s.name: s.path.read_bytes() for s in siblings}
    except OSError as exc:
        return _left(c, f"it could not be read now ({exc.strerror or exc})")
    sha = sha256_of(data)
    if sha != c.sha256:
        return _left(c, f"its content changed since the run found it ({c.size:,} → {len(data):,} bytes)")
    for s in siblings:
        if sha256_of(sib_bytes[s.name]) != s.sha256:
            return _left(c, f"its plate map {s.name} changed since the run found it")
    keep_raw(paths, data, sha)  # before reading: even a file that crashes the reader is kept
    for s in siblings:
        keep_raw(paths, sib_bytes[s.name], s.sha256)
    try:
        outcome = process_file(
            FileInput(name=c.name, data=data, siblings=sib_bytes),
            sha,
            config,
            manifest,
            assay=c.assay or assay,
        )
    except Exception as exc:  # a pipeline defect must not stop the other files
        log.exception("processing %s failed", c.name)
        outcome = internal_error_outcome(c, exc)
    if unfinished_wait_s > 0 and looks_unfinished(outcome):
        with contextlib.suppress(OSError):
            age = time.time() - c.path.stat().st_mtime
            if age < unfinished_wait_s:
                return _left(c, f"its end marker is missing and it was written to {age:.0f} s ago")
    return Prepared(c, outcome)


def load_prepared(
    prepared: Prepared, siblings: list[Candidate], ctx: IntakeContext
) -> tuple[FileOutcome, LoadReport]:
    """Judge the file's runs against the history (Levey–Jennings) and load it: one transaction."""
    outcome = trend_at_load(prepared.outcome, ctx)
    used = [(s.sha256, s.name, s.size) for s in siblings if s.name in outcome.companions]
    c = prepared.candidate
    actor = f"lab {c.lab} ({c.via})" if c.lab else None  # else the run's actor (flow run, CLI user)
    report = ctx.store.load(outcome, ctx.run_id, companions=used, config=ctx.config, lab=c.lab, actor=actor)
    return report.outcome or outcome, report


def load_failed_outcome(c: Candidate, exc: BaseException) -> FileOutcome:
    """A file whose load transaction failed on its own (a defect, not the data: its rows broke a rule of
    the warehouse): quarantined with the reason, so the batch's other files still load."""
    why = f"{type(exc).__name__}: {one_line(str(exc), 300)}"
    msg = (
        f"{c.name}: the warehouse could not load this file ({why}). "
        "The file is kept and quarantined and nothing of it was loaded; tell the data team, who will fix "
        "the pipeline and load it again."
    )
    return _file_quarantined(c, "load_failed", msg)


def load_alone(
    prepared: Prepared, siblings: list[Candidate], ctx: IntakeContext
) -> tuple[FileOutcome, LoadReport]:
    """Load one file in its own transaction; a load that fails quarantines the file with the reason (in a
    transaction of its own) instead of stopping the run."""
    try:
        return load_prepared(prepared, siblings, ctx)
    except Exception as exc:
        if storage_fault(exc):  # a full or read-only disk is no fault of this file: the run stops, says why
            raise
        log.exception("loading %s failed; the file is quarantined", prepared.candidate.name)
        c = prepared.candidate
        return load_prepared(Prepared(c, load_failed_outcome(c, exc)), [], ctx)


Batch = Sequence[tuple[Prepared, list[Candidate]]]
"""Processed files (each with the plate maps read with it), in discovery order, to load together."""


def load_batch(batch: Batch, ctx: IntakeContext) -> list[tuple[FileOutcome, LoadReport]]:
    """Load ``batch`` in one transaction (group commit, warehouse/store.py ``WriterStore.group``): each
    file judged (Levey–Jennings) and loaded in order, against the store as the batch's earlier files left
    it — the same decisions as one transaction per file. If the transaction fails, nothing of the batch
    stays and the files are loaded again one by one (:func:`load_alone`), so one bad file never takes the
    others with it. A kill or SIGTERM (not an ``Exception``) is not retried: the batch is rolled back and
    the next run loads it again."""
    if len(batch) > 1:
        try:
            with ctx.store.group():
                return [load_prepared(p, s, ctx) for p, s in batch]
        except Exception as exc:
            if storage_fault(exc):  # rolled back; file by file would fail alike: the run stops, says why
                raise
            names = ", ".join(p.candidate.name for p, _ in batch)
            log.warning(
                "the %d files %s could not be loaded in one transaction (%s: %s); loading them one by one",
                len(batch),
                one_line(names, 200),
                type(exc).__name__,
                one_line(str(exc), 200),
            )
    return [load_alone(p, s, ctx) for p, s in batch]


def intake(c: Candidate, siblings: list[Candidate], ctx: IntakeContext) -> tuple[FileOutcome, LoadReport]:
    """One file, start to finish, in this process (the flow prepares files ahead in workers instead)."""
    prepared = prepare_file(c, siblings, ctx.store.paths, ctx.config, ctx.manifest)
    if prepared.left:  # still being copied in: nothing loaded, read again next run
        return prepared.outcome, LoadReport(c.sha256, loaded=False, n_results=0, n_superseded=0)
    return load_prepared(prepared, siblings, ctx)
