"""Data cuts: a named, frozen copy of what analysts see, provably unchanged later.

`biomarkers snapshot create NAME` publishes whatever is pending, copies that published Parquet snapshot
into ``datacuts/NAME/data`` (files made read-only), and writes ``manifest.json`` listing every file with
its SHA-256 and size. The manifest's own SHA-256 goes into the audit trail, so a cut whose files *and*
manifest were both rewritten is still caught. A cut can be queried with the same views as the analyst
store (``open_cut``), which is how a database lock for an interim analysis is reproduced years later.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import shutil
import stat
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import duckdb

from schemas.config import Config
from warehouse.audit import AuditEvent
from warehouse.paths import WarehousePaths
from warehouse.publish import current_snapshot, install_views, publish
from warehouse.store import WriterStore

_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$")


class DataCutError(Exception):
    """A cut cannot be made or read as asked; the message says why and what to do."""


@dataclass(frozen=True)
class CutReport:
    name: str
    path: Path
    files: int
    manifest_sha256: str


@dataclass(frozen=True)
class CutCheck:
    name: str
    ok: bool
    problems: list[str]
    files: int


def cuts_dir(paths: WarehousePaths) -> Path:
    return paths.root / "datacuts"


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


def create(store: WriterStore, name: str, *, config: Config, reason: str = "") -> CutReport:
    _check_name(name)
    target = cuts_dir(store.paths) / name
    if target.exists():
        raise DataCutError(f"a data cut named {name} already exists at {target}; cuts are never replaced")
    publish(store, config=config)
    snap = current_snapshot(store.paths)
    if snap is None:
        raise DataCutError("nothing is published yet: ingest something first")
    tmp = target.with_name(f".{name}.tmp")
    shutil.rmtree(tmp, ignore_errors=True)
    shutil.copytree(snap, tmp / "data")
    files = {}
    for p in sorted((tmp / "data").rglob("*")):
        if p.is_file():
            files[p.relative_to(tmp / "data").as_posix()] = {"sha256": _sha(p), "bytes": p.stat().st_size}
            p.chmod(stat.S_IRUSR | stat.S_IRGRP | stat.S_IROTH)
    manifest = {
        "name": name,
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
    manifest_sha = hashlib.sha256(text.encode()).hexdigest()
    store.audit(
        [
            AuditEvent(
                event="snapshot_created",
                entity="datacut",
                entity_id=name,
                new_value=f"manifest sha256 {manifest_sha}; {len(files)} files from {snap.name}",
                reason=reason or None,
            )
        ]
    )
    publish(store, config=config)
    return CutReport(name, target, len(files), manifest_sha)


def recorded_manifest_sha(con: duckdb.DuckDBPyConnection, name: str) -> str | None:
    row = con.execute(
        "SELECT new_value FROM audit_log WHERE event = 'snapshot_created' AND entity_id = ? ORDER BY seq",
        [name],
    ).fetchall()
    if not row:
        return None
    m = re.search(r"manifest sha256 ([0-9a-f]{64})", row[0][0])
    return m.group(1) if m else None


def verify(paths: WarehousePaths, name: str, recorded_sha: str | None) -> CutCheck:
    """Every file still hashes to its manifest entry, none added or missing, and the manifest is the one
    the audit trail recorded."""
    _check_name(name)
    root = cuts_dir(paths) / name
    mf = root / "manifest.json"
    if not mf.exists():
        raise DataCutError(f"no data cut named {name} (looked in {cuts_dir(paths)})")
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
    return CutCheck(name, not problems, problems, len(files))


def open_cut(paths: WarehousePaths, name: str, config: Config) -> duckdb.DuckDBPyConnection:
    """An in-memory DuckDB with the analyst views over the cut's own files."""
    _check_name(name)
    data = cuts_dir(paths) / name / "data"
    if not data.exists():
        raise DataCutError(f"no data cut named {name} (looked in {cuts_dir(paths)})")
    con = duckdb.connect()
    install_views(con, data, config)
    return con


def list_cuts(paths: WarehousePaths) -> list[dict[str, object]]:
    out = []
    d = cuts_dir(paths)
    for mf in sorted(d.glob("*/manifest.json")) if d.exists() else []:
        m = json.loads(mf.read_text(encoding="utf-8"))
        out.append({k: m[k] for k in ("name", "created_at", "created_by", "reason", "change_seq")})
    return out
