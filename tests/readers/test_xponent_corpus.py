"""XponentReader against the real public xPONENT exports in ../shared/corpus (facts from its README)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import polars as pl
import pytest

from readers.allotropy_fallback import map_asm
from readers.base import FileInput, ReaderError, ReadResult
from readers.detect import head_text
from readers.xponent import XponentReader
from schemas.wells import WellModel

pytestmark = pytest.mark.corpus


def read(corpus: Path, name: str) -> ReadResult:
    path = corpus / "xponent" / name
    return XponentReader().read(FileInput(path.name, path.read_bytes()))


def cell(df: pl.DataFrame, well: str, analyte: str) -> dict[str, Any]:
    rows = df.filter((pl.col("well") == well) & (pl.col("analyte_as_written") == analyte)).to_dicts()
    assert len(rows) == 1
    return rows[0]


def sniff(corpus: Path, name: str) -> bool:
    data = (corpus / "xponent" / name).read_bytes()
    return XponentReader().sniff(data[:20_000].decode("utf-8", "replace"), FileInput(name, data)).matched


def test_example02(corpus: Path) -> None:
    res = read(corpus, "allotropy_xPONENT_example02.csv")
    df = WellModel.validate(res.wells)
    assert df["well"].unique(maintain_order=True).to_list() == ["A1", "B1", "C1", "D1"]
    assert df["analyte_as_written"].unique(maintain_order=True).to_list() == ["alpha", "bravo"]
    assert df.height == 8  # "Total Events" (881 for A1) is a bead total, not an analyte
    assert cell(df, "A1", "alpha")["signal"] == 10921.5
    assert cell(df, "A1", "bravo")["signal"] == 37214.0
    assert set(df["signal_kind"]) == {"MFI"}
    # Analysis off: no concentrations, but every row is still there.
    assert set(df["qualifier"]) == {"NR"} and df["reported_text"].is_null().all()
    # A1 alpha was read from 30 beads, below the header's Min Events (100).
    assert "low_bead_count" in cell(df, "A1", "alpha")["flags"]
    (plate,) = res.plates
    assert plate.plate_id == "PCD00360_184221_20230517"
    assert plate.acquired_at == "5/17/2023 6:42:29 PM"
    assert plate.instrument == "FlexMAP 3D"
    assert plate.protocol == "V116_pnUAD"
    assert plate.operator == "nguymaip"
    # The Warnings/Errors location is written "1,A1" (not a Location): it is reported, not misread.
    assert any("A1" in w and "maximum count" in w for w in res.warnings)


def _allotropy_medians(doc: Any) -> dict[tuple[str, str], float]:
    """(well, analyte) → median MFI from allotropy's ASM JSON, found by walking it (robust to nesting)."""
    out: dict[tuple[str, str], float] = {}

    def analytes(node: Any, well: str | None) -> None:
        if isinstance(node, dict):
            well = node.get("sample document", {}).get("location identifier", well)
            if "analyte name" in node and well is not None:
                for stat in _walk(node):
                    if stat.get("has statistic datum role") == "median role":
                        out[(well, node["analyte name"])] = float(stat["value"])
            for v in node.values():
                analytes(v, well)
        elif isinstance(node, list):
            for v in node:
                analytes(v, well)

    analytes(doc, None)
    return out


def _walk(node: Any) -> list[dict[str, Any]]:
    found: list[dict[str, Any]] = []
    if isinstance(node, dict):
        found.append(node)
        for v in node.values():
            found += _walk(v)
    elif isinstance(node, list):
        for v in node:
            found += _walk(v)
    return found


def test_example02_medians_match_allotropy(corpus: Path) -> None:
    expected = _allotropy_medians(
        json.loads((corpus / "xponent" / "allotropy_xPONENT_example02.expected.json").read_text())
    )
    assert len(expected) == 8
    df = read(corpus, "allotropy_xPONENT_example02.csv").wells
    ours = {(r["well"], r["analyte_as_written"]): r["signal"] for r in df.iter_rows(named=True)}
    assert ours == expected


