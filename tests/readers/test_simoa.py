"""SimoaReader on inline HD-X Run History exports (no public Simoa file exists: the layout is the
documented column list), plus robustness: any mutation reads to a conforming table or a ReaderError."""

from __future__ import annotations

import codecs
from typing import Any

import polars as pl
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from readers.base import FileInput, ReaderError, ReadResult
from readers.simoa import SimoaReader
from readers.toolkit.cells import parse_cell
from readers.toolkit.wells import synthesise_positions, well_of
from schemas.wells import WELL_SCHEMA, WellModel

COLUMNS = (
    "Sample Barcode,Assay,Plex,Location,Carrier Barcode,Unit,Completion Date,Batch Name,Sample Type,"
    "Dilution Factor,Replicate AEB,Replicate Conc.,Mean AEB,SD AEB,CV AEB,Mean Conc.,SD Conc.,CV Conc.,"
    "Flags,Errors,Curve Name"
)

# Line numbers matter: the header is line 1, data rows start at line 2.
BASE = f"""\
{COLUMNS}
Calibrator A,NF-light,1,A1,CB42,pg/mL,3/5/24 14:12,NFL-0305,Calibrator,1,0.0123,0,,,,,,,,,NfL1
Calibrator A,NF-light,1,A2,CB42,pg/mL,3/5/24 14:12,NFL-0305,Calibrator,1,0.0131,0,,,,,,,,,NfL1
Calibrator A,NF-light,1,,CB42,pg/mL,3/5/24 14:12,NFL-0305,Calibrator,1,,,0.0127,0.0006,4.5,0,0,,,,NfL1
Calibrator H,NF-light,1,B1,CB42,pg/mL,3/5/24 14:13,NFL-0305,Calibrator,1,9.51,1000.4,,,,,,,,,NfL1
Calibrator H,NF-light,1,B2,CB42,pg/mL,3/5/24 14:13,NFL-0305,Calibrator,1,9.32,985.1,,,,,,,,,NfL1
Calibrator H,NF-light,1,,CB42,pg/mL,3/5/24 14:13,NFL-0305,Calibrator,1,,,9.415,0.13,1.4,992.75,10.8,1.1,,,NfL1
Control 1,NF-light,1,C1,CB42,pg/mL,3/5/24 14:14,NFL-0305,Control,4,0.51,5.61,,,,,,,,,NfL1
Control 1,NF-light,1,C2,CB42,pg/mL,3/5/24 14:14,NFL-0305,Control,4,0.53,5.83,,,,,,,,,NfL1
Control 1,NF-light,1,,CB42,pg/mL,3/5/24 14:14,NFL-0305,Control,4,,,0.52,0.014,2.7,6.40,0.16,2.7,,,NfL1
ALS-0001,NF-light,1,Plate 1 D01,CB42,pg/mL,3/5/24 14:20,NFL-0305,Specimen,4,0.2210,12.5,,,,,,,,,NfL1
ALS-0001,NF-light,1,Plate 1 D02,CB42,pg/mL,3/5/24 14:20,NFL-0305,Specimen,4,0.2301,13.1,,,,,,,,,NfL1
ALS-0001,NF-light,1,,CB42,pg/mL,3/5/24 14:20,NFL-0305,Specimen,4,,,0.2255,0.006,2.8,12.8,0.42,3.3,,,NfL1
ALS-0002,NF-light,1,Carrier 3 Pos 7,CB42,pg/mL,3/5/24 14:25,NFL-0305,Specimen,4,NaN,NaN,,,,,,,Low AEB,,NfL1
ALS-0002,NF-light,1,Carrier 3 Pos 8,CB42,pg/mL,3/5/24 14:25,NFL-0305,Specimen,4,0.011,< LLOQ,,,,,,,,,NfL1
ALS-0003,NF-light,1,E1,CB42,pg/mL,3/5/24 14:30,NFL-0305,Sample,4,12.3,> ULOQ,,,,,,,,Bubble detected,NfL1
ALS-0003,NF-light,1,E2,CB42,pg/mL,3/5/24 14:30,NFL-0305,Sample,4,0.02,< 0.241,,,,,,,,,NfL1
ALS-0004,NF-light,1,E3,CB42,,3/5/24 14:31,NFL-0305,Specimen,,0.3,,,,,,,,,,NfL1
"""


def read(text: str | bytes, name: str = "NFL_run.csv") -> ReadResult:
    data = text.encode() if isinstance(text, str) else text
    return SimoaReader().read(FileInput(name, data))


def row(df: pl.DataFrame, line: int) -> dict[str, Any]:
    rows = df.filter(pl.col("row_number") == line).to_dicts()
    assert len(rows) == 1
    return rows[0]


