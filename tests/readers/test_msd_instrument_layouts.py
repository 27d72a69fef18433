"""MSD instrument files as MSD documents them, beyond a full 96-well plate (tests/readers/test_msd.py):
partial plates (rows or columns absent), 384 wells, spot tables, grids that end with the file — and a file
cut between two lines, which must not pass for a partial plate."""

from __future__ import annotations

import polars as pl
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from readers.base import FileInput, ReaderError, ReadResult
from readers.msd_instrument import MsdRawReader, column_numbers
from schemas.wells import WellModel
from tests.readers.test_msd import platemap_csv, raw_header

RAW = MsdRawReader()
LETTERS = "ABCDEFGHIJKLMNOP"
TRAILER = "==========Processing====\nRadius   :\t7.00\t7.00\n"


def grid(
    rows: str, columns: list[int], *, spots: int = 1, value: int = 0, empty_spots: tuple[int, ...] = ()
) -> str:
    """A Data section printing ``rows`` (letters) × ``columns``; spot k of well r/c holds
    ``value + 100000*k + 100*row index + c``."""
    lines = ["==========Data====================", "  \t" + "\t".join(f"{c:<10}" for c in columns) + "\t"]
    for r in rows:
        for k in range(1, spots + 1):
            label = r if k == 1 else " "
            if k in empty_spots:
                cells = [" " * 10 for _ in columns]
            else:
                cells = [f"{value + 100000 * k + 100 * LETTERS.index(r) + c:>10}" for c in columns]
            lines.append(f"{label} \t" + "\t".join(cells) + "\t")
    return "\n".join(lines) + "\n"


def read(text: str, name: str = "run42.txt", siblings: dict[str, bytes] | None = None) -> ReadResult:
    res = RAW.read(FileInput(name, text.replace("\n", "\r\n").encode(), siblings or {}))
    WellModel.validate(res.wells)
    return res


def signals(res: ReadResult) -> dict[tuple[str, str], float]:
    return {(r["well"], r["analyte_as_written"]): r["signal"] for r in res.wells.iter_rows(named=True)}


def test_rows_absent() -> None:
    res = read(raw_header() + grid("ACEG", list(range(1, 13))) + TRAILER)
    assert sorted({w[0] for w in res.wells["well"]}) == ["A", "C", "E", "G"]
    assert signals(res)[("E7", "Spot 1")] == 100000 + 400 + 7


def test_columns_absent() -> None:
    res = read(raw_header() + grid("AB", [5, 6, 7]) + TRAILER)
    assert res.wells["well"].to_list() == ["A5", "A6", "A7", "B5", "B6", "B7"]


def test_grid_ending_with_the_file_as_announced() -> None:
    head = raw_header(**{"Wells Per Row": "3", "Wells Per Col": "2"})
    res = read(head + grid("AB", [1, 2, 3]))
    assert res.wells.height == 6


def test_grid_cut_between_two_lines_is_refused() -> None:
    """No section after the grid and fewer rows than the plate (or Wells Per Col) has: a cut file."""
    with pytest.raises(ReaderError, match="ends before row E"):
        read(raw_header() + grid("ABCD", list(range(1, 13))))
    head = raw_header(**{"Wells Per Col": "8"})
    with pytest.raises(ReaderError, match="4 of 8 rows"):
        read(head + grid("ABCD", list(range(1, 13))))


def test_multi_spot_row_cut_at_the_end_is_refused() -> None:
    text = raw_header() + grid(LETTERS[:8], list(range(1, 13)), spots=4)
    cut = text[: text.rindex("\n", 0, len(text) - 1) + 1]  # drop the last spot row of row H
    with pytest.raises(ReaderError, match="3 of 4 spot rows"):
        read(cut)
    assert read(text).wells.height == 96 * 4


def test_384_partial_plate_takes_a_384_plate_map() -> None:
    head = raw_header().replace("Type     :\t96", "Type     :\t384 Multi-Spot 4")
    res = read(
        head + grid("AB", [1, 2]) + TRAILER, siblings={"run42_platemap.csv": platemap_csv(24).encode()}
    )
    assert res.companions == ["run42_platemap.csv"]
    assert res.wells["well"].to_list() == ["A1", "A2", "B1"]  # the wells the map names
    # C1 and C2 are named by the map but absent from this partial plate: said, not dropped silently.
    assert any("not in the file's grid" in w and "C1, C2" in w for w in res.warnings)


