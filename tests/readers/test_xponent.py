"""XponentReader on small inline exports: layout variants, censoring tokens, errors, and robustness."""

from __future__ import annotations

import csv
import io
import re
from collections.abc import Callable

import polars as pl
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from readers.base import FileInput, ReaderError
from readers.xponent import XponentReader, parse_location, sample_type_of
from schemas.wells import WELL_SCHEMA, WellModel

# A 6-well, 2-plex export with analysis on. Line numbers matter: Result rows are lines 39-44.
BASE = """\
"Program","xPONENT","","FlexMAP 3D"
"Build","4.3.229.0"
"Date","05/17/2023","6:42 PM"

"SN","FM3DD20137021"
"Batch","TEST_PLATE_1"
"Operator","jdoe"
"ProtocolName","BCT NTF 8-plex"
"BatchStartTime","5/17/2023 6:42:29 PM"

"Samples","6","Min Events","50","Per Bead"

"Results"

"DataType:","Median"
"Location","Sample","Hu VEGF (45)","IL-6","Total Events"
"1(1,A1)","Background0","21","18","900"
"2(1,B1)","Standard1","15000.5","9000","950"
"3(1,C1)","Control1","2500","1200","880"
"4(1,D1)","P-1001","812","33","870"
"5(1,E1)","P-1002","20","40000","860"
"6(1,F1)","P-1003","NaN","","850"

"DataType:","Count"
"Location","Sample","Hu VEGF (45)","IL-6","Total Events"
"1(1,A1)","Background0","60","61","900"
"2(1,B1)","Standard1","62","63","950"
"3(1,C1)","Control1","64","65","880"
"4(1,D1)","P-1001","12","66","870"
"5(1,E1)","P-1002","67","68","860"
"6(1,F1)","P-1003","69","70","850"

"DataType:","Result"
"Location","Sample","Hu VEGF (45)","IL-6","Total Events"
"1(1,A1)","Background0","NaN","","900"
"2(1,B1)","Standard1","1000","500","950"
"3(1,C1)","Control1","*7.17","---","880"
"4(1,D1)","P-1001","OOR <","< 0.105","870"
"5(1,E1)","P-1002","***","OOR >","860"
"6(1,F1)","P-1003","> 3450","123.4","850"

"DataType:","Avg Result"
"Sample","Hu VEGF (45)","IL-6"
"Standard1","1000","500"

"DataType:","Units"
"Analyte:","Hu VEGF (45)","IL-6"
"BeadID:","45","19"
"Units:","pg/mL","pg/mL"

"DataType:","Standard Expected Concentration"
"Reagent","Hu VEGF (45)","IL-6"
"Standard1","1000","500"

"DataType:","Dilution Factor"
"Location","Sample","Dilution Factor"
"1(1,A1)","Background0","1"
"2(1,B1)","Standard1","1"
"3(1,C1)","Control1","1"
"4(1,D1)","P-1001","2"
"5(1,E1)","P-1002","2"
"6(1,F1)","P-1003","4"

"DataType:","Warnings/Errors"
"Location","Status","Message"
"1,D1","Warning","The acquisition had at least one region that did not reach the specified count."

-- CRC --
CRC32: 40B50595
"""

RESULT_FIRST_LINE = BASE.splitlines().index('"1(1,A1)","Background0","NaN","","900"') + 1
MEDIAN_FIRST_LINE = BASE.splitlines().index('"1(1,A1)","Background0","21","18","900"') + 1


def read(text: str | bytes, name: str = "TEST_PLATE_1.csv") -> pl.DataFrame:
    data = text.encode() if isinstance(text, str) else text
    return XponentReader().read(FileInput(name, data)).wells


def cell(df: pl.DataFrame, well: str, analyte: str) -> dict[str, object]:
    rows = df.filter((pl.col("well") == well) & (pl.col("analyte_as_written") == analyte)).to_dicts()
    assert len(rows) == 1, (well, analyte, rows)
    return rows[0]


