"""SoftMax Pro group blocks and Gen5 matrix blocks on small inline exports: parsing pieces, variants the
corpus does not show, errors, and robustness (mutations → conforming table or ReaderError)."""

from __future__ import annotations

import codecs
from typing import Any

import polars as pl
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from readers.base import FileInput, ReaderError, ReadResult
from readers.gen5 import Gen5Reader, parse_matrix
from readers.softmax import SoftmaxGroupReader, parse_group, split_blocks, unit_in
from readers.text import split_lines
from schemas.wells import WELL_SCHEMA, WellModel

T = "\t"


def _grid_rows(first: list[str]) -> list[str]:
    """8 PlateFormat rows (no letters): row A from ``first``, the others 0.05."""
    rows = [T + "22.5" + T + T.join(first) + T]
    rows += [T + T + T.join(["0.050"] * 12) + T for _ in range(7)]
    return rows


SOFTMAX_LINES = [
    "##BLOCKS= 4",
    "Note: ",
    "Analyte: NfL",
    "Run ID: ELISA-0042",
    "Method name: NfL ELISA",
    "Group: this line is note text, not a block",
    "~End",
    T.join(["Plate:", "Plate1", "1.3", "PlateFormat", "Endpoint", "Absorbance", "Raw", "FALSE", "1"])
    + T * 6
    + T.join(["1", "450 ", "1", "12", "96", "1", "8"]),
    T + "Temperature(¡C)" + T + T.join(str(i) for i in range(1, 13)) + T,
    *_grid_rows(
        ["0.101", "0.199", "0.512", "0.604", "0.011", "0.020", "3.90", "3.95", "0.1", "0.1", "0.1", "0.1"]
    ),
    "~End",
    "Group: Standards",
    T.join(["Sample", "Concentration", "Wells", "Values", "MeanValue", "Result (pg/mL)", "MeanResult", ""]),
    T.join(["S1", "10.000", "A1", "0.101", "0.150", "9.800", "10.100", ""]),
    T.join([" ", " ", "A2", "0.199", " ", "10.400", " ", ""]),
    "",
    "Group Summaries",
    T.join(["MinStd", "Smallest standard value:", "0.150", "Min(MeanValue)", "3 decimal places"]),
    T.join(["MaxStd", "Largest standard value:", "3.000", "Max(MeanValue)", "3 decimal places"]),
    "~End ",
    "Group: Unknowns",
    T.join(["Sample", "Wells", "Values", "MeanValue", "Result", "Dilution", "AdjResult", "R", ""]),
    T.join(["ALS-1", "A3", "0.512", "0.558", "50.000", "2", "100.000", " ", ""]),
    T.join([" ", "A4", "0.604", " ", "60.000", " ", "120.000", " ", ""]),
    T.join(["ALS-2", "A5", "0.011", "0.016", "Range?", "4", "Range?", "R", ""]),
    T.join([" ", "A6", "0.020", " ", "0.300", " ", "1.200", " ", ""]),
    T.join(["ALS-3", "A7", "3.900", "3.925", "500.000", "1", "500.000", "R", ""]),
    T.join([" ", "A8", "3.950", " ", "510.000", " ", "510.000", " ", ""]),
    "",
    "Group Column\tFormula Name\tFormula\tPrecision\tNotation",
    "1\tSample\t!SampleNames\t2 decimal places\tNumeric",
    "2\tWells\t!WellIDs\t2 decimal places\tNumeric",
    "~End",
    "Original Filename: elisa; Date Last Saved: 1/2/2024 2:04:09 PM",
]
SOFTMAX = "\r\n".join(SOFTMAX_LINES) + "\r\n"


def sm_bytes(text: str = SOFTMAX) -> bytes:
    return codecs.BOM_UTF16_LE + text.encode("utf-16-le")


def read_sm(text: str | bytes = SOFTMAX, name: str = "elisa.txt") -> ReadResult:
    data = sm_bytes(text) if isinstance(text, str) else text
    return SoftmaxGroupReader().read(FileInput(name, data))


def well(df: pl.DataFrame, w: str) -> dict[str, Any]:
    rows = df.filter(pl.col("well") == w).to_dicts()
    assert len(rows) == 1
    return rows[0]