def test_nan_and_not_reported(corpus: Path) -> None:
    df = WellModel.validate(read(corpus, "allotropy_xPONENT_NaN_and_not_reported_values.csv").wells)
    assert df["well"].n_unique() == 96
    assert df["analyte_as_written"].unique(maintain_order=True).to_list() == [
        "analyte1",
        "analyte2",
        "analyte3",
    ]
    assert df.height == 288
    assert set(df["qualifier"]) == {"NR"} and df["value"].is_null().all()
    assert df["signal"].is_null().all()  # NaN never becomes a number
    nan_note = cell(df, "A1", "analyte1")["flags"]
    empty_note = cell(df, "A1", "analyte3")["flags"]  # the one empty Median cell
    assert "NaN" in nan_note and "empty cell" in empty_note and nan_note != empty_note
    assert df["unit"].is_null().all()  # Units: row is empty


def test_serolyzer_magpix_30plex(corpus: Path) -> None:
    res = read(corpus, "serolyzer_CovidOISExPONTENT.csv")
    df = WellModel.validate(res.wells)
    assert res.plates[0].instrument == "MAGPIX"
    assert df["well"].n_unique() == 96 and df["analyte_as_written"].n_unique() == 30
    assert df.height == 96 * 30
    a1 = cell(df, "A1", "Spike_6P")
    assert (a1["sample_id"], a1["sample_type"], a1["signal"]) == ("B", "blank", 24.0)
    a2 = cell(df, "A2", "Spike_6P")
    assert (a2["sample_id"], a2["sample_type"], a2["signal"]) == ("S", "standard", 14256.0)
    per_well = df.unique("well").group_by("sample_type").len()
    assert dict(per_well.iter_rows()) == {"blank": 1, "standard": 11, "unknown": 84}
    # Wells are read row-wise (A1, A2, ...): output keeps the acquisition order.
    assert df["well"].unique(maintain_order=True).to_list()[:3] == ["A1", "A2", "A3"]


def test_intelliflex_is_not_xponent(corpus: Path) -> None:
    assert not sniff(corpus, "allotropy_intelliflex_single_dataset.csv")
    assert not sniff(corpus, "serolyzer_CovidOISExPONTENT_layout.csv")
    for name in (
        "allotropy_xPONENT_example02.csv",
        "allotropy_xPONENT_NaN_and_not_reported_values.csv",
        "serolyzer_CovidOISExPONTENT.csv",
    ):
        assert sniff(corpus, name), name


# Every xPONENT batch CSV of the corpus, by path: INTELLIFLEX writes this layout too (its other, per-well
# CSV is not one), and allotropy's development set adds three xPONENT files and one INTELLIFLEX one.
XPONENT_LAYOUT = {
    "xponent/allotropy_xPONENT_example02.csv",
    "xponent/allotropy_xPONENT_NaN_and_not_reported_values.csv",
    "xponent/serolyzer_CovidOISExPONTENT.csv",
    "allotropy/luminex_xponent/luminex_xPONENT_example02_saved.csv",
    "allotropy/luminex_xponent/luminex_xPONENT_missing_optional_fields.csv",
    "allotropy/luminex_xponent/test_data_exclude.csv",
    "allotropy/luminex_intelliflex/luminex_intelliflex_example_01.csv",
}


def _corpus_exports(corpus: Path) -> set[str]:
    return {
        str(p.relative_to(corpus))
        for p in corpus.rglob("*")
        if p.is_file() and p.suffix not in (".md", ".json")
    }


def test_every_xponent_layout_file_is_read(corpus: Path) -> None:
    assert _corpus_exports(corpus) >= XPONENT_LAYOUT
    for rel in sorted(XPONENT_LAYOUT):
        path = corpus / rel
        f = FileInput(path.name, path.read_bytes())
        assert XponentReader().sniff(head_text(f), f).matched, rel
        assert XponentReader().read(f).wells.height > 0, rel


def test_other_formats_raise_reader_error(corpus: Path) -> None:
    """Every other real export (Excel, XML, MSD, plate readers, the INTELLIFLEX per-well CSV) fails
    cleanly."""
    others = sorted(_corpus_exports(corpus) - XPONENT_LAYOUT)
    assert len(others) >= 40
    for rel in others:
        path = corpus / rel
        with pytest.raises(ReaderError):
            XponentReader().read(FileInput(path.name, path.read_bytes()))


# ---- allotropy's development set: every value equal to allotropy's expected JSON --------------------------

ALLOTROPY_XPONENT = {
    "allotropy/luminex_xponent/luminex_xPONENT_example02_saved.csv": "LUMINEX_XPONENT",
    "allotropy/luminex_xponent/luminex_xPONENT_missing_optional_fields.csv": "LUMINEX_XPONENT",
    "allotropy/luminex_intelliflex/luminex_intelliflex_example_01.csv": "LUMINEX_INTELLIFLEX",
}