def unquoted(text: str) -> str:
    """Rewrite with minimal quoting (only the Location cells, which hold a comma, stay quoted)."""
    out = io.StringIO()
    w = csv.writer(out, lineterminator="\n")
    for line in text.splitlines():
        w.writerow(next(csv.reader([line]), []))
    return out.getvalue()


def padded(text: str, width: int = 12) -> str:
    """Comma-pad every line to a fixed width, as some xPONENT versions do (blank lines become ',,,,')."""
    out = []
    for line in unquoted(text).splitlines():
        n = len(next(csv.reader([line]), []))
        out.append(line + "," * max(width - max(n, 1), 0))
    return "\n".join(out) + "\n"


def drop_section(text: str, name: str) -> str:
    lines = text.splitlines()
    start = lines.index(f'"DataType:","{name}"')
    end = lines.index("", start)
    return "\n".join(lines[:start] + lines[end + 1 :]) + "\n"


@pytest.fixture(scope="module")
def base() -> pl.DataFrame:
    return read(BASE)


def test_one_conforming_row_per_well_and_analyte(base: pl.DataFrame) -> None:
    assert base.schema == pl.Schema(WELL_SCHEMA)
    WellModel.validate(base)
    assert base.height == 12
    assert base["well"].to_list()[::2] == ["A1", "B1", "C1", "D1", "E1", "F1"]
    assert set(base["analyte_as_written"]) == {"Hu VEGF (45)", "IL-6"}  # Total Events is not an analyte
    assert base["analyte"].is_null().all() and base["conc_pg_ml"].is_null().all()
    assert set(base["format"]) == {"xponent"} and set(base["plate_id"]) == {"TEST_PLATE_1"}
    assert set(base["source_file"]) == {"TEST_PLATE_1.csv"}


def test_plate_info_from_header() -> None:
    res = XponentReader().read(FileInput("x.csv", BASE.encode()))
    (plate,) = res.plates
    assert plate.plate_id == "TEST_PLATE_1"
    assert plate.protocol == "BCT NTF 8-plex"
    assert plate.instrument == "FlexMAP 3D"
    assert plate.acquired_at == "5/17/2023 6:42:29 PM"
    assert plate.operator == "jdoe"
    assert plate.extra["SN"] == "FM3DD20137021"
    assert any("did not reach the specified count" in w and "D1" in w for w in res.warnings)


def test_signal_units_dilution_and_sample_types(base: pl.DataFrame) -> None:
    b1 = cell(base, "B1", "Hu VEGF (45)")
    assert b1["signal"] == 15000.5 and b1["signal_kind"] == "MFI"
    assert b1["unit"] == "pg/mL" and b1["unit_source"] == "file"
    assert b1["sample_type"] == "standard" and b1["expected_conc"] == 1000.0
    assert cell(base, "A1", "IL-6")["sample_type"] == "blank"
    assert cell(base, "C1", "IL-6")["sample_type"] == "qc"
    assert cell(base, "D1", "IL-6")["sample_type"] == "unknown"
    assert cell(base, "D1", "IL-6")["expected_conc"] is None
    assert [cell(base, w, "IL-6")["dilution"] for w in ("A1", "D1", "F1")] == [1.0, 2.0, 4.0]


@pytest.mark.parametrize(
    ("well", "analyte", "text", "qualifier", "value", "extrapolated", "applied"),
    [
        ("B1", "Hu VEGF (45)", "1000", "=", 1000.0, False, True),
        ("C1", "Hu VEGF (45)", "*7.17", "=", 7.17, True, True),
        ("C1", "IL-6", "---", "NR", None, False, False),
        ("D1", "Hu VEGF (45)", "OOR <", "<", None, False, False),
        ("D1", "IL-6", "< 0.105", "<", 0.105, False, False),
        ("E1", "Hu VEGF (45)", "***", "NR", None, False, False),
        ("E1", "IL-6", "OOR >", ">", None, False, False),
        ("F1", "Hu VEGF (45)", "> 3450", ">", 3450.0, False, False),
        ("F1", "IL-6", "123.4", "=", 123.4, False, True),
        ("A1", "Hu VEGF (45)", "NaN", "NR", None, False, False),
        ("A1", "IL-6", "", "NR", None, False, False),
    ],
)
def test_result_tokens(
    base: pl.DataFrame,
    well: str,
    analyte: str,
    text: str,
    qualifier: str,
    value: float | None,
    extrapolated: bool,
    applied: bool,
) -> None:
    row = cell(base, well, analyte)
    assert row["reported_text"] == text
    assert (row["qualifier"], row["value"], row["extrapolated"]) == (qualifier, value, extrapolated)
    # Censoring bounds are the curve's, not multiplied by the dilution: only numbers carry it.
    assert row["dilution_applied"] is applied