def line_of(prefix: str) -> int:
    return next(i + 1 for i, ln in enumerate(SOFTMAX_LINES) if ln.startswith(prefix))


# ---- SoftMax: pieces -----------------------------------------------------------------------------------


def test_split_blocks_ignores_note_text_and_reports_unclosed() -> None:
    declared, blocks = split_blocks(split_lines(SOFTMAX))
    assert declared == 4
    assert [(b.kind, b.title, b.closed) for b in blocks] == [
        ("note", "", True),
        ("plate", "Plate1", True),
        ("group", "Standards", True),
        ("group", "Unknowns", True),
    ]
    cut = split_lines(SOFTMAX.split("Group: Unknowns")[0] + "Group: Unknowns\r\nSample\tWells\r\n")
    assert not split_blocks(cut)[1][-1].closed


def test_parse_group_rows_formulas_summaries() -> None:
    lines = split_lines(SOFTMAX)
    _, blocks = split_blocks(lines)
    std = parse_group(lines, blocks[2])
    assert std.header[:3] == ["Sample", "Concentration", "Wells"]
    assert [ln for ln, _ in std.rows] == [line_of("S1"), line_of("S1") + 1]
    assert std.summaries["minstd"][0] == "0.150"
    unk = parse_group(lines, blocks[3])
    assert unk.formulas == {"sample": "!SampleNames", "wells": "!WellIDs"}
    assert len(unk.rows) == 6


def test_unit_in() -> None:
    assert unit_in("Concentration ng/mL") == "ng/mL"
    assert unit_in("Result (pg/mL)") == "pg/mL"
    assert unit_in("Results and mean results are expressed in µg / L.") == "µg/L"
    assert unit_in("Mean OD") is None


# ---- SoftMax: reading ----------------------------------------------------------------------------------


def test_softmax_read_inline() -> None:
    res = read_sm()
    df = WellModel.validate(res.wells)
    assert df.schema == pl.Schema(WELL_SCHEMA)
    assert df.height == 96  # every well of the plate: its one read (450 nm)
    assert df.filter(pl.col("reported_text").is_not_null()).height == 8  # the group wells carry results
    assert set(df.filter(pl.col("sample_id").is_null())["flags"]) == {"not_in_a_group"}
    assert set(df["analyte_as_written"]) == {"NfL"}  # the Note block's Analyte line
    assert set(df["plate_id"]) == {"ELISA-0042"} and res.plates[0].protocol == "NfL ELISA"
    assert set(df["unit"]) == {"pg/mL"}  # from the Result column's header
    a1 = well(df, "A1")
    assert (a1["sample_type"], a1["expected_conc"], a1["value"], a1["dilution_applied"]) == (
        "standard",
        10.0,
        9.8,
        False,
    )
    assert (a1["signal"], a1["signal_kind"], a1["row_number"]) == (0.101, "OD450", line_of("S1"))
    a4 = well(df, "A4")  # AdjResult is the dilution-corrected column; the dilution is carried down
    assert (a4["value"], a4["dilution"], a4["dilution_applied"], a4["sample_id"]) == (
        120.0,
        2.0,
        True,
        "ALS-1",
    )


def test_softmax_range_side_from_standards_summaries() -> None:
    df = read_sm().wells
    # "R" column, no formula: MeanValue 0.016 < MinStd 0.150 → below; the Range? cell too.
    a5, a6 = well(df, "A5"), well(df, "A6")
    assert (a5["reported_text"], a5["qualifier"], a5["value"]) == ("Range?", "<", None)
    assert (a6["reported_text"], a6["qualifier"], a6["value"]) == ("1.200", "<", None)
    assert "MinStd" in a6["flags"] and a6["dilution"] == 4.0
    a7 = well(df, "A7")  # MeanValue 3.925 > MaxStd 3.000
    assert (a7["qualifier"], a7["value"]) == (">", None)
    assert well(df, "A3")["qualifier"] == "="


def test_softmax_range_side_unknown_is_not_reported() -> None:
    text = SOFTMAX.replace("MinStd\t", "Foo\t").replace("MaxStd\t", "Bar\t")
    df = read_sm(text).wells
    a6 = well(df, "A6")
    assert (a6["qualifier"], a6["value"]) == ("NR", None)
    assert "side unknown" in a6["flags"]


