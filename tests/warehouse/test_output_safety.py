"""Output that cannot be turned against its reader (issue 14): formula-like text escaped in every CSV we
write, values kept as they are in the warehouse; identifiers from files never used as paths."""

from __future__ import annotations

from pathlib import Path

import polars as pl
import pytest
from hypothesis import given
from hypothesis import strategies as st

from warehouse.csv_safe import neutral_cell, neutralise, write_csv
from warehouse.file_names import safe_name

HOSTILE = ['=HYPERLINK("http://x.example","click")', "+cmd|' /C calc'!A0", "-2+3", "@SUM(A1)", "\t=1", "\r=1"]


@pytest.mark.parametrize("text", HOSTILE)
def test_formula_like_text_is_escaped(text: str) -> None:
    assert neutral_cell(text) == "'" + text
    out = neutralise(pl.DataFrame({"sample_id": [text], "conc": [-1.5]}))
    assert out.row(0) == ("'" + text, -1.5)  # numeric columns untouched


@pytest.mark.parametrize("text", ["-12.5", "+3", "1e5", "<3.5", ">100", "CSF001", "", "a=b", "=", "-"])
def test_numbers_and_plain_text_are_left_alone(text: str) -> None:
    assert neutral_cell(text) == text
    assert neutralise(pl.DataFrame({"x": [text]}))["x"][0] == text


@given(st.text(max_size=30))
def test_the_frame_and_the_cell_rules_agree(text: str) -> None:
    assert neutralise(pl.DataFrame({"x": [text]}))["x"][0] == neutral_cell(text)


def test_write_csv_escapes_and_keeps_nulls() -> None:
    text = write_csv(pl.DataFrame({"a": ["=1+1", None], "b": [1, 2]}))
    assert text.splitlines() == ["a,b", "'=1+1,1", ",2"]


@pytest.mark.parametrize(
    "plate", ["../../../x", "/etc/passwd", "..", ".", "", "a/b", "P\x00", "é" * 300, "NTF-001"]
)
def test_a_plate_id_is_never_a_path(plate: str, tmp_path: Path) -> None:
    name = safe_name(plate)
    assert name not in ("", ".", "..") and "/" not in name and "\\" not in name and "\x00" not in name
    assert (tmp_path / name).resolve().parent == tmp_path.resolve()
    assert len(name) <= 100


def test_different_ids_get_different_folders() -> None:
    assert safe_name("P/1") != safe_name("P_1") and safe_name("NTF-001") == "NTF-001"
