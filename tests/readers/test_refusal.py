"""Specific refusals (readers/refusal.py, issue 14 item 9): a file whose shape says what it is gets one short
paragraph saying so, never the generic "none of the formats we read recognises" text."""

from __future__ import annotations

import codecs
import io
import zipfile
from pathlib import Path

import pytest

from pipeline.process import process_file
from readers.base import FileInput
from readers.detect import detect
from readers.refusal import FileRefused, ManifestInInboxError
from schemas.config import Config
from schemas.manifest import Manifest

GENERIC = "none of the formats we read recognises"
MANIFEST_HEADER = (
    "sample_id,participant_id,site_id,visit,matrix,collection_date,collection_time,aliquot,"
    "freeze_thaw_count,condition,shipment_id\n"
)


def refusal(name: str, data: bytes) -> FileRefused:
    with pytest.raises(FileRefused) as info:
        detect(FileInput(name, data))
    assert GENERIC not in info.value.reason
    return info.value


@pytest.mark.parametrize(
    ("data", "rule", "says"),
    [
        (b"", "empty_file", "empty (0 bytes)"),
        (b"\r\n  \n\t\n", "empty_file", "7 bytes of only spaces"),
        (codecs.BOM_UTF8 + b"\r\n", "empty_file", "byte-order mark"),
        (codecs.BOM_UTF16_LE + "\r\n".encode("utf-16-le"), "empty_file", "byte-order mark"),
        (b",,,\n;;\n", "empty_file", "no data"),
        (b"%PDF-1.7\n%\xe2\xe3\xcf\xd3\n1 0 obj\n", "not_an_export", "PDF document"),
        (b"\x89PNG\r\n\x1a\n" + bytes(64), "not_an_export", "PNG image"),
        (b"\xff\xd8\xff\xe0\x00\x10JFIF\x00" + bytes(64), "not_an_export", "JPEG image"),
        (b"II*\x00" + bytes(64), "not_an_export", "TIFF image"),
        (b"<!DOCTYPE html>\n<html><body>502 Bad Gateway</body></html>", "not_an_export", "web page (HTML)"),
        (bytes(range(256)) * 8, "not_an_export", "binary data (2,048 bytes)"),
        (b"PK\x03\x04" + bytes(300), "damaged_file", "damaged or cut short"),
    ],
)
def test_shapes_that_say_what_the_file_is(data: bytes, rule: str, says: str) -> None:
    exc = refusal("plate.csv", data)
    assert exc.rule == rule
    assert says in exc.reason
    assert exc.reason.count(". ") <= 3  # one short paragraph


def test_a_zip_archive_is_refused_before_a_reader_takes_the_export_stored_inside(corpus: Path) -> None:
    """A stored (uncompressed) xPONENT CSV inside a zip reads as text: the xPONENT reader loaded it."""
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as z:
        z.writestr("run1.csv", (corpus / "xponent/allotropy_xPONENT_example02.csv").read_bytes())
    exc = refusal("exports.zip", buf.getvalue())
    assert exc.rule == "not_an_export"
    assert "zip archive holding 1 file(s) (run1.csv)" in exc.reason and "Unzip it" in exc.reason


def test_a_truncated_real_workbook_is_called_damaged(corpus: Path) -> None:
    xlsx = (corpus / "bioplex/labkey_RawAndSummary.xlsx").read_bytes()
    exc = refusal("plate.xlsx", xlsx[: len(xlsx) // 2])
    assert exc.rule == "damaged_file" and "cut short" in exc.reason


def test_a_canonical_csv_missing_a_column_names_it() -> None:
    head = (
        "Plate ID;Well;Sample ID;Sample Type;Analyte;Concentration;Dilution\nP1;A1;S1;unknown;IL-6;12,5;2\n"
    )
    exc = refusal("template.csv", head.encode())
    assert exc.rule == "missing_columns"
    assert "lacks the required column(s) unit" in exc.reason
    two = "plate_id,well,sample_id,analyte,unit\nP1,A1,S1,IL-6,pg/mL\n"
    assert "sample_type, concentration" in refusal("t.csv", two.encode()).reason


def test_a_manifest_is_recognised_and_sent_to_the_manifests_folder(config: Config, tmp_path: Path) -> None:
    data = (MANIFEST_HEADER + "CSF01,BCT-01-1,01,W00,CSF,2019-01-01,,1,0,,SHP-1\n").encode()
    with pytest.raises(ManifestInInboxError):
        detect(FileInput("shipment_7.csv", data))
    folder = tmp_path / "manifests"
    folder.mkdir()
    out = process_file(FileInput("shipment_7.csv", data), "0" * 64, config, Manifest.empty())
    assert out.status == "quarantined" and "sample manifest" in out.message
    assert "BIOMARKERS_MANIFEST" in out.message
    known = Manifest(Manifest.empty().samples, (), folder)
    out = process_file(FileInput("shipment_7.csv", data), "0" * 64, config, known)
    assert f"Put it in the manifests folder {folder}" in out.message
    assert out.quarantine is not None and out.quarantine["rule"].to_list() == ["manifest_in_inbox"]


def test_utf16_text_that_is_no_export_says_utf16() -> None:
    from readers.detect import UnknownFormatError

    data = codecs.BOM_UTF16_LE + "Plate notes: re-run on Monday\r\n".encode("utf-16-le")
    with pytest.raises(UnknownFormatError) as info:
        detect(FileInput("notes.txt", data))
    assert "UTF-16" in info.value.reason
