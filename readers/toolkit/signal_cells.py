"""A signal cell (MFI, ECL, AEB, RFU…) next to a concentration: a number, or no number and a flag saying
why — never a silent null. Written once for every reader of a results table."""

from __future__ import annotations

from readers.tokens import parse_conc, parse_number
from readers.toolkit.cells import clean_note
from readers.toolkit.decimals import number


def read_signal(
    text: str | None, *, decimal_comma: bool = False, sure_comma: bool = False, flag_empty: bool = False
) -> tuple[float | None, str | None]:
    """(signal, flag): no cell is (None, None), and so is an empty one unless ``flag_empty`` (a table
    whose every row should carry a signal); text that is not a number is (None, ``signal_not_reported:
    <why>``). ``sure_comma``: an unmistakable ``0,02`` in a dot-decimal file is still read
    (:func:`readers.toolkit.decimals.number`)."""
    if text is None or (not text and not flag_empty):
        return None, None
    if not text:
        signal = None
    elif sure_comma:
        signal = number(text, decimal_comma=decimal_comma)
    else:
        signal = parse_number(text, decimal_comma=decimal_comma)
    if signal is not None:
        return signal, None
    return None, f"signal_not_reported: {clean_note(parse_conc(text).note or 'not a number')}"
