"""The analyst's side of the warehouse: read-only connections to analyst.duckdb."""

from __future__ import annotations

import duckdb

from warehouse.paths import WarehousePaths


class NoAnalystStoreError(Exception):
    pass


def connect_analyst(paths: WarehousePaths) -> duckdb.DuckDBPyConnection:
    """A read-only connection: many analysts at once, never blocking ingestion (it writes another file)."""
    if not paths.analyst_db.exists():
        raise NoAnalystStoreError(
            f"no analyst store at {paths.analyst_db} yet: run `biomarkers ingest` (or `make demo`) first"
        )
    return duckdb.connect(str(paths.analyst_db), read_only=True)


def list_views(con: duckdb.DuckDBPyConnection) -> list[str]:
    rows = con.execute(
        "SELECT view_name FROM duckdb_views() WHERE NOT internal ORDER BY view_name"
    ).fetchall()
    return [r[0] for r in rows]
