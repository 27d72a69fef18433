"""Late manifests: a sample measured before its manifest shipment arrived resolves at the next run.

A result whose sample ID was in no manifest when its plate was loaded is kept with status ``unresolved``
(pipeline/resolve.py). Every run reads the manifests it has and re-resolves that queue: each unresolved
result whose sample is now listed gets a *new* row in ``results_all`` (the manifest's participant, visit,
matrix, collection date and condition; the flag ``resolved_late``; status ``loaded``, or ``held`` when a rule
held it already or the manifest's matrix differs from its plate's), decided for currency like any loaded
result (re-assay rule), while the unresolved row stays as it was, pointing at its replacement in
``result_currency`` (reason ``resolved late: …``). Nothing is updated in place; one transaction; one audit
entry ``resolved_late`` per sample names the manifest and shipment that resolved it.

The manifests themselves are recorded too (``manifest_samples``, one row per manifest file × sample), so the
analyst store can show every sample the biorepository listed (warehouse/sample_views.py).
"""

from __future__ import annotations

import contextlib
import hashlib
from dataclasses import dataclass
from datetime import datetime

import duckdb
import polars as pl

from schemas.config import Config
from schemas.manifest import Manifest
from schemas.manifest_join import join_manifest
from schemas.results import HOLD_TEXT, RESULT_SCHEMA
from warehouse import audit, currency
from warehouse.audit import AuditEvent
from warehouse.store import WriterStore, now_utc

FLAG = "resolved_late"
"""Flag of a result resolved by a manifest received after its plate was loaded."""

_PENDING_SQL = """
SELECT r.* EXCLUDE (loaded_at, run_id) FROM results_all r
WHERE r.status = 'unresolved'
  AND NOT EXISTS (SELECT 1 FROM result_currency c WHERE c.result_id = r.result_id)
ORDER BY r.rowid
"""
"""Unresolved results never resolved since: an unresolved result has no currency row until it resolves."""


@dataclass(frozen=True)
class LateResolution:
    samples: int  # sample IDs resolved
    results: int  # results resolved (new rows in results_all)
    current: int  # of which became current


def late_result_id(result_id: str) -> str:
    """The resolved row's ID: derived from the unresolved one (stable, so a resolution is never doubled)."""
    return hashlib.sha256(f"{result_id}|resolved late".encode()).hexdigest()[:32]


def _append(flags: pl.Expr, item: str, sep: str) -> pl.Expr:
    return pl.when(flags.is_null() | (flags == "")).then(pl.lit(item)).otherwise(flags + sep + item)


def resolve_rows(pending: pl.DataFrame, samples: pl.DataFrame, visitnum: dict[str, float]) -> pl.DataFrame:
    """The rows that replace the ``pending`` unresolved results (RESULT_SCHEMA columns) whose sample is in
    ``samples`` (a manifest, MANIFEST_SCHEMA), plus ``replaces`` (the unresolved result_id),
    ``manifest_file`` and ``shipment_id``. Pure: unit tests call it on hand-made frames.

    A result whose stored matrix (its plate's, taken while unresolved) differs from the manifest's is held
    ``mixed_matrix``; a hold the result carried already stays."""
    stored = pending.with_columns(_plate_matrix=pl.col("matrix"))  # the plate's, kept while unresolved
    j = join_manifest(stored, samples, visitnum, how="inner")
    odd = pl.col("_plate_matrix").is_not_null() & (pl.col("_plate_matrix") != pl.col("matrix"))
    hold = _append(pl.col("hold_reason"), HOLD_TEXT["mixed_matrix"], "; ")
    j = j.with_columns(
        replaces=pl.col("result_id"),
        result_id=pl.col("result_id").map_elements(late_result_id, return_dtype=pl.String()),
        flags=_append(
            pl.when(odd).then(_append(pl.col("flags"), "mixed_matrix", ";")).otherwise(pl.col("flags")),
            FLAG,
            ";",
        ),
        hold_reason=pl.when(odd).then(hold).otherwise(pl.col("hold_reason")),
    ).with_columns(
        status=pl.when(pl.col("hold_reason").is_not_null()).then(pl.lit("held")).otherwise(pl.lit("loaded"))
    )
    return j.select(
        *[pl.col(c).cast(t) for c, t in RESULT_SCHEMA.items()], "replaces", "manifest_file", "shipment_id"
    )


def record_manifest_samples(store: WriterStore, manifest: Manifest, run_id: str) -> int:
    """Record the samples of each manifest file not recorded yet (one transaction, audited); returns how
    many files were new. A sample listed in several files is recorded with the first (the manifest keeps
    the first listing; load_manifest refuses listings that disagree)."""
    con = store.con
    known = {r[0] for r in con.execute("SELECT DISTINCT manifest_sha256 FROM manifest_samples").fetchall()}
    new = [s for s in manifest.sources if s.sha256 not in known]
    if not new:
        return 0
    at = now_utc()
    frames = []
    events = []
    for src in new:
        rows = manifest.samples.filter(pl.col("manifest_file") == src.name)
        frames.append(rows.with_columns(manifest_sha256=pl.lit(src.sha256)))
        events.append(
            AuditEvent(
                event="manifest_received",
                entity="manifest",
                entity_id=src.name,
                source_sha256=src.sha256,
                new_value=f"{src.n_rows} rows, {rows.height} new samples",
                reason=f"sample manifest read by run {run_id}",
            )
        )
    frame = pl.concat(frames).with_columns(recorded_at=pl.lit(at), run_id=pl.lit(run_id))
    con.execute("BEGIN TRANSACTION")
    try:
        con.register("_manifest_rows", frame.to_arrow())
        con.execute("INSERT OR IGNORE INTO manifest_samples BY NAME SELECT * FROM _manifest_rows")
        new_head = audit.append(con, events, actor=store.actor, at=at)
        con.execute("COMMIT")
    except BaseException:
        con.execute("ROLLBACK")
        raise
    finally:
        with contextlib.suppress(duckdb.Error):
            con.unregister("_manifest_rows")
    audit.record_head(store.paths.ingest_db, new_head)
    return len(new)


