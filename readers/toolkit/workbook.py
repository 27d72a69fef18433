"""Excel workbooks (.xlsx, .xls) as rows of cell text, so an Excel export and its text form share a parser.

python-calamine parses the workbook in the memory-limited child process of readers/isolation.py (a damaged
workbook can drive its Rust code into a huge allocation or a panic; either becomes :class:`WorkbookError`
for that one file). Every cell becomes the text a person sees in Excel: integral floats without ``.0``
(sample ID ``275001``), other floats in their shortest exact form, dates in ISO form.
"""

from __future__ import annotations

import datetime as dt
import io
import math
import zipfile
from dataclasses import dataclass

from python_calamine import CalamineWorkbook

from readers.isolation import IsolatedCrash, run_isolated

OLE2_MAGIC = b"\xd0\xcf\x11\xe0"
ZIP_MAGIC = b"PK\x03\x04"


class WorkbookError(Exception):
    """The workbook could not be parsed (damaged, not a workbook, or the parser crashed)."""


@dataclass(frozen=True)
class SheetRows:
    """One sheet: its name and its rows of cell text (row 1 first, empty rows kept)."""

    name: str
    rows: list[list[str]]


def workbook_kind(data: bytes) -> str | None:
    """``"xls"`` (OLE2 compound file), ``"xlsx"`` (a zip holding ``xl/``), ``"zip"`` (another zip), else
    None (not a workbook: read the bytes as text)."""
    if data.startswith(OLE2_MAGIC):
        return "xls"
    if not data.startswith(ZIP_MAGIC):
        return None
    try:
        with zipfile.ZipFile(io.BytesIO(data)) as z:
            return "xlsx" if any(n.startswith("xl/") for n in z.namelist()) else "zip"
    except (zipfile.BadZipFile, OSError, ValueError):
        return "zip"


def excel_cell_text(value: object) -> str:
    """One cell as the text Excel shows (see the module docstring)."""
    if value is None:
        return ""
    if isinstance(value, bool):
        return "1" if value else "0"
    if isinstance(value, float):
        if math.isfinite(value) and value.is_integer() and abs(value) < 1e16:
            return str(int(value))
        return repr(value) if math.isfinite(value) else str(value)
    if isinstance(value, dt.datetime | dt.date | dt.time):
        return value.isoformat()
    return str(value)


def sheet_rows(data: bytes, *, nrows: int | None = None, max_sheets: int | None = None) -> list[SheetRows]:
    """The workbook's sheets as cell text (the first ``nrows`` rows of the first ``max_sheets`` sheets)."""
    try:
        return run_isolated(_sheet_rows_here, data, nrows, max_sheets)
    except IsolatedCrash as exc:
        raise WorkbookError(f"the Excel parser failed on this workbook ({exc}): is it damaged?") from exc


def _sheet_rows_here(data: bytes, nrows: int | None, max_sheets: int | None) -> list[SheetRows]:
    try:
        wb = CalamineWorkbook.from_filelike(io.BytesIO(data))
        out = []
        for name in wb.sheet_names[:max_sheets]:
            rows = wb.get_sheet_by_name(name).to_python(skip_empty_area=False, nrows=nrows)
            out.append(SheetRows(name, [[excel_cell_text(v) for v in r] for r in rows]))
        return out
    except Exception as exc:
        raise WorkbookError(f"the workbook could not be opened ({type(exc).__name__}: {exc})") from None
    except BaseException as exc:  # pyo3's PanicException derives from BaseException: a damaged workbook
        if type(exc).__name__ == "PanicException":
            raise WorkbookError(f"the Excel parser failed on damaged data ({exc})") from None
        raise