def test_softmax_unknowns_concentration_column_is_the_result() -> None:
    text = SOFTMAX.replace(
        "MeanValue\tResult\tDilution\tAdjResult", "MeanValue\tConcentration\tDilution\tOther"
    )
    df = read_sm(text).wells
    a3 = well(df, "A3")
    assert (a3["value"], a3["dilution"], a3["dilution_applied"]) == (50.0, 2.0, False)


def test_softmax_unknown_with_an_empty_dilution_cell_is_flagged_not_refused() -> None:
    df = read_sm(SOFTMAX.replace("\t50.000\t2\t100.000\t", "\t50.000\t\t100.000\t")).wells
    a3, a4, a5 = well(df, "A3"), well(df, "A4"), well(df, "A5")
    assert (a3["dilution"], a4["dilution"]) == (1.0, 1.0)
    assert "dilution_missing" in a3["flags"] and "dilution_missing" in a4["flags"]
    assert a5["dilution"] == 4.0 and "dilution_missing" not in (a5["flags"] or "")
    assert well(df, "A1")["flags"] is None  # a standard: no Dilution column there, nothing missing


def test_softmax_units_that_disagree_are_an_error() -> None:
    text = SOFTMAX.replace("Analyte: NfL", "Analyte: NfL\r\nResults are expressed in ng/mL.")
    with pytest.raises(ReaderError, match="different concentration units"):
        read_sm(text)


def test_softmax_group_value_mismatch_is_a_warning() -> None:
    res = read_sm(SOFTMAX.replace("S1\t10.000\tA1\t0.101", "S1\t10.000\tA1\t0.301"))
    assert any("plate readings" in w and "A1" in w for w in res.warnings)


def test_softmax_method_name_fallback_and_no_analyte() -> None:
    res = read_sm(SOFTMAX.replace("Analyte: NfL\r\n", ""))
    assert set(res.wells["analyte_as_written"]) == {"NfL ELISA"}
    # Naming neither: read anyway, the analyte left to the assay configuration, with the agreed warning.
    res = read_sm(SOFTMAX.replace("Analyte: NfL\r\n", "").replace("Method name: NfL ELISA\r\n", ""))
    assert set(res.wells["analyte_as_written"]) == {""} and res.wells["analyte"].is_null().all()
    assert "the export does not name the analyte" in res.warnings
    assert well(res.wells, "A4")["value"] == 120.0


@pytest.mark.parametrize(
    ("text", "line", "words"),
    [
        (SOFTMAX.split("Group Column")[0], None, "no closing ~End"),
        (SOFTMAX.replace("##BLOCKS= 4", "##BLOCKS= 5"), None, "##BLOCKS= 5"),
        (SOFTMAX.replace("\tA7\t", "\tZ7\t"), line_of("ALS-3"), "not a plate position"),
        (SOFTMAX.replace("\tRange?\t4\t", "\tRange?\t-4\t"), line_of("ALS-2"), "Dilution"),
        ("##BLOCKS= 1\r\nNote:\r\nhello\r\n~End\r\n", None, "no Group: block"),
    ],
)
def test_softmax_errors(text: str, line: int | None, words: str) -> None:
    with pytest.raises(ReaderError) as err:
        read_sm(text)
    if line is not None:
        assert err.value.line == line
    assert words in str(err.value)
    assert str(err.value).startswith("elisa.txt")


def test_softmax_sniff() -> None:
    r = SoftmaxGroupReader()
    s = r.sniff(SOFTMAX, FileInput("e.txt", sm_bytes()))
    assert s.matched and s.score > 10
    plate_only = SOFTMAX.split("Group: Standards")[0]  # a plate without groups is a SoftMax export too
    assert r.sniff(plate_only, FileInput("e.txt", sm_bytes(plate_only))).matched
    s = r.sniff("Plate:\t1\t2\r\nA\t0.1\r\n", FileInput("g.txt", b""))
    assert not s.matched and "##BLOCKS" in s.reason


# ---- Gen5 ----------------------------------------------------------------------------------------------

HDR = T + T.join(str(i) for i in range(1, 13))


def _matrix_row(letter: str, values: list[str], label: str) -> str:
    return T.join([letter, *values, label])


