"""The canonical long CSV template: the documented example, Excel-saved variants, tokens and errors."""

from __future__ import annotations

import codecs
from pathlib import Path
from typing import Any

import polars as pl
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from readers.base import FileInput, ReaderError, ReadResult
from readers.canonical import REQUIRED, CanonicalCsvReader
from readers.detect import head_text
from readers.msd_workbench import MsdWorkbenchReader
from readers.platereader import PlateReaderGridReader
from readers.xponent import XponentReader
from schemas.wells import WELL_SCHEMA, WellModel

READER = CanonicalCsvReader()
EXAMPLE = Path(__file__).resolve().parents[2] / "docs" / "canonical_template_example.csv"

HEADER = "plate_id,well,sample_id,sample_type,analyte,concentration,unit"
ROWS = [
    "P-01,A1,S1,standard,NfL,1000,pg/mL",
    "P-01,A2,S1,standard,NfL,1012.5,pg/mL",
    "P-01,B1,BLK,blank,NfL,<12.5,pg/mL",
    "P-01,C1,QC-L,qc,NfL,48.2,pg/mL",
    "P-01,D1,CSF0011234567,unknown,NfL,>5000,pg/mL",
    "P-01,D2,CSF0011234567,unknown,NfL,4890,pg/mL",
]


def csv_text(rows: list[str] | None = None, header: str = HEADER, eol: str = "\n") -> str:
    return eol.join([header, *(ROWS if rows is None else rows)]) + eol


def read(text: str | bytes, name: str = "lab_results.csv") -> ReadResult:
    data = text.encode() if isinstance(text, str) else text
    res = READER.read(FileInput(name, data))
    WellModel.validate(res.wells)
    assert res.wells.schema == pl.Schema(WELL_SCHEMA)
    return res


def row(df: pl.DataFrame, well: str, analyte: str = "NfL") -> dict[str, Any]:
    rows = df.filter((pl.col("well") == well) & (pl.col("analyte_as_written") == analyte)).to_dicts()
    assert len(rows) == 1
    return rows[0]


def err(text: str | bytes) -> ReaderError:
    data = text.encode() if isinstance(text, str) else text
    with pytest.raises(ReaderError) as e:
        READER.read(FileInput("bad.csv", data))
    assert str(e.value).startswith("bad.csv")
    return e.value


# ---- the documented example --------------------------------------------------------------------------------


def test_example_file() -> None:
    res = read(EXAMPLE.read_bytes(), EXAMPLE.name)
    df = res.wells
    assert df.height == 24 and res.warnings == []
    assert sorted(set(df["analyte_as_written"])) == ["CHI3L1", "NfL"]
    counts = df.filter(pl.col("analyte_as_written") == "NfL")["sample_type"].value_counts()
    assert dict(counts.iter_rows()) == {"standard": 4, "blank": 1, "qc": 1, "unknown": 6}
    assert set(df["qualifier"]) == {"=", "<", ">"}
    blank = row(df, "C1")
    assert (blank["qualifier"], blank["value"], blank["reported_text"]) == ("<", 12.2, "<12.2")
    above = row(df, "G1", "CHI3L1")
    assert (above["qualifier"], above["value"], above["dilution"]) == (">", 400000.0, 2.0)
    assert row(df, "A1")["expected_conc"] == 50000.0 and row(df, "A1")["signal_kind"] == "MFI"
    assert set(df["unit_source"]) == {"file"} and set(df["dilution_applied"]) == {True}
    (plate,) = res.plates
    assert plate.plate_id == "BCT-NDG-0042" and plate.protocol == "BCT Neurodegeneration 4-plex"
    assert plate.kit_lot == "NDG-24C005" and plate.acquired_at == "2024-03-14" and plate.operator == "jdoe"
    assert READER.sniff(EXAMPLE.read_text(), FileInput(EXAMPLE.name, b"")).matched


def test_example_protocol_and_analytes_are_configured(config: Any) -> None:
    """The example must pass the pipeline's matching: its protocol and analytes exist in config/."""
    df = read(EXAMPLE.read_bytes()).wells
    for name in set(df["analyte_as_written"]):
        assert config.catalogue.resolve(name) is not None, name
    assert config.assays.match("BCT Neurodegeneration 4-plex", {"NfL", "CHI3L1"}) is not None