def test_flags_outlier_low_beads_and_distinct_not_reported_notes(base: pl.DataFrame) -> None:
    assert "outlier" in str(cell(base, "C1", "IL-6")["flags"])
    assert cell(base, "D1", "Hu VEGF (45)")["flags"] == "low_bead_count"  # 12 beads < Min Events 50
    assert cell(base, "D1", "IL-6")["flags"] is None
    nan_flags = str(cell(base, "A1", "Hu VEGF (45)")["flags"])
    empty_flags = str(cell(base, "A1", "IL-6")["flags"])
    assert "NaN" in nan_flags and "empty cell" in empty_flags and nan_flags != empty_flags
    f1 = cell(base, "F1", "Hu VEGF (45)")
    assert f1["signal"] is None and "signal_not_reported" in str(f1["flags"])
    assert "empty cell" in str(cell(base, "F1", "IL-6")["flags"])


def test_row_number_is_the_line_of_the_concentration(base: pl.DataFrame) -> None:
    assert cell(base, "A1", "IL-6")["row_number"] == RESULT_FIRST_LINE
    assert cell(base, "F1", "IL-6")["row_number"] == RESULT_FIRST_LINE + 5


def test_without_result_section_rows_carry_mfi_only() -> None:
    df = read(drop_section(BASE, "Result"))
    assert df.height == 12
    assert set(df["qualifier"]) == {"NR"}
    assert df["value"].is_null().all() and df["reported_text"].is_null().all()
    assert not df["dilution_applied"].any()
    assert cell(df, "B1", "Hu VEGF (45)")["signal"] == 15000.5
    assert cell(df, "A1", "Hu VEGF (45)")["row_number"] == MEDIAN_FIRST_LINE
    WellModel.validate(df)


@pytest.mark.parametrize(
    "variant",
    [
        pytest.param(lambda t: t.encode(), id="quoted-LF"),
        pytest.param(lambda t: t.replace("\n", "\r\n").encode(), id="CRLF"),
        pytest.param(lambda t: b"\xef\xbb\xbf" + t.replace("\n", "\r\n").encode(), id="BOM-CRLF"),
        pytest.param(lambda t: unquoted(t).encode(), id="unquoted"),
        pytest.param(lambda t: padded(t).replace("\n", "\r\n").encode(), id="comma-padded-CRLF"),
        pytest.param(lambda t: t.encode("utf-16"), id="UTF-16"),
        pytest.param(lambda t: t.replace('(1,A1)"', '(1,A01)"').encode(), id="zero-padded-well"),
    ],
)
def test_layout_variants_read_the_same(base: pl.DataFrame, variant: Callable[[str], bytes]) -> None:
    df = read(variant(BASE))
    assert df.equals(base)


def semicolons(text: str, *, decimal_comma: bool) -> str:
    """The same export as a ';'-delimited file, optionally with decimal commas (some Windows locales)."""
    out = io.StringIO()
    w = csv.writer(out, delimiter=";", lineterminator="\n")
    for line in text.splitlines():
        cells = next(csv.reader([line]), [])
        if decimal_comma:
            cells = [re.sub(r"^([<>*]?\s*\d+)\.(\d+)$", r"\1,\2", c) for c in cells]
        w.writerow(cells)
    return out.getvalue()


@pytest.mark.parametrize("decimal_comma", [True, False])
def test_semicolon_delimited_with_either_decimal_mark(base: pl.DataFrame, decimal_comma: bool) -> None:
    text = semicolons(BASE, decimal_comma=decimal_comma)
    assert ("15000,5" in text) is decimal_comma
    df = read(text)
    assert df.drop("reported_text").equals(base.drop("reported_text"))
    # The text stays as written: "*7,17" is kept, its number is 7.17.
    assert cell(df, "C1", "Hu VEGF (45)")["reported_text"] == ("*7,17" if decimal_comma else "*7.17")


