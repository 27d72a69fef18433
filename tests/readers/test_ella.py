"""EllaReader on inline Simple Plex exports of the two documented forms (no public Ella file exists),
plus robustness: any mutation reads to a conforming table or a ReaderError."""

from __future__ import annotations

from typing import Any

import polars as pl
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from readers.base import FileInput, ReaderError, ReadResult
from readers.ella import EllaReader, classify
from schemas.wells import WELL_SCHEMA, WellModel

# Wide form. Line numbers matter: the header is line 8, results start at line 9.
WIDE = """\
Simple Plex Explorer,3.7.2
Cartridge ID,1234-ABCD-5678
Cartridge Lot,SPCKC-PS-002345
Cartridge Type,32x4 NF-L/GFAP/IL-6/TNF
Run Date,2024-03-06 10:15
Operator,jdoe

Sample,Sample Type,Analyte,Well,Dilution Factor,Signal 1 (RFU),Signal 2 (RFU),Signal 3 (RFU),\
Calculated Concentration 1 (pg/mL),Calculated Concentration 2 (pg/mL),Calculated Concentration 3 (pg/mL),\
Mean (pg/mL),CV (%),Flags
ALS-0001,Sample,NF-L,A1,2,1523.4,1498.2,1533.0,25.31,24.89,25.47,25.22,1.2,
ALS-0001,Sample,GFAP,A1,2,812.1,803.4,NaN,110.2,108.9,NaN,109.55,0.8,GNR 3 failed
ALS-0002,Sample,NF-L,,2,12.1,11.8,12.4,< LLOQ,< LLOQ,0.31,0.31,,Below LLOQ
ALS-0002,Sample,GFAP,,2,99.0,98.1,97.7,> ULOQ,>2150,,,,
QC-Low,Control,NF-L,B1,2,800,810,805,12.0,12.2,12.1,14.0,0.8,
ALS-0003,Sample,NF-L,,2,5.5,5.6,5.4,3.1,3.2,3.0,3.10,3.2,
"""

# Long form, tab-separated, with statistics rows. Header is line 2.
LONG = """\
Cartridge ID: 9999-XYZ
Sample\tAnalyte\tReplicate\tPosition\tSignal (RFU)\tCalculated Concentration (pg/mL)\tDilution Factor\tFlags
ALS-0010\tIL-6\t1\tC3\t100.5\t3.21\t2\t
ALS-0010\tIL-6\t2\tC3\t101.5\t3.25\t2\t
ALS-0010\tIL-6\t3\tC3\t99.0\t3.19\t2\t
ALS-0010\tIL-6\tMean\t\t\t3.80\t2\t
ALS-0011\tIL-6\t1\t\t10.5\tNaN\t2\t
ALS-0011\tIL-6\t2\t\t10.1\t\t2\t
ALS-0011\tIL-6\t3\t\t10.9\t< LLOQ\t2\tBelow LLOQ
ALS-0011\tIL-6\tMean\t\t\tNaN\t2\t
"""


def read(text: str | bytes, name: str = "ella_run.csv") -> ReadResult:
    data = text.encode() if isinstance(text, str) else text
    return EllaReader().read(FileInput(name, data))


def rows(df: pl.DataFrame, line: int) -> list[dict[str, Any]]:
    return df.filter(pl.col("row_number") == line).to_dicts()


def test_wide_triplicates_one_row_per_replicate() -> None:
    res = read(WIDE)
    df = WellModel.validate(res.wells)
    assert df.schema == pl.Schema(WELL_SCHEMA)
    assert df.height == 6 * 3
    nfl = rows(df, 9)
    assert [r["signal"] for r in nfl] == [1523.4, 1498.2, 1533.0]
    assert [r["reported_text"] for r in nfl] == ["25.31", "24.89", "25.47"]
    assert {(r["well"], r["sample_id"], r["analyte_as_written"]) for r in nfl} == {("A1", "ALS-0001", "NF-L")}
    assert set(df["unit"]) == {"pg/mL"} and set(df["unit_source"]) == {"file"}
    assert set(df["signal_kind"]) == {"RFU"}
    assert df["dilution_applied"].all() and set(df["dilution"]) == {2.0}
    assert set(df["format"]) == {"ella"}


def test_wide_tokens_and_flags() -> None:
    df = read(WIDE).wells
    gfap = rows(df, 10)
    assert gfap[2]["qualifier"] == "NR" and gfap[2]["signal"] is None
    assert "result_not_reported: not a number" in gfap[2]["flags"]
    assert all("instrument_flag: GNR 3 failed" in r["flags"] for r in gfap)
    low = rows(df, 11)
    assert [(r["qualifier"], r["value"]) for r in low] == [("<", None), ("<", None), ("=", 0.31)]
    high = rows(df, 12)
    assert [(r["qualifier"], r["value"]) for r in high] == [(">", None), (">", 2150.0), ("NR", None)]
    assert "empty cell" in high[2]["flags"]