# ---- basic reading and tokens ------------------------------------------------------------------------------


def test_basic() -> None:
    df = read(csv_text()).wells
    assert df.height == 6 and set(df["format"]) == {"canonical"}
    assert df["row_number"].to_list() == [2, 3, 4, 5, 6, 7]
    a1 = row(df, "A1")
    assert a1 == a1 | {
        "plate_id": "P-01",
        "sample_id": "S1",
        "sample_type": "standard",
        "qualifier": "=",
        "value": 1000.0,
        "unit": "pg/mL",
        "unit_source": "file",
        "dilution": 1.0,
        "dilution_applied": True,
        "signal": None,
        "expected_conc": None,
        "flags": None,
    }


@pytest.mark.parametrize(
    ("text", "qualifier", "value", "extrapolated", "flag"),
    [
        ("12.5", "=", 12.5, False, None),
        ("<12.5", "<", 12.5, False, None),
        ("< 12.5", "<", 12.5, False, None),
        ("≤2", "<", 2.0, False, None),
        (">5000", ">", 5000.0, False, None),
        ("OOR <", "<", None, False, None),
        ("OOR >", ">", None, False, None),
        ("*3.4", "=", 3.4, True, None),
        ("***", "NR", None, False, "result_not_reported: not available (***)"),
        ("NaN", "NR", None, False, "result_not_reported: not a number"),
        ("", "NR", None, False, "result_not_reported: empty cell"),
        ("N/A", "NR", None, False, "result_not_reported: not available (N/A)"),
        ("see notes", "NR", None, False, "result_not_reported: unrecognised text"),
        ('"1,234.5"', "=", 1234.5, False, None),
    ],
)
def test_concentration_tokens(
    text: str, qualifier: str, value: float | None, extrapolated: bool, flag: str | None
) -> None:
    r = read(csv_text([f"P-01,A1,X1,unknown,NfL,{text},pg/mL"])).wells.row(0, named=True)
    assert (r["qualifier"], r["value"], r["extrapolated"]) == (qualifier, value, extrapolated)
    assert r["reported_text"] == text.strip('"')
    if flag is None:
        assert r["flags"] is None
    else:
        assert r["flags"].startswith(flag)


def test_optional_columns() -> None:
    header = HEADER + ",dilution,dilution_applied,signal,signal_kind,expected_conc"
    rows = [
        "P-01,A1,S1,standard,NfL,1000,pg/mL,,,18250,MFI,1000",
        "P-01,B1,X1,unknown,NfL,61.4,pg/mL,1/50,no,3120,MFI,",
        "P-01,B2,X1,unknown,NfL,61.9,pg/mL,1:50,No,3140,MFI,",
        "P-01,C1,X2,unknown,NfL,<12.5,ng/mL,2,yes,saturated,MFI,",
    ]
    df = read(csv_text(rows, header)).wells
    a1 = row(df, "A1")
    assert a1["expected_conc"] == 1000.0 and a1["signal"] == 18250.0 and a1["signal_kind"] == "MFI"
    assert a1["dilution"] == 1.0 and a1["dilution_applied"] is True
    b1, b2 = row(df, "B1"), row(df, "B2")
    assert (b1["dilution"], b1["dilution_applied"], b2["dilution"]) == (50.0, False, 50.0)
    c1 = row(df, "C1")
    assert c1["signal"] is None and c1["flags"].startswith("signal_not_reported")
    assert c1["unit"] == "ng/mL" and c1["dilution"] == 2.0


def test_empty_unit_is_left_to_the_configuration() -> None:
    res = read(csv_text(["P-01,A1,X1,unknown,NfL,5,"]))
    r = res.wells.row(0, named=True)
    assert r["unit"] is None and r["unit_source"] is None
    assert any("configured unit" in w for w in res.warnings)


def test_unknown_unit_is_kept_and_warned() -> None:
    res = read(csv_text(["P-01,A1,X1,unknown,NfL,5,IU/mL"]))
    assert res.wells["unit"].to_list() == ["IU/mL"]
    assert any("IU/mL" in w for w in res.warnings)


