"""The censoring vocabulary of vendor exports, mapped to qualifier + limit (domain.md §4).

Every concentration cell goes through :func:`parse_conc` so that ``OOR <`` in a Luminex file and
``Below Fit Curve Range`` in an MSD file become the same kind of fact. The original text is always kept
by the caller; nothing here turns a token into a silent null.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass

# A number as printed: digits with "." / "," marks, an optional exponent. What the marks mean is decided
# by _plain_number, not by this pattern.
_NUMBER = r"[-+]?[\d.,]*\d[\d.,]*(?:[eE][-+]?\d+)?|[-+]?[.,]\d+(?:[eE][-+]?\d+)?"
_CENSORED_RE = re.compile(rf"^\s*(<=?|>=?|≤|≥)\s*({_NUMBER})\s*$")
_SPACES = str.maketrans("", "", " \u00a0\u202f\u2009'")
_EXPONENT_RE = re.compile(r"^(.*?)([eE][-+]?\d+)?$")
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
    """A plain number as exports write it, else None.

    Handles thousands separators (``1,234.5``, ``1.234,5``, ``12 345``), exponents (``1.2E+03``) and a
    decimal comma in a dot-decimal file (``0,02``: Excel on a European locale writes single cells that way).
    ``decimal_comma`` says which mark the file itself uses for decimals; one mark of the other kind is a
    thousands separator only when it groups exactly three digits after a leading 1-3 digit group that does not
    start with 0 (``1,234`` = 1234 in a dot-decimal file, ``0,020`` = 0.02); otherwise it is a decimal mark.
    When both marks appear, the last one is the decimal mark.
    """
    s = text.strip().translate(_SPACES)
    m = _EXPONENT_RE.match(s)
    if not s or not m:
        return None
    mantissa = _plain_number(m.group(1), decimal_comma=decimal_comma)
    if mantissa is None:
        return None
    try:
        v = float(mantissa + (m.group(2) or ""))
    except ValueError:
        return None
    return v if math.isfinite(v) else None


def _plain_number(m: str, *, decimal_comma: bool) -> str | None:
    """``1,234.5`` → ``1234.5`` (a string float() reads), or None when the marks make no sense."""
    sign = ""
    if m[:1] in ("+", "-"):  # m[:1] of "" is "", which `in "+-"` would call a sign
        sign, m = m[0], m[1:]
    if not m or not re.fullmatch(r"[\d.,]+", m) or not any(c.isdigit() for c in m):
        return None
    if "," in m and "." in m:
        dec = "," if m.rfind(",") > m.rfind(".") else "."
        thousands = "." if dec == "," else ","
        whole, _, frac = m.rpartition(dec)
        if not re.fullmatch(rf"\d{{1,3}}(?:{re.escape(thousands)}\d{{3}})+", whole) or not frac.isdigit():
            return None
        return sign + whole.replace(thousands, "") + "." + frac
    if "," not in m and "." not in m:
        return sign + m
    mark = "," if "," in m else "."
    grouped = re.fullmatch(rf"[1-9]\d{{0,2}}(?:{re.escape(mark)}\d{{3}})+", m) is not None
    parts = m.split(mark)
    if len(parts) > 2:  # 1,234,567: only a thousands separator repeats
        return sign + "".join(parts) if grouped else None
    whole, frac = parts
    files_decimal_mark = (mark == ",") == decimal_comma
    if not files_decimal_mark and grouped:
        return sign + whole + frac  # 1,234 in a dot-decimal file; 1.234 in a decimal-comma file
    if not (whole + frac).isdigit():
        return None
    return sign + (whole or "0") + "." + (frac or "0")


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
    m = _CENSORED_RE.match(s)
    if m:
        lim = parse_number(m.group(2), decimal_comma=decimal_comma)
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
