"""Delimited lines read one at a time, with their cells trimmed.

A line is parsed alone (a stray quote never swallows the next line), NULs that Excel leaves in re-saved files
are dropped, and a line whose cells are all empty (``,,,``, tabs, quotes) counts as blank.
"""

from __future__ import annotations

from readers.toolkit.cells import split_line

_BLANK_CHARS = " \t,;\"'\ufeff"


def trimmed_cells(line: str, delimiter: str) -> list[str]:
    """The cells of one line, each stripped of surrounding spaces."""
    return [c.strip() for c in split_line(line, delimiter)]


def is_blank(line: str) -> bool:
    """True when the line holds no cell text (only delimiters, spaces and quotes)."""
    return not line.strip(_BLANK_CHARS)
