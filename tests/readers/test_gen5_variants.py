"""Gen5 variants the text corpus does not show: the Excel export (the same cells in a workbook), data sets
in their own blocks, several plates; and properties of the read naming and of grid cells."""

from __future__ import annotations

import io
import zipfile
from pathlib import Path
from xml.sax.saxutils import escape

import polars as pl
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from readers.base import FileInput, ReaderError
from readers.detect import detect
from readers.gen5 import Gen5Reader, ReadStep, kind_from_name, parse_procedure
from readers.text import split_lines
from readers.toolkit.grid_headers import matrix_columns
from readers.toolkit.grids import parse_signal
from schemas.wells import WellModel
from tests.conftest import CORPUS

LUM = "allotropy/agilent_gen5/luminescence/endpoint_singleplate_withoutStepLabel.txt"
STDCURVE = "allotropy/agilent_gen5/absorbance/endpoint_stdcurve_singleplate.txt"


def _cell(ref: str, text: str) -> str:
    try:
        float(text)
    except ValueError:
        return f'<c r="{ref}" t="inlineStr"><is><t xml:space="preserve">{escape(text)}</t></is></c>'
    return f'<c r="{ref}"><v>{text}</v></c>'


def _col(i: int) -> str:
    name = ""
    i += 1
    while i:
        i, rem = divmod(i - 1, 26)
        name = chr(65 + rem) + name
    return name


def xlsx(rows: list[list[str]]) -> bytes:
    """A minimal workbook (one sheet) holding ``rows``: numbers as numbers, the rest as text — what
    Gen5's Excel export writes for the cells of its text layout."""
    body = "".join(
        f'<row r="{r + 1}">'
        + "".join(_cell(f"{_col(c)}{r + 1}", t) for c, t in enumerate(row) if t != "")
        + "</row>"
        for r, row in enumerate(rows)
    )
    ns = "http://schemas.openxmlformats.org"
    parts = {
        "[Content_Types].xml": (
            f'<Types xmlns="{ns}/package/2006/content-types">'
            '<Default Extension="rels" '
            'ContentType="application/vnd.openxmlformats-package.relationships+xml"/>'
            '<Default Extension="xml" ContentType="application/xml"/>'
            '<Override PartName="/xl/workbook.xml" '
            'ContentType="application/vnd.openxmlformats-officedocument.spreadsheetml.sheet.main+xml"/>'
            '<Override PartName="/xl/worksheets/sheet1.xml" '
            'ContentType="application/vnd.openxmlformats-officedocument.spreadsheetml.worksheet+xml"/></Types>'
        ),
        "_rels/.rels": (
            f'<Relationships xmlns="{ns}/package/2006/relationships"><Relationship Id="r1" '
            f'Type="{ns}/officeDocument/2006/relationships/officeDocument" Target="xl/workbook.xml"/>'
            "</Relationships>"
        ),
        "xl/workbook.xml": (
            f'<workbook xmlns="{ns}/spreadsheetml/2006/main" '
            f'xmlns:r="{ns}/officeDocument/2006/relationships">'
            '<sheets><sheet name="Plate 1" sheetId="1" r:id="r1"/></sheets></workbook>'
        ),
        "xl/_rels/workbook.xml.rels": (
            f'<Relationships xmlns="{ns}/package/2006/relationships"><Relationship Id="r1" '
            f'Type="{ns}/officeDocument/2006/relationships/worksheet" Target="worksheets/sheet1.xml"/>'
            "</Relationships>"
        ),
        "xl/worksheets/sheet1.xml": (
            f'<worksheet xmlns="{ns}/spreadsheetml/2006/main"><sheetData>{body}</sheetData></worksheet>'
        ),
    }
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as z:
        for name, xml in parts.items():
            z.writestr(name, '<?xml version="1.0" encoding="UTF-8" standalone="yes"?>' + xml)
    return buf.getvalue()


def _as_workbook(path: Path) -> bytes:
    return xlsx([line.split("\t") for line in split_lines(path.read_text())])


