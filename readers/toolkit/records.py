"""Well rows that carry a signal and no concentration (a plate reader's grid, an instrument's raw
counts): the canonical columns such a row always has, written once."""

from __future__ import annotations

UNQUANTIFIED: dict[str, object] = {
    "reported_text": None,
    "qualifier": "NR",  # no concentration in the file: the curve computes it later
    "value": None,
    "extrapolated": False,
    "unit": None,
    "unit_source": None,
    "dilution_applied": False,
}


def signal_row(**fields: object) -> dict[str, object]:
    """A row of the canonical well table for a reading without a concentration: ``fields`` (source file,
    plate, well, signal, sample…) over the columns every such row has."""
    return {**UNQUANTIFIED, **fields}


def result_row(*, unit: str | None, flags: list[str], **fields: object) -> dict[str, object]:
    """A row of the canonical well table for a reading the file reports a result for: ``fields`` (source
    file, plate, well, sample, signal, qualifier, value…) with the unit's source ("file" when the file
    names the unit) and the flags joined the way the well table keeps them (``;``, None when none)."""
    return {**fields, "unit": unit, "unit_source": "file" if unit else None, "flags": ";".join(flags) or None}