def test_sample_types() -> None:
    df = read(WIDE).wells
    assert {r["sample_type"] for r in rows(df, 13)} == {"qc"}
    assert {r["sample_type"] for r in rows(df, 9)} == {"unknown"}
    no_type = (
        WIDE.replace("Sample,Sample Type,", "Sample,").replace(",Sample,", ",").replace(",Control,", ",")
    )
    df2 = read(no_type).wells
    assert {r["sample_type"] for r in rows(df2, 13)} == {"qc"}  # by name: QC-…


def test_positions_synthesised_per_inlet() -> None:
    df = read(WIDE).wells
    # ALS-0002 (both analytes) is one inlet; ALS-0003 another; real wells A1 and B1 are skipped.
    assert {r["well"] for r in rows(df, 11)} == {"A2"}
    assert {r["well"] for r in rows(df, 12)} == {"A2"}
    assert {r["well"] for r in rows(df, 14)} == {"A3"}
    assert all(r["flags"].startswith("position_synthesised") for r in rows(df, 14))
    assert all("position_synthesised" not in (r["flags"] or "") for r in rows(df, 9))


def test_wide_mean_cross_check() -> None:
    res = read(WIDE)
    means = [w for w in res.warnings if "Mean" in w]
    assert len(means) == 1 and "line 13" in means[0]  # QC-Low: 14.0 vs 12.1


def test_preamble_gives_plate_info() -> None:
    (plate,) = read(WIDE).plates
    assert plate.plate_id == "1234-ABCD-5678"
    assert plate.kit_lot == "SPCKC-PS-002345"
    assert plate.protocol == "32x4 NF-L/GFAP/IL-6/TNF"
    assert plate.acquired_at == "2024-03-06 10:15" and plate.operator == "jdoe"
    assert set(read(WIDE).wells["plate_id"]) == {"1234-ABCD-5678"}


def test_long_form_with_statistics_rows() -> None:
    res = read(LONG, "long.txt")
    df = WellModel.validate(res.wells)
    assert df.height == 6
    assert df["row_number"].to_list() == [3, 4, 5, 7, 8, 9]
    assert df["well"].to_list()[:3] == ["C3", "C3", "C3"]
    assert set(df["well"].to_list()[3:]) == {"A1"}  # synthesised for the ALS-0011 inlet
    assert df["qualifier"].to_list() == ["=", "=", "=", "NR", "NR", "<"]
    assert set(df["plate_id"]) == {"9999-XYZ"}
    means = [w for w in res.warnings if "Mean" in w]
    assert len(means) == 1 and "line 6" in means[0]  # 3.80 vs 3.2167; ALS-0011's NaN mean is not checked


def test_long_form_new_set_when_replicates_restart() -> None:
    text = LONG.replace("ALS-0011\tIL-6\t1\t\t", "ALS-0010\tIL-6\t1\tC3\t").replace(
        "ALS-0011\tIL-6\t2\t\t", "ALS-0010\tIL-6\t2\tC3\t"
    )
    df = read(text, "long.txt").wells
    assert df.height == 6  # the second ALS-0010 set is read, not merged into the first


def test_long_form_replicate_labels() -> None:
    df = read(LONG.replace("IL-6\t2\tC3", "IL-6\tGNR 2\tC3").replace("IL-6\t3\tC3", "IL-6\tRep 3\tC3")).wells
    assert df.height == 6 and set(df.filter(pl.col("row_number") <= 5)["well"]) == {"C3"}


def test_cartridge_column_gives_several_plates() -> None:
    text = WIDE.replace("Mean (pg/mL),CV (%),Flags", "Mean (pg/mL),CV (%),Flags,Cartridge ID")
    lines = text.splitlines()
    lines = [*lines[:8], *(ln + (",C-1" if i < 2 else ",C-2") for i, ln in enumerate(lines[8:]))]
    res = read("\n".join(lines) + "\n")
    assert sorted(p.plate_id for p in res.plates) == ["C-1", "C-2"]


def test_no_unit_anywhere_is_left_to_configuration() -> None:
    res = read(WIDE.replace(" (pg/mL)", ""))
    assert res.wells["unit"].is_null().all() and res.wells["unit_source"].is_null().all()
    assert any("unit" in w for w in res.warnings)


