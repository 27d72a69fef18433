"""The analyst's side of the warehouse: read-only connections to analyst.duckdb."""

from __future__ import annotations

import duckdb

from warehouse.paths import WarehousePaths


class NoAnalystStoreError(Exception):
    pass


def connect_analyst(paths: WarehousePaths, *, full: bool = False) -> duckdb.DuckDBPyConnection:
    """A read-only connection: many analysts at once, never blocking ingestion (it writes another file).

    The blinded store by default (post-dose values that can reveal the arm are not in it); ``full``: the
    full store, for the roles cleared to see them (lab QC, the unblinded team; docs/access.md)."""
    db = paths.full_db if full else paths.analyst_db
    if not db.exists():
        raise NoAnalystStoreError(
            f"no {'full' if full else 'analyst'} store at {db} yet: run `biomarkers ingest` "
            "(or `make demo`) first"
        )
    return duckdb.connect(str(db), read_only=True)


def list_views(con: duckdb.DuckDBPyConnection) -> list[str]:
    rows = con.execute(
        "SELECT view_name FROM duckdb_views() WHERE NOT internal ORDER BY view_name"
    ).fetchall()
    return [r[0] for r in rows]
