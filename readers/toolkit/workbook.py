"""Excel workbooks (.xlsx/.xls) as rows of cell texts, parsed in the memory-limited child process.

A reader whose vendor writes the same layout to a text file and to a workbook (Gen5's "Export to Excel")
reads the workbook as lines of tab-joined cells and keeps one parser. python-calamine runs in the child
process of readers/isolation.py: a damaged workbook can make its Rust code abort, which must cost one file,
not the run.
"""

from __future__ import annotations

import datetime as dt
import io
import math
import zipfile

from python_calamine import CalamineWorkbook

from readers.isolation import IsolatedCrash, run_isolated

_OLE_MAGIC = b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1"  # legacy .xls (and other OLE compound files)


class WorkbookUnreadable(Exception):
    """The bytes look like a workbook but python-calamine could not read them."""


def excel_kind(data: bytes) -> str | None:
    """``"xls"`` for an OLE compound file, ``"xlsx"`` for a zip holding ``xl/``, ``"zip"`` for another zip
    (worth its own message: not a workbook), else None."""
    if data.startswith(_OLE_MAGIC):
        return "xls"
    if not data.startswith(b"PK"):
        return None
    try:
        with zipfile.ZipFile(io.BytesIO(data)) as z:
            return "xlsx" if any(n.startswith("xl/") for n in z.namelist()) else "zip"
    except (zipfile.BadZipFile, OSError, ValueError):
        return None


def is_workbook(data: bytes) -> bool:
    """An .xlsx (a zip holding ``xl/``) or a legacy .xls (an OLE compound file)."""
    return excel_kind(data) in ("xls", "xlsx")


def text_of_cell(value: object) -> str:
    """What a person sees in the cell: ``8940`` not ``8940.0``, floats in their shortest form."""
    if value is None:
        return ""
    if isinstance(value, bool):
        return str(int(value))
    if isinstance(value, float):
        if math.isfinite(value) and value.is_integer() and abs(value) < 1e16:
            return str(int(value))
        return repr(value)
    if isinstance(value, dt.datetime | dt.date | dt.time):
        return value.isoformat()
    return str(value)


def workbook_rows(
    data: bytes, nrows: int | None = None, max_sheets: int | None = None
) -> list[tuple[str, list[list[str]]]]:
    """Every sheet as (name, rows of cell texts), in workbook order; a sniff asks only for the first
    ``max_sheets`` sheets and ``nrows`` rows of each."""
    try:
        return run_isolated(_rows_here, data, nrows, max_sheets)
    except IsolatedCrash as exc:
        raise WorkbookUnreadable(f"the Excel parser failed on this workbook ({exc}); is it damaged?") from exc


def _rows_here(data: bytes, nrows: int | None, max_sheets: int | None) -> list[tuple[str, list[list[str]]]]:
    try:
        book = CalamineWorkbook.from_filelike(io.BytesIO(data))
        return [
            (
                name,
                [
                    [text_of_cell(v) for v in row]
                    for row in book.get_sheet_by_name(name).to_python(skip_empty_area=False, nrows=nrows)
                ],
            )
            for name in book.sheet_names[:max_sheets]
        ]
    except Exception as exc:
        raise WorkbookUnreadable(f"the workbook cannot be read ({type(exc).__name__}: {exc})") from None
    except BaseException as exc:  # pyo3's PanicException derives from BaseException
        if type(exc).__name__ == "PanicException":
            raise WorkbookUnreadable(f"the Excel parser failed on damaged data ({exc})") from None
        raise
