"""Cells of delimited vendor exports: splitting, header keys, sample types, notes.

Shared by every reader of a delimited export, so that a fix (a stray quote, a new sample-type word) lands
once. Readers import from here and from the other toolkit modules, never from one another.
"""

from __future__ import annotations

import csv
import re
from pathlib import PurePath

from readers.tokens import ParsedConc, parse_conc

MEAN_TOLERANCE = 0.01  # relative difference between the file's mean and the replicates' mean that warns

# Sample Type text → canonical type, first match wins (a "QC sample" is a QC, not a sample).
_TYPE_PATTERNS: tuple[tuple[str, re.Pattern[str]], ...] = (
    ("standard", re.compile(r"calibrat|standard|\bstd|\bcal\b")),
    ("qc", re.compile(r"control|\bqc|ctrl")),
    ("blank", re.compile(r"blank|background")),
    ("unknown", re.compile(r"specimen|sample|unknown|patient")),
)


def norm_header(text: str) -> str:
    """Header cell → matching key: case-folded, spaces collapsed, a trailing ``.``/``:`` dropped."""
    return re.sub(r"\s+", " ", text.replace("\ufeff", "")).strip().strip('"').strip().rstrip(".:").casefold()


def parse_cell(text: str | None, *, decimal_comma: bool = False) -> ParsedConc:
    """A Simoa/Ella concentration cell (``< LLOQ``/``> ULOQ`` are in the shared vocabulary)."""
    return parse_conc(text, decimal_comma=decimal_comma)


def sample_type_from_text(text: str | None) -> str | None:
    """A Sample Type cell → canonical type; None when the text is not one we know (the caller flags it)."""
    s = (text or "").casefold()
    return next((kind for kind, rx in _TYPE_PATTERNS if rx.search(s)), None)


def split_line(line: str, delimiter: str) -> list[str]:
    """Cells of one line, parsed alone so a stray quote cannot swallow the next line."""
    try:
        return next(csv.reader([line.replace("\x00", "")], delimiter=delimiter), [])
    except csv.Error:
        return line.split(delimiter)


def delimiter_of(line: str) -> str:
    if "\t" in line:
        return "\t"
    return ";" if line.count(";") > line.count(",") else ","


def clean_note(text: str) -> str:
    """Text put in ``flags``: ';' separates flags, so it cannot appear inside one."""
    return re.sub(r"\s+", " ", text.replace(";", ",")).strip()


def stem(name: str) -> str:
    base = re.split(r"[\\/]", name)[-1]
    return PurePath(base).stem if "." in base else base


def means_differ(file_mean: float, replicate_mean: float) -> bool:
    """Over 1 % apart (relative to the larger magnitude); two zeros agree."""
    scale = max(abs(file_mean), abs(replicate_mean))
    return scale > 0 and abs(file_mean - replicate_mean) / scale > MEAN_TOLERANCE
