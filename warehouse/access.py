"""File permissions of the two analyst stores: who can open the blinded store and who the full one.

The separation is the operating system's: each store is a folder (its DuckDB file and the Parquet
snapshots it reads), given the group configured for it (operations.yaml ``stores``) and the configured
modes (0750 folders, 0640 files by default: the writer's account writes, the group reads, others nothing).
Applied to each new snapshot before any store points at it.
"""

from __future__ import annotations

import grp
import os
from pathlib import Path

from schemas.config import ConfigError
from schemas.operations import StoreAccess


def _gid(group: str | None) -> int:
    if group is None:
        return -1  # keep the group the writer's account gives new files
    try:
        return grp.getgrnam(group).gr_gid
    except KeyError:
        raise ConfigError(
            f"operations.yaml stores: group {group!r} does not exist on this machine; create it "
            "(groupadd) or name an existing one"
        ) from None


def apply_access(store_dir: Path, snapshot: Path, db: Path, group: str | None, access: StoreAccess) -> None:
    """Give the store folder, its published folder, the new snapshot (every folder and file in it) and the
    store file the configured group and modes."""
    gid = _gid(group)
    dir_mode = int(access.dir_mode, 8)
    file_mode = int(access.file_mode, 8)
    dirs = [store_dir, snapshot.parent, snapshot, *(p for p in snapshot.rglob("*") if p.is_dir())]
    files = [db, *(p for p in snapshot.rglob("*") if p.is_file())]
    for path, mode in [(d, dir_mode) for d in dirs] + [(f, file_mode) for f in files]:
        if gid != -1:
            os.chown(path, -1, gid)
        os.chmod(path, mode)


def apply_cut_access(cut: Path, group: str | None, access: StoreAccess) -> None:
    """A data cut in a store's folder: the store's group and folder mode on the cuts folder, the cut and
    its folders; its files the store's file mode without any write bit (a cut is never changed)."""
    gid = _gid(group)
    dirs = [cut.parent, cut, *(p for p in cut.rglob("*") if p.is_dir())]
    files = [p for p in cut.rglob("*") if p.is_file()]
    read_only = int(access.file_mode, 8) & ~0o222
    for path, mode in [(d, int(access.dir_mode, 8)) for d in dirs] + [(f, read_only) for f in files]:
        if gid != -1:
            os.chown(path, -1, gid)
        os.chmod(path, mode)
