"""The MSD readers against allotropy's own MSD test exports (../shared/corpus/allotropy/methodical_mind and
msd_workbench, allotropy's expected JSON beside each file): every measurement allotropy extracts — well,
spot, ECL signal, Calc. Concentration — is a row of ours with the same value, read by our native reader,
and we read nothing allotropy does not. Plus the facts of each layout (partial plates, spot tables, 384
wells, the Excel workbook, empty dilution cells)."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import polars as pl
import pytest

from readers.base import FileInput, ReadResult
from readers.detect import detect
from readers.toolkit.wells import normalise_well
from schemas.wells import WellModel

pytestmark = pytest.mark.corpus

FILES = {
    "methodical_mind/methodical_mind_384_wells.txt": "msd_raw",
    "methodical_mind/methodical_test_2.txt": "msd_raw",
    "methodical_mind/methodical_test_5_mulitple_spot_tables.txt": "msd_raw",
    "methodical_mind/methodical_test_data_in_filename.txt": "msd_raw",
    "msd_workbench/methodical_test_1.txt": "msd_raw",
    "msd_workbench/test_msd_workbench_xlsx.xlsx": "msd_workbench",
}

Key = tuple[str, str, str]  # (plate, well, analyte as written)


def _walk(doc: Any) -> Iterator[dict[str, Any]]:
    if isinstance(doc, dict):
        yield doc
        for v in doc.values():
            yield from _walk(v)
    elif isinstance(doc, list):
        for v in doc:
            yield from _walk(v)


def expected_values(json_path: Path) -> dict[Key, dict[str, float]]:
    """(plate, well, analyte) → ECL signal and Calc. Concentration, from allotropy's ASM. The analyte is the
    Workbench assay, else ``Spot <location identifier>`` (the instrument file's spot); the plate is
    allotropy's plate identifier without the barcode markers ``<* *>``."""
    doc = json.loads(json_path.read_text())
    out: dict[Key, dict[str, float]] = {}
    by_id: dict[str, Key] = {}
    for d in _walk(doc):
        if "luminescence" in d and "sample document" in d:
            sample = d["sample document"]
            well = normalise_well(sample["well location identifier"])
            assert well is not None
            assay = (d.get("custom information document") or {}).get("assay identifier")
            key = (
                sample["well plate identifier"].strip("<>*"),
                well,
                assay or f"Spot {sample['location identifier']}",
            )
            assert key not in out
            out[key] = {"signal": d["luminescence"]["value"]}
            by_id[d["measurement identifier"]] = key
    for d in _walk(doc):
        if d.get("calculated data name") == "Calc. Concentration":
            (source,) = d["data source aggregate document"]["data source document"]
            out[by_id[source["data source identifier"]]]["calc"] = d["calculated result"]["value"]
    return out


def read(corpus: Path, rel: str) -> ReadResult:
    path = corpus / "allotropy" / rel
    file = FileInput(path.name, path.read_bytes())
    res = detect(file).read(file)
    WellModel.validate(res.wells)
    return res


def rows_by_key(res: ReadResult, *, with_plate: bool) -> dict[Key, dict[str, Any]]:
    out: dict[Key, dict[str, Any]] = {}
    for row in res.wells.iter_rows(named=True):
        key = (row["plate_id"] if with_plate else "", row["well"], row["analyte_as_written"])
        assert key not in out
        out[key] = row
    return out


@pytest.mark.parametrize("rel", sorted(FILES))
def test_every_allotropy_value_is_ours(corpus: Path, rel: str) -> None:
    res = read(corpus, rel)
    assert res.format == FILES[rel]  # our native reader, not the allotropy fallback
    expected = expected_values((corpus / "allotropy" / rel).with_suffix(".json"))
    # Plate identifiers are compared where the file holds several plates (the Workbench sheet's
    # "Plate_TEST_PLATE_001" is "001" to allotropy: a name, not a value).
    several = len({k[0] for k in expected}) > 1
    if not several:
        expected = {("", w, a): v for (_, w, a), v in expected.items()}
    ours = rows_by_key(res, with_plate=several)
    assert set(ours) == set(expected)  # none missing, none extra
    different = [k for k, v in expected.items() if ours[k]["signal"] != v["signal"]]
    assert different == []
    assert set(res.wells["signal_kind"]) == {"ECL"}
    calc = {k: v["calc"] for k, v in expected.items() if "calc" in v}
    assert {k: ours[k]["value"] for k in calc} == calc
    assert all(ours[k]["qualifier"] == "=" for k in calc)


def test_partial_plate_rows_absent(corpus: Path) -> None:
    """Rows A, C, E and G of a 10-spot plate: each well at its own row letter, spot k = sub-row k."""
    res = read(corpus, "methodical_mind/methodical_test_2.txt")
    df = res.wells
    assert {w[0] for w in df["well"]} == {"A", "C", "E", "G"}
    assert df.height == 4 * 12 * 10
    assert [p.plate_id for p in res.plates] == ["2CM0BA4513"]
    c1 = df.filter(pl.col("well") == "C1").sort("row_number")
    assert c1["signal"].to_list()[:3] == [555968.0, 88125.0, 44068.0]
    assert c1["analyte_as_written"].to_list()[:3] == ["Spot 1", "Spot 2", "Spot 3"]


def test_partial_plate_columns_and_rows_absent(corpus: Path) -> None:
    """Three columns of two rows, announced by Wells Per Row/Col, and no section after the grid; the
    FileName holds '=Data=' and Plate # a literal backslash-t."""
    res = read(corpus, "methodical_mind/methodical_test_data_in_filename.txt")
    df = res.wells
    assert df["well"].to_list() == ["A1", "A2", "A3", "B1", "B2", "B3"]
    assert df["signal"].to_list() == [12895.0, 10144.0, 7436.0, 13346.0, 10408.0, 7433.0]
    (plate,) = res.plates
    assert plate.plate_id == "22M0TALA85N" and plate.extra["Plate #"] == "1"
    assert plate.extra["FileName"].endswith("=Data=33933.txt")


def test_spot_tables_of_one_plate(corpus: Path) -> None:
    """Four grids (SpotID 1, 3, 8, 10) of the same plate: one plate, four analytes per well."""
    res = read(corpus, "methodical_mind/methodical_test_5_mulitple_spot_tables.txt")
    assert [p.plate_id for p in res.plates] == ["22M0TALA85N"]
    assert res.plates[0].extra["SpotID"] == "1,10,3,8"
    df = res.wells
    assert df.height == 96 * 4
    assert df.filter(pl.col("well") == "A1")["analyte_as_written"].to_list() == [
        "Spot 1",
        "Spot 3",
        "Spot 8",
        "Spot 10",
    ]


def test_384_wells(corpus: Path) -> None:
    res = read(corpus, "methodical_mind/methodical_mind_384_wells.txt")
    df = res.wells
    assert df.height == 384 and set(df["well"]) >= {"P24", "I13"}
    assert df.filter(pl.col("well") == "P24")["signal"].to_list() == [227.0]


def test_workbench_excel(corpus: Path) -> None:
    """The Workbench sheet of a workbook; empty Dilution cells: 1 for the calibrators (an expected
    Concentration), 1 and dilution_missing for the unknowns; the Dilution 2 rows keep 2."""
    res = read(corpus, "msd_workbench/test_msd_workbench_xlsx.xlsx")
    df = res.wells
    assert [p.plate_id for p in res.plates] == ["Plate_TEST_PLATE_001"]
    assert res.plates[0].extra["barcode"] == "TEST_PLATE_001"
    standards = df.filter(pl.col("sample_type") == "standard")
    assert standards.height == 8 and standards["flags"].is_null().all()
    assert standards["dilution"].to_list() == [1.0] * 8
    assert standards.filter(pl.col("well") == "A3")["expected_conc"].to_list() == [666.67]
    unknown = df.filter(pl.col("sample_type") == "unknown")
    assert unknown.height == 16
    flags = pl.col("flags").str.split(";")
    no_dilution = unknown.filter(flags.list.contains("dilution_missing"))
    assert no_dilution["well"].to_list() == [
        "C3",
        "D1",
        "D2",
        "D3",
        "E1",
        "E2",
        "E3",
        "F1",
        "F2",
        "F3",
        "G1",
    ]
    assert set(no_dilution["dilution"]) == {1.0}
    diluted = unknown.filter(~flags.list.contains("dilution_missing"))
    assert diluted["well"].to_list() == ["G2", "G3", "H1", "H2", "H3"]
    assert set(diluted["dilution"]) == {2.0}
    # No Calc. Concentration for the unknowns: not reported, with the reason.
    assert set(unknown["qualifier"]) == {"NR"}
    assert unknown["flags"].str.contains("result_not_reported: empty cell").all()
    assert any("dilution_missing" in w for w in res.warnings)
