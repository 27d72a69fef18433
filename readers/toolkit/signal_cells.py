"""A signal cell (MFI, ECL, AEB, RFU…) next to a concentration: a number, or no number and a flag saying
why — never a silent null. Written once for every reader of a results table."""

from __future__ import annotations

from readers.tokens import parse_conc, parse_number
from readers.toolkit.cells import clean_note


def read_signal(text: str | None, *, decimal_comma: bool = False) -> tuple[float | None, str | None]:
    """(signal, flag): an empty cell is (None, None); text that is not a number is (None,
    ``signal_not_reported: <why>``)."""
    if not text:
        return None, None
    signal = parse_number(text, decimal_comma=decimal_comma)
    if signal is not None:
        return signal, None
    return None, f"signal_not_reported: {clean_note(parse_conc(text).note or 'not a number')}"
