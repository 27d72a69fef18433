"""MSD Discovery Workbench tables and raw MSD instrument grids, on small inline exports."""

from __future__ import annotations

import codecs
from typing import Any

import polars as pl
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from readers.base import FileInput, ReaderError, ReadResult
from readers.msd_instrument import MsdRawReader
from readers.msd_workbench import MsdWorkbenchReader, classify, normalise_well, sample_type_of
from readers.platereader import PlateReaderGridReader
from readers.xponent import XponentReader
from schemas.wells import WELL_SCHEMA, WellModel

WB = MsdWorkbenchReader()
RAW = MsdRawReader()

HEADER = [
    "Sample",
    "Assay",
    "Well",
    "Spot",
    "Fit Statistic: RSquared",
    "Detection Range",
    "Dilution",
    "Concentration",
    "Signal",
    "Adjusted Signal",
    "Mean",
    "Adj. Sig. Mean",
    "CV",
    "% Recovery",
    "% Recovery Mean",
    "Calc. Concentration",
    "Calc. Conc. Mean",
]


def wb_row(
    sample: str = "CSF0011234567",
    assay: str = "IL-6",
    well: str = "A03",
    *,
    spot: str = "1",
    rng: str = "In Detection Range",
    dilution: str = "",
    conc: str = "",
    signal: str = "1250",
    calc: str = "12.5",
    **extra: str,
) -> dict[str, str]:
    return {
        "Sample": sample,
        "Assay": assay,
        "Well": well,
        "Spot": spot,
        "Fit Statistic: RSquared": "0.9991",
        "Detection Range": rng,
        "Dilution": dilution,
        "Concentration": conc,
        "Signal": signal,
        "Adjusted Signal": signal,
        "Mean": signal,
        "Adj. Sig. Mean": signal,
        "CV": "3.2",
        "% Recovery": "",
        "% Recovery Mean": "",
        "Calc. Concentration": calc,
        "Calc. Conc. Mean": calc,
        **extra,
    }


ROWS = [
    wb_row("S001", well="A01", conc="1000", signal="95210", calc="1012.5"),
    wb_row("S001", well="A02", conc="1000", signal="94110", calc="987.2"),
    wb_row("S008", well="B01", conc="0", signal="112", calc="NaN", rng="Below Fit Curve Range"),
    wb_row("Blank", well="C01", signal="98", calc="NaN", rng="Below Fit Curve Range"),
    wb_row("C1", well="D01", conc="250", signal="24800", calc="243.1"),
    wb_row("CSF0011234567", well="E01", dilution="2", signal="3120", calc="61.4"),
    wb_row(
        "CSF0011234567",
        well="E01",
        assay="TNF-a",
        spot="2",
        signal="80",
        calc="NaN",
        rng="Below Detection Range",
    ),
]


def wb_text(
    rows: list[dict[str, str]] | None = None,
    *,
    preamble: list[str] | None = None,
    header: list[str] | None = None,
    sep: str = ",",
    eol: str = "\r\n",
) -> str:
    header = header or HEADER
    rows = ROWS if rows is None else rows
    pre = ["Plate_2BO40AW287"] if preamble is None else preamble
    lines = [p + sep * (len(header) - 1) if sep not in p else p for p in pre]
    lines.append(sep.join(header))
    for r in rows:
        lines.append(sep.join(r.get(h, "") for h in header))
    return eol.join(lines) + eol


def read_wb(text: str | bytes, name: str = "plate_7.csv") -> ReadResult:
    data = text.encode() if isinstance(text, str) else text
    res = WB.read(FileInput(name, data))
    WellModel.validate(res.wells)
    assert res.wells.schema == pl.Schema(WELL_SCHEMA)
    return res


def one(df: pl.DataFrame, well: str, assay: str = "IL-6") -> dict[str, Any]:
    rows = df.filter((pl.col("well") == well) & (pl.col("analyte_as_written") == assay)).to_dicts()
    assert len(rows) == 1, rows
    return rows[0]


# ---- Discovery Workbench: layout ---------------------------------------------------------------------------


def test_basic_read() -> None:
    res = read_wb(wb_text())
    df = res.wells
    assert df.height == len(ROWS)
    assert set(df["format"]) == {"msd_workbench"} and set(df["signal_kind"]) == {"ECL"}
    assert df["well"].to_list()[:3] == ["A1", "A2", "B1"]  # A01 → A1
    a1 = one(df, "A1")
    assert a1 == a1 | {
        "sample_id": "S001",
        "sample_type": "standard",
        "expected_conc": 1000.0,
        "signal": 95210.0,
        "reported_text": "1012.5",
        "qualifier": "=",
        "value": 1012.5,
        "extrapolated": False,
        "unit": None,
        "unit_source": None,
        "dilution": 1.0,
        "dilution_applied": True,
        "flags": None,
        "row_number": 3,
        "plate_id": "Plate_2BO40AW287",
    }
    e1 = one(df, "E1")
    assert e1["dilution"] == 2.0 and e1["dilution_applied"] and e1["value"] == 61.4
    assert e1["sample_type"] == "unknown" and e1["expected_conc"] is None
    (plate,) = res.plates
    assert plate.plate_id == "Plate_2BO40AW287" and plate.extra["barcode"] == "2BO40AW287"


