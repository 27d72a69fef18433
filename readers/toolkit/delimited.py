"""Lines of delimited vendor exports: trimming padded rows, header keys, the decimal mark of a file.

Shared by the Luminex-family readers (xPONENT, Bio-Plex text, INTELLIFLEX); cell splitting itself is
:func:`readers.toolkit.cells.split_line`.
"""

from __future__ import annotations

import re

_COMMA_DECIMAL_RE = re.compile(r'(?:^|[;"])\s*-?\d+,\d+\s*(?=[;"]|$)', re.MULTILINE)
_POINT_DECIMAL_RE = re.compile(r'(?:^|[;"])\s*-?\d+\.\d+\s*(?=[;"]|$)', re.MULTILINE)


def trim_cells(cells: list[str]) -> list[str]:
    """Drop the empty cells some exports pad every line with (``a,b,,,,``)."""
    end = len(cells)
    while end and not cells[end - 1].strip():
        end -= 1
    return cells[:end]


def is_blank(cells: list[str]) -> bool:
    return all(not c.strip() for c in cells)


def norm_key(text: str) -> str:
    """A cell as a matching key: spaces collapsed, case-folded (punctuation kept: ``Analyte:``)."""
    return re.sub(r"\s+", " ", text.strip()).casefold()


def uses_decimal_comma(text: str, delimiter: str) -> bool:
    """Whether a ``;``-delimited export writes its numbers with a decimal comma (``10921,5``).

    Decided by counting the cells written each way, never by the delimiter alone (a wrong guess would
    scale values). Comma- and tab-delimited exports are read as dot-decimal: there ``1,234`` is a
    thousands separator, and a lone decimal-comma cell is a matter for :func:`readers.tokens.parse_number`.
    """
    if delimiter != ";":
        return False
    return len(_COMMA_DECIMAL_RE.findall(text)) > len(_POINT_DECIMAL_RE.findall(text))
