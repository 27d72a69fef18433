"""Discovery Workbench layouts beyond the basic CSV (tests/readers/test_msd.py): the Excel workbook form,
empty Dilution cells, and numbers as locales write them (decimal commas, thousands separators, exponents)."""

from __future__ import annotations

import io
import zipfile
from xml.sax.saxutils import escape

import polars as pl
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from readers.base import FileInput, ReaderError, ReadResult
from readers.bioplex import BioplexReader
from readers.msd_instrument import MsdRawReader
from readers.msd_workbench import MsdWorkbenchReader
from readers.toolkit.decimals import file_decimal_comma, number, sure_decimal_comma
from schemas.wells import WellModel
from tests.readers.test_msd import HEADER, ROWS, one, read_wb, wb_row, wb_text

WB = MsdWorkbenchReader()

_CT = "application/vnd.openxmlformats-officedocument.spreadsheetml"


def xlsx(sheets: dict[str, list[list[object]]]) -> bytes:
    """A minimal .xlsx workbook (inline strings and numbers): what python-calamine needs, nothing more."""
    names = list(sheets)
    n = range(1, len(names) + 1)
    rel = "http://schemas.openxmlformats.org/officeDocument/2006/relationships"
    pkg = "http://schemas.openxmlformats.org/package/2006"
    main = "http://schemas.openxmlformats.org/spreadsheetml/2006/main"
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as z:
        z.writestr(
            "[Content_Types].xml",
            f'<Types xmlns="{pkg}/content-types">'
            '<Default Extension="rels" '
            'ContentType="application/vnd.openxmlformats-package.relationships+xml"/>'
            '<Default Extension="xml" ContentType="application/xml"/>'
            f'<Override PartName="/xl/workbook.xml" ContentType="{_CT}.sheet.main+xml"/>'
            + "".join(
                f'<Override PartName="/xl/worksheets/sheet{i}.xml" ContentType="{_CT}.worksheet+xml"/>'
                for i in n
            )
            + "</Types>",
        )
        z.writestr(
            "_rels/.rels",
            f'<Relationships xmlns="{pkg}/relationships"><Relationship Id="rId1" '
            f'Type="{rel}/officeDocument" Target="xl/workbook.xml"/></Relationships>',
        )
        z.writestr(
            "xl/workbook.xml",
            f'<workbook xmlns="{main}" xmlns:r="{rel}"><sheets>'
            + "".join(
                f'<sheet name="{escape(s)}" sheetId="{i}" r:id="rId{i}"/>' for i, s in enumerate(names, 1)
            )
            + "</sheets></workbook>",
        )
        z.writestr(
            "xl/_rels/workbook.xml.rels",
            f'<Relationships xmlns="{pkg}/relationships">'
            + "".join(
                f'<Relationship Id="rId{i}" Type="{rel}/worksheet" Target="worksheets/sheet{i}.xml"/>'
                for i in n
            )
            + "</Relationships>",
        )
        for i, name in enumerate(names, 1):
            rows = []
            for r, row in enumerate(sheets[name], 1):
                cells = []
                for c, v in enumerate(row):
                    assert c < 26
                    ref = f"{chr(65 + c)}{r}"
                    if isinstance(v, int | float):
                        cells.append(f'<c r="{ref}"><v>{v}</v></c>')
                    elif v:
                        cells.append(f'<c r="{ref}" t="inlineStr"><is><t>{escape(str(v))}</t></is></c>')
                rows.append(f'<row r="{r}">{"".join(cells)}</row>')
            z.writestr(
                f"xl/worksheets/sheet{i}.xml",
                f'<worksheet xmlns="{main}"><sheetData>{"".join(rows)}</sheetData></worksheet>',
            )
    return buf.getvalue()


def as_cells(row: dict[str, str]) -> list[object]:
    """A Workbench row as Excel holds it: numbers as numbers, the rest as text."""
    out: list[object] = []
    for h in HEADER:
        v = row.get(h, "")
        try:
            out.append(float(v) if v not in ("", "NaN") and h not in ("Sample", "Well") else v)
        except ValueError:
            out.append(v)
    return out


def sheet(
    rows: list[dict[str, str]], plate: str = "Plate_2BO40AW287", header: list[str] = HEADER
) -> list[list[object]]:
    return [[plate], list(header), *(as_cells(r) for r in rows)]


