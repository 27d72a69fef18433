"""BioplexReader / BioplexXmlReader on small inline exports: tokens, raw vs summary rows, header found by
content, numeric sample IDs, errors, and robustness against mutated files."""

from __future__ import annotations

import io
import zipfile

import polars as pl
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from readers.base import FileInput, ReaderError, ReadResult
from readers.bioplex import BioplexReader, parse_wells, sample_type_of
from readers.bioplex_xml import BioplexXmlReader
from readers.toolkit import workbook
from readers.toolkit.workbook import text_of_cell as cell_text
from schemas.wells import WELL_SCHEMA, WellModel

HEADER = (
    "Analyte,Type,Well,Outlier,Description,FI,FI - Bkgd,Std Dev,%CV,Obs Conc,Exp Conc,(Obs/Exp) * 100,"
    "Conc in Range,Group,Ratio,Dilution,Sampling Errors"
)

# One analyte, raw rows. Line numbers matter: the table header is line 9, the first data row line 10.
# The Acquisition Date line is unquoted on purpose: its comma splits it into two cells.
BASE = f"""\
File Name: C:\\Bio-Plex\\10JAN07 plate 1.rbx
Analyte: Hu IL-6 (19)
Acquisition Date: 11-Jan-2007, 01:20 PM
Reader Serial Number: LX10001088010
Plate ID:
RP1 PMT (Volts): 670.33
RP1 Target: 3832

{HEADER}
Hu IL-6 (19),B,A1,0,,28.5,28.5,,,,,,,,,1,
Hu IL-6 (19),S1,B1,1,,---,---,,,,22154,,,,,1,
Hu IL-6 (19),S2,C1,0,,12052,12023.5,,,5816.28,5538.5,105,5816.28,,,1,
Hu IL-6 (19),C1,D1,0,QC low,500,480,,,OOR >,0,,,,,1,
Hu IL-6 (19),X1,E1,0,275001,31.8,3.3,,,*1.55,,,***,,,4,1
Hu IL-6 (19),X2,F1,0,275002,10,1,,,OOR <,,,,,,4,
Hu IL-6 (19),X3,G1,0,275003,***,***,,,***,,,,,,4,2
Hu IL-6 (19),X4,H1,0,275004,58.3,29.8,,,11.85,,,11.85,,,4,
Hu IL-6 (19),X5,A2,0,275005,40,11.5,,,---,,,,,,4,

1 - Low bead #, 2 - Agg beads, 3 - Classify %, 4 - Region selection, 5 - Platform temperature
Regression Type: Logistic - 5PL
Std. Curve: FI = -0.269369 + (14533.9 + 0.269369) / ((1 + (Conc / 1030.4)^-0.963123))^1.09621
FitProb. = 0.3444, ResVar. = 1.0660
"""
FIRST_DATA_LINE = 10

HEAD_LINES = """\
File Name: run.rbx
Analyte: {analyte}
Acquisition Date: 1-Jul-2011
Plate ID: P-01
"""
SUMMARY = """\
Analyte,Type,Well,Description,FI,Obs Conc,Exp Conc,Dilution
{a},S1,"A1,B1",Std,1000,100,100,1
{a},X1,"A2,B2",P-1,50,5.5,,2
{a},X2,"A3,B3",P-2,60,6.5,,2
"""
RAW = """\
Analyte,Type,Well,Description,FI,Obs Conc,Exp Conc,Dilution
{a},S1,A1,Std,990,99,100,1
{a},S1,B1,Std,1010,101,100,1
{a},X1,A2,P-1,49,5.4,,2
{a},X1,B2,P-1,51,5.6,,2
"""


def read_result(text: str | bytes, name: str = "export.csv") -> ReadResult:
    data = text.encode() if isinstance(text, str) else text
    return BioplexReader().read(FileInput(name, data))


def read(text: str | bytes, name: str = "export.csv") -> pl.DataFrame:
    return read_result(text, name).wells


def row(df: pl.DataFrame, well: str, analyte: str = "Hu IL-6 (19)") -> dict[str, object]:
    rows = df.filter((pl.col("well") == well) & (pl.col("analyte_as_written") == analyte)).to_dicts()
    assert len(rows) == 1, (well, analyte, rows)
    return rows[0]


@pytest.fixture(scope="module")
def base() -> pl.DataFrame:
    return read(BASE)


