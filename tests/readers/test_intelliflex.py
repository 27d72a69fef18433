"""IntelliflexReader: the INTELLIFLEX per-well CSV on small inline exports, and on the real ones in
../shared/corpus with allotropy's expected values."""

from __future__ import annotations

import csv
import io
import json
from pathlib import Path
from typing import Any

import polars as pl
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from readers.allotropy_fallback import map_asm
from readers.base import FileInput, ReaderError
from readers.detect import detect, head_text
from readers.intelliflex import IntelliflexReader
from readers.xponent import XponentReader
from schemas.wells import WellModel

HEADER = [
    "INSTRUMENT TYPE",
    "SERIAL NUMBER",
    "PLATE NAME",
    "PLATE START",
    "WELL LOCATION",
    "WELL TYPE",
    "SAMPLE ID",
    "DILUTION",
    "R25: RP1 ANALYTE NAME",
    "R25: RP1 MEDIAN",
    "R25: RP1 COUNT",
    "R25: RP2 MEDIAN",
    "R25: RP2 COUNT",
]
ROWS = [
    [
        "INTELLIFLEX",
        "IF1",
        "PLATE_A",
        "2024-11-08 12:12",
        "A1",
        "B",
        "Background",
        "",
        "NaN",
        "NaN",
        "0",
        "NaN",
        "0",
    ],
    [
        "INTELLIFLEX",
        "IF1",
        "PLATE_A",
        "2024-11-08 12:12",
        "B1",
        "S1",
        "Standard1",
        "",
        "IL-6",
        "15000.5",
        "80",
        "12",
        "80",
    ],
    [
        "INTELLIFLEX",
        "IF1",
        "PLATE_A",
        "2024-11-08 12:12",
        "C01",
        "U1",
        "P-1001",
        "2",
        "IL-6",
        "812",
        "20",
        "9",
        "20",
    ],
    [
        "INTELLIFLEX",
        "IF1",
        "PLATE_A",
        "2024-11-08 12:12",
        "D1",
        "U2",
        "P-1002",
        "",
        "IL-6",
        "1.2E+03",
        "90",
        "1,234.5",
        "90",
    ],
]
FOOTER = "--DOCUMENT SIGNATURE--\nInstrument Serial Number: IF1\nData Signature: \nABCD1234\n"


def export(
    rows: list[list[str]] = ROWS, header: list[str] = HEADER, footer: str = FOOTER, delimiter: str = ","
) -> bytes:
    out = io.StringIO()
    w = csv.writer(out, delimiter=delimiter, lineterminator="\r\n")
    w.writerow(header)
    w.writerows(rows)
    return (out.getvalue() + footer).encode()


def read(data: bytes, name: str = "run.csv") -> pl.DataFrame:
    return WellModel.validate(IntelliflexReader().read(FileInput(name, data)).wells)


def one(df: pl.DataFrame, well: str, analyte: str) -> dict[str, Any]:
    rows = df.filter((pl.col("well") == well) & (pl.col("analyte_as_written") == analyte)).to_dicts()
    assert len(rows) == 1, rows
    return rows[0]


def test_one_row_per_well_and_channel_with_names_signals_and_types() -> None:
    res = IntelliflexReader().read(FileInput("run.csv", export()))
    df = WellModel.validate(res.wells)
    assert df.height == 4 * 2
    # RP1 is named IL-6 (a dry well writes NaN: the first name given is used); RP2 has no name column
    assert set(df["analyte_as_written"]) == {"IL-6", "R25: RP2"}
    assert any("R25: RP2 only by bead region" in w for w in res.warnings)
    assert one(df, "B1", "IL-6")["signal"] == 15000.5 and one(df, "B1", "IL-6")["signal_kind"] == "MFI"
    assert one(df, "D1", "IL-6")["signal"] == 1200.0  # 1.2E+03
    assert one(df, "D1", "R25: RP2")["signal"] == 1234.5  # thousands separator
    assert one(df, "C1", "IL-6")["sample_type"] == "unknown" and one(df, "C1", "IL-6")["dilution"] == 2.0
    assert (
        one(df, "A1", "IL-6")["sample_type"] == "blank" and one(df, "B1", "IL-6")["sample_type"] == "standard"
    )
    a1 = one(df, "A1", "IL-6")
    assert a1["signal"] is None and "signal_not_reported: not a number (NaN" in a1["flags"]
    assert "low_bead_count" in one(df, "C1", "IL-6")["flags"]
    assert (
        set(df["qualifier"]) == {"NR"} and df["value"].is_null().all() and df["reported_text"].is_null().all()
    )
    assert [p.plate_id for p in res.plates] == ["PLATE_A"] and set(df["plate_id"]) == {"PLATE_A"}
    assert res.plates[0].acquired_at == "2024-11-08 12:12" and res.plates[0].instrument == "INTELLIFLEX"
    assert one(df, "C1", "IL-6")["row_number"] == 4


