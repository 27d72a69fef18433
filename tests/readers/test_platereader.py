"""Plate-reader OD grids, read with the plate map delivered beside them."""

from __future__ import annotations

import codecs
import contextlib
from pathlib import Path

import polars as pl
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from readers.base import FileInput, ReaderError
from readers.platemap import platemap_names
from readers.platereader import NO_ANALYTE, PlateReaderGridReader, find_grids
from readers.text import decode, split_lines
from schemas.wells import WELL_SCHEMA, WellModel

READER = PlateReaderGridReader()
SPECTRAMAX = "labkey_spectramax_20140102_140152_0063_PLATE.002"


def od(r: int, c: int) -> float:
    """A recognisable OD per well: row index + column / 100 (A1 0.01, H12 7.12)."""
    return r + c / 100


def grid_text(*, sep: str = "\t", decimal: str = ".", header: str | None = None, eol: str = "\r\n") -> str:
    head = (
        header
        if header is not None
        else (
            "Plate: P-0042\nAssay: VEGF ELISA\nAnalyte: Hu VEGF\nWavelength: 450 nm\n"
            "Read date: 2024-03-01\n\n"
        )
    )
    lines = [sep + sep.join(str(c) for c in range(1, 13))]
    for r, letter in enumerate("ABCDEFGH"):
        lines.append(letter + sep + sep.join(f"{od(r, c):.3f}".replace(".", decimal) for c in range(1, 13)))
    return (head + "\n".join(lines) + "\n").replace("\n", eol)


def map_block(variable: str, cells: dict[str, str]) -> str:
    lines = [variable + "," + ",".join(str(c) for c in range(1, 13))]
    for r in "ABCDEFGH":
        lines.append(",".join([r, *(cells.get(f"{r}{c}", "") for c in range(1, 13))]))
    return "\n".join(lines)


LAYOUT = {
    "A1": ("S1", "standard", "2000", ""),
    "A2": ("S1", "standard", "2000", ""),
    "B1": ("S8", "standard", "0", ""),
    "C1": ("BLK", "blank", "", ""),
    "D1": ("QC-L", "qc", "50", ""),
    "E5": ("P-001", "unknown", "", "2"),
    "H12": ("P-002", "X", "", "1/4"),
}


def map_text(
    layout: dict[str, tuple[str, str, str, str]] = LAYOUT, *, analyte: dict[str, str] | None = None
) -> str:
    blocks = [
        map_block("sample_id", {w: v[0] for w, v in layout.items()}),
        map_block("sample_type", {w: v[1] for w, v in layout.items()}),
        map_block("expected_conc", {w: v[2] for w, v in layout.items()}),
        map_block("dilution", {w: v[3] for w, v in layout.items()}),
    ]
    if analyte is not None:
        blocks.append(map_block("analyte", analyte))
    return "\n\n".join(blocks) + "\n"


def export(
    text: str, *, name: str = "run1.txt", platemap: str | None = None, encoding: str = "utf-8"
) -> FileInput:
    stem = name.rsplit(".", 1)[0]
    siblings = {} if platemap is None else {f"{stem}_platemap.csv": platemap.encode()}
    return FileInput(name=name, data=text.encode(encoding), siblings=siblings)


def signals(df: pl.DataFrame) -> dict[str, float | None]:
    return dict(zip(df["well"], df["signal"], strict=True))