def _gen5_plate(number: int, conc_label: str = "[Concentration]") -> list[str]:
    ids = ["STD1", "STD2", "SPL1", "SPL2", "BLK", "CTL1", "", "", "", "", "", ""]
    cd = ["0", "100", "2", "", "", "50", "", "", "", "", "", ""]
    sig = ["0.05", "2.10", "0.80", "0.90", "0.04", "1.10", "", "", "", "", "", ""]
    conc = ["<0.000", "98.5", "25.1", "?????", "", "49.0", "", "", "", "", "", ""]
    lines = [
        f"Plate Number\tPlate {number}",
        "Date\t3/7/2024",
        "Time\t9:00:00 AM",
        "Reader Type:\tSynergy H1",
        "",
        "Layout",
        HDR,
        _matrix_row("A", ids, "Well ID"),
        _matrix_row("", cd, "Conc/Dil"),
        "",
        "450",
        "",
        "Results",
        HDR,
        _matrix_row("A", sig, "450"),
        _matrix_row("", conc, conc_label),
        "",
    ]
    return lines


GEN5_LINES = [
    "Software Version\t3.14.03",
    "",
    "Experiment File Path:\tC:\\Data\\NfL_ELISA_0307.xpt",
    "Protocol File Path:\tC:\\Protocols\\NfL ELISA.prt",
    "Analyte\tNfL",
    "",
    *_gen5_plate(1),
    *_gen5_plate(2),
]
GEN5 = "\n".join(GEN5_LINES) + "\n"


def read_g5(text: str | bytes = GEN5, name: str = "gen5.txt") -> ReadResult:
    data = text.encode() if isinstance(text, str) else text
    return Gen5Reader().read(FileInput(name, data))


def test_parse_matrix_labels_and_continuations() -> None:
    lines = split_lines(GEN5)
    i = lines.index("Layout")
    m = parse_matrix(lines, i)
    assert m.labels == ["Well ID", "Conc/Dil"] and m.rows == ["A"]
    assert m.get("Well ID", "A3") == ("SPL1", i + 3)
    assert m.get("Conc/Dil", "A3") == ("2", i + 4)
    with pytest.raises(ValueError, match="cut short"):
        parse_matrix([*lines[: i + 3], "\t0\t100"], i)
    second_row = [_matrix_row("B", ["X"] * 12, "Well ID")]  # row B lacks the Conc/Dil line row A has
    with pytest.raises(ValueError, match=r"row B .* cut short or edited"):
        parse_matrix([*lines[: i + 4], *second_row], i)


def test_gen5_two_plates_layout_types_and_dilution() -> None:
    res = read_g5()
    df = WellModel.validate(res.wells)
    assert sorted(p.plate_id for p in res.plates) == ["gen5-Plate 1", "gen5-Plate 2"]
    assert df.height == 12
    p1 = df.filter(pl.col("plate_id") == "gen5-Plate 1")
    types = dict(zip(p1["well"], p1["sample_type"], strict=True))
    assert types == {
        "A1": "standard",
        "A2": "standard",
        "A3": "unknown",
        "A4": "unknown",
        "A5": "blank",
        "A6": "qc",
    }
    a3 = well(p1, "A3")
    assert (a3["dilution"], a3["dilution_applied"], a3["value"], a3["expected_conc"]) == (
        2.0,
        False,
        25.1,
        None,
    )
    assert well(p1, "A2")["expected_conc"] == 100.0 and well(p1, "A6")["expected_conc"] == 50.0
    a4 = well(p1, "A4")
    assert a4["qualifier"] == "NR" and "statistic failed" in a4["flags"]
    assert well(p1, "A1")["qualifier"] == "<"
    assert set(df["analyte_as_written"]) == {"NfL"}
    assert res.plates[0].instrument == "Synergy H1" and res.plates[0].protocol == "NfL ELISA"


def test_gen5_dilution_corrected_data_set_is_preferred() -> None:
    text = GEN5.replace(
        "\t[Concentration]\n", "\t[Concentration]\n" + _matrix_row("", ["51"] * 12, "[Conc*Dil]") + "\n"
    )
    df = read_g5(text).wells
    assert df["dilution_applied"].all() and set(df["value"].drop_nulls()) == {51.0}


