"""A file no reader reads: one short paragraph for the lab, the formats tried in the details — on the
outcome, the quarantine row and the upload verdict (issue 13, item 4)."""

from __future__ import annotations

from pipeline.process import process_file
from readers.base import FileInput
from schemas.config import Config
from schemas.manifest import Manifest
from service.verdict import build_verdict


def test_refusal_is_short_and_the_formats_tried_are_details(config: Config) -> None:
    png = b"\x89PNG\r\n\x1a\n" + bytes(range(256)) * 8
    out = process_file(FileInput("photo-of-plate.png", png), "0" * 64, config, Manifest.empty())
    assert out.status == "quarantined" and out.format is None
    # issue 14: a picture is named as one (it was "a binary file … none of the formats we read recognises")
    assert "PNG image" in out.message and "Export the plate's data" in out.message
    assert len(out.message) < 400 and "Tried" not in out.message and "\\x" not in out.message
    assert out.details is not None and "Tried Luminex xPONENT CSV export" in out.details
    assert out.quarantine is not None
    row = out.quarantine["message"][0]
    assert row.startswith(out.message) and "Details: Tried" in row  # the quarantine row keeps both
    v = build_verdict(out)
    assert v.outcome == "not_an_export" and v.details == out.details
    assert all("Tried" not in p.message for p in v.problems)  # the page shows the paragraph, not the list
