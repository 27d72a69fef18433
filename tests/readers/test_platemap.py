"""Plate maps in plater format: the layout labs upload beside a plate-reader grid."""

from __future__ import annotations

import contextlib
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from readers.base import ReaderError
from readers.platemap import looks_like_platemap, parse_dilution, parse_platemap, plate_wells

HEADER = "," + ",".join(str(c) for c in range(1, 13))


def block(variable: str, rows: dict[str, list[str]]) -> str:
    """One plater block; rows not given are empty."""
    lines = [variable + HEADER]
    for r in "ABCDEFGH":
        cells = (rows.get(r, []) + [""] * 12)[:12]
        lines.append(",".join([r, *cells]))
    return "\n".join(lines)


SMALL_MAP = "\n\n".join(
    [
        block("Sample", {"A": ["S1", "S1", "P-001"], "B": ["S2", "S2", "P-002"], "H": ["", "", "", "BLK"]}),
        block(
            "Sample_Type",
            {"A": ["S", "standard", "X"], "B": ["Standard", "S", "unknown"], "H": ["", "", "", "B"]},
        ),
        block("expected_conc", {"A": ["2000", "2000"], "B": ["1000", "1000"]}),
        block("dilution", {"A": ["", "", "1/50"], "B": ["", "", "2"]}),
        block("Operator note", {"C": ["re-pipetted"]}),
    ]
)


def test_small_map_parses_with_canonical_variable_names() -> None:
    pm = parse_platemap(SMALL_MAP, name="run1_platemap.csv")
    assert pm.variables == ("sample_id", "sample_type", "expected_conc", "dilution", "Operator note")
    assert pm.n_columns == 12 and pm.n_rows == 8
    assert pm.sample_id("A3") == "P-001"
    assert [pm.sample_type(w) for w in ("A1", "A2", "A3", "B1", "H4")] == [
        "standard",
        "standard",
        "unknown",
        "standard",
        "blank",
    ]
    assert pm.expected_conc("B2") == 1000.0
    assert pm.expected_conc("A3") is None
    assert pm.dilution("A3") == 50.0
    assert pm.dilution("B3") == 2.0
    assert pm.dilution("A1") == 1.0  # not given: undiluted
    assert pm.value("C1", "Operator note") == "re-pipetted"  # unknown variables are kept


def test_named_wells_are_those_with_a_sample_in_plate_order() -> None:
    pm = parse_platemap(SMALL_MAP, name="m.csv")
    # C1 has only an operator note: not a sample well.
    assert pm.named_wells() == ["A1", "A2", "A3", "B1", "B2", "B3", "H4"]
    assert "D5" not in pm.wells  # an empty cell is a missing well


def test_line_numbers_are_kept_for_each_cell() -> None:
    pm = parse_platemap(SMALL_MAP, name="m.csv")
    assert pm.line_of("A3", "sample_id") == 2
    assert pm.line_of("A3", "sample_type") == 12


def test_semicolon_separated_map_is_accepted() -> None:
    text = SMALL_MAP.replace(",", ";")
    assert parse_platemap(text, name="m.csv").sample_id("B3") == "P-002"


def test_two_blank_lines_start_a_second_plate_and_are_refused() -> None:
    text = block("sample_id", {"A": ["x"]}) + "\n\n\n" + block("dilution", {"A": ["2"]})
    with pytest.raises(ReaderError, match="second plate") as err:
        parse_platemap(text, name="m.csv")
    assert err.value.line == 10


def test_trailing_blank_lines_are_not_a_second_plate() -> None:
    text = block("sample_id", {"A": ["x"]}) + "\n\n\n\n"
    assert parse_platemap(text, name="m.csv").sample_id("A1") == "x"


@pytest.mark.parametrize(
    ("bad_block", "message"),
    [
        (block("sample_type", {"A": ["serum"]}), "sample_type 'serum'"),
        (block("dilution", {"A": ["0.02"]}), "dilution '0.02'"),
        (block("expected_conc", {"A": ["2 000 pg"]}), "expected_conc"),
    ],
)
def test_bad_values_name_the_well_and_line(bad_block: str, message: str) -> None:
    text = block("sample_id", {"A": ["x"]}) + "\n\n" + bad_block
    with pytest.raises(ReaderError, match=message) as err:
        parse_platemap(text, name="m.csv")
    assert "A1" in str(err.value) and err.value.line == 12


def test_missing_row_is_refused() -> None:
    text = block("sample_id", {"A": ["x"]}).replace("\nD,", "\nX,")
    with pytest.raises(ReaderError, match="expected row D") as err:
        parse_platemap(text, name="m.csv")
    assert err.value.line == 5


def test_repeated_variable_is_refused() -> None:
    text = block("sample_id", {"A": ["x"]}) + "\n\n" + block("Sample", {"A": ["y"]})
    with pytest.raises(ReaderError, match="twice"):
        parse_platemap(text, name="m.csv")