def test_two_spots_of_one_well_are_two_rows() -> None:
    df = read_wb(wb_text()).wells
    e1 = df.filter(pl.col("well") == "E1")
    assert e1["analyte_as_written"].to_list() == ["IL-6", "TNF-a"]


@pytest.mark.parametrize(
    ("preamble", "plate_id"),
    [
        (["Plate_2BO40AW287"], "Plate_2BO40AW287"),
        ([], "plate_7"),  # no preamble: header on line 1, plate id = file stem
        (["Experiment Data Table", ""], "plate_7"),  # a title is not a plate name
        (["Plate Name,P-0042", "Read Time,2024-03-01 10:12", "Operator,jdoe", ""], "P-0042"),
        (["Plate Name: P-0043"], "P-0043"),
        (["File Name,C:\\MSD\\run 12.csv", "", "2CM0BA4513", ""], "2CM0BA4513"),
    ],
)
def test_preamble_variants(preamble: list[str], plate_id: str) -> None:
    res = read_wb(wb_text(preamble=preamble))
    assert set(res.wells["plate_id"]) == {plate_id}
    assert [p.plate_id for p in res.plates] == [plate_id]
    assert res.wells.height == len(ROWS)


def test_preamble_metadata() -> None:
    pre = ["Plate Name,P-0042", "Read Time,2024-03-01 10:12", "Operator,jdoe", "Kit Lot,K123", "Panel,V-PLEX"]
    (plate,) = read_wb(wb_text(preamble=pre)).plates
    assert plate.acquired_at == "2024-03-01 10:12" and plate.operator == "jdoe"
    assert plate.kit_lot == "K123" and plate.protocol == "V-PLEX"


def test_plate_name_column_gives_one_plate_each() -> None:
    header = ["Plate Name", *HEADER]
    rows = [{**r, "Plate Name": "P-1" if i < 4 else "P-2"} for i, r in enumerate(ROWS)]
    res = read_wb(wb_text(rows, header=header, preamble=["Experiment Data Table"]))
    assert [p.plate_id for p in res.plates] == ["P-1", "P-2"]
    assert res.wells.filter(pl.col("plate_id") == "P-2").height == 3


def test_several_blocks_in_one_file() -> None:
    first = wb_text(ROWS[:3], preamble=["Plate_AAA111"])
    second = wb_text(ROWS[3:], preamble=["", "Plate_BBB222"])
    res = read_wb(first + second)
    assert [p.plate_id for p in res.plates] == ["Plate_AAA111", "Plate_BBB222"]
    assert res.wells.height == len(ROWS)


def test_two_unnamed_blocks_get_numbered_plate_ids() -> None:
    res = read_wb(wb_text(ROWS[:3], preamble=[]) + "\r\n" + wb_text(ROWS[3:], preamble=[]))
    assert [p.plate_id for p in res.plates] == ["plate_7-1", "plate_7-2"]


@pytest.mark.parametrize(("sep", "eol"), [("\t", "\n"), (",", "\n"), (",", "\r")])
def test_delimiters_and_line_endings(sep: str, eol: str) -> None:
    df = read_wb(wb_text(sep=sep, eol=eol)).wells
    assert one(df, "A1")["value"] == 1012.5 and df.height == len(ROWS)


def test_semicolon_with_decimal_commas() -> None:
    text = wb_text(sep=";").replace("1012.5", "1012,5").replace("61.4", "61,4")
    text = text.replace("987.2", "987,2").replace("243.1", "243,1").replace("12.5", "12,5")
    text = text.replace("0.9991", "0,9991").replace("3.2", "3,2")
    df = read_wb(text).wells
    assert one(df, "A1")["value"] == 1012.5 and one(df, "E1")["value"] == 61.4


def test_semicolon_with_mixed_decimal_marks_is_refused() -> None:
    text = wb_text(sep=";").replace("1012.5", "1012,5")
    with pytest.raises(ReaderError, match="decimal"):
        WB.read(FileInput("x.csv", text.encode()))


@pytest.mark.parametrize("bom", [codecs.BOM_UTF8, b""])
def test_utf16_and_bom(bom: bytes) -> None:
    text = wb_text(sep="\t")
    assert read_wb(bom + text.encode()).wells.height == len(ROWS)
    assert read_wb(codecs.BOM_UTF16_LE + text.encode("utf-16-le")).wells.height == len(ROWS)