def test_reads_one_row_per_mapped_well() -> None:
    result = READER.read(export(grid_text(), platemap=map_text()))
    df = result.wells
    assert df.schema == pl.Schema(WELL_SCHEMA)
    WellModel.validate(df)
    assert df["well"].to_list() == ["A1", "A2", "B1", "C1", "D1", "E5", "H12"]
    assert signals(df) == {
        "A1": 0.01,
        "A2": 0.02,
        "B1": 1.01,
        "C1": 2.01,
        "D1": 3.01,
        "E5": 4.05,
        "H12": 7.12,
    }
    row = df.row(by_predicate=pl.col("well") == "E5", named=True)
    assert row["sample_id"] == "P-001" and row["sample_type"] == "unknown" and row["dilution"] == 2.0
    assert row["analyte_as_written"] == "Hu VEGF" and row["signal_kind"] == "OD450"
    assert row["qualifier"] == "NR" and row["value"] is None and row["reported_text"] is None
    assert row["unit"] is None and row["unit_source"] is None and row["dilution_applied"] is False
    assert row["analyte"] is None and row["conc_pg_ml"] is None
    assert (
        row["plate_id"] == "P-0042"
        and row["format"] == "platereader_grid"
        and row["source_file"] == "run1.txt"
    )
    assert row["row_number"] == 12  # 6 header lines (incl. the blank), the 1..12 row, then A..E
    h12 = df.row(by_predicate=pl.col("well") == "H12", named=True)
    assert h12["sample_type"] == "unknown" and h12["dilution"] == 4.0
    std = df.filter(pl.col("sample_type") == "standard")
    assert std["expected_conc"].to_list() == [2000.0, 2000.0, 0.0]
    assert df.filter(pl.col("well") == "A1")["dilution"].item() == 1.0  # no dilution given: 1


def test_plate_info_and_companion() -> None:
    result = READER.read(export(grid_text(), platemap=map_text()))
    (info,) = result.plates
    assert info.plate_id == "P-0042"
    assert info.protocol == "VEGF ELISA"
    assert info.acquired_at == "2024-03-01"
    assert result.companions == ["run1_platemap.csv"]
    assert result.format == "platereader_grid"


def test_plate_id_falls_back_to_the_file_stem() -> None:
    result = READER.read(
        export(grid_text(header="Analyte: VEGF\n"), name="2024-03-01 plate7.TXT", platemap=map_text())
    )
    assert result.plates[0].plate_id == "2024-03-01 plate7"
    assert result.wells["signal_kind"].unique().to_list() == ["OD"]  # no wavelength given


def test_protocol_line_is_accepted_as_the_assay() -> None:
    text = grid_text(header="Protocol: HGF ELISA\nAnalyte: HGF\n\n")
    assert READER.read(export(text, platemap=map_text())).plates[0].protocol == "HGF ELISA"


def test_mapped_well_with_empty_grid_cell_is_not_reported() -> None:
    text = grid_text().replace("\t4.050", "\t", 1)
    df = READER.read(export(text, platemap=map_text())).wells
    e5 = df.row(by_predicate=pl.col("well") == "E5", named=True)
    assert e5["signal"] is None and e5["qualifier"] == "NR" and e5["flags"] == "no_reading"


def test_analyte_from_the_plate_map_when_the_export_has_none() -> None:
    text = grid_text(header="Plate: P1\n\n")
    pm = map_text(analyte={w: "HGF" for w in LAYOUT})
    df = READER.read(export(text, platemap=pm)).wells
    assert df["analyte_as_written"].unique().to_list() == ["HGF"]


def test_no_analyte_anywhere_is_read_and_says_how_to_name_it() -> None:
    result = READER.read(export(grid_text(header="Plate: P1\n\n"), platemap=map_text()))
    assert set(result.wells["analyte_as_written"]) == {""} and result.wells["analyte"].is_null().all()
    assert any(w.startswith(NO_ANALYTE) and "Analyte: <name>" in w for w in result.warnings)


def test_missing_plate_map_reads_signals_only_and_names_what_was_looked_for() -> None:
    """Without its plate map a grid still shows its readings (inspect, the upload verdict), with no sample
    identities; the pipeline then quarantines the plate (tests/pipeline/test_process_file.py)."""
    result = READER.read(export(grid_text()))
    message = " ".join(result.warnings)
    for name in ("run1_platemap.csv", "run1.platemap.csv", "run1-platemap.csv"):
        assert name in message
    assert "upload the plate map" in message
    df = result.wells
    assert df.height == 96 and df["sample_id"].null_count() == 96
    assert df["signal"].null_count() < 96
    assert result.companions == []