@pytest.mark.parametrize(
    ("written", "kind"),
    [
        ("Standard", "standard"),
        ("STD", "standard"),
        ("s", "standard"),
        ("Calibrator", "standard"),
        ("B", "blank"),
        ("background", "blank"),
        ("QC", "qc"),
        ("Quality Control", "qc"),
        ("control", "control"),
        ("C", "control"),
        ("X", "unknown"),
        ("sample", "unknown"),
        ("", "unknown"),
    ],
)
def test_sample_types(written: str, kind: str) -> None:
    assert read(csv_text([f"P-01,A1,ID1,{written},NfL,5,pg/mL"])).wells["sample_type"].to_list() == [kind]


def test_plates_and_their_metadata() -> None:
    header = HEADER + ",protocol,instrument,run_date,operator,kit_lot"
    rows = [
        "P-01,A1,X1,unknown,NfL,5,pg/mL,LX-NDG,FM3D,2024-03-01,jdoe,L1",
        "P-01,A2,X2,unknown,NfL,6,pg/mL,,FM3D-2,,,",
        "P-02,A1,X3,unknown,NfL,7,pg/mL,LX-NDG,,2024-03-02,asmith,L1",
    ]
    res = read(csv_text(rows, header))
    p1, p2 = res.plates
    assert (p1.plate_id, p1.protocol, p1.instrument, p1.acquired_at, p1.operator, p1.kit_lot) == (
        "P-01",
        "LX-NDG",
        "FM3D",
        "2024-03-01",
        "jdoe",
        "L1",
    )
    assert (p2.plate_id, p2.operator, p2.instrument) == ("P-02", "asmith", None)
    assert any("FM3D-2" in w for w in res.warnings)


def test_two_protocols_on_one_plate_are_an_error() -> None:
    header = HEADER + ",protocol"
    e = err(
        csv_text(["P-01,A1,X1,unknown,NfL,5,pg/mL,LX-NDG", "P-01,A2,X2,unknown,NfL,6,pg/mL,LX-CYT"], header)
    )
    assert "two protocols" in str(e) and e.line == 3


def test_384_wells() -> None:
    rows = [f"P-01,{w},X{i},unknown,NfL,5,pg/mL" for i, w in enumerate(["A01", "P24", "I13", "h7"])]
    assert read(csv_text(rows)).wells["well"].to_list() == ["A1", "P24", "I13", "H7"]


# ---- header variants ---------------------------------------------------------------------------------------


def test_header_case_order_and_spelling() -> None:
    header = "Unit,Concentration,ANALYTE,Sample Type,Sample-ID,Well,Plate ID"
    rows = ["pg/mL,<12.5,NfL,blank,BLK,B1,P-01"]
    r = read(csv_text(rows, header)).wells.row(0, named=True)
    assert (r["plate_id"], r["well"], r["sample_type"], r["qualifier"], r["value"]) == (
        "P-01",
        "B1",
        "blank",
        "<",
        12.5,
    )


def test_extra_columns_are_ignored_with_a_warning() -> None:
    res = read(csv_text([r + ",hand-pipetted,ok" for r in ROWS], HEADER + ",notes,reviewed"))
    assert res.wells.height == 6 and any("notes, reviewed" in w for w in res.warnings)


def test_missing_required_column_is_named() -> None:
    e = err(csv_text([r.rsplit(",", 1)[0] for r in ROWS], HEADER.rsplit(",", 1)[0]))
    assert "unit" in str(e) and "lacks" in str(e)


def test_duplicated_column() -> None:
    assert "twice" in str(err(csv_text([r + ",x" for r in ROWS], HEADER + ",Unit")))


def test_title_lines_above_the_header_are_skipped() -> None:
    res = read("Results for plate P-01,,,,,,\n\n" + csv_text())
    assert res.wells.height == 6 and res.wells["row_number"].to_list()[0] == 4
    assert any("above the header" in w for w in res.warnings)


# ---- Excel-saved variants ----------------------------------------------------------------------------------


def _semicolon_decimal_comma() -> str:
    return csv_text(
        header=HEADER.replace(",", ";"), rows=[r.replace(",", ";").replace(".", ",") for r in ROWS]
    )


def test_semicolon_with_decimal_commas() -> None:
    df = read(_semicolon_decimal_comma()).wells
    assert (
        row(df, "A2")["value"] == 1012.5
        and row(df, "B1")["value"] == 12.5
        and row(df, "D1")["value"] == 5000.0
    )