@pytest.mark.parametrize(
    ("renames", "expected_value"),
    [
        ({"Sample": "Sample Name"}, 1012.5),
        ({"Assay": "Spot Name"}, 1012.5),
        ({"Calc. Concentration": "Calc. Conc"}, 1012.5),
        ({"Calc. Concentration": "Calc Conc."}, 1012.5),
        ({"Concentration": "Standard Concentration"}, 1012.5),
    ],
)
def test_header_label_variants(renames: dict[str, str], expected_value: float) -> None:
    header = [renames.get(h, h) for h in HEADER]
    rows = [{renames.get(k, k): v for k, v in r.items()} for r in ROWS]
    df = read_wb(wb_text(rows, header=header)).wells
    a1 = one(df, "A1")
    assert a1["value"] == expected_value and a1["expected_conc"] == 1000.0 and a1["sample_id"] == "S001"


def test_split_header_over_two_lines() -> None:
    """``Calc.`` above ``Conc`` (and ``Standard`` above the other ``Conc``): labels joined per column; the
    plain ``Conc. Mean`` / ``Mean`` columns are not taken for the concentration."""
    header = [
        "Plate Name",
        "Sample",
        "Detection Range",
        "Assay",
        "Well",
        "Dilution",
        "Conc",
        "Signal",
        "Mean",
    ]
    header += ["CV", "Conc", "Mean", "Excluded", "Calc. Low"]
    upper2 = [""] * 13 + ["Detection"]
    upper1 = [""] * 6 + ["Standard", "", "", "", "Calc.", "Calc. Conc.", "", "Limits:"]
    lines = [
        "Experiment Data Table" + "," * 13,
        "," * 13,
        ",".join(upper2),
        ",".join(upper1),
        ",".join(header),
    ]
    lines.append("P1,S001,In Detection Range,CRP,A01,1,100,5000,5100,2,180,179,no,2.5")
    lines.append("P1,1001001,Below Detection Range,CRP,A02,1,,10,12,5,NaN,179,no,2.5")
    lines.append("P1,1001002,In Detection Range,CRP,A03,1,,900,905,3,50,179,no,2.5")
    df = read_wb("\n".join(lines) + "\n").wells
    a1 = one(df, "A1", "CRP")
    assert a1["value"] == 180.0 and a1["expected_conc"] == 100.0 and a1["signal"] == 5000.0
    a2 = one(df, "A2", "CRP")
    assert a2["qualifier"] == "<" and a2["value"] == 2.5 and a2["dilution_applied"] is False
    assert "limit_from_file" in a2["flags"]
    assert one(df, "A3", "CRP")["value"] == 50.0
    assert set(df["plate_id"]) == {"P1"}


def test_split_header_over_the_calc_label_only() -> None:
    header = list(HEADER)
    header[header.index("Calc. Concentration")] = "Conc"
    upper = ["" if h != "Conc" else "Calc." for h in header]
    text = wb_text(
        header=header,
        rows=[{("Conc" if k == "Calc. Concentration" else k): v for k, v in r.items()} for r in ROWS],
    )
    lines = text.split("\r\n")
    lines.insert(1, ",".join(upper))
    df = read_wb("\r\n".join(lines)).wells
    assert one(df, "A1")["value"] == 1012.5 and one(df, "A1")["row_number"] == 4


def test_header_cell_with_a_line_break_in_it() -> None:
    """Excel saves a header cell typed as ``Calc.<Alt+Enter>Conc`` as one quoted cell over two lines."""
    text = wb_text().replace(",Calc. Concentration,", ',"Calc.\r\nConc",')
    assert WB.sniff(text, FileInput("x.csv", b"")).matched
    df = read_wb(text).wells
    assert one(df, "A1")["value"] == 1012.5 and one(df, "A1")["row_number"] == 4
    assert df.height == len(ROWS)