def test_conforming_table_one_row_per_data_row(base: pl.DataFrame) -> None:
    assert base.schema == pl.Schema(WELL_SCHEMA)
    WellModel.validate(base)
    assert base.height == 9
    assert set(base["format"]) == {"bioplex"} and set(base["source_file"]) == {"export.csv"}
    assert base["analyte_as_written"].unique().to_list() == ["Hu IL-6 (19)"]
    assert set(base["signal_kind"]) == {"FI"}
    # Units are not on Bio-Plex analyte sheets: the pipeline takes them from the assay configuration.
    assert base["unit"].is_null().all() and base["unit_source"].is_null().all()


@pytest.mark.parametrize(
    ("well", "text", "qualifier", "value", "extrapolated", "applied"),
    [
        ("C1", "5816.28", "=", 5816.28, False, True),
        ("E1", "*1.55", "=", 1.55, True, True),
        ("F1", "OOR <", "<", None, False, False),
        ("D1", "OOR >", ">", None, False, False),
        ("G1", "***", "NR", None, False, False),
        ("A2", "---", "NR", None, False, False),
        ("A1", "", "NR", None, False, False),
    ],
)
def test_tokens_map_to_qualifiers(
    base: pl.DataFrame,
    well: str,
    text: str,
    qualifier: str,
    value: float | None,
    extrapolated: bool,
    applied: bool,
) -> None:
    r = row(base, well)
    assert r["reported_text"] == text
    assert (r["qualifier"], r["value"], r["extrapolated"]) == (qualifier, value, extrapolated)
    # Obs Conc is already dilution-corrected: only rows with a number carry dilution_applied.
    assert r["dilution_applied"] is applied


def test_flags(base: pl.DataFrame) -> None:
    s1 = row(base, "B1")  # Outlier = 1 and FI ---
    assert "outlier" in str(s1["flags"]) and s1["signal"] is None
    assert "signal_not_reported" in str(s1["flags"])
    assert "outlier" in str(row(base, "A2")["flags"])  # Obs Conc ---
    assert "result_not_reported" not in str(row(base, "A2")["flags"])
    assert row(base, "E1")["flags"] == "low_bead_count"  # Sampling Error 1
    g1 = str(row(base, "G1")["flags"])
    assert "sampling_error: 2" in g1 and "result_not_reported: not available (***)" in g1
    assert "empty cell" in str(row(base, "A1")["flags"])
    assert row(base, "H1")["flags"] is None


def test_sample_types_ids_signal_expected_and_dilution(base: pl.DataFrame) -> None:
    types = dict(zip(base["well"], base["sample_type"], strict=True))
    assert types == {
        "A1": "blank",
        "B1": "standard",
        "C1": "standard",
        "D1": "qc",
        "E1": "unknown",
        "F1": "unknown",
        "G1": "unknown",
        "H1": "unknown",
        "A2": "unknown",
    }
    assert row(base, "E1")["sample_id"] == "275001"
    assert row(base, "C1")["sample_id"] == "S2"  # a standard without a Description: its Type label
    assert row(base, "D1")["sample_id"] == "QC low"
    assert row(base, "E1")["signal"] == 31.8
    assert row(base, "C1")["expected_conc"] == 5538.5
    assert row(base, "D1")["expected_conc"] is None  # Bio-Plex writes 0 for "not entered"
    assert row(base, "E1")["dilution"] == 4.0 and row(base, "C1")["dilution"] == 1.0


def test_row_number_is_the_line(base: pl.DataFrame) -> None:
    assert row(base, "A1")["row_number"] == FIRST_DATA_LINE
    assert row(base, "A2")["row_number"] == FIRST_DATA_LINE + 8


def test_plate_metadata_and_curve() -> None:
    res = read_result(BASE)
    (plate,) = res.plates
    assert plate.plate_id == "10JAN07 plate 1"  # Plate ID empty: File Name base name without .rbx
    assert set(res.wells["plate_id"]) == {"10JAN07 plate 1"}
    assert plate.acquired_at == "11-Jan-2007, 01:20 PM"
    assert plate.extra["reader_serial_number"] == "LX10001088010"
    assert plate.extra["regression:Hu IL-6 (19)"] == "Logistic - 5PL"
    assert plate.extra["curve:Hu IL-6 (19)"].startswith("FI = -0.269369 + (14533.9")
    assert plate.extra["fitprob:Hu IL-6 (19)"] == "0.3444"
    assert plate.extra["resvar:Hu IL-6 (19)"] == "1.0660"


