"""Safe intake of an uploaded file: the name is checked but never used as a path, the size is capped, and
the bytes are kept in the warehouse's raw area under their SHA-256 before anything reads them.

Accepted files are handed to ingestion in ``<uploads>/<sha256>/<name>``: the folder is named by content,
the name inside is the checked plain name (the readers and the plate-map pairing look at names).
"""

from __future__ import annotations

import os
import re
import unicodedata
from collections.abc import Iterable
from pathlib import Path

from readers.platemap import platemap_names
from warehouse.paths import WarehousePaths
from warehouse.raw import keep_raw, sha256_of

_PLAIN = re.compile(r"^[A-Za-z0-9][A-Za-z0-9 ._()+-]{0,199}$")


class RefusedUploadError(Exception):
    """The upload is refused before its content is looked at; ``status`` is the HTTP status to answer."""

    def __init__(self, message: str, status: int = 400) -> None:
        super().__init__(message)
        self.status = status


def check_file_name(name: str | None, *, what: str = "file") -> str:
    """The lab's file name, if it is a plain name; refused with what to do otherwise.

    Browsers send the bare name; a name with a folder part, '..', control characters or a leading dot is
    either a mistake or an attack, and is refused rather than cleaned so nothing is silently renamed."""
    if not name:
        raise RefusedUploadError(f"the {what} has no name; choose the exported file and upload it again")
    name = unicodedata.normalize("NFC", name)
    if "/" in name or "\\" in name or ".." in name:
        raise RefusedUploadError(
            f"the {what} name {name!r} contains a folder path ('/', '\\' or '..'); upload the file under its "
            "plain name (e.g. 'LX-NTF-CSF-P001.csv')"
        )
    if not _PLAIN.match(name):
        raise RefusedUploadError(
            f"the {what} name {name!r} is not a plain file name: use letters, digits, spaces and . _ - ( ) "
            "+, starting with a letter or digit, at most 200 characters; rename the file and upload it again"
        )
    return name


def too_large_message(size: int | None, limit: int) -> str:
    got = f" ({size / 1048576:.1f} MiB)" if size is not None else ""
    return (
        f"the upload is too large{got}: the limit is {limit / 1048576:.0f} MiB per upload. A plate export is "
        "normally far smaller: check that you chose the export and not a workbook of many runs or an image; "
        "split a large batch into one file per plate"
    )


def check_content(data: bytes, limit: int, *, what: str = "file") -> None:
    if len(data) > limit:
        raise RefusedUploadError(too_large_message(len(data), limit), status=413)
    if not data.strip():
        raise RefusedUploadError(f"the {what} is empty; export the plate again and upload the exported file")


def check_assay(assay: str | None, configured: Iterable[str]) -> str | None:
    """The assay an upload was sent with (None when the field was left empty), if assays.yaml has it;
    refused with the configured ones otherwise: a typo must fail now, not as a held plate later."""
    chosen = (assay or "").strip()
    if not chosen:
        return None
    ids = list(configured)
    if chosen not in ids:
        raise RefusedUploadError(
            f"the assay {chosen[:60]!r} is not one of the configured assays ({', '.join(ids)}); "
            "choose one of these, or leave the assay empty when the export names its analyte"
        )
    return chosen


def keep(paths: WarehousePaths, data: bytes) -> str:
    """Keep the bytes in the raw area (idempotent) and return their SHA-256."""
    sha = sha256_of(data)
    keep_raw(paths, data, sha)
    return sha


def platemap_name_for(export_name: str) -> str:
    """The name a plate map must carry beside its export for the readers and the inbox to pair them."""
    return platemap_names(export_name)[0]


def place_for_ingestion(
    uploads_dir: Path,
    sha256: str,
    name: str,
    data: bytes,
    platemap: bytes | None = None,
    *,
    lab: str | None = None,
    assay: str | None = None,
) -> Path:
    """Write the export (and its plate map) into ``<uploads>/<sha256>/`` for the ingestion flow; returns
    the folder. Written under a temporary name and renamed so discovery never sees half a file.

    ``lab``: the lab whose token sent it, noted beside it (pipeline.discover.RECEIVED_FROM) so its plates
    become that lab's. The first lab to send these bytes stays their sender (the same bytes from another
    lab are the same file, already loaded).

    ``assay``: the assay chosen with the upload (pipeline.discover.UPLOAD_ASSAY), so the ingestion reads the
    file as its verdict did; the note follows the latest hand-off of these bytes (none: no note)."""
    from pipeline.discover import RECEIVED_FROM, UPLOAD_ASSAY

    folder = uploads_dir / sha256
    folder.mkdir(parents=True, exist_ok=True)
    note = folder / RECEIVED_FROM
    if lab is not None and not note.exists():
        _write_note(folder, RECEIVED_FROM, lab)
    if assay is not None:
        _write_note(folder, UPLOAD_ASSAY, assay)
    else:
        (folder / UPLOAD_ASSAY).unlink(missing_ok=True)  # our own note of an earlier hand-off
    files = [(name, data)]
    if platemap is not None:
        files.append((platemap_name_for(name), platemap))
    for fname, content in files:
        target = folder / fname
        if target.is_file() and target.read_bytes() == content:
            continue
        tmp = folder / f".{fname}.{os.getpid()}.tmp"
        tmp.write_bytes(content)
        os.replace(tmp, target)
    return folder


def _write_note(folder: Path, name: str, text: str) -> None:
    """A one-line note beside an upload, written whole (renamed into place) so discovery never reads half."""
    tmp = folder / f".{name}.{os.getpid()}.tmp"
    tmp.write_text(text + "\n", encoding="utf-8")
    os.replace(tmp, folder / name)