def by_well_analyte(df: pl.DataFrame) -> dict[tuple[str, str], dict[str, Any]]:
    out = {(r["well"], r["analyte_as_written"]): r for r in df.iter_rows(named=True)}
    assert len(out) == df.height  # one row per well x analyte
    return out


@pytest.mark.parametrize("rel", sorted(ALLOTROPY_XPONENT))
def test_allotropy_files_equal_allotropy_expected_json(corpus: Path, rel: str) -> None:
    path = corpus / rel
    expected = map_asm(
        json.loads(path.with_suffix(".json").read_text()),
        vendor=ALLOTROPY_XPONENT[rel],
        display_name=ALLOTROPY_XPONENT[rel],
        file_name=path.name,
    ).wells
    ours = by_well_analyte(
        WellModel.validate(XponentReader().read(FileInput(path.name, path.read_bytes())).wells)
    )
    theirs = by_well_analyte(expected)
    assert set(ours) == set(theirs)
    for key, want in theirs.items():
        got = ours[key]
        assert got["signal"] == want["signal"], key
        assert got["dilution"] == want["dilution"], key
        assert got["sample_id"] == want["sample_id"], key
        if want["value"] is not None:
            assert got["value"] == want["value"], key


def test_xponent_3_1_empty_background_dilutions_are_read(corpus: Path) -> None:
    """luminex_xPONENT_missing_optional_fields.csv: Background wells A10-A12 have an empty Dilution Factor
    (the file used to be refused, 'line 254: Dilution Factor '' is not a positive number')."""
    path = corpus / "allotropy" / "luminex_xponent" / "luminex_xPONENT_missing_optional_fields.csv"
    res = XponentReader().read(FileInput(path.name, path.read_bytes()))
    df = WellModel.validate(res.wells)
    background = df.filter(pl.col("well").is_in(["A10", "A11", "A12"]))
    assert background.height == 3 * 5 and set(background["sample_type"]) == {"blank"}
    assert set(background["dilution"]) == {1.0}
    assert df["flags"].drop_nulls().str.contains("dilution_missing").sum() == 0
    assert any("3 standard/blank/control well(s)" in w for w in res.warnings)


def test_exclude_file_is_valid_and_read(corpus: Path) -> None:
    """test_data_exclude.csv has no JSON in the corpus, but it is a valid xPONENT export (allotropy 0.1.150
    converts it: the 'exclude' in its name keeps it out of allotropy's expected-output tests). Values as in
    the file."""
    path = corpus / "allotropy" / "luminex_xponent" / "test_data_exclude.csv"
    res = XponentReader().read(FileInput(path.name, path.read_bytes()))
    df = WellModel.validate(res.wells)
    assert [p.plate_id for p in res.plates] == ["ABCD_1234_20231225"]
    assert df.height == 2 * 3
    assert cell(df, "A1", "charlie")["signal"] == 24978.0 and cell(df, "B1", "alpha")["signal"] == 8244.0
    assert cell(df, "B1", "bravo")["dilution"] == 3.0 and cell(df, "A1", "bravo")["dilution"] == 1.0
    assert set(df["qualifier"]) == {"NR"}  # analysis off: MFI only


@pytest.mark.parametrize(
    ("first", "second", "names"),
    [
        ("example02", "example02", "PCD00360_184221_20230517, PCD00360_184221_20230517"),
        ("example02", "NaN_and_not_reported_values", "PCD00360_184221_20230517, 1234"),
    ],
)
def test_batches_pasted_into_one_file_are_refused_as_such(
    corpus: Path, first: str, second: str, names: str
) -> None:
    """xPONENT exports one batch per CSV; two real batches one after another are told as such (not as a
    file that "looks edited"), with their batch names, the line where the second begins and what to do."""
    a, b = ((corpus / "xponent" / f"allotropy_xPONENT_{n}.csv").read_bytes() for n in (first, second))
    with pytest.raises(ReaderError) as info:
        XponentReader().read(FileInput("combined.csv", a + b))
    text = str(info.value)
    assert f"this file holds 2 xPONENT batches one after another ({names})" in text
    assert f"line {len(a.decode().splitlines()) + 1}:" in text
    assert "Upload each batch's file as xPONENT exported it" in text