# ---- Discovery Workbench: censoring ------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("calc", "rng", "qualifier", "value", "extrapolated"),
    [
        ("12.5", "In Detection Range", "=", 12.5, False),
        ("12.5", "", "=", 12.5, False),
        ("0.8", "Below Detection Range", "=", 0.8, True),
        ("0.2", "Below Fit Curve Range", "=", 0.2, True),
        ("5100", "Above Fit Curve Range", "=", 5100.0, True),
        ("4800", "Above Detection Range", "=", 4800.0, True),
        ("NaN", "Below Detection Range", "<", None, False),
        ("NaN", "Below Fit Curve Range", "<", None, False),
        ("NaN", "Above Fit Curve Range", ">", None, False),
        ("NaN", "Above Detection Range", ">", None, False),
        ("", "Below Fit Curve Range", "<", None, False),
        ("", "Above Fit Curve Range", ">", None, False),
        ("NaN", "In Detection Range", "NR", None, False),
        ("NaN", "", "NR", None, False),
        ("", "", "NR", None, False),
        ("<0.5", "Below Fit Curve Range", "<", 0.5, False),
        ("*3.4", "In Detection Range", "=", 3.4, True),
    ],
)
def test_every_detection_range(
    calc: str, rng: str, qualifier: str, value: float | None, extrapolated: bool
) -> None:
    df = read_wb(wb_text([wb_row(calc=calc, rng=rng)])).wells
    row = df.row(0, named=True)
    assert (row["qualifier"], row["value"], row["extrapolated"]) == (qualifier, value, extrapolated)
    assert row["reported_text"] == calc
    flags = row["flags"] or ""
    if rng and rng != "In Detection Range":
        assert f"detection_range: {rng}" in flags.split(";")
    if qualifier == "NR":
        assert "result_not_reported" in flags


def test_nan_and_empty_are_told_apart() -> None:
    nan = classify("NaN", "")
    empty = classify("", "")
    assert nan[0] == empty[0] == "NR"
    assert "NaN" in nan[4][0] and "empty cell" in empty[4][0]


def test_limits_from_columns_fill_censored_values() -> None:
    header = [*HEADER, "Detection Limits: Calc. Low", "Detection Limits: Calc. High"]
    rows = [
        wb_row(
            well="A01", calc="NaN", rng="Below Fit Curve Range", **{"Detection Limits: Calc. Low": "0.59"}
        ),
        wb_row(
            well="A02", calc="NaN", rng="Above Fit Curve Range", **{"Detection Limits: Calc. High": "2440"}
        ),
    ]
    df = read_wb(wb_text(rows, header=header)).wells
    low, high = one(df, "A1"), one(df, "A2")
    assert (low["qualifier"], low["value"], low["dilution_applied"]) == ("<", 0.59, False)
    assert (high["qualifier"], high["value"], high["dilution_applied"]) == (">", 2440.0, False)
    assert "limit_from_file" in low["flags"] and "limit_from_file" in high["flags"]


def test_limits_from_detection_limit_rows() -> None:
    text = wb_text(
        [wb_row(calc="NaN", rng="Below Detection Range"), wb_row(well="A04", assay="TNF-a", calc="")]
    )
    text = text.replace("Plate_2BO40AW287", "Plate_X\r\nDetection Limits: Calc. Low,IL-6,0.31")
    text += "\r\nDetection Limits: Calc. Low,TNF-a,0.12\r\n"
    df = read_wb(text).wells
    assert one(df, "A3")["value"] == 0.31
    assert one(df, "A4", "TNF-a")["qualifier"] == "NR"  # empty cell, no range: not censored


def test_conflicting_limit_rows_are_not_used() -> None:
    text = wb_text([wb_row(calc="NaN", rng="Below Detection Range")])
    text += "\r\nDetection Limits: Calc. Low,IL-6,0.31\r\nDetection Limits: Calc. Low,IL-6,0.40\r\n"
    res = read_wb(text)
    assert res.wells["value"].to_list() == [None]
    assert any("differs" in w for w in res.warnings)


@pytest.mark.parametrize("flag", ["yes", "Yes", "TRUE"])
def test_excluded_wells_are_not_reported(flag: str) -> None:
    header = [*HEADER, "Excluded"]
    rows = [wb_row(well="A01", Excluded=flag), wb_row(well="A02", Excluded="no", dilution="2")]
    res = read_wb(wb_text(rows, header=header))
    ex, kept = one(res.wells, "A1"), one(res.wells, "A2")
    assert ex["qualifier"] == "NR" and ex["value"] is None and ex["reported_text"] == "12.5"
    assert ex["flags"].split(";")[0] == "excluded"
    assert kept["qualifier"] == "=" and kept["flags"] is None
    assert any("Excluded" in w for w in res.warnings)


def test_unrecognised_detection_range_is_flagged() -> None:
    row = read_wb(wb_text([wb_row(rng="Out of Range", calc="NaN")])).wells.row(0, named=True)
    assert row["qualifier"] == "NR" and "detection_range_unrecognised: Out of Range" in row["flags"]


def test_censored_text_against_the_range_is_flagged() -> None:
    assert "detection_range_conflict" in classify(">5000", "Below Fit Curve Range")[4]


# ---- Discovery Workbench: wells and sample types -----------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "well"), [("A01", "A1"), ("a1", "A1"), ("P24", "P24"), ("H12", "H12"), ("J07", "J7")]
)
def test_normalise_well(text: str, well: str) -> None:
    assert normalise_well(text) == well


