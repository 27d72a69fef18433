"""A query result as a table a person can read in the terminal they have (80 columns is the test case).

Rich would otherwise squeeze every column into the width until each cell folds over several lines; here
columns keep a readable width (long text is cut with an ellipsis), numbers are right-aligned with at most
six significant digits (never float noise such as 12.309999999999999), and the columns that do not fit
are named under the table instead of being crushed — with the way to get everything (``--format csv``).
When the width is short, SHA-256 columns are the first to go.
Qualifier columns (``qualifier``, ``*_qualifier``, ``*_q``) are kept ahead of others, within a third of the
width: a censored value shown without its ``<`` would read as a measurement.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

import numpy as np
import polars as pl
from rich import box
from rich.table import Table

MAX_TEXT_WIDTH = 24
"""Longest a text cell may be on screen; SHA-256s and result IDs are cut (the full value is in csv/json)."""

_GAP = 3  # a space of padding each side of a column and the (blank) rule between columns


@dataclass(frozen=True)
class RenderedFrame:
    table: Table
    hidden_columns: list[str]
    hidden_rows: int


def cell(value: object) -> str:
    """One value as text: null empty, floats with at most six significant digits, dates ISO."""
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float):
        if value != value:  # NaN
            return "NaN"
        if value != 0 and (abs(value) >= 1e12 or abs(value) < 1e-4):
            return f"{value:.4g}"
        return str(np.format_float_positional(value, precision=6, unique=False, fractional=False, trim="-"))
    if isinstance(value, dt.datetime | dt.date):
        return value.isoformat(sep=" ") if isinstance(value, dt.datetime) else value.isoformat()
    return str(value)


def _is_hash(column: str) -> bool:
    return "sha256" in column.lower() or column.lower() in ("sha", "hash")


def _is_qualifier(column: str) -> bool:
    return column == "qualifier" or column.endswith(("_qualifier", "_q"))


def render_frame(df: pl.DataFrame, *, width: int, limit: int) -> RenderedFrame:
    """The first ``limit`` rows of ``df`` as a rich Table at most ``width`` characters wide."""
    shown = df.head(limit)
    texts = {c: [cell(v) for v in shown[c].to_list()] for c in df.columns}
    numeric = {c for c in df.columns if df.schema[c].is_numeric()}
    widths = {}
    for c in df.columns:
        longest = max((len(t) for t in texts[c]), default=0)
        w = (
            max(len(c), longest)
            if c in numeric
            else max(min(len(c), MAX_TEXT_WIDTH), min(longest, MAX_TEXT_WIDTH))
        )
        widths[c] = max(w, 1)
    # Qualifier columns are kept before others are dropped for width (a value without its "<" reads as a
    # measurement), within a third of the width so that they never crowd out the values themselves.
    pinned: list[str] = []
    reserve = 0
    for c in df.columns:
        if _is_qualifier(c) and reserve + widths[c] + _GAP <= width // 3:
            pinned.append(c)
            reserve += widths[c] + _GAP
    kept: list[str] = []
    used = -_GAP  # separators go between columns only (no edges)
    full = False  # once a column does not fit, only qualifier columns follow (never a later narrow one)
    # SHA-256 columns (64 characters a person cannot read on screen) go first when the width is short:
    # the table keeps rule and message of `select * from quarantine`, not its hashes.
    everything = sum(widths[c] + _GAP for c in df.columns) - _GAP
    hashes = {c for c in df.columns if _is_hash(c)} if everything > width else set()
    for c in df.columns:
        if c in hashes:
            continue
        need = widths[c] + _GAP
        if c in pinned:
            reserve -= need
        elif full or (used + need + reserve > width and kept):
            full = True
            continue
        kept.append(c)
        used += need
    t = Table(box=box.SIMPLE_HEAD, show_edge=False, pad_edge=False, header_style="bold")
    for c in kept:
        t.add_column(
            c,
            justify="right" if c in numeric else "left",
            no_wrap=True,
            overflow="ellipsis",
            max_width=widths[c] if c not in numeric else None,
            min_width=min(widths[c], width),
        )
    for i in range(shown.height):
        t.add_row(*[texts[c][i] for c in kept])
    return RenderedFrame(t, [c for c in df.columns if c not in kept], df.height - shown.height)