def test_empty_dilution_standard_and_blank_take_1_an_unknown_is_flagged() -> None:
    df = read(export())
    assert (
        one(df, "A1", "IL-6")["dilution"] == 1.0 and "dilution_missing" not in one(df, "A1", "IL-6")["flags"]
    )
    assert one(df, "B1", "IL-6")["dilution"] == 1.0 and one(df, "B1", "IL-6")["flags"] is None
    d1 = df.filter(pl.col("well") == "D1")
    assert d1["dilution"].to_list() == [1.0, 1.0]
    assert all("dilution_missing" in f.split(";") for f in d1["flags"])


def test_without_dilution_column_every_well_is_1_with_a_warning() -> None:
    j = HEADER.index("DILUTION")
    data = export([r[:j] + r[j + 1 :] for r in ROWS], HEADER[:j] + HEADER[j + 1 :])
    res = IntelliflexReader().read(FileInput("run.csv", data))
    assert set(res.wells["dilution"]) == {1.0}
    assert any("no DILUTION column" in w for w in res.warnings)


def test_several_plates_in_one_file_keep_their_own_plate_id() -> None:
    rows = [*ROWS, [*ROWS[2][:2], "PLATE_B", *ROWS[2][3:]]]  # C1 again, on another plate
    res = IntelliflexReader().read(FileInput("run.csv", export(rows)))
    assert [p.plate_id for p in res.plates] == ["PLATE_A", "PLATE_B"]
    assert res.wells.filter(pl.col("plate_id") == "PLATE_B")["well"].to_list() == ["C1", "C1"]


def test_semicolon_and_decimal_comma() -> None:
    rows = [[c.replace("15000.5", "15000,5") for c in r] for r in ROWS]
    rows = [[c.replace("1,234.5", "1234,5") for c in r] for r in rows]
    df = read(export(rows, delimiter=";"))
    assert one(df, "B1", "IL-6")["signal"] == 15000.5 and one(df, "D1", "R25: RP2")["signal"] == 1234.5


@pytest.mark.parametrize(
    ("change", "needle"),
    [
        (lambda r: r[:4], "cut short"),
        (lambda r: [*r[:4], "Z9", *r[5:]], "not a plate well"),
        (lambda r: [*r[:7], "zero", *r[8:]], "not a positive number"),
    ],
)
def test_errors_name_the_line(change: Any, needle: str) -> None:
    rows = [ROWS[0], change(ROWS[1]), *ROWS[2:]]
    with pytest.raises(ReaderError, match=needle) as info:
        IntelliflexReader().read(FileInput("bad.csv", export(rows)))
    assert info.value.line == 3 and info.value.file == "bad.csv"


def test_error_duplicate_well_and_no_well_location() -> None:
    with pytest.raises(ReaderError, match="appears twice"):
        IntelliflexReader().read(FileInput("bad.csv", export([*ROWS, ROWS[1]])))
    header = ["WELL" if h == "WELL LOCATION" else h for h in HEADER]
    with pytest.raises(ReaderError):
        IntelliflexReader().read(FileInput("bad.csv", export(header=header)))