@pytest.mark.parametrize("text", ["Q1", "A25", "A0", "", "A", "11"])
def test_not_wells(text: str) -> None:
    assert normalise_well(text) is None


def test_384_well_plate() -> None:
    rows = [wb_row(well=f"{r}{c:02d}", sample=f"P{r}{c}") for r in "AHIP" for c in (1, 12, 13, 24)]
    df = read_wb(wb_text(rows)).wells
    assert df["well"].to_list()[:4] == ["A1", "A12", "A13", "A24"] and df["well"].to_list()[-1] == "P24"


@pytest.mark.parametrize("well", ["Q01", "A25", "", "Well 3"])
def test_bad_well_is_an_error_with_its_line(well: str) -> None:
    with pytest.raises(ReaderError, match="line 3") as err:
        WB.read(FileInput("x.csv", wb_text([wb_row(well=well)]).encode()))
    assert "well" in str(err.value).lower()


@pytest.mark.parametrize(
    ("name", "expected", "kind"),
    [
        ("S001", False, "standard"),
        ("S8", False, "standard"),
        ("Calibrator 3", False, "standard"),
        ("CAL-08", False, "standard"),
        ("STD1", False, "standard"),
        ("Standard 2", False, "standard"),
        ("Blank", False, "blank"),
        ("Zero", False, "blank"),
        ("C1", False, "qc"),
        ("Control 2", False, "qc"),
        ("QC-High", False, "qc"),
        ("CSF0011234567", False, "unknown"),
        ("Calcium pool", False, "unknown"),
        ("S12345", False, "unknown"),
        ("Spike-in 4", True, "standard"),
        (None, False, "unknown"),
    ],
)
def test_sample_types(name: str | None, expected: bool, kind: str) -> None:
    assert sample_type_of(name, has_expected=expected) == kind


def test_sample_type_column_wins() -> None:
    header = [*HEADER, "Sample Type"]
    rows = [
        wb_row(sample="S001", **{"Sample Type": "Unknown"}),
        wb_row(sample="X-9", well="A4", **{"Sample Type": "Control"}),
    ]
    df = read_wb(wb_text(rows, header=header)).wells
    assert df["sample_type"].to_list() == ["unknown", "qc"]


# ---- Discovery Workbench: errors ---------------------------------------------------------------------------


def _err(text: str) -> ReaderError:
    with pytest.raises(ReaderError) as err:
        WB.read(FileInput("bad.csv", text.encode()))
    assert str(err.value).startswith("bad.csv")
    return err.value


def test_cut_short_row() -> None:
    text = wb_text()
    cut = text[: text.index("CSF0011234567,TNF-a") + 30]
    assert "cut short" in str(_err(cut))


def test_values_beyond_the_header() -> None:
    text = wb_text([wb_row()]).replace("12.5\r\n", "12.5,oops\r\n")
    assert "beyond" in str(_err(text))


def test_duplicate_well_and_assay() -> None:
    err = _err(wb_text([wb_row(), wb_row()]))
    assert "twice" in str(err) and err.line == 4


def test_bad_dilution() -> None:
    assert "Dilution" in str(_err(wb_text([wb_row(dilution="0")])))
    assert "Dilution" in str(_err(wb_text([wb_row(dilution="1/x")])))


def test_empty_assay() -> None:
    assert "Assay" in str(_err(wb_text([wb_row(assay="")])))


def test_no_table_and_no_rows() -> None:
    assert "no MSD Discovery Workbench table" in str(_err("Plate_1\nWell,Value\nA1,3\n"))
    assert "no data rows" in str(_err(wb_text([])))


def test_duplicated_column_is_an_error() -> None:
    header = [*HEADER, "Calc. Conc"]
    assert "more than once" in str(_err(wb_text([wb_row()], header=header)))


def test_signal_that_is_not_a_number() -> None:
    row = read_wb(wb_text([wb_row(signal="Saturated")])).wells.row(0, named=True)
    assert row["signal"] is None and "signal_not_reported" in row["flags"]


# ---- sniffing ----------------------------------------------------------------------------------------------


def test_workbench_sniff() -> None:
    text = wb_text()
    s = WB.sniff(text, FileInput("x.csv", text.encode()))
    assert s.matched and s.score == 90
    assert not RAW.sniff(text, FileInput("x.csv", text.encode())).matched
    assert not XponentReader().sniff(text, FileInput("x.csv", text.encode())).matched
    plain = "Sample,Assay,Well,Signal\nP1,IL-6,A1,100\n"
    s = WB.sniff(plain, FileInput("y.csv", plain.encode()))
    assert not s.matched and "no MSD column" in s.reason
    s = WB.sniff("hello", FileInput("z.txt", b"hello"))
    assert not s.matched and "Sample" in s.reason


