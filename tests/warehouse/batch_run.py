"""Test helpers for group commit: the flow's own load steps without Prefect, with a chosen batch size, and
every warehouse table as rows without the clock times, run IDs and hashes that differ between two runs."""

from __future__ import annotations

import os
from pathlib import Path

import duckdb
import polars as pl

from pipeline.batches import BatchLimits, batches
from pipeline.discover import discover
from pipeline.intake import IntakeContext, load_batch, prepare_file
from pipeline.manifest import load_manifest
from schemas.config import load_config
from warehouse.late_resolution import record_manifest_samples, resolve_late
from warehouse.paths import WarehousePaths
from warehouse.publish import publish
from warehouse.store import WriterStore

VOLATILE = (
    {"run_id", "current_from", "current_to", "superseded_at", "state_since", "valid_from"}
    | {
        f"{w}_at"
        for w in ("loaded", "judged", "changed", "created", "received", "recorded", "logged", "started")
    }
    | {"entry_hash", "prev_hash"}
)
"""Columns that differ between two runs of the same inputs (times, run IDs, the audit chain's hashes,
which cover the entries' times); everything else must be equal row for row."""


def ingest_plain(
    inbox: Path, manifest: Path, root: Path, limits: BatchLimits, config_dir: Path | None = None
) -> int:
    """One run of the flow's steps (discover → prepare → load in batches → publish) without Prefect;
    returns the number of batches (transactions) used."""
    config = load_config(config_dir)
    n = 0
    with WriterStore(WarehousePaths.at(root), actor="batch-test") as store:
        run_id = f"run-{os.getpid()}"
        store.begin_run(run_id, inbox=str(inbox), manifest=str(manifest), trigger="test")
        store.record_config(config, run_id)
        samples = load_manifest(manifest, config)  # as the flow's manifest step: recorded, late samples
        for name, sha, n_samples in samples.sources:
            store.record_manifest(sha, name, n_samples, run_id)
        record_manifest_samples(store, samples, run_id)
        resolve_late(store, samples, config, run_id)
        found = discover(inbox, store.known_files())
        ctx = IntakeContext(config=config, manifest=samples, store=store, run_id=run_id)
        ready = (
            (prepare_file(c, found.siblings_of(c), store.paths, config, samples), found.siblings_of(c))
            for c in found.new
        )
        for batch in batches(ready, limits, rows_of=lambda item: item[0].rows):
            load_batch(batch, ctx)
            n += 1
        publish(store, config=config)
    return n


def tables(root: Path) -> dict[str, pl.DataFrame]:
    """Every table of the writer store, volatile columns dropped, sorted: what two runs must share."""
    con = duckdb.connect(str(root / "ingest.duckdb"), read_only=True)
    try:
        names = [
            r[0]
            for r in con.execute(
                "SELECT table_name FROM information_schema.tables WHERE table_type = 'BASE TABLE' ORDER BY 1"
            ).fetchall()
        ]
        out = {}
        for name in names:
            df = con.sql(f'SELECT * FROM "{name}"').pl()
            df = df.drop([c for c in df.columns if c in VOLATILE or c.endswith("_at")])
            df = df.with_columns(  # a time written into a text (an audit entry's "received ... (time)")
                pl.col(pl.String).str.replace_all(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d[0-9.:+-]*", "<time>")
            )
            if name == "meta":  # the published change sequence and config hashes are compared; nothing else
                df = df.filter(pl.col("key").is_in(["config_files", "published_change_seq"]))
            out[name] = df.sort(df.columns, nulls_last=True) if df.width else df
        return out
    finally:
        con.close()