def test_sniff_tells_the_two_luminex_csv_layouts_apart() -> None:
    f = FileInput("run.csv", export())
    head = head_text(f)
    assert IntelliflexReader().sniff(head, f).matched and not XponentReader().sniff(head, f).matched
    assert detect(f).name == "intelliflex"
    xponent = FileInput("x.csv", b'"Program","xPONENT","","Intelliflex"\n"DataType:","Median"\n')
    assert not IntelliflexReader().sniff(head_text(xponent), xponent).matched


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.integers(0, len(export())), st.binary(max_size=8))
def test_property_truncated_or_damaged_files_read_or_raise_reader_error(n: int, junk: bytes) -> None:
    data = export()[:n] + junk
    try:
        df = IntelliflexReader().read(FileInput("run.csv", data)).wells
    except ReaderError:
        return
    WellModel.validate(df)


@settings(max_examples=60, deadline=None)
@given(
    st.lists(
        st.tuples(st.sampled_from("ABCDEFGH"), st.integers(1, 12), st.floats(0, 1e6, allow_nan=False)),
        min_size=1,
        max_size=20,
        unique_by=lambda t: (t[0], t[1]),
    )
)
def test_property_every_median_is_read_back_exactly(wells: list[tuple[str, int, float]]) -> None:
    rows = [
        ["INTELLIFLEX", "IF1", "P", "", f"{r}{c:02d}", "U1", f"S{i}", "1", "IL-6", repr(v), "100", "5", "100"]
        for i, (r, c, v) in enumerate(wells)
    ]
    df = read(export(rows))
    got = {
        w: s
        for w, s in df.filter(pl.col("analyte_as_written") == "IL-6").select("well", "signal").iter_rows()
    }
    assert got == {f"{r}{c}": v for r, c, v in wells}


# ---- real exports --------------------------------------------------------------------------------------

V2_2 = Path("allotropy") / "luminex_intelliflex" / "luminex_intelliflex_v2_2.csv"
SINGLE = Path("xponent") / "allotropy_intelliflex_single_dataset.csv"


@pytest.mark.corpus
def test_v2_2_equals_allotropy_expected_json(corpus: Path) -> None:
    path = corpus / V2_2
    res = IntelliflexReader().read(FileInput(path.name, path.read_bytes()))
    ours = WellModel.validate(res.wells)
    theirs = map_asm(
        json.loads(path.with_suffix(".json").read_text()),
        vendor="LUMINEX_INTELLIFLEX",
        display_name="Luminex INTELLIFLEX",
        file_name=path.name,
    ).wells
    o = {(r["well"], r["analyte_as_written"]): r for r in ours.iter_rows(named=True)}
    t = {(r["well"], r["analyte_as_written"]): r for r in theirs.iter_rows(named=True)}
    assert len(o) == ours.height == 140 and set(o) == set(t)
    for k, want in t.items():
        assert (o[k]["signal"], o[k]["dilution"], o[k]["sample_id"]) == (
            want["signal"],
            want["dilution"],
            want["sample_id"],
        ), k
    assert [p.plate_id for p in res.plates] == ["TEST_PLATE_001"]
    assert any("marked Partial" in w for w in res.warnings)  # a partial plate: 10 of 96 wells


@pytest.mark.corpus
def test_single_dataset_names_channels_by_region(corpus: Path) -> None:
    path = corpus / SINGLE
    res = IntelliflexReader().read(FileInput(path.name, path.read_bytes()))
    df = WellModel.validate(res.wells)
    assert df.height == 3 * 28 and set(df["well"]) == {"A1", "B1", "C1"}
    a1 = one(df, "A1", "R25: RP1")
    assert a1["signal"] == 130.55469 and a1["sample_id"] == "Unknown1" and a1["sample_type"] == "unknown"
    assert one(df, "A1", "R25: RP2")["signal"] == 6.69629
    assert [p.plate_id for p in res.plates] == ["PLATE_11082024_RUN000"]
    assert set(df["dilution"]) == {1.0} and any("no DILUTION column" in w for w in res.warnings)