def test_canonical_template_is_not_sniffed_as_msd() -> None:
    text = "plate_id,well,sample_id,sample_type,analyte,concentration,unit,signal\n"
    text += "P1,A1,S1,standard,NfL,5,pg/mL,9\n"
    assert not WB.sniff(text, FileInput("t.csv", text.encode())).matched


# ---- raw MSD instrument grids ------------------------------------------------------------------------------


def raw_header(
    plate_no: int = 1, barcode: str = "<*22M0TALA85N*>", spot: str | None = None, **more: str
) -> str:
    lines = [
        "FileName :\tC:\\temp\\run.txt",
        "Stack ID :\t0.1",
        f"Plate #  :\t{plate_no}",
        f"Barcode1 :\t{barcode}",
        "Barcode2 :\t<>",
        "Type     :\t96",
        "Read Time:\t09/08/2023\t13:39:33 EDT",
        "Version  :\tMMPR 1.0.38",
        "",
        "User     :\tdmc",
        "Model    :\tHTS",
    ]
    if spot is not None:
        lines.append(f"SpotID   :\t{spot}")
    lines += [f"{k} :\t{v}" for k, v in more.items()]
    return "\n".join(lines) + "\n"


def ecl(r: int, c: int, spot: int = 1, plate: int = 1) -> int:
    return plate * 100000 + spot * 1000 + r * 100 + c


def raw_grid(n_cols: int = 12, *, spots: tuple[int, ...] = (1,), positions: int = 1, plate: int = 1) -> str:
    rows = 16 if n_cols == 24 else 8
    lines = ["==========Data=========================================="]
    lines.append("  \t" + "\t".join(f"{c:<10}" for c in range(1, n_cols + 1)) + "\t")
    for r in range(rows):
        for pos in range(1, positions + 1):
            label = "ABCDEFGHIJKLMNOP"[r] if pos == 1 else " "
            if pos in spots:
                cells = [f"{ecl(r, c, pos, plate):>10}  " for c in range(1, n_cols + 1)]
            else:
                cells = [" " * 12] * n_cols
            lines.append(f"{label} \t" + "\t".join(cells) + "\t")
        if positions > 1:
            lines.append("")
    lines += ["", "", "==========Processing===========", "Radius   :\t 18.00\t 18.00", "Sector   :\t1\t2", ""]
    return "\n".join(lines) + "\n"


def raw_file(*parts: str) -> bytes:
    return "".join(parts).replace("\n", "\r\n").encode()


def read_raw(data: bytes, name: str = "run42.txt", siblings: dict[str, bytes] | None = None) -> ReadResult:
    res = RAW.read(FileInput(name, data, siblings or {}))
    WellModel.validate(res.wells)
    assert res.wells.schema == pl.Schema(WELL_SCHEMA)
    return res


def test_raw_two_plates() -> None:
    data = raw_file(raw_header(1), raw_grid(plate=1), raw_header(2, "<*22M0TAQA86T*>"), raw_grid(plate=2))
    res = read_raw(data)
    df = res.wells
    assert df.height == 192
    assert [p.plate_id for p in res.plates] == ["22M0TALA85N", "22M0TAQA86T"]
    a1 = one(df.filter(pl.col("plate_id") == "22M0TALA85N"), "A1", "Spot 1")
    assert a1["signal"] == ecl(0, 1) and a1["row_number"] == 14  # 11 header lines, Data, 1..12
    assert a1["sample_id"] is None and a1["sample_type"] == "unknown" and a1["qualifier"] == "NR"
    assert a1["signal_kind"] == "ECL" and a1["dilution"] == 1.0
    h12 = one(df.filter(pl.col("plate_id") == "22M0TAQA86T"), "H12", "Spot 1")
    assert h12["signal"] == ecl(7, 12, plate=2)
    p1 = res.plates[0]
    assert p1.acquired_at == "09/08/2023 13:39:33 EDT" and p1.operator == "dmc" and p1.instrument == "HTS"
    assert p1.extra["FileName"] == "C:\\temp\\run.txt"  # a path's "\t" is not a tab
    assert any("plate map" in w for w in res.warnings)


def test_raw_literal_backslash_t_after_the_colon() -> None:
    head = raw_header().replace("Plate #  :\t1", "Plate #  :\\t1").replace("Barcode1 :\t", "Barcode1 :\\t")
    res = read_raw(raw_file(head, raw_grid()))
    assert res.plates[0].plate_id == "22M0TALA85N" and res.plates[0].extra["Plate #"] == "1"


def test_raw_without_barcode_uses_stem_and_plate_number() -> None:
    data = raw_file(raw_header(1, "<>"), raw_grid(), raw_header(2, "<>"), raw_grid(plate=2))
    assert [p.plate_id for p in read_raw(data).plates] == ["run42-P1", "run42-P2"]


