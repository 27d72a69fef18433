"""Data cuts: a named, frozen copy of what each store shows, provably unchanged later.

`biomarkers snapshot create NAME` publishes whatever is pending and cuts *both* stores from that one
publish (the same change sequence): the blinded snapshot into ``analyst/datacuts/NAME`` — what blinded
analysts get, withheld values physically absent — and the full snapshot into ``full/datacuts/NAME`` for the
roles cleared to see every value (the unblinded team, a DMC). This is how a trial's data cut is taken: one
cut-off, a blinded and an unblinded deliverable from it, so an unblinded interim analysis and the blinded
team's tables describe the same data. Each cut sits in its store's folder and gets that store's group and
modes (operations.yaml ``stores``; files read-only), so the operating system keeps the full cut from
blinded staff exactly as it keeps the full store. Each cut has its ``manifest.json`` (every file with its
SHA-256 and size) whose own SHA-256 goes into the audit trail, so a cut whose files *and* manifest were
both rewritten is still caught. A cut can be queried with the same views as its store (``open_cut``), which
is how a database lock for an interim analysis is reproduced years later.

Cuts made before the split lie in ``datacuts/NAME`` at the warehouse root; they may hold every value, so
they are read only as full cuts (``--full``), and verified as before.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import shutil
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Literal

import duckdb

from schemas.config import Config
from schemas.operations import StoreAccess, load_operations
from warehouse.access import apply_cut_access
from warehouse.audit import AuditEvent
from warehouse.paths import WarehousePaths
from warehouse.publish import current_snapshot, install_views, publish
from warehouse.store import WriterStore

Store = Literal["blinded", "full", "legacy"]
STORES: tuple[Store, ...] = ("blinded", "full", "legacy")

_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$")


class DataCutError(Exception):
    """A cut cannot be made or read as asked; the message says why and what to do."""


@dataclass(frozen=True)
class CutReport:
    name: str
    store: Store
    path: Path
    files: int
    manifest_sha256: str


@dataclass(frozen=True)
class CutCheck:
    name: str
    store: Store
    ok: bool
    problems: list[str]
    files: int


def cuts_dir(paths: WarehousePaths, store: Store = "blinded") -> Path:
    """Where a store's cuts live: in the store's own folder (its group and modes); ``legacy``: the root
    folder cuts were made in before the blinded/full split."""
    if store == "legacy":
        return paths.root / "datacuts"
    return (paths.full_dir if store == "full" else paths.analyst_dir) / "datacuts"


def existing(paths: WarehousePaths, name: str) -> list[Store]:
    """The stores that hold a cut called ``name``."""
    _check_name(name)
    return [s for s in STORES if (cuts_dir(paths, s) / name / "manifest.json").is_file()]


def _sha(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def _check_name(name: str) -> None:
    if not _NAME.match(name):
        raise DataCutError(
            f"cut name {name!r} is not allowed: use letters, digits, '.', '_' or '-' (at most 64), e.g. "
            "IA1-2026-11-24"
        )


def create(
    store: WriterStore, name: str, *, config: Config, reason: str = "", access: StoreAccess | None = None
) -> list[CutReport]:
    """Cut the blinded and the full store from one publish; the blinded cut's report first."""
    _check_name(name)
    taken = [cuts_dir(store.paths, s) / name for s in STORES if (cuts_dir(store.paths, s) / name).exists()]
    if taken:
        raise DataCutError(f"a data cut named {name} already exists at {taken[0]}; cuts are never replaced")
    access = access or load_operations(config.source_dir).stores
    publish(store, config=config, access=access)
    blinded, full = current_snapshot(store.paths), current_snapshot(store.paths, full=True)
    if blinded is None or full is None:
        raise DataCutError("nothing is published yet: ingest something first")
    if blinded.name != full.name:  # both written by one publish carry one name
        raise DataCutError(
            f"the blinded and the full store point at different snapshots ({blinded.name}, {full.name}), "
            "which one publish never leaves: their published/ folders were changed by hand; restore them "
            "from backup before cutting"
        )
    reports = [_cut(store, name, "blinded", blinded, reason), _cut(store, name, "full", full, reason)]
    apply_cut_access(reports[0].path, access.blinded_group, access)
    apply_cut_access(reports[1].path, access.full_group, access)
    store.audit(
        [
            AuditEvent(
                event="snapshot_created",
                entity="datacut",
                entity_id=name,
                new_value=f"{r.store} store: manifest sha256 {r.manifest_sha256}; {r.files} files from "
                f"{blinded.name}",
                reason=reason or None,
            )
            for r in reports
        ]
    )
    publish(store, config=config, access=access)
    return reports