def read_xlsx(data: bytes, name: str = "plate_7.xlsx") -> ReadResult:
    res = WB.read(FileInput(name, data))
    WellModel.validate(res.wells)
    return res


# ---- Excel ----------------------------------------------------------------------------------------------


def test_excel_equals_the_text_export() -> None:
    data = xlsx({"Notes": [["exported by Discovery Workbench 4.0"]], "Plate data": sheet(ROWS)})
    assert WB.sniff("", FileInput("p.xlsx", data)).matched
    assert not MsdRawReader().sniff("", FileInput("p.xlsx", data)).matched
    assert not BioplexReader().sniff("", FileInput("p.xlsx", data)).matched
    res = read_xlsx(data)
    text = read_wb(wb_text()).wells
    cols = [
        "plate_id",
        "well",
        "analyte_as_written",
        "sample_id",
        "sample_type",
        "signal",
        "value",
        "qualifier",
    ]
    assert res.wells.select(cols).equals(text.select(cols))
    assert res.wells["row_number"].to_list()[:2] == [3, 4]  # the sheet's rows


def test_excel_header_cell_with_a_line_break() -> None:
    header = [("Calc.\nConcentration" if h == "Calc. Concentration" else h) for h in HEADER]
    res = read_xlsx(xlsx({"Data": sheet(ROWS, header=header)}))
    assert one(res.wells, "A1")["value"] == 1012.5


def test_excel_plate_name_line_with_filler_cells() -> None:
    rows = sheet(ROWS)
    rows[0] = ["Plate_TEST_PLATE_001", *(f"Unnamed: {i}" for i in range(1, 16))]
    res = read_xlsx(xlsx({"Workbench data": rows}))
    assert [p.plate_id for p in res.plates] == ["Plate_TEST_PLATE_001"]


def test_excel_one_plate_per_sheet() -> None:
    res = read_xlsx(xlsx({"P1": sheet(ROWS[:3], "Plate_AAA111"), "P2": sheet(ROWS[3:], "Plate_BBB222")}))
    assert [p.plate_id for p in res.plates] == ["Plate_AAA111", "Plate_BBB222"]
    assert res.wells.height == len(ROWS)


def test_excel_errors_name_the_sheet_and_row() -> None:
    bad = sheet([ROWS[0], wb_row(well="Z99")])
    with pytest.raises(ReaderError, match=r"^plate_7\.xlsx: sheet 'Data', row 4: Well 'Z99'"):
        read_xlsx(xlsx({"Data": bad}))
    twice = xlsx({"P1": sheet(ROWS[:1]), "P2": sheet(ROWS[:1])})
    with pytest.raises(ReaderError, match=r"appears twice \(sheet 'P1', row 3 and sheet 'P2', row 3\)"):
        read_xlsx(twice)


def test_workbook_without_a_workbench_sheet() -> None:
    data = xlsx({"Sheet1": [["Well", "Value"], ["A1", 3]]})
    assert not WB.sniff("", FileInput("p.xlsx", data)).matched
    with pytest.raises(ReaderError, match="no sheet of this workbook"):
        WB.read(FileInput("p.xlsx", data))


@pytest.mark.parametrize("data", [b"PK\x03\x04" + b"\x00" * 40, b"\xd0\xcf\x11\xe0" + b"junk" * 20])
def test_damaged_workbook_is_a_reader_error(data: bytes) -> None:
    assert not WB.sniff(data.decode("latin-1"), FileInput("p.xlsx", data)).matched
    with pytest.raises(ReaderError):
        WB.read(FileInput("p.xlsx", data))


# ---- empty Dilution cells -------------------------------------------------------------------------------


def test_empty_dilution_flags_unknowns_only() -> None:
    res = read_wb(wb_text())
    df = res.wells
    missing = df.filter(pl.col("flags").str.contains("dilution_missing"))
    # The unknown's TNF-a row has no dilution; its IL-6 row says 2; standards, blank and control take 1.
    assert missing.select("well", "analyte_as_written").rows() == [("E1", "TNF-a")]
    assert missing["dilution"].to_list() == [1.0]
    assert one(df, "E1")["dilution"] == 2.0 and one(df, "E1")["flags"] is None
    for well in ("A1", "B1", "C1", "D1"):
        assert one(df, well)["dilution"] == 1.0
        assert "dilution_missing" not in (one(df, well)["flags"] or "")
    assert any("dilution_missing" in w and "E1" in w for w in res.warnings)


