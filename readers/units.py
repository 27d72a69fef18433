"""Concentration units as labs write them, and their factor to the canonical pg/mL.

pg/mL = ng/L numerically; ng/mL = µg/L = 1,000 pg/mL (domain.md §3). The unit string is always kept
verbatim beside the converted value; an unknown unit converts to nothing (the row is held), never guessed.
"""

from __future__ import annotations

import re
import unicodedata

_FACTORS = {
    "fg/ml": 1e-3,
    "pg/ml": 1.0,
    "ng/l": 1.0,
    "pg/l": 1e-3,
    "ng/ml": 1e3,
    "ug/l": 1e3,
    "ng/dl": 10.0,
    "ug/ml": 1e6,
    "mg/l": 1e6,
    "ug/dl": 1e4,
    "mg/ml": 1e9,
    "g/l": 1e9,
}


def normalise_unit(text: str) -> str:
    s = unicodedata.normalize("NFKC", text).strip().lower()
    s = s.replace("µ", "u").replace("μ", "u").replace("mcg", "ug")
    s = re.sub(r"\s+", "", s)
    s = s.replace("per", "/")
    return s


def factor_to_pg_ml(unit: str | None) -> float | None:
    """Multiplier taking a value in ``unit`` to pg/mL, or None when the unit is missing or unknown."""
    if unit is None or not unit.strip():
        return None
    return _FACTORS.get(normalise_unit(unit))


def is_known_unit(unit: str | None) -> bool:
    return factor_to_pg_ml(unit) is not None
