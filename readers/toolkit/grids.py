"""Plate grids as plate readers print them: a header row of column numbers, rows lettered A..P.

Shared by the Gen5 reader (its Layout/Results matrices) and the generic grid reader, so that what a
grid cell may hold — a reading, a decimal comma, an instrument token such as ``OVRFLW`` — is decided once.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from readers.platemap import PLATE_SHAPES, ROW_LETTERS
from readers.tokens import parse_number

__all__ = [
    "PLATE_SHAPES",
    "ROW_LETTERS",
    "SignalCell",
    "columns_of_header",
    "decimal_comma_of",
    "parse_signal",
]

_DECIMAL_COMMA_RE = re.compile(r"^[-+]?\d+,\d+$")
_DECIMAL_POINT_RE = re.compile(r"^[-+]?\d+\.\d+$")
# A comma that cannot separate thousands (``0,02``, ``1,5``, ``12,3456``) is a decimal comma in any file.
_UNAMBIGUOUS_COMMA_RE = re.compile(r"^[-+]?(?:0,\d+|\d+,\d{1,2}|\d+,\d{4,})$")

# Cell texts plate-reader software writes instead of a reading (lower-cased) → what they mean.
SIGNAL_TOKENS = {
    "ovrflw": "overflow (OVRFLW): the reading saturated the detector",
    "overflow": "overflow: the reading saturated the detector",
    "#sat": "saturated (#SAT)",
    "sat": "saturated (SAT)",
    "range?": "out of the reader's range (Range?)",
    "?????": "not calculated (?????)",
    "n/a": "not available (N/A)",
    "***": "not available (***)",
}


def columns_of_header(cells: list[str], start: int = 1) -> int | None:
    """12 or 24 when ``cells[start:]`` begins with the column numbers 1..12 (1..24), else None."""
    for n in (24, 12):
        if cells[start : start + n] == [str(i) for i in range(1, n + 1)]:
            if n == 12 and len(cells) > start + 12 and cells[start + 12].strip() == "13":
                return None
            return n
    return None


def decimal_comma_of(texts: list[str]) -> bool:
    """True when the cells write decimals with a comma (``0,052``) and none with a point."""
    bare = [t.strip().lstrip("<>*").rstrip("*") for t in texts if t]
    commas = sum(bool(_DECIMAL_COMMA_RE.match(t)) for t in bare)
    points = sum(bool(_DECIMAL_POINT_RE.match(t)) for t in bare)
    return commas > 0 and points == 0


@dataclass(frozen=True)
class SignalCell:
    """One grid cell read as a signal: the number, or why there is none (``note``) and whether the
    software marked the well as masked (``*0.356*``: a reading it excluded)."""

    value: float | None
    note: str | None = None
    masked: bool = False


def parse_signal(text: str, *, decimal_comma: bool = False) -> SignalCell:
    """A reading cell: a number (decimal comma honoured), an instrument token, or a masked ``*x*``."""
    s = text.strip()
    if not s:
        return SignalCell(None, "no reading")
    if len(s) > 2 and s.startswith("*") and s.endswith("*"):
        inner = parse_number(s[1:-1], decimal_comma=decimal_comma and "," in s)
        if inner is not None:
            return SignalCell(None, f"masked in the instrument software ({s})", masked=True)
    comma = decimal_comma or _UNAMBIGUOUS_COMMA_RE.match(s) is not None
    v = parse_number(s, decimal_comma=comma and "," in s)
    if v is not None:
        return SignalCell(v)
    token = SIGNAL_TOKENS.get(s.casefold())
    return SignalCell(None, token or f"not a reading ({s!r})")
