"""Dilution cells, read the same way by every reader (session convention, issue 13).

An empty dilution cell is how instrument software writes "not diluted" for standards, blanks, background
and controls (xPONENT 3.1 leaves it empty for Background/Standard wells): those take 1. A study sample
without a dilution also takes 1 but carries the :data:`DILUTION_MISSING` flag, so the pipeline holds that
well with the reason — the whole file is never refused for it. A cell that holds something other than a
positive number is an error the lab must correct.
"""

from __future__ import annotations

from readers.tokens import parse_number

DILUTION_MISSING = "dilution_missing"
NOT_GIVEN = frozenset({"", "nan", "n/a", "na"})  # cell texts that mean "no dilution entered"


class DilutionError(ValueError):
    """A dilution cell holds text that is not a positive number; ``str()`` is the sentence for the lab."""


def parse_dilution(
    text: str | None, *, column: str, software: str, decimal_comma: bool = False
) -> float | None:
    """A dilution cell → the factor; None when no dilution was entered (see :func:`missing_dilution_flag`).

    ``column`` and ``software`` name the cell and where to correct it in the error, e.g. ``"Dilution
    Factor"``, ``"xPONENT"``.
    """
    s = (text or "").strip()
    if s.casefold() in NOT_GIVEN:
        return None
    v = parse_number(s, decimal_comma=decimal_comma)
    if v is None or v <= 0:
        raise DilutionError(
            f"{column} {s!r} is not a positive number. Correct the dilution in {software} (or tell the lab "
            "data manager) and export again."
        )
    return v


def missing_dilution_flag(sample_type: str) -> str | None:
    """The flag a well without a dilution carries: none for standards, blanks and controls (their
    dilution is 1), :data:`DILUTION_MISSING` for a study sample."""
    return DILUTION_MISSING if sample_type == "unknown" else None


def missing_dilution_warning(n_samples: int, n_other: int) -> str | None:
    """One warning for the wells that had no dilution, or None when every well had one."""
    if not n_samples and not n_other:
        return None
    parts = []
    if n_other:
        parts.append(f"{n_other} standard/blank/control well(s)")
    if n_samples:
        parts.append(
            f"{n_samples} study sample well(s), flagged {DILUTION_MISSING} (held until the dilution is known)"
        )
    return "no dilution entered, dilution 1 used: " + "; ".join(parts)
