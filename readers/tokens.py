"""The censoring vocabulary of vendor exports, mapped to qualifier + limit (domain.md §4).

Every concentration cell goes through :func:`parse_conc` so that ``OOR <`` in a Luminex file and
``Below Fit Curve Range`` in an MSD file become the same kind of fact. The original text is always kept
by the caller; nothing here turns a token into a silent null.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass

_NUMBER = r"[-+]?(?:\d{1,3}(?:,\d{3})+|\d+)?(?:\.\d+)?(?:[eE][-+]?\d+)?"
_NUM_RE = re.compile(rf"^\s*({_NUMBER})\s*$")
_CENSORED_RE = re.compile(rf"^\s*(<=?|>=?|≤|≥)\s*({_NUMBER})\s*$")
# "< LLOQ", "> ULOQ", "<LOD", "below curve" (Simoa, Ella...): the side without the limit.
_CENSOR_WORD_RE = re.compile(
    r"^\s*(<|>|≤|≥|<=|>=|below|above)\s*(lloq|uloq|lod|llod|loq|lloq\s*\(.*\)|uloq\s*\(.*\)|range|curve)\s*$",
    re.IGNORECASE,
)

# Tokens that say "no number here", with why (lower-cased keys).
NOT_REPORTED = {
    "***": "not available (***)",
    "---": "outlier removed (---)",
    "nan": "not a number (NaN: below the fit curve or background)",
    "n/a": "not available (N/A)",
    "na": "not available (NA)",
    "": "empty cell",
    "range?": "out of the curve range (Range?)",
    "?????": "statistic failed (?????)",
    "excluded": "excluded by the instrument software",
    "masked": "masked by the instrument software",
}


@dataclass(frozen=True)
class ParsedConc:
    qualifier: str  # "=", "<", ">", "NR"
    value: float | None  # the number, or the limit when censored and the text gives it
    extrapolated: bool = False
    note: str | None = None  # why there is no number / what the token meant


def parse_number(text: str, *, decimal_comma: bool = False) -> float | None:
    """A plain number as exports write it (thousands separators, exponents, decimal commas), else None."""
    s = text.strip().replace("\u00a0", "").replace(" ", "")
    if decimal_comma:
        s = s.replace(".", "").replace(",", ".")
    if not s or not _NUM_RE.match(s):
        return None
    try:
        v = float(s.replace(",", ""))
    except ValueError:
        return None
    return v if math.isfinite(v) else None


def parse_conc(text: str | None, *, decimal_comma: bool = False) -> ParsedConc:
    """Qualifier, number and note for one concentration cell.

    ``OOR <``/``OOR >`` and ``< LLOQ``/``> ULOQ`` carry no limit (the caller fills it from the run's
    standards); ``< 0.105`` and ``>3450`` carry theirs; a leading ``*`` marks a value extrapolated beyond
    the standards (kept as ``=`` with ``extrapolated``); ``***``/``NaN``/``---``/empty are ``NR`` with the
    reason.
    """
    if text is None:
        return ParsedConc("NR", None, note="no value in the file")
    s = text.strip().strip('"').strip()
    low = s.lower()
    if low in NOT_REPORTED:
        return ParsedConc("NR", None, note=NOT_REPORTED[low])
    compact = re.sub(r"\s+", " ", low)
    if compact in ("oor <", "oor<", "< oor", "below range", "below detection range", "below fit curve range"):
        return ParsedConc("<", None, note=f"below the quantifiable range ({s})")
    if compact in ("oor >", "oor>", "> oor", "above range", "above detection range", "above fit curve range"):
        return ParsedConc(">", None, note=f"above the quantifiable range ({s})")
    w = _CENSOR_WORD_RE.match(s)
    if w:
        below = w.group(1).casefold() in ("<", "≤", "<=", "below")
        return ParsedConc(
            "<" if below else ">", None, note=f"{'below' if below else 'above'} the quantifiable range ({s})"
        )
    m = _CENSORED_RE.match(s if not decimal_comma else s.replace(".", "").replace(",", "."))
    if m:
        lim = parse_number(m.group(2))
        if lim is not None:
            q = "<" if m.group(1) in ("<", "<=", "≤") else ">"
            return ParsedConc(q, lim, note=f"{'below' if q == '<' else 'above'} the quantifiable range ({s})")
    if s.startswith("*"):
        v = parse_number(s[1:], decimal_comma=decimal_comma)
        if v is not None:
            return ParsedConc("=", v, extrapolated=True, note="extrapolated beyond the standard curve (*)")
    v = parse_number(s, decimal_comma=decimal_comma)
    if v is not None:
        return ParsedConc("=", v)
    return ParsedConc("NR", None, note=f"unrecognised text {s!r}")