def test_net_mfi_is_the_signal_when_there_is_no_median() -> None:
    res = XponentReader().read(
        FileInput("x.csv", BASE.replace('"DataType:","Median"', '"DataType:","Net MFI"').encode())
    )
    row = cell(res.wells, "B1", "Hu VEGF (45)")
    assert (row["signal"], row["signal_kind"]) == (15000.5, "Net MFI")
    assert any("Net MFI" in w for w in res.warnings)


def test_wells_of_a_second_plate_get_their_own_plate_id() -> None:
    text = re.sub(r'"([456])\(1,', r'"\1(2,', BASE)
    res = XponentReader().read(FileInput("x.csv", text.encode()))
    assert [p.plate_id for p in res.plates] == ["TEST_PLATE_1-P1", "TEST_PLATE_1-P2"]
    by_plate = res.wells.group_by("plate_id").agg(pl.col("well").unique().sort())
    assert dict(by_plate.iter_rows()) == {
        "TEST_PLATE_1-P1": ["A1", "B1", "C1"],
        "TEST_PLATE_1-P2": ["D1", "E1", "F1"],
    }


def test_sections_in_any_order() -> None:
    lines = BASE.splitlines()
    start = lines.index('"DataType:","Dilution Factor"')
    end = lines.index("", start)
    moved = lines[start : end + 1]
    first = lines.index('"DataType:","Median"')
    reordered = (
        lines[:first] + moved + [ln for i, ln in enumerate(lines[first:], first) if not start <= i <= end]
    )
    df = read("\n".join(reordered) + "\n")
    assert cell(df, "F1", "IL-6")["dilution"] == 4.0
    assert cell(df, "F1", "IL-6")["value"] == 123.4


def test_batch_falls_back_to_file_stem() -> None:
    text = BASE.replace('"Batch","TEST_PLATE_1"\n', "")
    res = XponentReader().read(FileInput("run_0042.csv", text.encode()))
    assert res.plates[0].plate_id == "run_0042"


@pytest.mark.parametrize(
    ("name", "kind"),
    [
        ("Standard1", "standard"),
        ("S", "standard"),
        ("S3", "standard"),
        ("Std 2", "standard"),
        ("Background0", "blank"),
        ("Blank", "blank"),
        ("B", "blank"),
        ("Control2", "qc"),
        ("QC-L", "qc"),
        ("Unknown1", "unknown"),
        ("S001", "unknown"),  # a sample barcode, not a standard level
        ("BDNF-12", "unknown"),
        ("", "unknown"),
    ],
)
def test_sample_type_from_name(name: str, kind: str) -> None:
    assert sample_type_of(name) == kind


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("1(1,A1)", (1, "A1")),
        ("12(1,A01)", (1, "A1")),
        ("96(2,H12)", (2, "H12")),
        (" 5( 1 , b3 ) ", (1, "B3")),
        ("A01", (1, "A1")),
        ("1,A1", None),
        ("1(1,Q1)", None),
        ("1(1,A25)", None),
        ("Unknown1", None),
    ],
)
def test_parse_location(text: str, expected: tuple[int, str] | None) -> None:
    assert parse_location(text) == expected


# ---- errors: a ReaderError that names the file and line and says what to do ------------------------------


def expect_error(text: str | bytes, *needles: str) -> ReaderError:
    with pytest.raises(ReaderError) as info:
        read(text, name="bad.csv")
    err = info.value
    assert err.file == "bad.csv"
    for needle in needles:
        assert needle in str(err), str(err)
    return err


def test_error_no_per_well_section() -> None:
    header_only = BASE[: BASE.index('"DataType:","Median"')] + "-- CRC --\n"
    expect_error(header_only, "no per-well Median or Result section", "Export")


