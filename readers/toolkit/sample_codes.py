"""Sample types as Luminex-family software writes them: a well-type code (Bio-Plex ``Type``, INTELLIFLEX
``WELL TYPE``: ``B``, ``S3``, ``ES1``, ``C2``, ``X4``/``U4``) or only the sample's name (xPONENT:
``Standard1``, ``S``, ``Background0``, ``B``, ``Control2``)."""

from __future__ import annotations

import re

_STANDARD_NAME_RE = re.compile(r"^(?:standard|std)|^s(?:[1-9]\d?)?$", re.IGNORECASE)
_BLANK_NAME_RE = re.compile(r"^(?:background|blank)|^b$", re.IGNORECASE)
_QC_NAME_RE = re.compile(r"^(?:control|qc)", re.IGNORECASE)


def sample_type_from_name(sample: str | None) -> str:
    """Standards, blanks and QCs known only by name; everything else is a study sample (``unknown``)."""
    s = (sample or "").strip()
    if not s:
        return "unknown"
    if _STANDARD_NAME_RE.search(s):
        return "standard"
    if _BLANK_NAME_RE.search(s):
        return "blank"
    if _QC_NAME_RE.search(s):
        return "qc"
    return "unknown"


def sample_type_from_code(code: str, *, unknown_letters: str = "X") -> str | None:
    """A well-type code → sample type: ``B`` blank, ``S``/``ES`` standard, ``C`` qc, one of
    ``unknown_letters`` followed by a number unknown; None when the code is none of these (the caller
    flags it). Bio-Plex writes ``X`` for unknowns, INTELLIFLEX ``U``."""
    letters = re.escape(unknown_letters.upper() + unknown_letters.lower())
    m = re.match(rf"^(?:(B)|(E?S)|(C)|([{letters}]))\d*$", code.strip(), re.IGNORECASE)
    if not m:
        return None
    if m.group(1):
        return "blank"
    if m.group(2):
        return "standard"
    if m.group(3):
        return "qc"
    return "unknown"