def _cut(store: WriterStore, name: str, kind: Store, snap: Path, reason: str) -> CutReport:
    """Copy one snapshot into ``<store>/datacuts/NAME/data`` with its manifest; renamed into place whole."""
    target = cuts_dir(store.paths, kind) / name
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = target.with_name(f".{name}.tmp")
    shutil.rmtree(tmp, ignore_errors=True)
    shutil.copytree(snap, tmp / "data")
    files = {}
    for p in sorted((tmp / "data").rglob("*")):
        if p.is_file():
            files[p.relative_to(tmp / "data").as_posix()] = {"sha256": _sha(p), "bytes": p.stat().st_size}
    manifest = {
        "name": name,
        "store": kind,
        "created_at": datetime.now(UTC).isoformat(timespec="seconds"),
        "created_by": store.actor,
        "reason": reason,
        "from_snapshot": snap.name,
        "change_seq": store.change_seq(),
        "files": files,
    }
    text = json.dumps(manifest, indent=2, sort_keys=True)
    (tmp / "manifest.json").write_text(text, encoding="utf-8")
    os.rename(tmp, target)
    return CutReport(name, kind, target, len(files), hashlib.sha256(text.encode()).hexdigest())


def recorded_manifest_sha(con: duckdb.DuckDBPyConnection, name: str, store: Store = "blinded") -> str | None:
    """The manifest SHA-256 the audit trail recorded for this store's cut. A cut made before the split has
    one untagged record: it counts for the legacy folder, and for a legacy cut moved under full/ (which
    may hold every value), never for a blinded copy."""
    rows = con.execute(
        "SELECT new_value FROM audit_log WHERE event = 'snapshot_created' AND entity_id = ? ORDER BY seq",
        [name],
    ).fetchall()
    found: dict[str, str] = {}
    for (value,) in rows:
        m = re.match(r"(?:(blinded|full) store: )?manifest sha256 ([0-9a-f]{64})", value or "")
        if m:
            found.setdefault(m.group(1) or "legacy", m.group(2))
    if store == "full":
        return found.get("full") or found.get("legacy")
    return found.get(store)


def verify(paths: WarehousePaths, name: str, recorded_sha: str | None, store: Store = "blinded") -> CutCheck:
    """Every file still hashes to its manifest entry, none added or missing, and the manifest is the one
    the audit trail recorded."""
    _check_name(name)
    root = cuts_dir(paths, store) / name
    mf = root / "manifest.json"
    if not mf.exists():
        raise DataCutError(f"no {store} data cut named {name} (looked in {cuts_dir(paths, store)})")
    text = mf.read_text(encoding="utf-8")
    problems: list[str] = []
    if recorded_sha is None:
        problems.append("the audit trail has no record of this cut's manifest")
    elif hashlib.sha256(text.encode()).hexdigest() != recorded_sha:
        problems.append(
            "manifest.json differs from the one recorded in the audit trail when the cut was made"
        )
    files: dict[str, dict[str, object]] = json.loads(text)["files"]
    present = {p.relative_to(root / "data").as_posix() for p in (root / "data").rglob("*") if p.is_file()}
    for rel, meta in sorted(files.items()):
        p = root / "data" / rel
        if rel not in present:
            problems.append(f"{rel}: missing")
        elif _sha(p) != meta["sha256"]:
            problems.append(f"{rel}: content changed (SHA-256 differs from the manifest)")
    for rel in sorted(present - set(files)):
        problems.append(f"{rel}: not in the manifest (added after the cut)")
    return CutCheck(name, store, not problems, problems, len(files))


def open_cut(
    paths: WarehousePaths, name: str, config: Config, *, full: bool = False
) -> duckdb.DuckDBPyConnection:
    """An in-memory DuckDB with the analyst views over the cut's own files: the blinded cut, or with
    ``full`` the full one (a cut made before the split is read only as a full cut: it may hold every
    value)."""
    _check_name(name)
    data = cuts_dir(paths, "full" if full else "blinded") / name / "data"
    legacy = cuts_dir(paths, "legacy") / name / "data"
    if not data.exists() and legacy.exists():
        if not full:
            raise DataCutError(
                f"data cut {name} was made before cuts were split into a blinded and a full copy ({legacy}); "
                "it may hold withheld post-dose values, so only roles cleared for the full store read it "
                "(--full)"
            )
        data = legacy
    if not data.exists():
        raise DataCutError(
            f"no {'full' if full else 'blinded'} data cut named {name} "
            f"(looked in {cuts_dir(paths, 'full' if full else 'blinded')})"
        )
    con = duckdb.connect()
    install_views(con, data, config)
    return con


def list_cuts(paths: WarehousePaths) -> list[dict[str, object]]:
    """Every cut of every store (one row per store's copy), oldest name first."""
    out = []
    for store in STORES:
        d = cuts_dir(paths, store)
        for mf in sorted(d.glob("*/manifest.json")) if d.exists() else []:
            m = json.loads(mf.read_text(encoding="utf-8"))
            row: dict[str, object] = {
                k: m[k] for k in ("name", "created_at", "created_by", "reason", "change_seq")
            }
            out.append({**row, "store": store})
    return sorted(out, key=lambda r: (str(r["name"]), STORES.index(r["store"])))