def test_error_no_location_column() -> None:
    text = BASE.replace(
        '"Location","Sample","Hu VEGF (45)","IL-6","Total Events"', '"Well","Sample","Hu VEGF (45)"', 1
    )
    err = expect_error(text, "no Location column")
    assert err.line == MEDIAN_FIRST_LINE - 1


def test_error_location_not_a_well() -> None:
    err = expect_error(
        BASE.replace('"3(1,C1)","Control1","2500"', '"3(1,Z9)","Control1","2500"'), "is not a well"
    )
    assert err.line == MEDIAN_FIRST_LINE + 2


def test_error_row_cut_short() -> None:
    err = expect_error(BASE.replace('"2500","1200","880"', '"2500"'), "cut short")
    assert err.line == MEDIAN_FIRST_LINE + 2


def test_error_file_truncated_inside_a_section() -> None:
    cut = BASE[: BASE.index('"5(1,E1)","P-1002","***"') + 20]
    expect_error(cut, "truncated")


def test_error_sections_disagree_on_wells() -> None:
    err = expect_error(BASE.replace('"6(1,F1)","P-1003","> 3450","123.4","850"\n', ""), "same wells", "F1")
    assert err.line is not None


def test_error_duplicate_well() -> None:
    expect_error(
        BASE.replace('"2(1,B1)","Standard1","15000.5"', '"2(1,A1)","Standard1","15000.5"'), "appears twice"
    )


def test_error_bad_dilution() -> None:
    expect_error(BASE.replace('"6(1,F1)","P-1003","4"', '"6(1,F1)","P-1003","four"'), "not a positive number")


def test_error_missing_dilution_and_crc_means_truncated() -> None:
    text = drop_section(BASE, "Dilution Factor").replace("-- CRC --\nCRC32: 40B50595\n", "")
    expect_error(text, "truncated")


@pytest.mark.parametrize("data", [b"", b"\x00\x01\x02\xff" * 50, b"hello,world\n1,2\n"])
def test_error_not_an_export(data: bytes) -> None:
    expect_error(data)


# ---- sniffing ---------------------------------------------------------------------------------------------


def test_sniff() -> None:
    r = XponentReader()
    s = r.sniff(BASE, FileInput("x.csv", BASE.encode()))
    assert s.matched and s.score >= 90
    other = "Well,Sample,OD450\nA1,S1,0.123\n"
    s = r.sniff(other, FileInput("y.csv", other.encode()))
    assert not s.matched and "Program" in s.reason and "DataType" in s.reason
    intelliflex = "INSTRUMENT TYPE,SERIAL NUMBER,WELL LOCATION,SAMPLE ID,R25: RP1 MEDIAN,R25: RP1 COUNT\n"
    s = r.sniff(intelliflex, FileInput("z.csv", intelliflex.encode()))
    assert not s.matched and "INTELLIFLEX" in s.reason


# ---- robustness: any mutation of a real-ish export reads cleanly or fails with ReaderError --------------

_LINES = BASE.replace("\n", "\r\n").encode().split(b"\r\n")


@st.composite
def mutated_exports(draw: st.DrawFn) -> bytes:
    lines = list(_LINES)
    cut = False
    for _ in range(draw(st.integers(1, 3))):
        op = draw(st.sampled_from(["drop", "duplicate", "swap_line", "swap_all", "garble", "truncate"]))
        i = draw(st.integers(0, len(lines) - 1))
        if op == "drop" and len(lines) > 1:
            del lines[i]
        elif op == "duplicate":
            lines.insert(i, lines[i])
        elif op == "swap_line":
            lines[i] = lines[i].replace(b",", draw(st.sampled_from([b";", b"\t", b"|"])))
        elif op == "swap_all":
            sep = draw(st.sampled_from([b";", b"\t"]))
            lines = [ln.replace(b",", sep) for ln in lines]
        elif op == "garble":
            j = draw(st.integers(0, len(lines[i])))
            lines[i] = lines[i][:j] + draw(st.binary(min_size=1, max_size=4)) + lines[i][j:]
        elif op == "truncate":
            cut = True
    data = b"\r\n".join(lines)
    return data[: draw(st.integers(0, len(data)))] if cut else data


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(mutated_exports())
def test_mutations_read_or_raise_reader_error(data: bytes) -> None:
    try:
        df = read(data)
    except ReaderError as err:
        assert str(err).startswith("TEST_PLATE_1.csv")
        return
    assert df.schema == pl.Schema(WELL_SCHEMA)
    WellModel.validate(df)


