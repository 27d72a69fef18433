"""Is the writer store (``ingest.duckdb``) whole? A damaged database must never be called healthy.

DuckDB keeps a checksum per block: a damaged header fails the open, a damaged block fails the first read of
it. ``biomarkers status`` and ``biomarkers audit verify`` open the store and read every table through, so
any damage shows there (issue 14: both said "healthy" over a corrupt file). The cure is the rebuild from the
raw area (``biomarkers rebuild``; docs/integrity-faults.md), since every received file is kept there.
"""

from __future__ import annotations

import errno
from collections.abc import Iterator
from pathlib import Path

import duckdb

from warehouse.paths import WarehousePaths

DAMAGED_WORDS = ("Corrupt database file", "not a valid DuckDB database file", "database file is corrupted")
"""DuckDB's words for a damaged file (checksum mismatch, unreadable header)."""

BUSY_WORDS = ("Could not set lock", "Conflicting lock")

DISK_FULL = (errno.ENOSPC, errno.EDQUOT)
READ_ONLY = (errno.EROFS,)
DENIED = (errno.EACCES, errno.EPERM)
_STORAGE_ERRNOS = (*DISK_FULL, errno.EFBIG, *READ_ONLY, *DENIED)
_STORAGE_WORDS = (
    "No space left on device",
    "Disk quota exceeded",
    "File too large",
    "Read-only file system",
    "Permission denied",
    *DAMAGED_WORDS,
)


def exception_chain(exc: BaseException) -> Iterator[BaseException]:
    """The exception and everything it was raised from or while handling (each once): DuckDB and Prefect
    wrap the OS error that says what happened."""
    seen: set[int] = set()
    todo: list[BaseException | None] = [exc]
    while todo:
        e = todo.pop()
        if e is None or id(e) in seen:
            continue
        seen.add(id(e))
        yield e
        todo += [e.__cause__, e.__context__]


def storage_fault(exc: BaseException) -> bool:
    """The storage under the warehouse failed (full, read-only, not ours, damaged) somewhere in ``exc``'s
    chain: not something one file did, so no file is quarantined for it — every file after it would fail
    alike. The command explains it in one paragraph (biomarkers/faults.py)."""
    return any(
        (isinstance(e, OSError) and e.errno in _STORAGE_ERRNOS) or any(w in str(e) for w in _STORAGE_WORDS)
        for e in exception_chain(exc)
    )


class WarehouseDamaged(Exception):
    """The writer store cannot be read whole; the message says how to rebuild it."""


def damaged_message(where: str, detail: str) -> str:
    first = detail.strip().splitlines()[0] if detail.strip() else "unreadable"
    root = str(Path(where).parent) if where.endswith(".duckdb") else "WAREHOUSE"
    return (
        f"the warehouse database{f' {where}' if where else ''} is damaged ({first[:200]}). Nothing was "
        "changed. The received files are all kept in the warehouse's raw/ folder: rebuild the database "
        "from them with `biomarkers "
        f"rebuild --warehouse {root} --manifest MANIFEST` (it sets the damaged file aside and re-ingests "
        "every file in its original order; see docs/integrity-faults.md), then check it with `biomarkers "
        "audit verify`."
    )


def missing_message(paths: WarehousePaths) -> str:
    return (
        f"the warehouse {paths.root} has received files in raw/ but no database ({paths.ingest_db.name} is "
        "missing). Nothing was changed. Rebuild it from raw/ with `biomarkers rebuild --warehouse "
        f"{paths.root} --manifest MANIFEST` (docs/integrity-faults.md), or restore it from a backup."
    )


def _has_raw(paths: WarehousePaths) -> bool:
    return paths.raw_dir.is_dir() and any(p.is_file() for p in paths.raw_dir.rglob("*"))


def scan(con: duckdb.DuckDBPyConnection) -> None:
    """Read every row of every table (a hash of each row), so each block's checksum is checked."""
    tables = [
        r[0]
        for r in con.execute(
            "SELECT table_name FROM duckdb_tables() WHERE NOT internal AND database_name = current_database()"
        ).fetchall()
    ]
    for t in tables:
        con.execute(f'SELECT sum(hash(t)) FROM "{t}" t').fetchall()


def check_opens(paths: WarehousePaths) -> None:
    """The quick check before a run: the database's header and catalogue read (no table scan). A store a
    run holds open is not checked (the run's lock wait handles it)."""
    if not paths.ingest_db.exists():
        return
    try:
        duckdb.connect(str(paths.ingest_db), read_only=True).close()
    except duckdb.Error as exc:
        if not any(w in str(exc) for w in BUSY_WORDS):
            raise WarehouseDamaged(damaged_message(str(paths.ingest_db), str(exc))) from None


def check_store(paths: WarehousePaths) -> str:
    """Raise :class:`WarehouseDamaged` when ``ingest.duckdb`` is damaged, or missing while raw/ holds
    files. Returns "ok", "empty" (a warehouse not yet written) or "busy" (a run holds it: not checked)."""
    db = paths.ingest_db
    if not db.exists():
        if _has_raw(paths):
            raise WarehouseDamaged(missing_message(paths))
        return "empty"
    try:
        con = duckdb.connect(str(db), read_only=True)
    except duckdb.Error as exc:
        if any(w in str(exc) for w in BUSY_WORDS):
            return "busy"
        raise WarehouseDamaged(damaged_message(str(db), str(exc))) from None
    try:
        scan(con)
    except duckdb.Error as exc:
        raise WarehouseDamaged(damaged_message(str(db), str(exc))) from None
    finally:
        con.close()
    return "ok"
