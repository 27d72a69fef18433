"""Rebuilding a damaged or lost ``ingest.duckdb`` from the raw area (docs/integrity-faults.md).

Every received file is kept byte for byte in ``raw/`` under its SHA-256 before anything else happens, and
every publish writes the ``files`` table (name, SHA-256, plate maps read with it, load order, lab) into the
full store's snapshot. So the database can be made again: set the damaged file aside (never deleted), lay
the raw files out under their names in their original load order, and ingest them again. Loads are
deterministic, so the current results come out the same. What a person did afterwards by command
(exclusions, data cuts) is in the old audit trail and the last snapshot's ``exclusions`` table and must be
done again; the rebuild lists them.
"""

from __future__ import annotations

import shutil
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

import polars as pl

from readers.platemap import platemap_names
from warehouse.paths import WarehousePaths
from warehouse.raw import raw_relpath, verify_raw


class RebuildError(Exception):
    """The rebuild cannot go ahead; the message says why and what to do."""


@dataclass
class Batch:
    """Files delivered by one lab (or none), in load order: one ingestion run."""

    lab: str | None
    folder: Path
    files: int = 0


@dataclass
class RebuildPlan:
    snapshot: Path
    batches: list[Batch] = field(default_factory=list)
    missing: list[str] = field(default_factory=list)  # named in the snapshot, not (intact) in raw/
    unnamed: list[str] = field(default_factory=list)  # in raw/, not named in the snapshot
    exclusions: int = 0  # exclusions made by people: to be made again
    signatures: int = 0  # run signatures (issue 21): runs to review again, reviewer accounts to add again


def latest_snapshot(paths: WarehousePaths) -> Path:
    """The newest snapshot of the full store holding a ``files`` table (its names and load order)."""
    # by the time it was written (``<seq>-<UTC time>``): a rebuilt store counts its changes afresh
    found = sorted(
        (p for p in paths.full_published_dir.glob("*") if (p / "files.parquet").is_file()),
        key=lambda p: p.name.partition("-")[2],
    )
    if not found:
        raise RebuildError(
            f"no published snapshot under {paths.full_published_dir} names the files of raw/, so they cannot "
            "be put back under their names and in their order. Ingest the original deliveries again into a "
            "new warehouse instead."
        )
    return found[-1]


def set_aside(paths: WarehousePaths) -> Path | None:
    """Move the damaged database (and its WAL and the audit heads log, which belong to its chain) into
    ``damaged-<time>/``: kept for inspection, never deleted. Returns that folder (None: nothing there)."""
    stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")
    target = paths.root / f"damaged-{stamp}"
    moved = False
    heads = paths.root / "audit"
    for p in (paths.ingest_db, paths.ingest_db.with_name(paths.ingest_db.name + ".wal"), heads):
        if p.exists():
            target.mkdir(exist_ok=True)
            shutil.move(str(p), str(target / p.name))
            moved = True
    return target if moved else None


def stage(paths: WarehousePaths, into: Path) -> RebuildPlan:
    """Lay the raw files out under ``into`` as ``<lab batch>/<load order>/<name>``, each plate map beside
    its export under the name the export's reader looks for (docs/formats.md)."""
    snap = latest_snapshot(paths)
    files = pl.read_parquet(snap / "files.parquet").sort("load_seq", "source_file")
    plan = RebuildPlan(snapshot=snap)
    if (snap / "exclusions.parquet").is_file():
        plan.exclusions = pl.read_parquet(snap / "exclusions.parquet").height
    if (snap / "run_signatures.parquet").is_file():
        plan.signatures = pl.read_parquet(snap / "run_signatures.parquet").height
    names = {r["source_sha256"]: r["source_file"] for r in files.iter_rows(named=True)}
    exports = files.filter(pl.col("status") != "companion")
    batch: Batch | None = None
    for r in exports.iter_rows(named=True):
        sha, name = r["source_sha256"], r["source_file"]
        if not verify_raw(paths, sha):
            plan.missing.append(name)
            continue
        if batch is None or batch.lab != r["lab"]:
            batch = Batch(lab=r["lab"], folder=into / f"{len(plan.batches) + 1:03d}")
            plan.batches.append(batch)
        folder = batch.folder / f"{r['load_seq']:07d}"
        folder.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(paths.root / raw_relpath(sha), folder / name)
        batch.files += 1
        wanted = platemap_names(name)
        for c_sha in (r["companions"] or "").split(";"):
            if not c_sha:
                continue
            if not verify_raw(paths, c_sha):
                plan.missing.append(names.get(c_sha, c_sha))
                continue
            c_name = names.get(c_sha, "")
            if c_name.lower() not in (w.lower() for w in wanted):
                c_name = wanted[0]  # the same bytes were first received under another export's name
            shutil.copyfile(paths.root / raw_relpath(c_sha), folder / c_name)
    known = set(names)
    plan.unnamed = sorted(
        p.name
        for p in paths.raw_dir.rglob("*")
        if p.is_file() and not p.name.startswith(".") and p.name not in known
    )
    return plan
