"""Bio-Plex Manager's sampling-error codes, shared by its Excel/CSV report (``Sampling Errors`` column)
and its XML export (``Reading Code`` attribute): one vocabulary, so a flag means the same in both."""

from __future__ import annotations

from readers.toolkit.cells import clean_note

SAMPLING_ERRORS = {
    "1": "low_bead_count",
    "2": "sampling_error: 2 aggregated beads",
    "3": "sampling_error: 3 classify efficiency",
    "4": "sampling_error: 4 region selection",
    "5": "sampling_error: 5 platform temperature",
}


def sampling_error_flag(code: str) -> str:
    """One code → its flag; an unknown code is kept as written (``sampling_error: 7``)."""
    c = code.strip()
    return SAMPLING_ERRORS.get(c, clean_note(f"sampling_error: {c}"))