def test_grid_larger_than_its_type_is_read_as_384() -> None:
    res = read(raw_header() + grid("AB", [12, 13]) + TRAILER)
    assert res.wells["well"].to_list() == ["A12", "A13", "B12", "B13"]
    assert any("384-well" in w for w in res.warnings)


@pytest.mark.parametrize(
    ("mutate", "message"),
    [
        (lambda t: t.replace("  \t1         \t2", "  \t2         \t1"), "header row of column numbers"),
        (lambda t: t.replace("C \t", "A \t"), "expected row C"),  # A again after B
        (lambda t: t.replace("B \t", "b1\t"), "expected row B"),  # not a row letter
    ],
)
def test_grid_errors(mutate: object, message: str) -> None:
    text = raw_header() + grid("ABC", list(range(1, 13))) + TRAILER
    with pytest.raises(ReaderError, match=message):
        read(mutate(text))  # type: ignore[operator]


def test_plate_map_unknown_without_dilution_is_flagged() -> None:
    pm = platemap_csv().replace("sample_id,", "sample_id,", 1)
    pm = pm.replace("\nD,", "\nD,CSF0019999999", 1)  # D1: an unknown the map gives no dilution
    res = read(
        raw_header() + grid(LETTERS[:8], list(range(1, 13))) + TRAILER,
        siblings={"run42_platemap.csv": pm.encode()},
    )
    df = res.wells
    d1 = df.filter(pl.col("well") == "D1").row(0, named=True)
    assert d1["sample_type"] == "unknown" and d1["dilution"] == 1.0 and d1["flags"] == "dilution_missing"
    c1 = df.filter(pl.col("well") == "C1").row(0, named=True)
    assert c1["dilution"] == 2.0 and c1["flags"] is None
    assert df.filter(pl.col("well") == "A1")["flags"].to_list() == [None]  # a standard takes 1
    assert any("dilution_missing" in w for w in res.warnings)


@pytest.mark.parametrize(
    ("cells", "numbers"),
    [
        (["", "1", "2", "3", ""], [1, 2, 3]),
        (["", "5", "7", "24"], [5, 7, 24]),
        (["x", "1"], None),
        (["", "2", "1"], None),
        (["", "1", "25"], None),
        (["", "1", "", "3"], None),
        ([""], None),
    ],
)
def test_column_numbers(cells: list[str], numbers: list[int] | None) -> None:
    assert column_numbers(cells) == numbers


@st.composite
def partial_plates(draw: st.DrawFn) -> tuple[str, str, list[int], int, bool]:
    big = draw(st.booleans())
    n_rows, n_cols = (16, 24) if big else (8, 12)
    rows = "".join(sorted(draw(st.sets(st.sampled_from(LETTERS[:n_rows]), min_size=1))))
    columns = sorted(draw(st.sets(st.integers(1, n_cols), min_size=1)))
    spots = draw(st.integers(1, 4))
    trailer = draw(st.booleans())
    return ("384" if big else "96", rows, columns, spots, trailer)


@given(partial_plates())
@settings(max_examples=60, deadline=None)
def test_any_partial_plate_reads_every_printed_value(plate: tuple[str, str, list[int], int, bool]) -> None:
    size, rows, columns, spots, trailer = plate
    head = raw_header().replace("Type     :\t96", f"Type     :\t{size}")
    if not trailer:  # a grid ending with the file is complete only when the header says how many rows
        head += f"Wells Per Col :\t{len(rows)}\n"
    res = read(head + grid(rows, columns, spots=spots) + (TRAILER if trailer else ""))
    expected = {
        (f"{r}{c}", f"Spot {k}"): float(100000 * k + 100 * LETTERS.index(r) + c)
        for r in rows
        for c in columns
        for k in range(1, spots + 1)
    }
    assert signals(res) == expected
