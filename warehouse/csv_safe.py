"""Text cells that a spreadsheet would run as a formula are neutralised in every CSV we write.

A sample name such as ``=HYPERLINK("http://…","click")`` or ``+cmd|' /C calc'!A0`` comes from a lab's
file; opened from ``lb.csv`` or a ``query --format csv`` in Excel or LibreOffice it is a formula (CSV
injection). Following OWASP's advice, a text cell starting with ``=``, ``+``, ``-``, ``@``, a tab or a
carriage return gets a leading apostrophe, which spreadsheets show as text. A cell that is just a number
(``-12.5``, ``+3``) is left alone: it is no formula, and it must stay readable as a number; so is a
lone character (the qualifier ``=``, a ``-`` for "none"), which holds no formula either. Numeric
columns are never touched; the warehouse (DuckDB, Parquet, JSON) keeps the values exactly as they are —
only these spreadsheet-bound copies are escaped.
"""

from __future__ import annotations

import re

import polars as pl

_TRIGGERS = ("=", "+", "-", "@", "\t", "\r")
_NUMBER = r"^[+-]?(\d+(\.\d*)?|\.\d+)([eE][+-]?\d+)?$"
_RISKY = r"(?s)^[=+\-@\t\r]."


def neutral_cell(text: str) -> str:
    """One cell, escaped if a spreadsheet would run it as a formula."""
    if len(text) > 1 and text.startswith(_TRIGGERS) and not re.match(_NUMBER, text):
        return "'" + text
    return text


def neutralise(df: pl.DataFrame) -> pl.DataFrame:
    """Every text column's risky cells escaped (see the module doc); other columns as they are."""
    fixes = [
        pl.when(pl.col(name).str.contains(_RISKY) & ~pl.col(name).str.contains(_NUMBER))
        .then(pl.lit("'") + pl.col(name))
        .otherwise(pl.col(name))
        .alias(name)
        for name, dtype in df.schema.items()
        if dtype == pl.String
    ]
    return df.with_columns(fixes) if fixes else df


def flatten_lists(df: pl.DataFrame) -> pl.DataFrame:
    """List columns (``results.flags``, ``sample_status.missing_analytes``) as ``;``-joined text: CSV has no
    lists, and a spreadsheet shows the items as the warehouse stored them before issue 20."""
    joined = [
        pl.col(name).list.eval(pl.element().cast(pl.String)).list.join(";").alias(name)
        for name, dtype in df.schema.items()
        if isinstance(dtype, pl.List)
    ]
    return df.with_columns(joined) if joined else df


def write_csv(df: pl.DataFrame) -> str:
    """``df`` as CSV text for a spreadsheet: list columns joined with ``;``, escaped."""
    return neutralise(flatten_lists(df)).write_csv()