def test_plate_id_prefers_plate_id_line_then_file_stem() -> None:
    with_id = BASE.replace("Plate ID:\n", "Plate ID: PLATE-7\n")
    assert read_result(with_id).plates[0].plate_id == "PLATE-7"
    no_name = BASE.replace("File Name: C:\\Bio-Plex\\10JAN07 plate 1.rbx\n", "")
    assert read_result(no_name, "2024-05-01 run3.csv").plates[0].plate_id == "2024-05-01 run3"


def test_header_found_by_content_with_columns_reordered_missing_and_extra() -> None:
    cols = ["Well", "Type", "Description", "Comment", "Obs Conc", "FI", "Dilution", "Exp Conc", "Analyte"]
    lines = BASE.splitlines()
    start = lines.index(HEADER)
    end = lines.index("", start)
    old_header = HEADER.split(",")
    body = []
    for line in lines[start + 1 : end]:
        cells = dict(zip(old_header, line.split(","), strict=True))
        cells["Comment"] = "note"
        body.append(",".join(cells[c] for c in cols))
    extra_head = ["Signed By: Lab Tech", "Document ID: D-1"]
    text = "\n".join(lines[:6] + extra_head + lines[6:start] + [",".join(cols), *body] + lines[end:]) + "\n"
    base = read(BASE)
    df = read(text)
    same = ["well", "sample_id", "sample_type", "signal", "reported_text", "qualifier", "value", "dilution"]
    assert df.select(same).equals(base.select(same))
    assert row(df, "A1")["row_number"] == FIRST_DATA_LINE + 2
    # No Outlier / Sampling Errors columns: only what the cells say remains.
    assert row(df, "B1")["flags"] is not None and "outlier" in str(row(df, "B1")["flags"])  # FI ---
    assert row(df, "E1")["flags"] is None


def test_tab_and_semicolon_decimal_comma_exports(base: pl.DataFrame) -> None:
    tab = BASE.replace(",", "\t").replace("11-Jan-2007\t 01:20 PM", "11-Jan-2007, 01:20 PM")
    df = read(tab)
    assert df.drop("flags").equals(base.drop("flags"))
    semi = "\n".join(
        line.replace(",", ";").replace(".", ",") if line.startswith(("Hu IL-6", "Analyte,")) else line
        for line in BASE.splitlines()
    )
    df = read(semi + "\n")
    assert row(df, "C1")["value"] == 5816.28 and row(df, "E1")["value"] == 1.55
    assert row(df, "E1")["reported_text"] == "*1,55"


def test_raw_rows_win_over_summary_rows() -> None:
    text = HEAD_LINES.format(analyte="IL-6") + "\n" + SUMMARY.format(a="IL-6") + "\n" + RAW.format(a="IL-6")
    res = read_result(text + "\n")
    df = res.wells
    WellModel.validate(df)
    assert set(df["well"]) == {"A1", "B1", "A2", "B2", "A3,B3"} and df.height == 5
    # X2 (A3,B3) has no raw rows: its summary row is the only value for those wells.
    assert row(df, "A3,B3", "IL-6")["value"] == 6.5
    assert not df.filter(pl.col("well").is_in(["A1,B1", "A2,B2"])).height
    assert any("single-well rows" in w for w in res.warnings)


def test_summary_only_sheet_emits_well_lists() -> None:
    res = read_result(HEAD_LINES.format(analyte="IL-6") + "\n" + SUMMARY.format(a="IL-6") + "\n")
    df = WellModel.validate(res.wells)
    assert df["well"].to_list() == ["A1,B1", "A2,B2", "A3,B3"]
    assert row(df, "A2,B2", "IL-6")["sample_id"] == "P-1"
    assert any("replicate-average" in w for w in res.warnings)


def test_several_analyte_blocks_in_one_text_export() -> None:
    text = "".join(
        HEAD_LINES.format(analyte=a) + "\n" + RAW.format(a=a) + "\nFitProb. = 0.5, ResVar. = 1.0\n"
        for a in ("IL-6", "VEGF")
    )
    res = read_result(text)
    assert res.wells.group_by("analyte_as_written").len().sort("analyte_as_written").rows() == [
        ("IL-6", 4),
        ("VEGF", 4),
    ]
    assert res.plates[0].plate_id == "P-01"
    assert res.plates[0].extra["fitprob:VEGF"] == "0.5"


def test_dilution_column_absent_defaults_to_one_with_a_warning() -> None:
    text = (
        HEAD_LINES.format(analyte="IL-6")
        + "\nAnalyte,Type,Well,Description,FI,Obs Conc\nIL-6,X1,A1,P-1,5,1.5\n"
    )
    res = read_result(text)
    assert res.wells["dilution"].to_list() == [1.0]
    assert any("no Dilution column" in w for w in res.warnings)