@pytest.mark.parametrize("sibling", ["run1_platemap.csv", "RUN1.PlateMap.csv", "run1-platemap.CSV"])
def test_plate_map_sibling_names(sibling: str) -> None:
    file = FileInput("run1.txt", grid_text().encode(), {sibling: map_text().encode(), "other.csv": b"x"})
    assert READER.read(file).companions == [sibling]
    assert platemap_names("run1.txt") == ["run1_platemap.csv", "run1.platemap.csv", "run1-platemap.csv"]


def test_semicolons_and_decimal_commas() -> None:
    df = READER.read(export(grid_text(sep=";", decimal=","), platemap=map_text())).wells
    assert signals(df)["E5"] == 4.05 and signals(df)["H12"] == 7.12


def test_comma_separated_grid() -> None:
    df = READER.read(export(grid_text(sep=","), platemap=map_text())).wells
    assert signals(df)["H12"] == 7.12


def test_utf16_with_bom_and_crlf() -> None:
    data = codecs.BOM_UTF16_LE + grid_text(eol="\r\n").encode("utf-16-le")
    file = FileInput("run1.txt", data, {"run1_platemap.csv": map_text().encode()})
    assert signals(READER.read(file).wells)["D1"] == 3.01


def test_bare_cr_line_endings() -> None:
    df = READER.read(export(grid_text(eol="\r"), platemap=map_text())).wells
    assert signals(df)["H12"] == 7.12


def test_map_of_another_plate_size_is_refused() -> None:
    header = "sample_id," + ",".join(str(c) for c in range(1, 25))
    rows = [",".join([r, "x", *[""] * 23]) for r in "ABCDEFGHIJKLMNOP"]
    with pytest.raises(ReaderError, match="384-well"):
        READER.read(export(grid_text(), platemap="\n".join([header, *rows])))


def test_truncated_grid_is_an_error_with_its_line() -> None:
    text = "\r\n".join(grid_text().split("\r\n")[:12])
    with pytest.raises(ReaderError, match="ends before row F") as err:
        READER.read(export(text, platemap=map_text()))
    assert err.value.line == 13


def test_two_plates_in_one_file_are_each_their_own_plate() -> None:
    text = grid_text() + "\r\n" + grid_text(header="Plate: P-0043\r\n").replace("\t0.010", "\t0.999", 1)
    result = READER.read(export(text, platemap=map_text()))
    df = WellModel.validate(result.wells)
    assert [p.plate_id for p in result.plates] == ["P-0042", "P-0043"]
    assert df.filter(pl.col("plate_id") == "P-0043").height == len(LAYOUT)
    a1 = {r["plate_id"]: r["signal"] for r in df.filter(pl.col("well") == "A1").iter_rows(named=True)}
    assert a1 == {"P-0042": 0.01, "P-0043": 0.999}
    assert any("applied to each of the 2 plates" in w for w in result.warnings)


def test_two_wavelengths_of_one_plate_are_two_signals() -> None:
    second = grid_text(header="Wavelength: 630 nm\r\n").replace("\t7.120", "\t0.712", 1)
    result = READER.read(export(grid_text() + "\r\n" + second))
    df = WellModel.validate(result.wells)
    assert [p.plate_id for p in result.plates] == ["P-0042"]
    h12 = {r["signal_kind"]: r["signal"] for r in df.filter(pl.col("well") == "H12").iter_rows(named=True)}
    assert h12 == {"OD450": 7.12, "OD630": 0.712}


def test_partial_plate_without_row_h_reads_its_wells_and_warns() -> None:
    lines = grid_text().split("\r\n")
    text = "\r\n".join(line for line in lines if not line.startswith("H\t"))
    result = READER.read(export(text, platemap=map_text()))
    df = WellModel.validate(result.wells)
    assert signals(df)["E5"] == 4.05
    h12 = df.row(by_predicate=pl.col("well") == "H12", named=True)
    assert h12["signal"] is None and h12["flags"] == "not_in_grid"
    assert any("partial plate (no row H)" in w for w in result.warnings)
    assert any("outside the partial grid" in w and "H12" in w for w in result.warnings)