def test_raw_same_plate_read_twice() -> None:
    res = read_raw(raw_file(raw_header(1), raw_grid(), raw_header(1), raw_grid(plate=2)))
    assert [p.plate_id for p in res.plates] == ["22M0TALA85N", "22M0TALA85N-2"]
    assert any("more than once" in w for w in res.warnings)


def test_raw_384_wells() -> None:
    df = read_raw(raw_file(raw_header(), raw_grid(24))).wells
    assert df.height == 384 and one(df, "P24", "Spot 1")["signal"] == ecl(15, 24)


def test_raw_multi_spot_sub_rows() -> None:
    """10-spot layout: positions 1, 3, 8, 10 hold spots; empty positions still count."""
    df = read_raw(raw_file(raw_header(), raw_grid(spots=(1, 3, 8, 10), positions=10))).wells
    assert df.height == 96 * 4
    assert sorted(set(df["analyte_as_written"])) == ["Spot 1", "Spot 10", "Spot 3", "Spot 8"]
    assert one(df, "C5", "Spot 8")["signal"] == ecl(2, 5, 8)
    assert df.filter(pl.col("well") == "A1")["analyte_as_written"].to_list() == [
        "Spot 1",
        "Spot 3",
        "Spot 8",
        "Spot 10",
    ]


def test_raw_one_grid_per_spot() -> None:
    data = raw_file(raw_header(spot="1"), raw_grid(), raw_header(spot="3"), raw_grid(plate=3))
    res = read_raw(data)
    assert [p.plate_id for p in res.plates] == ["22M0TALA85N"]
    assert one(res.wells, "B2", "Spot 3")["signal"] == ecl(1, 2, 1, 3)
    assert res.plates[0].extra["SpotID"] == "1,3"


def platemap_csv(n_cols: int = 12) -> str:
    blocks = []
    for var, cells in (
        ("sample_id", {"A1": "S1", "A2": "S1", "B1": "BLK", "C1": "CSF0011234567", "C2": "CSF0011234567"}),
        (
            "sample_type",
            {"A1": "standard", "A2": "standard", "B1": "blank", "C1": "unknown", "C2": "unknown"},
        ),
        ("expected_conc", {"A1": "1000", "A2": "1000"}),
        ("dilution", {"C1": "2", "C2": "2"}),
        ("analyte", {w: "NfL" for w in ("A1", "A2", "B1", "C1", "C2")}),
    ):
        lines = [var + "," + ",".join(str(c) for c in range(1, n_cols + 1))]
        for r in "ABCDEFGHIJKLMNOP"[: 16 if n_cols == 24 else 8]:
            lines.append(",".join([r, *(cells.get(f"{r}{c}", "") for c in range(1, n_cols + 1))]))
        blocks.append("\n".join(lines))
    return "\n\n".join(blocks) + "\n"


def test_raw_with_plate_map() -> None:
    data = raw_file(raw_header(), raw_grid())
    res = read_raw(data, siblings={"run42_platemap.csv": platemap_csv().encode()})
    df = res.wells
    assert res.companions == ["run42_platemap.csv"]
    assert df["well"].to_list() == ["A1", "A2", "B1", "C1", "C2"]
    c1 = one(df, "C1", "NfL")
    assert c1["sample_id"] == "CSF0011234567" and c1["dilution"] == 2.0 and c1["signal"] == ecl(2, 1)
    assert one(df, "A1", "NfL")["expected_conc"] == 1000.0
    assert not any("no plate map" in w for w in res.warnings)
    assert any("not in the plate map" in w for w in res.warnings)


def test_raw_plate_specific_map_is_preferred() -> None:
    data = raw_file(raw_header(), raw_grid())
    siblings = {"run42_22M0TALA85N_platemap.csv": platemap_csv().encode(), "run42_platemap.csv": b"junk"}
    assert read_raw(data, siblings=siblings).companions == ["run42_22M0TALA85N_platemap.csv"]


def test_raw_plate_map_of_the_wrong_size() -> None:
    with pytest.raises(ReaderError, match="384-well"):
        RAW.read(
            FileInput(
                "run42.txt",
                raw_file(raw_header(), raw_grid()),
                {"run42_platemap.csv": platemap_csv(24).encode()},
            )
        )


def test_raw_cell_that_is_not_a_reading() -> None:
    text = raw_file(raw_header(), raw_grid()).replace(f"{ecl(0, 5):>10}".encode(), b"  Overflow")
    res = read_raw(text)
    row = one(res.wells, "A5", "Spot 1")
    assert row["signal"] is None and row["flags"] == "signal_not_numeric"
    assert any("A5" in w for w in res.warnings)