def test_replicate_rows_are_wells_statistics_rows_are_not() -> None:
    res = read(BASE)
    df = WellModel.validate(res.wells)
    assert df.schema == pl.Schema(WELL_SCHEMA)
    # 17 data rows, 4 of them statistics rows.
    assert df.height == 13
    assert 4 not in df["row_number"].to_list() and 13 not in df["row_number"].to_list()
    assert set(df["format"]) == {"simoa"} and set(df["source_file"]) == {"NFL_run.csv"}
    assert set(df["signal_kind"]) == {"AEB"}
    assert df["dilution_applied"].all()
    a1 = row(df, 2)
    assert (a1["well"], a1["sample_id"], a1["sample_type"]) == ("A1", "Calibrator A", "standard")
    assert (a1["signal"], a1["reported_text"], a1["qualifier"], a1["value"]) == (0.0123, "0", "=", 0.0)
    assert (a1["unit"], a1["unit_source"], a1["analyte_as_written"]) == ("pg/mL", "file", "NF-light")


def test_location_forms_and_sample_types() -> None:
    df = read(BASE).wells
    assert row(df, 11)["well"] == "D1" and row(df, 12)["well"] == "D2"  # "Plate 1 D01"
    assert row(df, 8)["sample_type"] == "qc"
    assert row(df, 11)["sample_type"] == "unknown" and row(df, 16)["sample_type"] == "unknown"  # Sample
    assert row(df, 8)["dilution"] == 4.0


def test_positions_synthesised_stably_and_flagged() -> None:
    df = read(BASE).wells
    r14, r15 = row(df, 14), row(df, 15)
    # Real wells of the plate: A1 A2 B1 B2 C1 C2 D1 D2 E1 E2 E3 — synthesised ones take the first free ones.
    assert (r14["well"], r15["well"]) == ("A3", "A4")
    assert r14["flags"].startswith("position_synthesised: Location 'Carrier 3 Pos 7'")
    assert "position_synthesised" not in (row(df, 2)["flags"] or "")
    assert df.equals(read(BASE).wells)  # stable
    res = read(BASE)
    assert any("synthesised" in w for w in res.warnings)


def test_tokens() -> None:
    df = read(BASE).wells
    nan = row(df, 14)
    assert (nan["qualifier"], nan["value"], nan["signal"]) == ("NR", None, None)
    assert "result_not_reported: not a number" in nan["flags"]
    assert "signal_not_reported" in nan["flags"] and "instrument_flag: Low AEB" in nan["flags"]
    lloq = row(df, 15)
    assert (lloq["reported_text"], lloq["qualifier"], lloq["value"]) == ("< LLOQ", "<", None)
    uloq = row(df, 16)
    assert (uloq["qualifier"], uloq["value"]) == (">", None)
    assert "instrument_error: Bubble detected" in uloq["flags"]
    bound = row(df, 17)
    assert (bound["qualifier"], bound["value"]) == ("<", 0.241)
    empty = row(df, 18)
    assert (empty["reported_text"], empty["qualifier"]) == ("", "NR")
    assert "empty cell" in empty["flags"]


def test_missing_unit_and_dilution_are_flagged_not_guessed() -> None:
    res = read(BASE)
    r = row(res.wells, 18)
    assert r["unit"] is None and r["unit_source"] is None
    assert r["dilution"] == 1.0 and "dilution_not_reported" in r["flags"]
    assert any("Unit" in w for w in res.warnings)


def test_mean_cross_check() -> None:
    res = read(BASE)
    # Calibrator H mean 992.75 matches; Control 1 file mean 6.40 vs replicates 5.72 (>1 %): one warning.
    means = [w for w in res.warnings if "Mean Conc." in w]
    assert len(means) == 1 and "line 10" in means[0] and "6.40" in means[0]


def test_plate_info() -> None:
    (plate,) = read(BASE).plates
    assert plate.plate_id == "NFL-0305"
    assert plate.protocol == "NF-light"
    assert plate.acquired_at == "3/5/24 14:12"
    assert plate.extra["carrier_barcode"] == "CB42" and plate.extra["curve_name"] == "NfL1"


def _without(col: str, text: str = BASE) -> str:
    lines = text.splitlines()
    header = lines[0].split(",")
    j = header.index(col)
    return "\n".join(",".join(c for k, c in enumerate(ln.split(",")) if k != j) for ln in lines) + "\n"


def test_plate_id_falls_back_to_carrier_then_stem() -> None:
    no_batch = _without("Batch Name")
    assert read(no_batch).plates[0].plate_id == "CB42"
    assert read(_without("Carrier Barcode", no_batch), "run 7.csv").plates[0].plate_id == "run 7"


def test_several_plates_in_location() -> None:
    text = BASE.replace("Plate 1 D02", "Plate 2 D02")
    res = read(text)
    assert sorted(p.plate_id for p in res.plates) == ["NFL-0305-P1", "NFL-0305-P2"]
    assert row(res.wells, 12)["plate_id"] == "NFL-0305-P2"


def test_multiplex_plex_names_the_analyte() -> None:
    text = f"{COLUMNS}\n" + (
        "ALS-0009,Neuro 4-Plex A,GFAP,A1,CB1,pg/mL,d,B1,Specimen,4,0.5,81.2,,,,,,,,,c\n"
        "ALS-0009,Neuro 4-Plex A,NF-light,A1,CB1,pg/mL,d,B1,Specimen,4,0.2,9.1,,,,,,,,,c\n"
    )
    res = read(text)
    assert res.wells["analyte_as_written"].to_list() == ["GFAP", "NF-light"]
    assert res.plates[0].protocol == "Neuro 4-Plex A"