def test_semicolon_with_decimal_points() -> None:
    text = csv_text(header=HEADER.replace(",", ";"), rows=[r.replace(",", ";") for r in ROWS])
    assert row(read(text).wells, "A2")["value"] == 1012.5


def test_mixed_decimal_marks_are_refused() -> None:
    text = _semicolon_decimal_comma().replace("48,2", "48.2")
    assert "decimal" in str(err(text))


def test_tab_file_with_ambiguous_thousands() -> None:
    text = csv_text(header=HEADER.replace(",", "\t"), rows=["P-01\tA1\tX1\tunknown\tNfL\t1,250\tpg/mL"])
    assert "thousands" in str(err(text))
    text = csv_text(header=HEADER.replace(",", "\t"), rows=["P-01\tA1\tX1\tunknown\tNfL\t12,5\tpg/mL"])
    assert read(text).wells["value"].to_list() == [12.5]


@pytest.mark.parametrize(
    "encode",
    [
        lambda t: codecs.BOM_UTF8 + t.encode(),
        lambda t: codecs.BOM_UTF16_LE + t.replace(",", "\t").encode("utf-16-le"),
        lambda t: t.replace(",", "\t").encode("utf-16-le"),
        lambda t: t.replace("\n", "\r\n").encode(),
        lambda t: t.replace("\n", "\r").encode(),
        lambda t: t.replace("\n", ",,,\n").encode(),  # trailing empty columns
        lambda t: t.replace("\n", "\n,,,,,,\n\n").encode(),  # empty rows
        lambda t: t.replace("BLK", "Blänk").encode("cp1252"),
    ],
    ids=["bom", "utf16-bom-tab", "utf16-tab", "crlf", "cr", "trailing-cols", "empty-rows", "cp1252"],
)
def test_excel_variants(encode: Any) -> None:
    df = read(encode(csv_text())).wells
    assert df.height == 6 and row(df, "A2")["value"] == 1012.5 and row(df, "D1")["qualifier"] == ">"


# ---- errors ------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("bad_row", "message"),
    [
        ("P-01,Q1,X1,unknown,NfL,5,pg/mL", "not a plate well"),
        ("P-01,A25,X1,unknown,NfL,5,pg/mL", "not a plate well"),
        (",A1,X1,unknown,NfL,5,pg/mL", "plate_id is empty"),
        ("P-01,A1,X1,patient,NfL,5,pg/mL", "sample_type 'patient'"),
        ("P-01,A1,,unknown,NfL,5,pg/mL", "needs its sample_id"),
        ("P-01,A1,X1,unknown,,5,pg/mL", "analyte is empty"),
        ("P-01,A1,X1,unknown,NfL,5,pg/mL,extra", "beyond the last header column"),
    ],
)
def test_row_errors_name_the_line(bad_row: str, message: str) -> None:
    e = err(csv_text([ROWS[0], bad_row]))
    assert message in str(e) and e.line == 3


@pytest.mark.parametrize(
    ("column", "value", "message"),
    [
        ("dilution", "0.5", "dilution factor"),
        ("dilution", "x", "dilution factor"),
        ("dilution_applied", "maybe", "yes or no"),
        ("expected_conc", "high", "not a number"),
    ],
)
def test_optional_column_errors(column: str, value: str, message: str) -> None:
    e = err(csv_text([ROWS[0] + "," + value], HEADER + "," + column))
    assert message in str(e) and e.line == 2


def test_duplicate_plate_well_analyte() -> None:
    e = err(csv_text([ROWS[0], ROWS[0]]))
    assert "appears twice" in str(e) and e.line == 3


def test_unclosed_quote() -> None:
    e = err(csv_text([ROWS[0], 'P-01,A2,"S1,standard,NfL,5,pg/mL', *ROWS[2:]]))
    assert "unclosed quote" in str(e) and e.line == 3


def test_missing_final_line_break_is_warned() -> None:
    res = read(csv_text().rstrip("\n"))
    assert res.wells.height == 6 and any("line 7" in w for w in res.warnings)
    assert not any("line break" in w for w in read(csv_text()).warnings)


def test_no_header_and_no_rows() -> None:
    assert "header row with the columns" in str(err("hello\nworld\n"))
    assert "no data rows" in str(err(HEADER + "\n\n"))
    assert "empty" not in str(err(b""))  # says what was looked for instead