@pytest.mark.parametrize(
    ("text", "line", "words"),
    [
        ("Sample,Analyte\nS,IL-6\n", None, "no Simple Plex results table"),
        (
            WIDE.replace("Calculated Concentration 3 (pg/mL)", "Calculated Concentration 3 (ng/mL)"),
            8,
            "units",
        ),
        (WIDE.rsplit(",", 3)[0] + "\n", 14, "cut short"),
        (WIDE.replace("QC-Low,Control,NF-L,B1,2,", "QC-Low,Control,NF-L,B1,-2,"), 13, "Dilution Factor"),
        (WIDE.replace("ALS-0003,Sample,NF-L,", "ALS-0003,Sample,,"), 14, "no Analyte"),
        (LONG.replace("IL-6\t2\tC3", "IL-6\tx\tC3"), 4, "Replicate 'x'"),
        (WIDE.split("ALS-0001")[0], 8, "no result rows"),
    ],
)
def test_errors_name_the_line(text: str, line: int | None, words: str) -> None:
    with pytest.raises(ReaderError) as err:
        read(text)
    assert err.value.line == line
    assert words in str(err.value)
    assert str(err.value).startswith("ella_run.csv")


def test_sniff() -> None:
    r = EllaReader()
    for text in (WIDE, LONG):
        s = r.sniff(text, FileInput("x", text.encode()))
        assert s.matched and s.score > 10
    msd = "Plate Name,Sample,Assay,Well,Spot,Signal,Calc. Concentration\nP1,S001,Spike,A02,2,3513,53.2\n"
    s = r.sniff(msd, FileInput("m.csv", msd.encode()))
    assert not s.matched and "Analyte" in s.reason


def test_classify_headers() -> None:
    c = classify("Glass Nanoreactor (GNR) replicate 2 Signal (RFU)")
    assert (c.kind, c.rep) == ("signal", 2)
    c = classify("Calculated Concentration 3 (pg/mL)")
    assert (c.kind, c.rep, c.unit) == ("conc", 3, "pg/mL")
    assert classify("CV (%)").kind == "other"
    assert classify("Mean (pg/mL)").kind == "mean"
    assert classify("Well/Position").kind == "well"


# ---- robustness ------------------------------------------------------------------------------------------


def _mutations(base: str, sep: bytes) -> st.SearchStrategy[bytes]:
    lines0 = base.replace("\n", "\r\n").encode().split(b"\r\n")

    @st.composite
    def build(draw: st.DrawFn) -> bytes:
        lines = list(lines0)
        cut = False
        for _ in range(draw(st.integers(1, 3))):
            op = draw(st.sampled_from(["drop", "duplicate", "swap_all", "garble", "truncate", "cell"]))
            i = draw(st.integers(0, len(lines) - 1))
            if op == "drop" and len(lines) > 1:
                del lines[i]
            elif op == "duplicate":
                lines.insert(i, lines[i])
            elif op == "swap_all":
                other = draw(st.sampled_from([b";", b"\t", b","]))
                lines = [ln.replace(sep, other) for ln in lines]
            elif op == "garble":
                j = draw(st.integers(0, len(lines[i])))
                lines[i] = lines[i][:j] + draw(st.binary(min_size=1, max_size=4)) + lines[i][j:]
            elif op == "cell":
                cells = lines[i].split(sep)
                k = draw(st.integers(0, len(cells) - 1))
                cells[k] = draw(
                    st.sampled_from([b"", b"NaN", b"> ULOQ", b"-1", b"0", b"Mean", b"1e400", b'"'])
                )
                lines[i] = sep.join(cells)
            elif op == "truncate":
                cut = True
        data = b"\r\n".join(lines)
        return data[: draw(st.integers(0, len(data)))] if cut else data

    return build()


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.one_of(_mutations(WIDE, b","), _mutations(LONG, b"\t")))
def test_mutations_read_or_raise_reader_error(data: bytes) -> None:
    try:
        df = read(data).wells
    except ReaderError as err:
        assert str(err).startswith("ella_run.csv")
        return
    assert df.schema == pl.Schema(WELL_SCHEMA)
    WellModel.validate(df)


@settings(max_examples=100, deadline=None)
@given(st.sampled_from([WIDE, LONG]), st.floats(0, 1))
def test_truncation_at_any_byte(text: str, frac: float) -> None:
    data = text.encode()
    try:
        df = read(data[: int(len(data) * frac)]).wells
    except ReaderError:
        return
    WellModel.validate(df)
    full = read(text).wells
    common = full.filter(pl.col("row_number").is_in(df["row_number"].implode()))
    assert df.drop("flags").equals(common.drop("flags"))  # a cut Flags cell may be shorter