def test_384_well_map() -> None:
    header = "sample_id," + ",".join(str(c) for c in range(1, 25))
    rows = [",".join([r, *(f"{r}{c}" for c in range(1, 25))]) for r in "ABCDEFGHIJKLMNOP"]
    pm = parse_platemap("\n".join([header, *rows]), name="m.csv")
    assert pm.n_columns == 24 and pm.sample_id("P24") == "P24"
    assert len(pm.named_wells()) == 384 == len(plate_wells(24))


@pytest.mark.parametrize(
    ("text", "factor"),
    [("50", 50.0), ("1/50", 50.0), ("1:100", 100.0), (" 1/102400 ", 102400.0), ("2.5", 2.5), ("1", 1.0)],
)
def test_parse_dilution(text: str, factor: float) -> None:
    assert parse_dilution(text) == factor


@pytest.mark.parametrize("text", ["", "B", "0.5", "1/0.5", "-2", "2/3"])
def test_parse_dilution_refuses_what_is_not_a_factor(text: str) -> None:
    assert parse_dilution(text) is None


def test_looks_like_platemap() -> None:
    assert looks_like_platemap(SMALL_MAP)
    assert not looks_like_platemap("Plate: P1\n\n" + SMALL_MAP)  # an export header above: not a map
    assert not looks_like_platemap("")
    assert not looks_like_platemap("a,b,c\n1,2,3\n")


def test_a_bare_numeric_grid_is_not_taken_for_a_plate_map() -> None:
    grid = block("", {r: [f"0.{i}{j}" for j in range(12)] for i, r in enumerate("ABCDEFGH")})
    assert not looks_like_platemap(grid)
    named = block("Concentration", {r: [f"0.{i}{j}" for j in range(12)] for i, r in enumerate("ABCDEFGH")})
    assert looks_like_platemap(named)


def test_plater_example_file(corpus: Path) -> None:
    text = (corpus / "platemap" / "plater_example-1.csv").read_text()
    assert looks_like_platemap(text)
    pm = parse_platemap(text, name="plater_example-1.csv")
    assert pm.variables == ("Drug", "Concentration", "Bacteria", "Killing")
    assert pm.value("A1", "Drug") == "A" and pm.value("E1", "Drug") == "B"
    assert pm.value("H12", "Drug") is None  # the example leaves H12 of Drug empty
    assert pm.value("A12", "Concentration") == "0"
    assert pm.value("B3", "Bacteria") == "S. enterocolitis"
    assert pm.value("H9", "Killing") == "65"
    assert len(pm.wells) == 96


def test_serolyzer_layout_file(corpus: Path) -> None:
    text = (corpus / "xponent" / "serolyzer_CovidOISExPONTENT_layout.csv").read_text()
    assert looks_like_platemap(text)
    pm = parse_platemap(text, name="layout.csv")
    (variable,) = pm.variables  # the file's one block has no name
    row_a = [pm.value(f"A{c}", variable) for c in range(1, 13)]
    assert row_a[0] == "B" and row_a[1] == "1/50" and row_a[-1] == "1/102400"
    assert [parse_dilution(t or "") for t in row_a[1:]] == [
        50.0,
        100.0,
        200.0,
        400.0,
        800.0,
        1600.0,
        3200.0,
        6400.0,
        12800.0,
        25600.0,
        102400.0,
    ]
    assert pm.value("B1", variable) == "CO-F-226-01-CF"
    assert pm.value("H12", variable) == "CO-F-045-01-SN"
    assert pm.warnings  # the unnamed block is reported


def test_the_head_of_a_long_plate_map_still_looks_like_one() -> None:
    # detect.py sniffs only the first 20,000 characters: a map cut inside a block is still a map.
    assert looks_like_platemap(SMALL_MAP[: SMALL_MAP.index("\nC,", SMALL_MAP.index("dilution")) + 4])
    assert looks_like_platemap(SMALL_MAP[: SMALL_MAP.index("dilution") + 5])


def test_a_map_without_a_final_newline() -> None:
    assert looks_like_platemap(SMALL_MAP.rstrip("\n"))
    assert looks_like_platemap(block("sample_id", {"A": ["x"]}))


@settings(max_examples=200, deadline=None)
@given(cut=st.integers(0, len(SMALL_MAP)), junk=st.text(max_size=30), at=st.integers(0, len(SMALL_MAP)))
def test_mutated_maps_parse_or_fail_with_a_reader_error(cut: int, junk: str, at: int) -> None:
    text = (SMALL_MAP[:at] + junk + SMALL_MAP[at:])[:cut]
    looks_like_platemap(text)  # never raises
    with contextlib.suppress(ReaderError):
        pm = parse_platemap(text, name="m.csv")
        for w in pm.named_wells():
            pm.sample_type(w), pm.dilution(w), pm.expected_conc(w)