# ---- sniffing ----------------------------------------------------------------------------------------------


def test_sniff() -> None:
    text = csv_text()
    s = READER.sniff(text, FileInput("t.csv", text.encode()))
    assert s.matched and s.score == 100
    s = READER.sniff("Well,Sample,OD\nA1,S1,0.1\n", FileInput("u.csv", b""))
    assert not s.matched and all(r in s.reason for r in REQUIRED)
    for other in (MsdWorkbenchReader(), XponentReader(), PlateReaderGridReader()):
        assert not other.sniff(text, FileInput("t.csv", text.encode())).matched, other.name


def test_sniff_utf16_and_semicolons() -> None:
    for data in (codecs.BOM_UTF16_LE + csv_text().encode("utf-16-le"), _semicolon_decimal_comma().encode()):
        file = FileInput("t.csv", data)
        assert READER.sniff(head_text(file), file).matched


@pytest.mark.corpus
def test_no_corpus_file_is_sniffed_as_canonical(corpus: Path) -> None:
    files = [p for p in sorted(corpus.rglob("*")) if p.is_file() and p.suffix not in (".md", ".json")]
    assert len(files) >= 15
    for path in files:
        file = FileInput(path.name, path.read_bytes())
        assert not READER.sniff(head_text(file), file).matched, path.name
        with pytest.raises(ReaderError):
            READER.read(file)


# ---- robustness --------------------------------------------------------------------------------------------

_LINES = csv_text(
    header=HEADER + ",dilution,signal,protocol", rows=[r + ",2,100,LX-NDG" for r in ROWS]
).encode()


@st.composite
def mutated(draw: st.DrawFn) -> bytes:
    lines = _LINES.split(b"\n")
    cut = False
    for _ in range(draw(st.integers(1, 3))):
        op = draw(st.sampled_from(["drop", "duplicate", "swap_sep", "garble", "truncate", "quote"]))
        i = draw(st.integers(0, len(lines) - 1))
        if op == "drop" and len(lines) > 1:
            del lines[i]
        elif op == "duplicate":
            lines.insert(i, lines[i])
        elif op == "swap_sep":
            lines[i] = lines[i].replace(b",", draw(st.sampled_from([b";", b"\t"])))
        elif op == "garble":
            j = draw(st.integers(0, len(lines[i])))
            lines[i] = lines[i][:j] + draw(st.binary(min_size=1, max_size=4)) + lines[i][j:]
        elif op == "quote":
            j = draw(st.integers(0, len(lines[i])))
            lines[i] = lines[i][:j] + b'"' + lines[i][j:]
        elif op == "truncate":
            cut = True
    data = b"\n".join(lines)
    return data[: draw(st.integers(0, len(data)))] if cut else data


def _conforms_or_reader_error(data: bytes) -> None:
    try:
        res = READER.read(FileInput("m.csv", data))
    except ReaderError as e:
        assert str(e).startswith("m.csv")
        return
    assert res.wells.schema == pl.Schema(WELL_SCHEMA)
    WellModel.validate(res.wells)


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(mutated())
def test_mutations_read_or_raise_reader_error(data: bytes) -> None:
    _conforms_or_reader_error(data)


@settings(max_examples=100, deadline=None)
@given(st.binary(max_size=600))
def test_arbitrary_bytes(data: bytes) -> None:
    _conforms_or_reader_error(data)
    READER.sniff(data.decode("latin-1"), FileInput("b.bin", data))


@settings(max_examples=100, deadline=None)
@given(st.integers(0, len(_LINES)))
def test_truncation_at_any_byte(n: int) -> None:
    try:
        df = READER.read(FileInput("m.csv", _LINES[:n])).wells
    except ReaderError:
        return
    full = READER.read(FileInput("m.csv", _LINES)).wells
    # Rows before the cut are read exactly; only the cut row itself may differ (a hand-made CSV has no
    # end marker to tell a cut from a short row), and then the read says so.
    assert df.head(df.height - 1).equals(full.head(df.height - 1))
    if not df.equals(full.head(df.height)):
        assert any("line break" in w for w in READER.read(FileInput("m.csv", _LINES[:n])).warnings)
