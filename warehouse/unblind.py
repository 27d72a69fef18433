"""The unblinded store: allocation joined to current results, for the unblinded statistician only.

This is the one place treatment assignment meets the data, and it is kept apart on purpose: it is
written to a file outside the warehouse folder (the analyst store and published snapshots never see the
allocation), is readable by its owner only, and its creation is an audit entry naming who made it, from
which allocation file (by SHA-256) and where it went. Ingestion itself never reads the allocation list.
"""

from __future__ import annotations

import hashlib
import os
from dataclasses import dataclass
from pathlib import Path

import duckdb
import polars as pl

from schemas.config import Config
from warehouse.audit import AuditEvent
from warehouse.publish import current_snapshot, install_views, publish
from warehouse.store import WriterStore


class UnblindError(Exception):
    """The unblinded store cannot be made as asked; the message says what to change."""


@dataclass(frozen=True)
class UnblindReport:
    path: Path
    participants: int
    results: int
    allocation_sha256: str


def unblind(store: WriterStore, allocation: Path, out: Path, *, config: Config, reason: str) -> UnblindReport:
    out = out.expanduser().resolve()
    if out.is_relative_to(store.paths.root):
        raise UnblindError(
            f"{out} is inside the warehouse folder {store.paths.root}, which analysts read: write the "
            "unblinded store somewhere only the unblinded statistician can reach"
        )
    if out.exists():
        raise UnblindError(f"{out} already exists: unblinded stores are never overwritten; choose a new path")
    if len(reason.strip()) < 5:
        raise UnblindError("a reason is required (e.g. 'final analysis, DB lock 2026-11-30')")
    data = allocation.read_bytes()
    alloc = pl.read_csv(allocation, infer_schema=False)
    if "participant_id" not in alloc.columns:
        raise UnblindError(f"{allocation} has no participant_id column (columns: {', '.join(alloc.columns)})")
    publish(store, config=config)
    snap = current_snapshot(store.paths, full=True)  # the arm needs every value, withheld ones too
    if snap is None:
        raise UnblindError("nothing is published yet: ingest something first")
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = out.with_name(f".{out.name}.tmp")
    tmp.unlink(missing_ok=True)
    src = duckdb.connect()
    try:
        install_views(src, snap, config)
        results = src.sql("SELECT * FROM results").pl()
    finally:
        src.close()
    con = duckdb.connect(str(tmp))
    try:
        con.register("_alloc", alloc.to_arrow())
        con.register("_results", results.to_arrow())
        con.execute("CREATE TABLE allocation AS SELECT * FROM _alloc")
        con.execute("CREATE TABLE results AS SELECT * FROM _results")
        con.execute(
            "CREATE VIEW results_unblinded AS SELECT r.*, a.* EXCLUDE (participant_id) "
            "FROM results r LEFT JOIN allocation a USING (participant_id)"
        )
        con.execute(
            "COMMENT ON VIEW results_unblinded IS 'UNBLINDED: current results with treatment allocation.'"
        )
        con.execute("CHECKPOINT")
    finally:
        con.close()
    os.chmod(tmp, 0o600)
    os.rename(tmp, out)
    sha = hashlib.sha256(data).hexdigest()
    n_part = alloc.select(pl.col("participant_id").n_unique()).item()
    store.audit(
        [
            AuditEvent(
                event="unblinded_store_created",
                entity="unblinded_store",
                entity_id=str(out),
                new_value=f"allocation {allocation.name} sha256 {sha}; {n_part} participants; "
                f"{results.height} results from {snap.name}",
                reason=reason,
            )
        ]
    )
    publish(store, config=config)  # analysts see the entry (never the allocation) on their next connection
    return UnblindReport(out, n_part, results.height, sha)
