"""The sniffers' cheap exits (a line is skipped without parsing when it cannot be a header) must never skip
a header: for any line, whenever the full parse finds a header, the cheap test lets the line through.
Lines are built from header tokens, numbers, every delimiter, quotes, spaces and NULs — the characters the
exits reason about."""

from __future__ import annotations

from hypothesis import example, given, settings
from hypothesis import strategies as st

from readers import bioplex, platereader
from readers import msd_workbench as msd
from readers.toolkit.cells import split_line

TOKENS = [
    *(str(i) for i in range(1, 26)),
    "Well",
    "WELL",
    "we ll",
    "Type",
    "ty pe",
    "FI",
    "Obs Conc",
    "Exp Conc",
    "Analyte",
    "Description",
    "Sample",
    "Assay",
    "Signal",
    "Spot",
    "Calc. Concentration",
    "96-well plate",
    "A",
    "Temperature(°C)",
    "",
    " ",
    '"',
    '""',
    "\x00",
    "x",
]
SEPARATORS = [",", ";", "\t", ", ", ' ,"', '",', '"', "\x00"]

lines = st.lists(
    st.tuples(st.sampled_from(TOKENS), st.sampled_from(SEPARATORS)), min_size=1, max_size=30
).map(lambda parts: "".join(t + s for t, s in parts))


def _grid_header(line: str) -> bool:
    return platereader._header_start(platereader._split(line, platereader._delimiter(line))) is not None


def _bioplex_header(line: str) -> bool:
    return any(bioplex.header_columns(split_line(line, d)) is not None for d in (",", ";", "\t"))


def _msd_header(line: str) -> bool:
    for d in msd._DELIMITERS:
        columns, _ = msd._map_labels(msd.trimmed_cells(line, d))
        if msd._is_header(columns):
            return True
    return False


GRID = ",".join(["", *(str(i) for i in range(1, 13))])


@settings(max_examples=400, deadline=None)
@given(lines)
@example(GRID)
@example('"",' + ",".join(f'"{i}"' for i in range(1, 13)))
@example("Temperature(°C)\t" + "\t".join(str(i) for i in range(1, 13)))
def test_a_grid_header_is_never_skipped(line: str) -> None:
    if _grid_header(line):
        assert platereader._may_be_header(line)


@settings(max_examples=400, deadline=None)
@given(lines)
@example("Analyte,Type,Well,Description,FI,FI - Bkgd,Obs Conc")
@example('"Ty"pe;"W ell";FI;Std Dev;Obs Conc')
def test_a_bioplex_table_header_is_never_skipped(line: str) -> None:
    if _bioplex_header(line):
        assert bioplex._may_be_header(line)


@settings(max_examples=400, deadline=None)
@given(lines)
@example("Sample,Assay,Well,Spot,Signal,Calc. Concentration")
@example('Sample\tAssay\t"We"ll\tSignal')
def test_an_msd_header_is_found_through_the_cheap_exit(line: str) -> None:
    assert (msd._header_delimiter(line) is not None) == _msd_header(line)


def test_exits_skip_ordinary_export_lines() -> None:
    """The point of the exits: preamble and data lines are not parsed."""
    preamble = '"ProtocolPlate","Name","Current 96-well plate","Type","96","Plates","1"'
    assert not bioplex._may_be_header(preamble)
    assert not platereader._may_be_header('"Date","08/07/2018","8:12 AM"')
    assert msd._header_delimiter('"Batch","BCT001-LX-CYT-CSF-P001"') is None
