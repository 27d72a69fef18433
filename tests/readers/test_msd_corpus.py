"""MSD readers against the real public MSD files in ../shared/corpus (facts from its README and allotropy's
own parse of the Workbench file)."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import polars as pl
import pytest

from readers.base import FileInput, ReaderError, ReadResult
from readers.detect import head_text
from readers.msd_instrument import MsdRawReader
from readers.msd_workbench import MsdWorkbenchReader, normalise_well
from readers.platereader import PlateReaderGridReader
from schemas.wells import WellModel

pytestmark = pytest.mark.corpus

WORKBENCH = "allotropy_msd_workbench_test_1.csv"
RAW = "allotropy_methodical_mind_test_1.txt"


def file_input(corpus: Path, folder: str, name: str) -> FileInput:
    path = corpus / folder / name
    return FileInput(path.name, path.read_bytes())


def read_wb(corpus: Path) -> ReadResult:
    res = MsdWorkbenchReader().read(file_input(corpus, "msd", WORKBENCH))
    WellModel.validate(res.wells)
    return res


def cell(df: pl.DataFrame, well: str, assay: str) -> dict[str, Any]:
    rows = df.filter((pl.col("well") == well) & (pl.col("analyte_as_written") == assay)).to_dicts()
    assert len(rows) == 1
    return rows[0]


def test_workbench_readme_facts(corpus: Path) -> None:
    res = read_wb(corpus)
    df = res.wells
    assert df.height == 4
    a2 = cell(df, "A2", "Spike (FL.1.5.1)")
    assert a2["sample_id"] == "S001" and a2["sample_type"] == "standard"
    assert a2["signal"] == 3513.0 and a2["signal_kind"] == "ECL"
    assert a2["reported_text"] == "53.20256476" and a2["value"] == 53.20256476
    # Above Detection Range with a number: MSD extrapolated it beyond the detection limits.
    assert a2["qualifier"] == "=" and a2["extrapolated"] is True
    assert a2["flags"] == "detection_range: Above Detection Range"
    a1 = cell(df, "A1", "Spike (FL.1.5.1)")
    assert a1["signal"] == 3328.0 and a1["flags"] == "detection_range: Above Fit Curve Range"
    assert cell(df, "A2", "Spike (Wuhan)")["signal"] == 341.0
    # NaN above the fit curve, and the file gives no Calc. High: '>' without a limit (filled downstream).
    wuhan_a1 = cell(df, "A1", "Spike (Wuhan)")
    assert (wuhan_a1["qualifier"], wuhan_a1["value"], wuhan_a1["reported_text"]) == (">", None, "NaN")
    assert df["unit"].is_null().all() and df["unit_source"].is_null().all()
    assert df["dilution"].to_list() == [1.0] * 4  # the Dilution column is empty
    (plate,) = res.plates
    assert plate.plate_id == "Plate_2BO40AW287" and plate.extra["barcode"] == "2BO40AW287"
    assert res.warnings == []


def _walk(doc: Any) -> Iterator[dict[str, Any]]:
    if isinstance(doc, dict):
        yield doc
        for v in doc.values():
            yield from _walk(v)
    elif isinstance(doc, list):
        for v in doc:
            yield from _walk(v)


def _allotropy(corpus: Path) -> dict[tuple[str, str], dict[str, float]]:
    """(well, assay) → luminescence, expected ("mass concentration") and Calc. Concentration, from
    allotropy's ASM JSON (calculated data are linked to measurements by identifier)."""
    doc = json.loads((corpus / "msd" / "allotropy_msd_workbench_test_1.expected.json").read_text())
    by_id: dict[str, tuple[str, str]] = {}
    out: dict[tuple[str, str], dict[str, float]] = {}
    for d in _walk(doc):
        if "luminescence" in d and "sample document" in d:
            well = normalise_well(d["sample document"]["well location identifier"])
            assert well is not None
            key = (well, d["custom information document"]["assay identifier"])
            by_id[d["measurement identifier"]] = key
            out[key] = {
                "signal": d["luminescence"]["value"],
                "expected": d["sample document"]["mass concentration"]["value"],
            }
    for d in _walk(doc):
        if d.get("calculated data name") == "Calc. Concentration":
            (source,) = d["data source aggregate document"]["data source document"]
            out[by_id[source["data source identifier"]]]["calc"] = d["calculated result"]["value"]
    return out


