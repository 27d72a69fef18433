"""Specific refusals for files whose shape says what they are, before the generic "not a format" text.

Issue 14: an empty file, a zero-byte file, a missing ``unit`` column, a manifest dropped into the inbox, a
PDF or a photo all got the same 2.7 kB "none of the formats we read recognises" paragraph. A lab person
needs to hear what the file looks like, why it cannot be read and what to do, in one short paragraph.
:func:`recognise` is asked only when no reader recognised a file (and before the allotropy fallback, which
costs seconds and cannot read these either); :func:`container_refusal` is asked before any reader, because a
zip archive's stored text can look like an export inside it.
"""

from __future__ import annotations

import codecs
import io
import zipfile

from readers.base import FileInput, ReaderError
from readers.text import split_lines
from readers.toolkit.workbook import WorkbookUnreadable, excel_kind, workbook_rows
from schemas.manifest import MANIFEST_COLUMNS

AGAIN = "Export the plate again from the instrument software and copy the new file into the inbox."

_IMAGES = (
    (b"\x89PNG\r\n\x1a\n", "a PNG image"),
    (b"\xff\xd8\xff", "a JPEG image"),
    (b"GIF87a", "a GIF image"),
    (b"GIF89a", "a GIF image"),
    (b"II*\x00", "a TIFF image"),
    (b"MM\x00*", "a TIFF image"),
    (b"BM", "a BMP image"),
)
_CANONICAL = ("plate_id", "well", "sample_id", "sample_type", "analyte", "concentration", "unit")


class FileRefused(ReaderError):
    """A file refused for what it is; ``rule`` names it in the quarantine table (``empty_file``,
    ``not_an_export``, ``damaged_file``, ``manifest_in_inbox``, ``missing_columns``)."""

    def __init__(self, rule: str, message: str, *, file: str | None = None) -> None:
        super().__init__(message, file=file)
        self.rule = rule


class ManifestInInboxError(FileRefused):
    """A sample manifest delivered as an export. The pipeline adds where manifests go (it knows the run's
    manifest location; a reader does not)."""


def _key(cell: str) -> str:
    return "_".join(cell.strip().strip("\"'\ufeff").lower().replace("-", " ").replace(".", " ").split())


def _header_keys(head: str) -> list[str]:
    """The keys of the first non-blank line, split on the delimiter it uses most."""
    first = next((ln for ln in split_lines(head) if ln.strip(" \t,;\"'\ufeff")), "")
    sep = max((",", ";", "\t"), key=first.count)
    return [_key(c) for c in first.split(sep)]


def _blank(data: bytes) -> str | None:
    """Why a file with no data is empty: "0 bytes", "only blank lines", "only a byte-order mark"."""
    if not data:
        return "it is empty (0 bytes)"
    rest = data
    bom = False
    for mark in (codecs.BOM_UTF8, codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE):
        if rest.startswith(mark):
            rest, bom = rest[len(mark) :], True
            break
    if rest.replace(b"\x00", b"").strip(b" \t\r\n,;\"'"):
        return None
    what = "a byte-order mark and blank lines" if bom else "only spaces, delimiters or blank lines"
    return f"it holds no data: {len(data)} bytes of {what}"


def container_refusal(file: FileInput) -> FileRefused | None:
    """A zip archive that is not an Excel workbook: refused before any reader looks at it (a stored CSV
    inside reads as text, so a reader could take the archive for the export it holds)."""
    if excel_kind(file.data) != "zip":
        return None
    with zipfile.ZipFile(io.BytesIO(file.data)) as z:
        names = [n for n in z.namelist() if not n.endswith("/")]
    if any(n.startswith("word/") for n in names):
        return FileRefused(
            "not_an_export",
            "this is a Word document, not a data export: the pipeline reads the instrument's data export, "
            f"not a report. {AGAIN}",
            file=file.name,
        )
    shown = ", ".join(names[:5]) + (f" and {len(names) - 5} more" if len(names) > 5 else "")
    return FileRefused(
        "not_an_export",
        f"this is a zip archive holding {len(names)} file(s) ({shown or 'nothing'}), not an export: the "
        "pipeline does not open archives. Unzip it and copy the exports themselves into the inbox.",
        file=file.name,
    )