def test_semicolon_decimal_comma_and_utf16() -> None:
    text = f"{COLUMNS.replace(',', ';')}\n" + (
        "ALS-0001;NfL;1;A1;CB1;pg/mL;d;B1;Specimen;4;0,221;12,5;;;;;;;;;c\n"
        "ALS-0001;NfL;1;A2;CB1;pg/mL;d;B1;Specimen;4;0,230;13,1;;;;;;;;;c\n"
    )
    data = codecs.BOM_UTF16_LE + text.replace("\n", "\r\n").encode("utf-16-le")
    df = read(data).wells
    assert df["value"].to_list() == [12.5, 13.1] and df["signal"].to_list() == [0.221, 0.23]


@pytest.mark.parametrize(
    ("text", "line", "words"),
    [
        ("Sample,Assay\nx,y\n", None, "no Simoa Run History header"),
        (_without("Sample Type"), 1, "Sample Type"),
        (BASE.rsplit(",", 3)[0] + "\n", 18, "cut short"),
        (BASE.replace("Control,4,0.51", "Control,0,0.51"), 8, "Dilution Factor"),
        (BASE.replace("ALS-0003,NF-light,1,E1", "ALS-0003,,1,E1"), 16, "no Assay"),
        (f"{COLUMNS}\nA,NfL,1,,CB,pg/mL,d,B,Specimen,1,,,0.1,0.01,1,5,0.1,1,,,c\n", 1, "no replicate rows"),
        (BASE.replace(",NfL1\n", ",NfL1,extra\n", 1), 2, "shifted"),
    ],
)
def test_errors_name_the_line(text: str, line: int | None, words: str) -> None:
    with pytest.raises(ReaderError) as err:
        read(text)
    assert err.value.line == line
    assert words in str(err.value)
    assert str(err.value).startswith("NFL_run.csv")


def test_sniff() -> None:
    r = SimoaReader()
    s = r.sniff(BASE, FileInput("x.csv", BASE.encode()))
    assert s.matched and s.score > 10
    other = "Sample,Assay,Well,Spot,Signal,Calc. Concentration\nS1,IL-6,A1,1,341,1.2\n"
    s = r.sniff(other, FileInput("y.csv", other.encode()))
    assert not s.matched and "Replicate AEB" in s.reason


def test_helpers() -> None:
    assert well_of("Plate 2 - B03") == (2, "B3")
    assert well_of("a12") == (None, "A12")
    assert well_of("Carrier 3 Pos 7") is None and well_of("Q1") is None and well_of("A25") is None
    assert synthesise_positions(["x", "y", "x"], {"A1"}) == {"x": "A2", "y": "A3"}
    with pytest.raises(ValueError):
        synthesise_positions(list(range(385)), set())
    assert (parse_cell("<LOD").qualifier, parse_cell("<LOD").value) == ("<", None)
    assert parse_cell("> 3450").value == 3450.0
    assert parse_cell("NaN").qualifier == "NR"


# ---- robustness ------------------------------------------------------------------------------------------

_LINES = BASE.replace("\n", "\r\n").encode().split(b"\r\n")


@st.composite
def mutated_exports(draw: st.DrawFn) -> bytes:
    lines = list(_LINES)
    cut = False
    for _ in range(draw(st.integers(1, 3))):
        op = draw(
            st.sampled_from(["drop", "duplicate", "swap_line", "swap_all", "garble", "truncate", "cell"])
        )
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
        elif op == "cell":
            cells = lines[i].split(b",")
            k = draw(st.integers(0, len(cells) - 1))
            cells[k] = draw(st.sampled_from([b"", b"NaN", b"< LLOQ", b"-1", b"0", b"x", b"1e400", b'"']))
            lines[i] = b",".join(cells)
        elif op == "truncate":
            cut = True
    data = b"\r\n".join(lines)
    return data[: draw(st.integers(0, len(data)))] if cut else data


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(mutated_exports())
def test_mutations_read_or_raise_reader_error(data: bytes) -> None:
    try:
        df = read(data).wells
    except ReaderError as err:
        assert str(err).startswith("NFL_run.csv")
        return
    assert df.schema == pl.Schema(WELL_SCHEMA)
    WellModel.validate(df)


@settings(max_examples=100, deadline=None)
@given(st.integers(0, len(BASE.encode())))
def test_truncation_at_any_byte(n: int) -> None:
    try:
        df = read(BASE.encode()[:n]).wells
    except ReaderError:
        return
    WellModel.validate(df)
    full = read(BASE).wells
    # What was read is what the full file says, row for row (a cut inside the last row's trailing cells
    # can only shorten its Curve Name, which is not in the well table).
    assert df.height <= full.height
    common = full.filter(pl.col("row_number").is_in(df["row_number"].implode()))
    assert df.equals(common)
