"""Robustness on real files: every corpus export, mutated the way files get damaged or re-saved, reads to
a conforming table or fails with the project's own error — never anything else. And Excel-style re-saves
of a real xPONENT file (semicolons + decimal commas, BOM, UTF-16, CRLF) give the same numbers."""

from __future__ import annotations

import codecs
import re
from pathlib import Path

import polars as pl
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from readers.base import FileInput, ReaderError
from readers.detect import detect
from schemas.wells import WellModel

TEXT_EXPORTS = [
    "xponent/allotropy_xPONENT_example02.csv",
    "xponent/allotropy_xPONENT_NaN_and_not_reported_values.csv",
    "msd/allotropy_msd_workbench_test_1.csv",
    "msd/allotropy_methodical_mind_test_1.txt",
    "platereader/allotropy_softmax_pro_group_with_partial_rows.txt",
    "platereader/allotropy_gen5_kinetic_standard_curve.txt",
    "platereader/labkey_spectramax_20140102_140152_0063_PLATE.002.txt",
    "bioplex/allotropy_bioplex_manager_example_01.xml",
]


def read_or_error(name: str, data: bytes) -> pl.DataFrame | None:
    """The only two acceptable endings: a valid canonical table, or a ReaderError."""
    try:
        f = FileInput(name=name, data=data)
        df = detect(f).read(f).wells
    except ReaderError:
        return None
    WellModel.validate(df, lazy=True)
    return df


@st.composite
def mutation(draw: st.DrawFn, data: bytes) -> bytes:
    kind = draw(st.sampled_from(["truncate", "drop_line", "dup_line", "swap_delim", "garbage", "crlf"]))
    lines = data.split(b"\n")
    if kind == "truncate":
        return data[: draw(st.integers(0, len(data)))]
    if kind == "drop_line" and len(lines) > 1:
        i = draw(st.integers(0, len(lines) - 1))
        return b"\n".join(lines[:i] + lines[i + 1 :])
    if kind == "dup_line" and lines:
        i = draw(st.integers(0, len(lines) - 1))
        return b"\n".join(lines[: i + 1] + lines[i:])
    if kind == "swap_delim":
        return data.replace(b",", b";")
    if kind == "garbage":
        pos = draw(st.integers(0, len(data)))
        return data[:pos] + draw(st.binary(min_size=1, max_size=40)) + data[pos:]
    return data.replace(b"\r\n", b"\n").replace(b"\n", b"\r\n")


@pytest.mark.parametrize("rel", TEXT_EXPORTS)
def test_mutated_real_exports_never_escape_the_error_type(corpus: Path, rel: str) -> None:
    original = (corpus / rel).read_bytes()

    @settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
    @given(mutation(original))
    def check(mutated: bytes) -> None:
        read_or_error(Path(rel).name, mutated)

    check()


def _excel_resave(text: str) -> str:
    """What Excel in a decimal-comma locale writes: ';' between cells, ',' in numbers."""

    def cell(c: str) -> str:
        inner = c.strip('"')
        if re.fullmatch(r"-?\d+\.\d+", inner):
            return c.replace(".", ",")
        return c

    return "\r\n".join(
        ";".join(cell(c) for c in line.split(",")) for line in text.replace("\r\n", "\n").split("\n")
    )


@pytest.mark.parametrize("variant", ["semicolon_decimal_comma", "bom", "utf16", "crlf"])
def test_excel_resaved_xponent_reads_the_same_numbers(corpus: Path, variant: str) -> None:
    rel = "xponent/allotropy_xPONENT_example02.csv"
    raw = (corpus / rel).read_bytes()
    text = raw.decode("utf-8-sig")
    data = {
        "semicolon_decimal_comma": _excel_resave(text).encode(),  # checked below to hold decimal commas
        "bom": codecs.BOM_UTF8 + text.encode(),
        "utf16": text.encode("utf-16"),
        "crlf": text.replace("\r\n", "\n").replace("\n", "\r\n").encode(),
    }[variant]
    if variant == "semicolon_decimal_comma":
        assert re.search(rb'"\d+,\d+"', data)
    base = read_or_error("a.csv", raw)
    other = read_or_error("a.csv", data)
    assert base is not None and other is not None
    cols = ["well", "sample_id", "analyte_as_written", "signal", "qualifier", "value", "dilution"]
    assert (
        other.select(cols)
        .sort("well", "analyte_as_written")
        .equals(base.select(cols).sort("well", "analyte_as_written"))
    )
