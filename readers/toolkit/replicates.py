"""Replicate tables (Simoa Run History, Ella/Simple Plex results): one row per replicate, a file mean that
is only cross-checked, concentrations already multiplied by the dilution.

Both readers used to carry the same pieces side by side; they live here once so that a fix to the mean
check, the decimal-mark vote, the synthesised positions or the output row lands in both.
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable, Hashable, Iterable
from dataclasses import dataclass, field
from typing import TypeVar

from readers.tokens import parse_number
from readers.toolkit.cells import clean_note, means_differ, parse_cell, sample_type_from_text, split_line
from readers.toolkit.dilution import DilutionError
from readers.toolkit.records import Origin, Reading, Reported, Sample, result_row
from readers.toolkit.signal_cells import read_signal
from readers.toolkit.wells import synthesise_positions

NOT_REPORTED = "dilution_not_reported"


@dataclass(kw_only=True)
class Replicate:
    """One replicate as both readers keep it until it becomes a row; each reader's subclass adds where
    it belongs (plate, inlet, batch…). ``well`` is None until a position is synthesised."""

    line: int
    well: str | None
    location: str  # the position cell as written
    sample: str | None
    sample_type: str
    analyte: str
    signal_text: str | None
    conc_text: str | None
    unit: str | None
    dilution: float
    flags: list[str] = field(default_factory=list)


R = TypeVar("R", bound=Replicate)


@dataclass(frozen=True)
class Positions:
    """The words of :func:`place_unpositioned` for one reader."""

    label: str  # the position column as the flag names it: "Location", "Well"
    too_many: str  # the error, {plate} filled in
    warning: str  # the read warning, {n} filled in
    absent: str = ""  # the flag's note when the replicate had no position text


def replicate_mean_gap(mean_text: str, conc_texts: Iterable[str | None], decimal_comma: bool) -> float | None:
    """The mean of the numeric replicates when the file's mean (``mean_text``) is more than 1 % away from
    it; None when they agree or either side has no number (a censored mean, no numeric replicate)."""
    file_mean = parse_cell(mean_text, decimal_comma=decimal_comma)
    values = [
        p.value
        for text in conc_texts
        for p in [parse_cell(text, decimal_comma=decimal_comma)]
        if p.qualifier == "=" and p.value is not None
    ]
    if file_mean.qualifier != "=" or file_mean.value is None or not values:
        return None
    mean = math.fsum(values) / len(values)
    return mean if means_differ(file_mean.value, mean) else None


def column_decimal_comma(lines: Iterable[str], delimiter: str, columns: Iterable[int]) -> bool:
    """True when the given columns hold more ``12,5`` numbers than ``12.5`` ones (a ``;`` export's mark)."""
    idx = list(columns)
    commas = points = 0
    for line in lines:
        cells = split_line(line, delimiter)
        for j in idx:
            if j < len(cells):
                t = cells[j].strip()
                commas += bool(re.fullmatch(r"-?\d+,\d+", t))
                points += bool(re.fullmatch(r"-?\d+\.\d+", t))
    return commas > points


def typed_sample(text: str) -> tuple[str, str | None]:
    """A Sample Type cell → (canonical type, flag): an unknown word is ``unknown`` with the word flagged."""
    stype = sample_type_from_text(text)
    if stype is not None:
        return stype, None
    return "unknown", (f"sample_type_unrecognised: {clean_note(text)!r}" if text else "sample_type_missing")


def place_unpositioned(
    by_plate: dict[str, list[R]],
    slot: Callable[[R], Hashable],
    texts: Positions,
    error: Callable[[str], Exception],
    warnings: list[str],
) -> None:
    """Give each replicate without a well a synthesised position of its plate (first free ones, row-major,
    one per ``slot``), flagged ``position_synthesised`` with the position text as written (``texts.label``)
    and say so once in ``warnings``. A plate with more than a 384-well layout holds raises
    ``error(texts.too_many)``."""
    n = 0
    for pid, rs in by_plate.items():
        used = {r.well for r in rs if r.well}
        need = [r for r in rs if r.well is None]
        try:
            pos = synthesise_positions([slot(r) for r in need], used)
        except ValueError:
            raise error(texts.too_many.format(plate=pid)) from None
        for r in need:
            r.well = pos[slot(r)]
            note = f": {texts.label} {clean_note(r.location)!r}" if r.location else texts.absent
            r.flags.insert(0, "position_synthesised" + note)
            n += 1
    if n:
        warnings.append(texts.warning.format(n=n))


def replicate_dilution(text: str, todo: str) -> tuple[float, str | None]:
    """A Dilution Factor cell → (factor, flag). Empty: 1, flagged :data:`NOT_REPORTED` (these exports'
    values are already multiplied out, so it only matters for limits the pipeline fills in). Not a
    positive number: :class:`DilutionError`, ending with ``todo`` (where to correct it)."""
    if not text:
        return 1.0, NOT_REPORTED
    dilution = parse_number(text)
    if dilution is None or dilution <= 0:
        raise DilutionError(f"Dilution Factor {text!r} is not a positive number. {todo}")
    return dilution, None


def replicate_row(
    r: Replicate, origin: Origin, signal_kind: str, *, decimal_comma: bool
) -> dict[str, object]:
    """One replicate as a row of the canonical well table: the concentration as written (censoring words
    read), the signal as a number (or flagged), dilution already applied. Every replicate has its well by
    now (:func:`place_unpositioned` runs first)."""
    if r.well is None:
        raise ValueError(f"line {r.line}: replicate_row before place_unpositioned gave the replicate a well")
    parsed = parse_cell(r.conc_text, decimal_comma=decimal_comma)
    flags = list(r.flags)
    if parsed.qualifier == "NR" and r.conc_text is not None:
        flags.append(f"result_not_reported: {clean_note(parsed.note or 'no value')}")
    signal, flag = read_signal(r.signal_text, decimal_comma=decimal_comma)
    if flag:
        flags.append(flag)
    sample = Sample(r.sample, r.sample_type, dilution=r.dilution)
    reading = Reading(r.well, r.line, r.analyte, signal, signal_kind)
    return result_row(origin, sample, reading, Reported(r.conc_text, parsed, True, r.unit), flags)