def test_empty_dilution_cell_is_1_and_flags_only_study_samples() -> None:
    text = (
        HEAD_LINES.format(analyte="IL-6")
        + "\nAnalyte,Type,Well,Description,FI,Obs Conc,Dilution\n"
        + "IL-6,B,A1,,5,,\nIL-6,S1,B1,Std,900,100,\nIL-6,C1,C1,QC,400,40,\nIL-6,X1,D1,P-1,50,5.5,\n"
        + "IL-6,X2,E1,P-2,60,6.5,2\n"
    )
    res = read_result(text)
    df = WellModel.validate(res.wells)
    assert df["dilution"].to_list() == [1.0, 1.0, 1.0, 1.0, 2.0]
    flagged = [
        w for w, f in df.select("well", "flags").iter_rows() if "dilution_missing" in (f or "").split(";")
    ]
    assert flagged == ["D1"]
    assert any("flagged dilution_missing" in w for w in res.warnings)


def test_xml_unknown_group_without_dilution_is_flagged() -> None:
    res = read_xml(XML.replace("<Dilution>4</Dilution>", ""))
    df = WellModel.validate(res.wells)
    unknown = df.filter(pl.col("sample_type") == "unknown")
    assert unknown.height > 0 and set(unknown["dilution"]) == {1.0}
    assert all("dilution_missing" in (f or "").split(";") for f in unknown["flags"])
    others = df.filter(pl.col("sample_type") != "unknown")["flags"].drop_nulls()
    assert not others.str.contains("dilution_missing").any()
    assert any("no Dilution" in w for w in res.warnings)


def test_cell_text_and_helpers() -> None:
    assert cell_text(275001.0) == "275001"
    assert cell_text(38.75) == "38.75"
    assert cell_text(6e-05) == "6e-05"
    assert cell_text(None) == "" and cell_text("OOR <") == "OOR <" and cell_text(True) == "1"
    assert parse_wells("C1,D1") == ["C1", "D1"]
    assert parse_wells("a03") == ["A3"]
    assert parse_wells("Q1") is None and parse_wells("A25") is None
    assert [sample_type_of(t) for t in ("B", "S3", "ES", "C2", "X40", "R1")] == [
        "blank",
        "standard",
        "standard",
        "qc",
        "unknown",
        None,
    ]


def test_unrecognised_type_is_an_unknown_with_a_flag() -> None:
    df = read(BASE.replace(",X4,H1,", ",R1,H1,"))
    r = row(df, "H1")
    assert r["sample_type"] == "unknown" and "type_unrecognised: R1" in str(r["flags"])


@pytest.mark.parametrize(
    ("mutate", "expect"),
    [
        (lambda t: t.replace(HEADER, HEADER.replace("Type", "Kind")), "no Bio-Plex result table"),
        (lambda t: t.replace(",X2,F1,", ",X2,Z99,"), "'Z99' is not a plate well"),
        (lambda t: t.replace(",X2,F1,", ",X2,,"), "has no Well"),
        (lambda t: t.replace("275002,10,1,,,OOR <,,,,,,4,", "275002,10,1,,,OOR <,,,,,,0,"), "not a positive"),
        (lambda t: t.replace(",X2,F1,", ",X2,F1,D1,"), "must be quoted"),
        (lambda t: t.replace(",X2,F1,", ",X2,E1,"), "appears twice"),
        (
            lambda t: t.replace(
                "Hu IL-6 (19),X4,H1,0,275004,58.3,29.8,,,11.85,,,11.85,,,4,", "Hu IL-6 (19),X4,H1,0"
            ),
            "cut",
        ),
    ],
)
def test_errors_name_the_line_and_say_what_to_do(mutate: object, expect: str) -> None:
    with pytest.raises(ReaderError) as info:
        read(mutate(BASE))  # type: ignore[operator]
    assert expect in str(info.value)
    assert str(info.value).startswith("export.csv")


def test_truncated_inside_the_table_is_an_error() -> None:
    lines = BASE.splitlines()
    cut = "\n".join(lines[: FIRST_DATA_LINE + 4]) + "\nHu IL-6 (19),X2,F1,0,275002,10,1,,,OO"
    with pytest.raises(ReaderError, match=r"truncated|cut short"):
        read(cut)