def resolve_late(store: WriterStore, manifest: Manifest, config: Config, run_id: str) -> LateResolution:
    """Re-resolve the unresolved queue against ``manifest`` (every shipment the run has), in one
    transaction with its audit entries. Call before the run loads files (the store's per-run caches are
    still unread) — a run with nothing to resolve reads one filtered scan of results_all."""
    con = store.con
    pending = con.sql(_PENDING_SQL).pl()
    if pending.height == 0 or len(manifest) == 0:
        return LateResolution(0, 0, 0)
    visitnum = {v.code: v.visitnum for v in config.study.visits}
    rows = resolve_rows(pending, manifest.samples, visitnum)
    if rows.height == 0:
        return LateResolution(0, 0, 0)
    at = now_utc()
    events = _sample_events(rows)
    con.execute("BEGIN TRANSACTION")
    try:
        table = rows.drop("replaces", "manifest_file", "shipment_id").with_columns(
            loaded_at=pl.lit(at), run_id=pl.lit(run_id)
        )
        con.register("_late_rows", table.to_arrow())
        con.execute("INSERT INTO results_all BY NAME SELECT * FROM _late_rows")
        keys = rows.filter(pl.col("status") == "loaded").select(currency.GROUP).unique(maintain_order=True)
        change = currency.refresh(con, keys, config, at=at, run_id=run_id)
        _point_to_replacements(con, rows, at, run_id)
        new_head = audit.append(con, events + change.events, actor=store.actor, at=at)
        con.execute("COMMIT")
    except BaseException:
        con.execute("ROLLBACK")
        raise
    finally:
        with contextlib.suppress(duckdb.Error):
            con.unregister("_late_rows")
    audit.record_head(store.paths.ingest_db, new_head)
    return LateResolution(rows["sample_id"].n_unique(), rows.height, change.became_current)


def _why(r: dict[str, object]) -> str:
    shipment = f", shipment {r['shipment_id']}" if r.get("shipment_id") else ""
    return f"resolved late: sample {r['sample_id']} is in manifest {r['manifest_file']}{shipment}, received "


def _point_to_replacements(
    con: duckdb.DuckDBPyConnection, rows: pl.DataFrame, at: datetime, run_id: str
) -> None:
    """The unresolved rows' one currency entry: never current, replaced by their resolved row."""
    start = int(con.execute("SELECT coalesce(max(event_seq), 0) FROM result_currency").fetchall()[0][0])
    shipment = pl.when(pl.col("shipment_id").is_not_null()).then(", shipment " + pl.col("shipment_id"))
    out = rows.with_row_index("_i").select(
        (pl.col("_i").cast(pl.Int64) + start + 1).alias("event_seq"),
        pl.col("replaces").alias("result_id"),
        pl.lit(False).alias("is_current"),
        pl.lit(at).alias("changed_at"),
        pl.concat_str(
            pl.lit("resolved late: sample "),
            pl.col("sample_id"),
            pl.lit(" is in manifest "),
            pl.col("manifest_file"),
            shipment.otherwise(pl.lit("")),
            pl.lit(", received after its plate was loaded; result "),
            pl.col("result_id"),
            pl.lit(" carries it (status "),
            pl.col("status"),
            pl.lit(")"),
        ).alias("reason"),
        pl.col("result_id").alias("superseded_by"),
        pl.lit(None, pl.String()).alias("exclusion_id"),
        pl.lit(run_id).alias("run_id"),
    )
    con.register("_late_currency", out.to_arrow())
    try:
        con.execute("INSERT INTO result_currency BY NAME SELECT * FROM _late_currency")
    finally:
        con.unregister("_late_currency")


def _sample_events(rows: pl.DataFrame) -> list[AuditEvent]:
    events = []
    for (sid,), g in rows.group_by("sample_id", maintain_order=True):
        r = g.row(0, named=True)
        plates = ", ".join(sorted(set(g["plate_id"].to_list())))
        files = ", ".join(sorted(set(g["source_file"].to_list())))
        held = g.filter(pl.col("status") == "held").height
        events.append(
            AuditEvent(
                event=FLAG,
                entity="sample",
                entity_id=str(sid),
                source_sha256=r["source_sha256"],
                plate_id=plates,
                sample_id=str(sid),
                participant_id=r["participant_id"],
                old_value="unresolved",
                new_value=f"participant {r['participant_id']}, visit {r['visit']}, {r['matrix']}: "
                f"{g.height} result(s) loaded{f', {held} held' if held else ''}",
                reason=_why(r) + f"after plate {plates} ({files}) was loaded",
            )
        )
    return events