def test_no_dilution_column_flags_unknowns() -> None:
    header = [h for h in HEADER if h != "Dilution"]
    df = read_wb(wb_text(header=header)).wells
    assert one(df, "E1")["flags"] == "dilution_missing" and one(df, "E1")["dilution"] == 1.0
    assert one(df, "A1")["flags"] is None


# ---- numbers as locales write them ----------------------------------------------------------------------


def test_tab_export_with_decimal_commas() -> None:
    rows = [
        wb_row("S001", well="A01", conc="1000", signal="3,513", calc="53,2"),
        wb_row("CSF001", well="B01", dilution="2", signal="95210", calc="1,2345"),
    ]
    df = read_wb(wb_text(rows, sep="\t")).wells
    a1, b1 = one(df, "A1"), one(df, "B1")
    # 53,2 leaves no doubt: the table is comma-decimal, so 3,513 is 3.513 too.
    assert (a1["value"], a1["signal"], b1["value"]) == (53.2, 3.513, 1.2345)


def test_stray_decimal_comma_in_a_dot_decimal_file() -> None:
    rows = [
        wb_row("S001", well="A01", conc="1000", calc="1012.5"),
        wb_row(well="B01", dilution="2", calc='"0,02"'),
    ]
    res = read_wb(wb_text(rows))
    assert one(res.wells, "B1")["value"] == 0.02 and one(res.wells, "B1")["qualifier"] == "="
    assert one(res.wells, "A1")["value"] == 1012.5
    assert any("decimal comma" in w and "0,02" in w for w in res.warnings)


@pytest.mark.parametrize(
    ("signal", "calc", "sep", "expected"),
    [
        ('"1,234,567"', '"1,234.5"', ",", (1234567.0, 1234.5)),  # thousands separators, dot decimal
        ("1.234.567", "1.234,5", ";", (1234567.0, 1234.5)),  # and their comma-decimal form
        ("1.2E+03", "4.5e-2", ",", (1200.0, 0.045)),  # exponents
        ("1,2E+03", "4,5e-2", ";", (1200.0, 0.045)),
    ],
)
def test_thousands_separators_and_exponents(
    signal: str, calc: str, sep: str, expected: tuple[float, float]
) -> None:
    rows = [wb_row("S001", well="A01", conc="1000", signal=signal, calc=calc)]
    a1 = one(read_wb(wb_text(rows, sep=sep)).wells, "A1")
    assert (a1["signal"], a1["value"]) == expected


@given(st.integers(0, 10**7), st.integers(1, 4), st.sampled_from([",", "\t", ";"]))
@settings(max_examples=80, deadline=None)
def test_a_decimal_reads_the_same_in_every_locale(whole: int, places: int, sep: str) -> None:
    """A value written with a decimal point or (in a comma-decimal table) a decimal comma reads the same."""
    scale = 10**places
    value = whole / scale
    dot = f"{value:.{places}f}"
    text = dot.replace(".", ",") if sep != "," else dot
    if sep == "\t" and places == 3:  # "12,345" alone is not a decimal comma in a tab file: pin it
        text = dot
    rows = [wb_row("S001", well="A01", conc="1000", calc=text, signal="100")]
    assert one(read_wb(wb_text(rows, sep=sep)).wells, "A1")["value"] == float(dot)


@given(st.text(alphabet="0123456789,.-+eE <>*", max_size=12))
def test_number_never_raises_and_a_sure_comma_is_read(text: str) -> None:
    v = number(text, decimal_comma=False)
    assert v is None or isinstance(v, float)
    if sure_decimal_comma(text) and text.strip()[:1] not in "<>*":
        assert v == number(text, decimal_comma=True)


def test_file_decimal_comma() -> None:
    assert file_decimal_comma(["53,2", "100"], semicolon=False) == (True, False)
    assert file_decimal_comma(["3,513", "100"], semicolon=False) == (False, False)  # thousands
    assert file_decimal_comma(["3,513"], semicolon=True) == (True, False)
    assert file_decimal_comma(["53,2", "1.5"], semicolon=False) == (False, True)
    assert file_decimal_comma(["53,2", "1.5"], semicolon=True) == (False, True)