def test_binary_inputs_that_are_not_workbooks() -> None:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as z:
        z.writestr("word/document.xml", "<x/>")
    with pytest.raises(ReaderError, match="zip archive without an xl/"):
        read(buf.getvalue(), "report.xlsx")
    with pytest.raises(ReaderError, match="cannot be opened"):
        read(b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1" + b"\x00" * 600, "report.xls")
    with pytest.raises(ReaderError):
        read(b"", "empty.csv")


def test_a_calamine_panic_becomes_a_reader_error(monkeypatch: pytest.MonkeyPatch) -> None:
    class PanicException(BaseException):  # what pyo3 raises when the Rust parser panics
        pass

    def boom(_: object) -> None:
        raise PanicException("range end index 2 out of range for slice of length 0")

    monkeypatch.setattr(workbook.CalamineWorkbook, "from_filelike", boom)
    data = b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1" + b"\x00" * 600
    with pytest.raises(ReaderError, match="damaged"):
        read(data, "report.xls")
    assert not BioplexReader().sniff("", FileInput("report.xls", data)).matched


def test_sniff_matches_the_layout_and_says_what_it_looked_for() -> None:
    r = BioplexReader()
    s = r.sniff(BASE, FileInput("x.csv", BASE.encode()))
    assert s.matched and s.score == 100
    table_only = BASE[BASE.index(HEADER) :]
    s = r.sniff(table_only, FileInput("x.csv", table_only.encode()))
    assert s.matched and 0 < s.score < 100
    other = '"Program","xPONENT"\n"DataType:","Median"\n"Location","Sample","IL-6"\n'
    s = r.sniff(other, FileInput("x.csv", other.encode()))
    assert not s.matched and "Type, Well" in s.reason
    zipped = io.BytesIO()
    with zipfile.ZipFile(zipped, "w") as z:
        z.writestr("a.txt", "x")
    assert not r.sniff("", FileInput("x.xlsx", zipped.getvalue())).matched


# ---- robustness -----------------------------------------------------------------------------------------

TOKENS = ["", "***", "---", "OOR <", "OOR >", "*3.4", "abc", "-1", "0", "1e400", "C1,D1", "Z99", '"', "NaN"]


@st.composite
def mutated_exports(draw: st.DrawFn) -> bytes:
    lines = BASE.splitlines()
    for _ in range(draw(st.integers(1, 4))):
        op = draw(st.sampled_from(["delete", "duplicate", "swap", "cell", "insert", "truncate"]))
        if not lines:
            break
        i = draw(st.integers(0, len(lines) - 1))
        if op == "delete":
            del lines[i]
        elif op == "duplicate":
            lines.insert(i, lines[i])
        elif op == "swap":
            j = draw(st.integers(0, len(lines) - 1))
            lines[i], lines[j] = lines[j], lines[i]
        elif op == "cell":
            cells = lines[i].split(",")
            j = draw(st.integers(0, len(cells) - 1))
            cells[j] = draw(st.sampled_from(TOKENS))
            lines[i] = ",".join(cells)
        elif op == "insert":
            lines.insert(i, draw(st.text(max_size=40)))
        else:
            text = "\n".join(lines)
            n = draw(st.integers(0, len(text)))
            lines = text[:n].split("\n")
    return ("\n".join(lines) + draw(st.sampled_from(["", "\n"]))).encode("utf-8", "surrogatepass")


@settings(max_examples=250, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(mutated_exports())
def test_mutations_read_or_raise_reader_error(data: bytes) -> None:
    try:
        df = read(data)
    except ReaderError as err:
        assert str(err).startswith("export.csv")
        return
    assert df.schema == pl.Schema(WELL_SCHEMA)
    WellModel.validate(df)


# ---- XML ------------------------------------------------------------------------------------------------

XML = """\
<?xml version="1.0" encoding="UTF-8"?>
<bpm:BioPlexManager xmlns:bpm="http://www.Bio-Rad.com/XMLschema/2010/Bio-Plex_5"
    BioPlexManagerVersion="6.2.0.175">
  <NativeDocumentName>doc name</NativeDocumentName>
  <Wells>
    <Well RowNo="1" ColNo="1" WellNo="1"><PlateID>P9</PlateID><User>baz</User>
      <AcquisitionTime>2023-05-09T18:55:02Z</AcquisitionTime>
      <RunProtocolDocumentName>proto</RunProtocolDocumentName></Well>
  </Wells>
  <StandardCurves><Interpolators>
    <Interpolator RegionNumber="12" IsValid="true"><AnalyteName>alpha</AnalyteName>
      <ConcentrationUnits>pg/mL</ConcentrationUnits><Regression Type="10">Logistic - 5PL</Regression>
    </Interpolator>
  </Interpolators></StandardCurves>
  <Samples>
    <Standards><Standard><Description></Description><Label>S1</Label><Dilution>1</Dilution>
      <Analytes><Analyte RegionNumber="12"><AnalyteName>alpha</AnalyteName>
        <ExpectedConc>1000</ExpectedConc>
        <ExpectedConcValidationFlag Code="0">OK</ExpectedConcValidationFlag>
      </Analyte></Analytes>
      <MemberWells>
        <MemberWell RowNo="1" ColNo="1"><MWAnalytes><MWAnalyte RegionNumber="12">
          <AnalyteName>alpha</AnalyteName>
          <Reading Valid="true" Code="0" OutlierType="None">5000</Reading>
        </MWAnalyte></MWAnalytes></MemberWell>
        <MemberWell RowNo="2" ColNo="1"><MWAnalytes><MWAnalyte RegionNumber="12">
          <AnalyteName>alpha</AnalyteName>
          <Reading Valid="false" Code="1" OutlierType="Manual">5100</Reading>
        </MWAnalyte></MWAnalytes></MemberWell>
      </MemberWells></Standard></Standards>
    <Unknowns><Unknown><Description>275001</Description><Label>X1</Label><Dilution>4</Dilution>
      <MemberWells>
        <MemberWell RowNo="1" ColNo="2"><MWAnalytes><MWAnalyte RegionNumber="12">
          <AnalyteName>alpha</AnalyteName>
          <Reading Valid="true" Code="0" OutlierType="None">42.5</Reading>
        </MWAnalyte></MWAnalytes></MemberWell>
      </MemberWells></Unknown></Unknowns>
  </Samples>
</bpm:BioPlexManager>
"""


def read_xml(text: str) -> ReadResult:
    return BioplexXmlReader().read(FileInput("run.xml", text.encode()))


def test_xml_reads_signals_per_member_well() -> None:
    res = read_xml(XML)
    df = WellModel.validate(res.wells)
    assert df.height == 3
    assert df["well"].to_list() == ["A1", "B1", "A2"]
    assert df["signal"].to_list() == [5000.0, 5100.0, 42.5]
    assert set(df["qualifier"]) == {"NR"} and df["value"].is_null().all()
    assert df["sample_type"].to_list() == ["standard", "standard", "unknown"]
    assert df["sample_id"].to_list() == ["S1", "S1", "275001"]
    assert df["expected_conc"].to_list() == [1000.0, 1000.0, None]
    assert df["dilution"].to_list() == [1.0, 1.0, 4.0]
    assert set(df["unit"]) == {"pg/mL"} and set(df["unit_source"]) == {"file"}
    flags = str(df["flags"][1])
    assert "low_bead_count" in flags and "reading_invalid" in flags and "outlier" in flags
    first_reading = next(i for i, ln in enumerate(XML.splitlines(), 1) if ">5000</Reading>" in ln)
    assert df["row_number"][0] == first_reading
    (plate,) = res.plates
    assert (plate.plate_id, plate.protocol, plate.operator) == ("P9", "proto", "baz")
    assert plate.extra["regression:alpha"] == "Logistic - 5PL"


def test_xml_errors_and_sniff() -> None:
    with pytest.raises(ReaderError, match="not well-formed") as info:
        read_xml(XML[: len(XML) // 2])
    assert info.value.line
    bomb = '<?xml version="1.0"?><!DOCTYPE x [<!ENTITY a "aaaa">]><BioPlexManager>&a;</BioPlexManager>'
    with pytest.raises(ReaderError, match="DOCTYPE"):
        read_xml(bomb)
    with pytest.raises(ReaderError, match="RowNo"):
        read_xml(XML.replace('RowNo="2" ColNo="1"', 'RowNo="20" ColNo="1"'))
    with pytest.raises(ReaderError, match="no Samples"):
        read_xml("<BioPlexManager><Wells/></BioPlexManager>")
    r = BioplexXmlReader()
    assert r.sniff(XML, FileInput("x.xml", XML.encode())).matched
    assert not r.sniff("<root/>", FileInput("x.xml", b"<root/>")).matched
    assert not r.sniff(BASE, FileInput("x.csv", BASE.encode())).matched
    assert not BioplexReader().sniff(XML, FileInput("x.xml", XML.encode())).matched
