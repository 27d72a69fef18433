"""Parquet for R (arrow) and polars users: one analyst view as one Hive-partitioned dataset.

The dataset is written beside its target under a temporary name and renamed into place, so a reader never
sees half of it; an existing non-empty folder is refused rather than mixed with (or replaced by) new files.
"""

from __future__ import annotations

import os
import shutil
from dataclasses import dataclass
from pathlib import Path

import duckdb

from warehouse.analyst import list_views


class ExportError(Exception):
    """The export cannot be written as asked; the message says why and what to do."""


@dataclass(frozen=True)
class ParquetExport:
    view: str
    rows: int
    files: int
    partitioned_by: str | None


def export_view(con: duckdb.DuckDBPyConnection, view: str, out_dir: Path) -> ParquetExport:
    """Write ``view`` to ``out_dir`` as Parquet, partitioned by matrix when the view has one."""
    views = list_views(con)
    if view not in views:
        raise ExportError(f"no view {view!r} in the analyst store; available: {', '.join(views)}")
    if out_dir.exists() and (not out_dir.is_dir() or any(out_dir.iterdir())):
        raise ExportError(
            f"{out_dir} exists and is not an empty folder: choose a new folder (nothing is overwritten)"
        )
    columns = [r[0] for r in con.execute(f'DESCRIBE SELECT * FROM "{view}"').fetchall()]
    part = "matrix" if "matrix" in columns else None
    tmp = out_dir.with_name(f".{out_dir.name}.{os.getpid()}.tmp")
    shutil.rmtree(tmp, ignore_errors=True)
    tmp.mkdir(parents=True)
    quoted = "'" + str(tmp).replace("'", "''") + "'"
    try:
        rows = con.execute(f'SELECT count(*) FROM "{view}"').fetchall()[0][0]
        if part:
            con.execute(
                f'COPY (SELECT * FROM "{view}") TO {quoted} '
                "(FORMAT parquet, PARTITION_BY (matrix), OVERWRITE_OR_IGNORE)"
            )
        else:
            target = "'" + str(tmp / f"{view}.parquet").replace("'", "''") + "'"
            con.execute(f'COPY (SELECT * FROM "{view}") TO {target} (FORMAT parquet)')
        if out_dir.exists():
            out_dir.rmdir()  # empty, checked above
        os.rename(tmp, out_dir)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    files = sum(1 for _ in out_dir.rglob("*.parquet"))
    return ParquetExport(view=view, rows=rows, files=files, partitioned_by=part)