def test_workbench_matches_allotropy(corpus: Path) -> None:
    df = read_wb(corpus).wells
    expected = _allotropy(corpus)
    assert len(expected) == df.height == 4
    for (well, assay), facts in expected.items():
        row = cell(df, well, assay)
        assert row["signal"] == facts["signal"]
        assert row["expected_conc"] == facts["expected"]
        if "calc" in facts:
            assert row["value"] == facts["calc"]
        else:  # allotropy leaves NaN out; we keep it censored by its Detection Range
            assert row["value"] is None and row["reported_text"] == "NaN"
    assert sum("calc" in f for f in expected.values()) == 3


def test_raw_two_plates(corpus: Path) -> None:
    res = MsdRawReader().read(file_input(corpus, "msd", RAW))
    df = WellModel.validate(res.wells)
    assert [p.plate_id for p in res.plates] == ["22M0TALA85N", "22M0TAQA86T"]
    assert df.height == 192
    p1 = df.filter(pl.col("plate_id") == "22M0TALA85N")
    p2 = df.filter(pl.col("plate_id") == "22M0TAQA86T")
    assert cell(p1, "A1", "Spot 1")["signal"] == 12895.0
    assert cell(p1, "H12", "Spot 1")["signal"] == 997.0
    assert cell(p2, "A1", "Spot 1")["signal"] == 12233.0
    assert cell(p2, "H12", "Spot 1")["signal"] == 6043.0
    assert p1["signal"].sum() == 208143.0 and p2["signal"].sum() == 383152.0
    assert df["sample_id"].is_null().all() and set(df["sample_type"]) == {"unknown"}
    assert set(df["qualifier"]) == {"NR"} and set(df["signal_kind"]) == {"ECL"}
    assert res.plates[0].acquired_at == "09/08/2023 13:39:33 EDT" and res.plates[0].operator == "dmc"
    assert res.plates[1].operator == "yehs"
    # The file writes "Plate #  :\t1" with a literal backslash-t: read as plate 1, not "\t1".
    assert res.plates[0].extra["Plate #"] == "1" and res.plates[1].extra["Plate #"] == "2"
    assert any("plate map" in w for w in res.warnings)


def test_raw_beats_the_generic_grid_reader(corpus: Path) -> None:
    file = file_input(corpus, "msd", RAW)
    head = head_text(file)
    mine = MsdRawReader().sniff(head, file)
    grid = PlateReaderGridReader().sniff(head, file)
    assert grid.matched and grid.score == 10
    assert mine.matched and mine.score > grid.score
    # the generic grid reader, were it chosen, would keep the two plates apart (each its own plate_id)
    assert len({p.plate_id for p in PlateReaderGridReader().read(file).plates}) == 2


# Every MSD file of the corpus, by the reader that must take it: the corpus README's two MSD files and the
# allotropy development set (allotropy/README.md), whose msd_workbench folder also holds an instrument file.
MINE = {
    "workbench": [f"msd/{WORKBENCH}", "allotropy/msd_workbench/test_msd_workbench_xlsx.xlsx"],
    "raw": [
        f"msd/{RAW}",
        "allotropy/msd_workbench/methodical_test_1.txt",
        "allotropy/methodical_mind/methodical_mind_384_wells.txt",
        "allotropy/methodical_mind/methodical_test_2.txt",
        "allotropy/methodical_mind/methodical_test_5_mulitple_spot_tables.txt",
        "allotropy/methodical_mind/methodical_test_data_in_filename.txt",
    ],
}
READERS = {"workbench": MsdWorkbenchReader(), "raw": MsdRawReader()}


def _corpus_files(corpus: Path) -> list[Path]:
    return [p for p in sorted(corpus.rglob("*")) if p.is_file() and p.suffix not in (".md", ".json")]


@pytest.mark.parametrize("kind", ["workbench", "raw"])
def test_every_msd_file_is_sniffed_by_its_reader_only(corpus: Path, kind: str) -> None:
    reader, other = READERS[kind], READERS["raw" if kind == "workbench" else "workbench"]
    for rel in MINE[kind]:
        path = corpus / rel
        file = FileInput(path.name, path.read_bytes())
        assert reader.sniff(head_text(file), file).matched, rel
        assert not other.sniff(head_text(file), file).matched, rel


@pytest.mark.parametrize("kind", ["workbench", "raw"])
def test_no_other_corpus_file_is_sniffed_as_mine(corpus: Path, kind: str) -> None:
    reader = READERS[kind]
    mine = {corpus / rel for rel in MINE[kind]}
    assert all(p.is_file() for p in mine)
    others = [p for p in _corpus_files(corpus) if p not in mine]
    assert len(others) >= 15
    for path in others:
        file = FileInput(path.name, path.read_bytes())
        assert not reader.sniff(head_text(file), file).matched, path.name
        with pytest.raises(ReaderError):
            reader.read(file)