def _without_results(text: str) -> str:
    """The export with its Results blocks (title, header and rows) removed."""
    out: list[str] = []
    skipping = False
    for line in text.split("\n"):
        if line == "Results":
            skipping = True
            continue
        if skipping and not line:
            skipping = False
        if not skipping:
            out.append(line)
    return "\n".join(out)


@pytest.mark.parametrize(
    ("text", "words"),
    [
        (_without_results(GEN5), "no Results block"),
        (GEN5.replace("\t2\t\t\t50", "\t-2\t\t\t50"), "not a positive dilution"),
        (
            GEN5.replace(
                "\tConc/Dil\n",
                "\tConc/Dil\n"
                + _matrix_row("B", ["X"] * 12, "Well ID")
                + "\n"
                + _matrix_row("", [""] * 12, "Conc/Dil")
                + "\n",
                1,
            ),
            "no row B",
        ),
        ("Hello\tworld\n", "not a Gen5 export"),
    ],
)
def test_gen5_errors(text: str, words: str) -> None:
    with pytest.raises(ReaderError) as err:
        read_g5(text)
    assert words in str(err.value)
    assert str(err.value).startswith("gen5.txt")


def test_gen5_without_concentration_keeps_signals_and_sample_ids() -> None:
    res = read_g5(GEN5.replace("[Concentration]", "Ratio"))
    df = WellModel.validate(res.wells)
    assert df.height == 12 and set(df["signal_kind"]) == {"OD450"}
    assert df["value"].is_null().all() and df["reported_text"].is_null().all()
    p1 = df.filter(pl.col("plate_id") == "gen5-Plate 1")
    assert (well(p1, "A3")["sample_id"], well(p1, "A3")["signal"]) == ("SPL1", 0.80)
    assert any("not loaded" in w and "Ratio" in w for w in res.warnings)


def test_gen5_sniff() -> None:
    r = Gen5Reader()
    s = r.sniff(GEN5, FileInput("g.txt", GEN5.encode()))
    assert s.matched and s.score > 10
    no_blocks = "\n".join(GEN5_LINES[:6]) + "\n"
    s = r.sniff(no_blocks, FileInput("g.txt", no_blocks.encode()))
    assert not s.matched


# ---- robustness ----------------------------------------------------------------------------------------


def _mutations(base: str) -> st.SearchStrategy[str]:
    lines0 = base.replace("\r\n", "\n").split("\n")

    @st.composite
    def build(draw: st.DrawFn) -> str:
        lines = list(lines0)
        cut = False
        for _ in range(draw(st.integers(1, 3))):
            op = draw(st.sampled_from(["drop", "duplicate", "garble", "truncate", "cell"]))
            i = draw(st.integers(0, len(lines) - 1))
            if op == "drop" and len(lines) > 1:
                del lines[i]
            elif op == "duplicate":
                lines.insert(i, lines[i])
            elif op == "garble":
                j = draw(st.integers(0, len(lines[i])))
                lines[i] = lines[i][:j] + draw(st.text(min_size=1, max_size=4)) + lines[i][j:]
            elif op == "cell":
                cells = lines[i].split(T)
                k = draw(st.integers(0, len(cells) - 1))
                cells[k] = draw(
                    st.sampled_from(["", "Range?", "?????", "-1", "0", "Z9", "Out of range", "1e400"])
                )
                lines[i] = T.join(cells)
            elif op == "truncate":
                cut = True
        text = "\r\n".join(lines)
        return text[: draw(st.integers(0, len(text)))] if cut else text

    return build()


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(_mutations(SOFTMAX))
def test_softmax_mutations_read_or_raise_reader_error(text: str) -> None:
    try:
        df = read_sm(text).wells
    except ReaderError as err:
        assert str(err).startswith("elisa.txt")
        return
    assert df.schema == pl.Schema(WELL_SCHEMA)
    WellModel.validate(df)


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(_mutations(GEN5))
def test_gen5_mutations_read_or_raise_reader_error(text: str) -> None:
    try:
        df = read_g5(text).wells
    except ReaderError as err:
        assert str(err).startswith("gen5.txt")
        return
    assert df.schema == pl.Schema(WELL_SCHEMA)
    WellModel.validate(df)
