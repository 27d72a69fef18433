"""The raw area: every received file kept byte-for-byte under its SHA-256 (the original record)."""

from __future__ import annotations

import hashlib
import os
from pathlib import Path

from warehouse.paths import WarehousePaths


def sha256_of(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def raw_relpath(sha256: str) -> str:
    return f"raw/{sha256[:2]}/{sha256}"


def keep_raw(paths: WarehousePaths, data: bytes, sha256: str | None = None) -> str:
    """Store ``data`` under its hash (idempotent; written to a temporary name, fsynced, then renamed, so a
    crash never leaves a partial file under a real hash). Returns the path relative to the root."""
    sha = sha256 or sha256_of(data)
    rel = raw_relpath(sha)
    target = paths.root / rel
    if target.exists() and target.stat().st_size == len(data):
        return rel
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = target.with_name(f".{sha}.{os.getpid()}.tmp")
    with open(tmp, "wb") as fh:
        fh.write(data)
        fh.flush()
        os.fsync(fh.fileno())
    os.replace(tmp, target)
    return rel


def verify_raw(paths: WarehousePaths, sha256: str) -> bool:
    """True when the raw copy exists and still hashes to its name."""
    p: Path = paths.root / raw_relpath(sha256)
    return p.is_file() and sha256_of(p.read_bytes()) == sha256