def test_partial_rows_and_columns_without_a_plate_map() -> None:
    header = "Plate: P9\nWavelength: 405\n\n\t1\t2\t3\t4\t5\t6\n"
    rows = ["A\t0.1\t0.2\t0.3\t0.4\t0.5\t0,06", "D\t1\t2\t3\t4\t5\t6", ""]
    result = READER.read(export(header + "\n".join(rows)))
    df = WellModel.validate(result.wells)
    assert df.height == 12 and set(df["signal_kind"]) == {"OD405"}
    assert signals(df)["A6"] == 0.06 and signals(df)["D6"] == 6.0
    assert any("rows B, C, E, F, G, H and columns 7..12" in w for w in result.warnings)


def test_a_decimal_comma_cell_in_a_dot_decimal_file_is_read() -> None:
    df = READER.read(export(grid_text().replace("\t4.050", "\t4,05", 1), platemap=map_text())).wells
    assert signals(df)["E5"] == 4.05


def test_a_plate_map_uploaded_as_the_export_is_refused() -> None:
    with pytest.raises(ReaderError, match="plate map, not a plate-reader export"):
        READER.read(export(map_text(), platemap=map_text()))


def test_text_without_a_grid() -> None:
    with pytest.raises(ReaderError, match=r"1\.\.12"):
        READER.read(export("Plate: P1\nnothing here\n", platemap=map_text()))


def test_sniff() -> None:
    file = export(grid_text(), platemap=map_text())
    hit = READER.sniff(grid_text(), file)
    assert hit.matched and 0 < hit.score < 50
    assert "rows A..H" in hit.reason
    miss = READER.sniff("Sample,Analyte,Value\nx,y,1\n", file)
    assert not miss.matched and "1..12" in miss.reason and "A..H" in miss.reason


def test_a_plate_map_does_not_sniff_as_a_grid_export() -> None:
    numeric_map = map_block("expected_conc", {f"{r}{c}": str(c) for r in "ABCDEFGH" for c in range(1, 13)})
    assert not READER.sniff(map_text(), export(map_text())).matched
    assert not READER.sniff(numeric_map, export(numeric_map)).matched


def test_find_grids_ignores_a_grid_of_text() -> None:
    layout = "\t1\t2\t3\t4\t5\t6\t7\t8\t9\t10\t11\t12\n" + "\n".join(
        f"{r}\t" + "\t".join(f"STD{c}" for c in range(12)) for r in "ABCDEFGH"
    )
    grids, misses = find_grids(split_lines(layout))
    assert grids == [] and "text, not readings" in misses[0].reason


def spectramax_map() -> str:
    header = "sample_id," + ",".join(str(c) for c in range(1, 25))
    rows = [",".join([r, *(f"{r}{c}" for c in range(1, 25))]) for r in "ABCDEFGHIJKLMNOP"]
    analyte = "analyte," + ",".join(str(c) for c in range(1, 25))
    arows = [",".join([r, *["NAb"] * 24]) for r in "ABCDEFGHIJKLMNOP"]
    return "\n".join([header, *rows, "", analyte, *arows]) + "\n"


def test_spectramax_384_grid_is_read_exactly(corpus: Path) -> None:
    folder = corpus / "platereader"
    data = (folder / f"{SPECTRAMAX}.txt").read_bytes()
    file = FileInput(f"{SPECTRAMAX}.txt", data, {f"{SPECTRAMAX}_platemap.csv": spectramax_map().encode()})
    assert READER.sniff(decode(data)[:20_000], file).matched
    result = READER.read(file)
    df = result.wells
    WellModel.validate(df)
    expected = [
        [float(x) for x in line.split("\t") if x]
        for line in split_lines((folder / f"{SPECTRAMAX}.expected.tsv").read_text())
        if line.strip()
    ]
    got = dict(zip(df["well"], df["signal"], strict=True))
    assert len(got) == 384
    for r, letter in enumerate("ABCDEFGHIJKLMNOP"):
        assert [got[f"{letter}{c}"] for c in range(1, 25)] == expected[r]
    assert got["A1"] == 86313 and got["A24"] == 71010 and got["P1"] == 61047 and got["P24"] == 96670
    assert sum(v for v in got.values() if v is not None) == 19_363_479
    assert df["signal_kind"].unique().to_list() == ["RLU"]  # SoftMax block header: Luminescence
    assert result.plates[0].plate_id == SPECTRAMAX
    assert result.plates[0].extra["temperature"] == "23"
    assert df.filter(pl.col("well") == "A1")["row_number"].item() == 19