@pytest.mark.corpus
@pytest.mark.parametrize("rel", [LUM, STDCURVE])
def test_excel_export_reads_as_the_text_export(corpus: Path, rel: str) -> None:
    path = corpus / rel
    text = Gen5Reader().read(FileInput(path.name, path.read_bytes()))
    book = FileInput(path.with_suffix(".xlsx").name, _as_workbook(path))
    assert detect(book).name == "gen5"
    excel = Gen5Reader().read(book)
    cols = [
        "well",
        "sample_id",
        "sample_type",
        "signal",
        "signal_kind",
        "value",
        "qualifier",
        "expected_conc",
    ]
    assert WellModel.validate(excel.wells).select(cols).equals(text.wells.select(cols))
    assert excel.plates[0].acquired_at == text.plates[0].acquired_at


def test_damaged_workbook_is_a_reader_error() -> None:
    broken = xlsx([["Software Version", "3.12"]]).replace(b"</sheetData>", b"</sheetDatx>")
    with pytest.raises(ReaderError, match=r"^book\.xlsx: .*(workbook|Excel)"):
        Gen5Reader().read(FileInput("book.xlsx", broken))


HDR = "\t" + "\t".join(str(i) for i in range(1, 13))


def test_data_sets_in_their_own_blocks_and_read_numbers() -> None:
    lines = [
        "Software Version\t3.14",
        "Plate Number\tPlate 1",
        "Reader Type:\tSynergy H1",
        "",
        "Procedure Details",
        "",
        "Read\tAbsorbance Endpoint",
        "\tWavelengths:  450, 630",
        "",
        "Read 1:450",
        HDR,
        "\t".join(["A", "0,512", "0,498", *[""] * 10, "Read 1:450"]),
        "",
        "Read 1:630",
        HDR,
        "\t".join(["A", "0,051", "0,049", *[""] * 10, "Read 1:630"]),
    ]
    res = Gen5Reader().read(FileInput("split.txt", "\n".join(lines).encode()))
    df = WellModel.validate(res.wells)
    got = {(r["well"], r["signal_kind"]): r["signal"] for r in df.iter_rows(named=True)}
    assert got == {
        ("A1", "OD450"): 0.512,
        ("A2", "OD450"): 0.498,
        ("A1", "OD630"): 0.051,
        ("A2", "OD630"): 0.049,
    }
    assert df["sample_id"].is_null().all() and set(df["analyte_as_written"]) == {""}


_WL = st.integers(230, 999).map(str)
_BW = st.one_of(st.just(""), st.integers(5, 40).map(lambda b: f"/{b}"))


@given(st.lists(st.tuples(_WL, _BW, _WL, _BW), min_size=1, max_size=3), st.one_of(st.none(), st.just("Step")))
def test_fluorescence_data_set_names_give_their_kind(
    filters: list[tuple[str, str, str, str]], label: str | None
) -> None:
    step = ReadStep(index=1, kinetic=False, label=label, mode="fluorescence")
    step.filters = [(ex + bx, em + bm) for ex, bx, em, bm in filters]
    for name, kind in step.data_sets().items():
        ex, em = kind.removeprefix("RFU ").split("/")
        assert any((ex, em) == (f[0], f[2]) for f in filters)
        assert kind_from_name(name) == kind


@given(st.lists(_WL, min_size=1, max_size=4, unique=True))
def test_absorbance_procedure_names_each_wavelength(wavelengths: list[str]) -> None:
    proc = ["Read\tAbsorbance Endpoint", "\tFull Plate", f"\tWavelengths:  {', '.join(wavelengths)}"]
    (step,) = parse_procedure(proc)
    assert step.read_type == "endpoint"
    assert {k for n, k in step.data_sets().items() if not n.startswith("Read ")} == {
        f"OD{w}" for w in wavelengths
    }


@given(st.integers(0, 10**6), st.integers(0, 999))
def test_grid_cells_with_decimal_commas(whole: int, frac: int) -> None:
    text = f"{whole},{frac:03d}"
    assert parse_signal(text, decimal_comma=True).value == pytest.approx(whole + frac / 1000)
    masked = parse_signal(f"*{whole}.{frac:03d}*")
    assert masked.value is None and masked.masked


