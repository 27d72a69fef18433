"""Decimal marks: which one a file uses, and the cells whose mark is not in doubt.

``53,2`` or ``0,02`` can only be a decimal comma (a thousands group has exactly three digits), whatever the
file's delimiter; ``3,513`` is a decimal comma in a comma-decimal export and a thousands separator in a
dot-decimal one, so only the file's other numbers can tell. A reader decides the file's mark from its
numbers (:func:`file_decimal_comma`) and reads each cell with :func:`number`, which still takes an
unmistakable ``0,02`` in a dot-decimal file rather than losing it.
"""

from __future__ import annotations

import re
from collections.abc import Iterable

from readers.tokens import parse_number

_SURE_COMMA_RE = re.compile(r"^[-+]?\d+,(?:\d{1,2}|\d{4,})(?:[eE][-+]?\d+)?$")
_COMMA_RE = re.compile(r"^[-+]?\d+(?:\.\d{3})*,\d+(?:[eE][-+]?\d+)?$")
_POINT_RE = re.compile(r"^[-+]?\d+\.\d+(?:[eE][-+]?\d+)?$")
_PREFIX_RE = re.compile(r"^[\s<>≤≥=*]*")


def sure_decimal_comma(text: str) -> bool:
    """True when the number in ``text`` (after a ``<``/``>``/``*`` prefix) can only have a decimal comma."""
    return bool(_SURE_COMMA_RE.match(_PREFIX_RE.sub("", text.strip()).replace("\u00a0", "")))


def file_decimal_comma(texts: Iterable[str], *, semicolon: bool) -> tuple[bool, bool]:
    """(decimal comma?, mixed?) for a table's numeric cells. A ``;`` table is comma-decimal when any cell
    has a comma mark (``53,2``, ``3,513``); another table only when a cell is unmistakable (``53,2``) and
    no cell has a decimal point. ``mixed``: both marks appear (a ``;`` table cannot be read safely; in
    another table the comma cells are strays in a dot-decimal file)."""
    commas = points = sure = 0
    for t in texts:
        s = t.strip()
        commas += bool(_COMMA_RE.match(s))
        points += bool(_POINT_RE.match(s))
        sure += sure_decimal_comma(s)
    if semicolon:
        return commas > 0 and not points, bool(commas and points)
    return sure > 0 and not points, bool(sure and points)


def number(text: str, *, decimal_comma: bool) -> float | None:
    """A cell's number read with the file's decimal mark, or with a comma when the cell leaves no doubt."""
    v = parse_number(text, decimal_comma=decimal_comma)
    if v is None and not decimal_comma and sure_decimal_comma(text):
        v = parse_number(text, decimal_comma=True)
    return v