@pytest.mark.parametrize(
    "name",
    ["allotropy_gen5_kinetic_standard_curve.txt", "allotropy_softmax_pro_group_with_partial_rows.txt"],
)
def test_other_plate_reader_layouts_are_not_taken_for_a_grid(corpus: Path, name: str) -> None:
    data = (corpus / "platereader" / name).read_bytes()
    assert not READER.sniff(decode(data)[:20_000], FileInput(name, data)).matched


def test_plater_corpus_map_does_not_sniff_as_an_export(corpus: Path) -> None:
    data = (corpus / "platemap" / "plater_example-1.csv").read_bytes()
    assert not READER.sniff(decode(data), FileInput("plater_example-1.csv", data)).matched


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    cut=st.integers(min_value=0, max_value=len(grid_text())),
    start=st.integers(min_value=0, max_value=len(grid_text())),
    length=st.integers(min_value=0, max_value=40),
    junk=st.text(max_size=20),
)
def test_mutated_exports_read_or_fail_with_a_reader_error(
    cut: int, start: int, length: int, junk: str
) -> None:
    text = grid_text()
    mutated = (text[:start] + junk + text[start + length :])[: max(cut, 1) if cut else None]
    try:
        result = READER.read(export(mutated, platemap=map_text()))
    except ReaderError:
        return
    WellModel.validate(result.wells)
    assert result.wells.schema == pl.Schema(WELL_SCHEMA)


@settings(max_examples=100, deadline=None)
@given(data=st.binary(max_size=400))
def test_arbitrary_bytes_read_or_fail_with_a_reader_error(data: bytes) -> None:
    with contextlib.suppress(ReaderError):
        READER.read(FileInput("x.txt", data, {"x_platemap.csv": map_text().encode()}))


def test_a_cell_of_text_is_kept_apart_from_an_empty_one() -> None:
    text = grid_text().replace("\t4.050", "\t#SAT", 1)
    result = READER.read(export(text, platemap=map_text()))
    e5 = result.wells.row(by_predicate=pl.col("well") == "E5", named=True)
    assert e5["signal"] is None and e5["qualifier"] == "NR" and e5["flags"] == "signal_not_numeric"
    assert any("#SAT" in w for w in result.warnings)


SMP = "allotropy/moldev_softmax_pro"


def test_side_by_side_wavelength_grids_are_each_a_signal(corpus: Path) -> None:
    """A SoftMax PlateFormat block prints one grid per wavelength on the same lines (values checked
    against allotropy's JSON beside the file)."""
    path = corpus / SMP / "MD_SMP_absorbance_endpoint_example04.txt"
    result = READER.read(FileInput(path.name, path.read_bytes()))
    df = WellModel.validate(result.wells)
    assert [p.plate_id for p in result.plates] == [
        "BNCH_69983542_96w",
        "BNCH_65245083_96w",
        "BNCH_79071824_96w",
    ]
    assert dict(df.group_by("signal_kind").len().iter_rows()) == {"OD280": 288, "OD450": 288, "OD562": 288}
    mixed = corpus / SMP / "abs_endpoint_plates.txt"  # "0,02" cells among "0.03": decimal commas per cell
    got = READER.read(FileInput(mixed.name, mixed.read_bytes())).wells
    a2 = got.filter((pl.col("well") == "A2") & (pl.col("signal_kind") == "OD426"))
    assert a2["signal"].to_list() == [0.02]


@pytest.mark.parametrize(
    ("name", "words"),
    [("errors/trf_well_scan_plates.txt", "a well scan"), ("partial_plate.txt", "a spectrum")],
)
def test_non_endpoint_softmax_blocks_are_refused_by_name(corpus: Path, name: str, words: str) -> None:
    path = corpus / SMP / name
    with pytest.raises(ReaderError, match=f"holds {words}.*not an endpoint"):
        READER.read(FileInput(path.name, path.read_bytes()))