def test_kinetic_steps_are_not_endpoints() -> None:
    proc = [
        "Start Kinetic\tRuntime 0:30:00",
        "    Read\tAbsorbance Endpoint",
        "\tWavelengths:  420",
        "End Kinetic",
        "Read\tFluorescence Spectrum",
        "\tEmission Start: 300/20 nm,  Stop: 320 nm",
    ]
    kinetic, spectrum = parse_procedure(proc)
    assert (kinetic.read_type, spectrum.read_type) == ("kinetic", "spectrum")
    assert "kinetic absorbance read" in kinetic.describe() and "fluorescence spectrum" in spectrum.describe()
    assert pl.Series([kind_from_name("Blank 450"), kind_from_name("Lum")]).to_list() == [None, "RLU"]


def _map_block(variable: str, cells: dict[str, str]) -> str:
    lines = [variable + "," + ",".join(str(c) for c in range(1, 13))]
    lines += [",".join([r, *(cells.get(f"{r}{c}", "") for c in range(1, 13))]) for r in "ABCDEFGH"]
    return "\n".join(lines)


@pytest.mark.corpus
def test_export_without_layout_takes_sample_ids_from_a_plate_map(corpus: Path) -> None:
    path = corpus / LUM
    pm = "\n\n".join(
        [
            _map_block("sample_id", {"A1": "CAL-1", "B1": "P-007"}),
            _map_block("sample_type", {"A1": "standard", "B1": "unknown"}),
            _map_block("expected_conc", {"A1": "500"}),
            _map_block("dilution", {"B1": "2"}),
        ]
    )
    file = FileInput(path.name, path.read_bytes(), {f"{path.stem}_platemap.csv": pm.encode()})
    res = Gen5Reader().read(file)
    df = WellModel.validate(res.wells)
    assert res.companions == [f"{path.stem}_platemap.csv"]
    a1 = df.row(by_predicate=pl.col("well") == "A1", named=True)
    b1 = df.row(by_predicate=pl.col("well") == "B1", named=True)
    assert (a1["sample_id"], a1["sample_type"], a1["expected_conc"], a1["signal"]) == (
        "CAL-1",
        "standard",
        500.0,
        210530.0,
    )
    assert (b1["sample_id"], b1["dilution"], b1["signal_kind"]) == ("P-007", 2.0, "RLU")
    assert df.row(by_predicate=pl.col("well") == "C5", named=True)["flags"] == "not_in_platemap"


def test_layout_data_sets_in_their_own_blocks() -> None:
    lines = [
        "Software Version\t3.14",
        "Plate Number\tPlate 1",
        "",
        "Procedure Details",
        "",
        "Read\tAbsorbance Endpoint",
        "\tWavelengths:  450",
        "",
        "Well ID",
        HDR,
        "\t".join(["A", "STD1", "SPL1", *[""] * 10, "Well ID"]),
        "",
        "Conc/Dil",
        HDR,
        "\t".join(["A", "100", "4", *[""] * 10, "Conc/Dil"]),
        "",
        "450",
        HDR,
        "\t".join(["A", "1.5", "0.5", *[""] * 10, "450"]),
        "",
        "[Concentration]",
        HDR,
        "\t".join(["A", "99.0", "20.5", *[""] * 10, "[Concentration]"]),
    ]
    df = WellModel.validate(Gen5Reader().read(FileInput("own.txt", "\n".join(lines).encode())).wells)
    rows = {r["well"]: r for r in df.iter_rows(named=True)}
    assert set(rows) == {"A1", "A2"} and set(df["signal_kind"]) == {"OD450"}
    assert (rows["A1"]["sample_type"], rows["A1"]["expected_conc"], rows["A1"]["value"]) == (
        "standard",
        100.0,
        99.0,
    )
    assert (rows["A2"]["sample_id"], rows["A2"]["dilution"], rows["A2"]["value"]) == ("SPL1", 4.0, 20.5)


_CORPUS = CORPUS / "allotropy" / "agilent_gen5"  # hypothesis draws cannot take the corpus fixture
_REAL = [
    "fluorescence/endpoint_fluorescence_polarization.txt",
    "absorbance/spectrum_data.txt",
    "multi_read_modes/two_same_read_modes.txt",
]