def recognise(file: FileInput, head: str) -> FileRefused | None:
    """A specific refusal for a file no reader recognised, when its shape says what it is; else None."""
    data = file.data
    empty = _blank(data)
    if empty:
        return FileRefused(
            "empty_file",
            f"{empty}, so there is nothing to read: the export or its copy into the inbox stopped before "
            f"any data was written. {AGAIN}",
            file=file.name,
        )
    if data.startswith(b"%PDF"):
        return FileRefused(
            "not_an_export",
            "this is a PDF document (a printed report), not a data export: the numbers in a PDF cannot be "
            "read reliably. Export the plate's data from the instrument software (docs/formats.md lists "
            "the formats) and copy that file into the inbox.",
            file=file.name,
        )
    image = next((what for magic, what in _IMAGES if data.startswith(magic)), None)
    if image:
        return FileRefused(
            "not_an_export",
            f"this is {image} (a photo or screenshot), not a data export: values cannot be read from a "
            "picture. Export the plate's data from the instrument software and copy that file into the "
            "inbox.",
            file=file.name,
        )
    kind = excel_kind(data)
    if data.startswith(b"PK") and kind is None:
        return FileRefused(
            "damaged_file",
            f"this is a zip container (an Excel .xlsx workbook, most likely) that is damaged or cut short "
            f"({len(data):,} bytes; its table of contents, written last, is missing): the copy probably "
            "stopped early. Copy the file again from the instrument computer; if Excel cannot open the "
            "original either, export the plate again.",
            file=file.name,
        )
    if kind == "xls":
        try:
            workbook_rows(data, nrows=1, max_sheets=1)
        except WorkbookUnreadable:
            return FileRefused(
                "damaged_file",
                f"this is an old-style Excel (.xls) workbook that cannot be opened ({len(data):,} bytes): it "
                "is damaged or cut short, usually by a copy that stopped early. Copy the file again from the "
                "instrument computer; if Excel cannot open the original either, export the plate again.",
                file=file.name,
            )
    text = head.lstrip("\ufeff \t\r\n").lower()
    if text.startswith(("<!doctype html", "<html")) or "<html" in text[:500]:
        return FileRefused(
            "not_an_export",
            "this is a web page (HTML), not an export: often an error page or a download page saved in place "
            "of the file. Download the export again (check that it opens as a table) and copy it into the "
            "inbox.",
            file=file.name,
        )
    if kind is None and not text.startswith("<"):
        printable = sum(c.isprintable() or c in "\r\n\t" for c in head[:4000])
        if printable < 0.9 * min(len(head), 4000):
            return FileRefused(
                "not_an_export",
                f"this file is binary data ({len(data):,} bytes), neither text nor an Excel workbook, so it "
                "is not an instrument export, or it was damaged on the way. Copy the export again from the "
                "instrument computer; if it still looks like this, export the plate again.",
                file=file.name,
            )
    keys = _header_keys(head)
    found = [c for c in MANIFEST_COLUMNS if c in keys]
    if "sample_id" in found and len(found) >= 5 and "plate_id" not in keys:
        return ManifestInInboxError(
            "manifest_in_inbox",
            "this is a sample manifest (a header row with "
            f"{', '.join(found[:5])}…), not a plate export: manifests are read from the manifests "
            "folder, by every run, not from the inbox. Nothing from it was loaded.",
            file=file.name,
        )
    present = [c for c in _CANONICAL if c in keys]
    if len(present) >= 4:
        missing = [c for c in _CANONICAL if c not in keys]
        return FileRefused(
            "missing_columns",
            f"this looks like the canonical CSV template (a header row with {', '.join(present)}), but the "
            f"header row lacks the required column(s) {', '.join(missing)}: without "
            f"{'them' if len(missing) > 1 else 'it'} the values cannot be placed or converted. Add the "
            "column(s) (docs/canonical_template_example.csv shows the header row) and upload the file again.",
            file=file.name,
        )
    return None
