"""Well positions as vendors write them (``A1``, ``A01``, ``Plate 2 - B3``) and made-up positions for rows
that carry none."""

from __future__ import annotations

import re
from collections.abc import Hashable

# Positions a synthesised well can take: row-major over a 384-well layout.
ROW_LETTERS = "ABCDEFGHIJKLMNOP"
POSITIONS = [f"{r}{c}" for r in ROW_LETTERS for c in range(1, 25)]

_WELL_RE = re.compile(r"^([A-Pa-p])\s*0*([1-9]|1\d|2[0-4])$")
_LOCATION_RE = re.compile(
    r"^(?:(?:plate|plt|p)\s*#?\s*(\d+)\s*[-_:,/ ]*\s*)?(?:well\s*)?([A-Pa-p])\s*0*([1-9]|1\d|2[0-4])$",
    re.IGNORECASE,
)


def well_of(text: str | None) -> tuple[int | None, str] | None:
    """``A1``, ``A01``, ``Plate 1 A01``, ``Plate 2 - B3`` → (plate number or None, ``"A1"``); else None."""
    if text is None:
        return None
    m = _LOCATION_RE.match(text.strip().strip('"').strip())
    if not m:
        return None
    plate = int(m.group(1)) if m.group(1) else None
    return plate, f"{m.group(2).upper()}{int(m.group(3))}"


def normalise_well(text: str) -> str | None:
    """A bare plate position (``A01``, ``b3``) → ``"A1"``/``"B3"``; anything else → None."""
    m = _WELL_RE.match(text.strip())
    return f"{m.group(1).upper()}{int(m.group(2))}" if m else None


def synthesise_positions(keys: list[Hashable], used: set[str]) -> dict[Hashable, str]:
    """A stable made-up position for each distinct key (in first-seen order): the next row-major position
    of a 384-well layout that no real well of the plate uses. Raises ValueError when they run out."""
    free = (p for p in POSITIONS if p not in used)
    out: dict[Hashable, str] = {}
    for k in keys:
        if k in out:
            continue
        nxt = next(free, None)
        if nxt is None:
            raise ValueError("more than 384 positions are needed")
        out[k] = nxt
    return out