@pytest.mark.corpus
@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    st.sampled_from(_REAL),
    st.lists(
        st.tuples(
            st.sampled_from(["drop", "duplicate", "cell", "cut"]), st.integers(0, 10**6), st.text(max_size=6)
        ),
        min_size=1,
        max_size=3,
    ),
)
def test_mutated_real_exports_read_or_raise_a_reader_error(rel: str, ops: list[tuple[str, int, str]]) -> None:
    """Lines dropped, repeated, cells changed, the file cut: a conforming table (never an endpoint kind for
    a spectrum) or a ReaderError naming the file — nothing else."""
    path = _CORPUS / rel
    if not path.exists():
        pytest.skip("corpus not available")
    lines = split_lines(path.read_text(encoding="utf-8", errors="replace"))
    for op, at, junk in ops:
        i = at % len(lines)
        if op == "drop":
            del lines[i]
        elif op == "duplicate":
            lines.insert(i, lines[i])
        elif op == "cell":
            cells = lines[i].split("\t")
            cells[at % len(cells)] = junk
            lines[i] = "\t".join(cells)
        else:
            lines = lines[: max(i, 1)]
    try:
        res = Gen5Reader().read(FileInput("m.txt", "\n".join(lines).encode()))
    except ReaderError as err:
        assert str(err).startswith("m.txt")
        return
    WellModel.validate(res.wells)
    if "spectrum" in rel:
        assert not any(k.startswith(("OD", "RFU", "RLU")) for k in res.wells["signal_kind"].drop_nulls())


def _partial_plate_export(columns: list[int], rows: dict[str, list[str]]) -> bytes:
    """A Gen5 text export of a partial-plate read: the Results header lists only the columns read."""
    lines = [
        "Software Version\t3.12.08",
        "",
        "Plate Number\tPlate 1",
        "Reader Type:\tSynergy H1",
        "Reading Type\tReader",
        "",
        "Procedure Details",
        "",
        "Read\tLuminescence Endpoint",
        "\tFilter Set 1",
        "\t    Emission: 620",
        "",
        "Results",
        "\t" + "\t".join(str(c) for c in columns),
        *("\t".join([r, *vals, "620"]) for r, vals in rows.items()),
    ]
    return "\n".join(lines).encode()


def test_partial_plate_header_lists_only_the_columns_read() -> None:
    """Gen5 writes only the columns a partial-plate read covered (``<TAB>1…<TAB>6``, and the row lines end
    without a trailing newline). Found in Benchling-Open-Source/allotropy,
    tests/parsers/agilent_gen5/testdata/luminescence/endpoint_singleplate_without_bandwidth.txt (rows A-B,
    columns 1-6), which the native reader did not recognise before (it went to the allotropy fallback)."""
    data = _partial_plate_export(
        [1, 2, 3], {"A": ["210530", "213380", "216200"], "B": ["212240", "215080", "1"]}
    )
    assert detect(FileInput("partial.txt", data)).name == "gen5"
    df = WellModel.validate(Gen5Reader().read(FileInput("partial.txt", data)).wells)
    got = {r["well"]: r["signal"] for r in df.iter_rows(named=True)}
    assert got == {"A1": 210530, "A2": 213380, "A3": 216200, "B1": 212240, "B2": 215080, "B3": 1}
    assert set(df["signal_kind"]) == {"RLU 620"}


def test_partial_plate_columns_keep_their_numbers_and_rows_beyond_h_widen_the_plate() -> None:
    data = _partial_plate_export([11, 12, 13], {"A": ["1", "2", "3"], "J": ["4", "5", "6"]})
    df = WellModel.validate(Gen5Reader().read(FileInput("partial384.txt", data)).wells)
    got = {r["well"]: r["signal"] for r in df.iter_rows(named=True)}
    assert got == {"A11": 1, "A12": 2, "A13": 3, "J11": 4, "J12": 5, "J13": 6}


@pytest.mark.parametrize("header", [["1"], ["1", "3"], ["0", "1"], ["24", "25"], ["1", "2", "x"]])
def test_a_header_that_is_no_column_run_is_not_a_partial_plate(header: list[str]) -> None:
    assert matrix_columns(["", *header]) is None
    assert matrix_columns(["", *[str(c) for c in range(1, 13)]]) == (12, list(range(1, 13)))
    assert matrix_columns(["", "3", "4", "5", ""]) == (12, [3, 4, 5])
