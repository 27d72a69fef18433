"""A sample's dilution-factor cell, as every reader takes it: an empty cell is 1 (undiluted: how standards,
blanks and controls are written), a positive number is the factor, anything else is not a dilution (the
reader refuses it, naming the row)."""

from __future__ import annotations

from collections.abc import Callable


def dilution_factor(text: str, number: Callable[[str], float | None]) -> float | None:
    """1.0 for an empty cell, the factor for a positive number, else None. ``number`` is the reader's own
    number parser (it knows the file's decimal mark)."""
    if not text.strip():
        return 1.0
    d = number(text)
    return d if d is not None and d > 0 else None