@settings(max_examples=100, deadline=None)
@given(st.integers(0, len(BASE.encode())))
def test_truncation_at_any_byte(n: int) -> None:
    try:
        df = read(BASE.encode()[:n])
    except ReaderError:
        return
    # A cut is only accepted once every section that feeds the table is complete: nothing is half-read.
    assert df.equals(read(BASE))


# ---- empty Dilution Factor cells (xPONENT 3.1 leaves them empty for Background/Standard wells) -----------

DILUTION_LINES = {
    "A1": '"1(1,A1)","Background0","1"',
    "B1": '"2(1,B1)","Standard1","1"',
    "C1": '"3(1,C1)","Control1","1"',
    "D1": '"4(1,D1)","P-1001","2"',
    "E1": '"5(1,E1)","P-1002","2"',
    "F1": '"6(1,F1)","P-1003","4"',
}


def with_dilutions(cells: dict[str, str]) -> str:
    """BASE with the Dilution Factor cell of the given wells replaced (e.g. {"A1": ""})."""
    text = BASE
    for well, value in cells.items():
        line = DILUTION_LINES[well]
        text = text.replace(line, line.rsplit(",", 1)[0] + f',"{value}"')
    return text


def test_empty_dilution_of_background_standard_and_control_is_1_without_a_flag() -> None:
    res = XponentReader().read(FileInput("p.csv", with_dilutions({"A1": "", "B1": "", "C1": ""}).encode()))
    df = WellModel.validate(res.wells)
    for well in ("A1", "B1", "C1"):
        rows = df.filter(pl.col("well") == well)
        assert rows["dilution"].to_list() == [1.0, 1.0]
        assert all("dilution_missing" not in (f or "") for f in rows["flags"])
    assert cell(df, "D1", "IL-6")["dilution"] == 2.0
    assert any("no dilution entered" in w and "3 standard/blank/control" in w for w in res.warnings)


def test_empty_dilution_of_a_study_sample_is_1_and_flagged_not_refused() -> None:
    res = XponentReader().read(FileInput("p.csv", with_dilutions({"E1": ""}).encode()))
    df = WellModel.validate(res.wells)
    e1 = df.filter(pl.col("well") == "E1")
    assert e1["dilution"].to_list() == [1.0, 1.0]
    assert all("dilution_missing" in f.split(";") for f in e1["flags"])
    # the well's other flags are kept beside it (E1 VEGF: '***' not reported)
    assert "result_not_reported" in cell(df, "E1", "Hu VEGF (45)")["flags"]
    assert df.filter(pl.col("well") != "E1")["flags"].drop_nulls().str.contains("dilution_missing").sum() == 0
    assert any("1 study sample well(s), flagged dilution_missing" in w for w in res.warnings)


@pytest.mark.parametrize("value", ["0", "-2", "four", "1/2"])
def test_a_dilution_that_is_not_a_positive_number_is_still_an_error(value: str) -> None:
    expect_error(with_dilutions({"D1": value}), "is not a positive number")


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    st.dictionaries(st.sampled_from(sorted(DILUTION_LINES)), st.sampled_from(["", " ", "3", "1.5", "NaN"]))
)
def test_property_empty_dilutions_never_refuse_and_flag_exactly_the_empty_unknowns(
    cells: dict[str, str],
) -> None:
    df = read(with_dilutions(cells))
    unknown_wells = {"D1", "E1", "F1"}
    for row in df.iter_rows(named=True):
        text = cells.get(row["well"])
        empty = text is not None and text.strip().casefold() in ("", "nan")
        flagged = "dilution_missing" in (row["flags"] or "").split(";")
        assert flagged == (empty and row["well"] in unknown_wells)
        if empty:
            assert row["dilution"] == 1.0
        elif text is not None:
            assert row["dilution"] == float(text)