@pytest.mark.parametrize(
    ("mutate", "message"),
    [
        (lambda t: t[: t.index("F \t")], "ends before row F"),
        (lambda t: t[: t.index("==========Processing") - 10], "ends inside row H"),
        (lambda t: t.replace("C \t", "X \t"), "expected row C"),
        (
            lambda t: "\r\n".join(ln[:40] if ln.startswith("D \t") else ln for ln in t.split("\r\n")),
            "cut short",
        ),
        (lambda t: t.replace("==========Data", "==========Data\n1\t2\t3", 1), "header row of column numbers"),
    ],
)
def test_raw_errors(mutate: Any, message: str) -> None:
    text = raw_file(raw_header(), raw_grid()).decode()
    with pytest.raises(ReaderError, match=message):
        RAW.read(FileInput("run42.txt", mutate(text).encode()))


def test_raw_sniff_beats_the_plate_reader_grid() -> None:
    data = raw_file(raw_header(), raw_grid())
    text = data.decode()
    mine = RAW.sniff(text, FileInput("r.txt", data))
    grid = PlateReaderGridReader().sniff(text, FileInput("r.txt", data))
    assert mine.matched and grid.matched and mine.score > grid.score
    assert not WB.sniff(text, FileInput("r.txt", data)).matched
    assert not RAW.sniff(wb_text(), FileInput("x.csv", b"")).matched


# ---- robustness: mutated or truncated exports read cleanly or fail with a ReaderError ----------------------

_WB_LINES = wb_text().encode().split(b"\r\n")
_RAW_LINES = raw_file(raw_header(1), raw_grid(), raw_header(2, "<*X2*>"), raw_grid(plate=2)).split(b"\r\n")


@st.composite
def mutated(draw: st.DrawFn, base: list[bytes]) -> bytes:
    lines = list(base)
    cut = False
    for _ in range(draw(st.integers(1, 3))):
        op = draw(st.sampled_from(["drop", "duplicate", "swap_sep", "garble", "truncate", "blank"]))
        i = draw(st.integers(0, len(lines) - 1))
        if op == "drop" and len(lines) > 1:
            del lines[i]
        elif op == "duplicate":
            lines.insert(i, lines[i])
        elif op == "swap_sep":
            lines[i] = lines[i].replace(b",", b";").replace(b"\t", b",")
        elif op == "garble":
            j = draw(st.integers(0, len(lines[i])))
            lines[i] = lines[i][:j] + draw(st.binary(min_size=1, max_size=4)) + lines[i][j:]
        elif op == "blank":
            lines.insert(i, b"")
        elif op == "truncate":
            cut = True
    data = b"\r\n".join(lines)
    return data[: draw(st.integers(0, len(data)))] if cut else data


def _conforms_or_reader_error(reader: MsdWorkbenchReader | MsdRawReader, data: bytes) -> None:
    try:
        res = reader.read(FileInput("m.txt", data))
    except ReaderError as err:
        assert str(err).startswith("m.txt")
        return
    assert res.wells.schema == pl.Schema(WELL_SCHEMA)
    WellModel.validate(res.wells)


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(mutated(_WB_LINES))
def test_workbench_mutations(data: bytes) -> None:
    _conforms_or_reader_error(WB, data)


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(mutated(_RAW_LINES))
def test_raw_mutations(data: bytes) -> None:
    _conforms_or_reader_error(RAW, data)


@settings(max_examples=100, deadline=None)
@given(st.integers(0, len(wb_text().encode())))
def test_workbench_truncation_at_any_byte(n: int) -> None:
    data = wb_text().encode()
    try:
        df = WB.read(FileInput("m.csv", data[:n])).wells
    except ReaderError:
        return
    # Whatever is accepted is exactly the first rows of the whole file: no value was read half-cut.
    full = WB.read(FileInput("m.csv", data)).wells
    assert df.equals(full.head(df.height))


@settings(max_examples=100, deadline=None)
@given(st.integers(0, len(b"\r\n".join(_RAW_LINES))))
def test_raw_truncation_at_any_byte(n: int) -> None:
    data = b"\r\n".join(_RAW_LINES)
    try:
        res = RAW.read(FileInput("m.txt", data[:n]))
    except ReaderError:
        return
    # A cut inside a grid is an error; a cut after a complete grid keeps only whole plates.
    full = RAW.read(FileInput("m.txt", data)).wells
    assert res.wells.height in (96, 192)
    assert res.wells.equals(full.head(res.wells.height))


@settings(max_examples=100, deadline=None)
@given(st.binary(max_size=600))
def test_arbitrary_bytes(data: bytes) -> None:
    _conforms_or_reader_error(WB, data)
    _conforms_or_reader_error(RAW, data)
    for reader in (WB, RAW):
        reader.sniff(data.decode("latin-1"), FileInput("b.bin", data))
