"""``ddl.sql`` generated from the table declarations (issue 17, point 4): one definition per table.

Each table is declared once (:mod:`schemas.table`; the list is :data:`warehouse.tables.TABLES`); this module
turns the declarations into the DDL the writer store runs when it opens. The generated text is committed as
``warehouse/ddl.sql`` rather than built at each start, so that the store always runs a fixed SQL text that
was reviewed: a schema change is a visible diff of ``ddl.sql`` (change control of a validated system), and
a library upgrade that would map a dtype differently fails tests/warehouse/test_ddl.py instead of quietly
changing the schema of new stores. ``python -m warehouse.ddl --write`` regenerates it; ``--check`` exits 1
when it is out of date.
"""

from __future__ import annotations

import difflib
import sys
import textwrap
from collections.abc import Sequence
from importlib import resources
from pathlib import Path

import polars as pl

from schemas.table import Column, Table

HEADER = """\
-- Writer store (ingest.duckdb): the only DDL of the warehouse. Opened by ingestion alone; analysts read
-- the published Parquet through analyst.duckdb (see analyst_views.sql). Every table is append-only:
-- nothing is updated in place, "current" is derived (21 CFR Part 11 §11.10(e): changes never obscure
-- earlier values).
--
-- GENERATED from the table declarations by `python -m warehouse.ddl --write`: do not edit. Each table is
-- declared once (schemas/table.py says how), beside its Pandera model in schemas/ or in
-- warehouse/tables.py, which lists them all; tests/warehouse/test_ddl.py fails when this file differs.
"""

_SQL_TYPES: dict[type[pl.DataType], str] = {
    pl.String: "VARCHAR",
    pl.Int64: "BIGINT",
    pl.Int32: "INTEGER",
    pl.Int16: "SMALLINT",
    pl.Float64: "DOUBLE",
    pl.Float32: "FLOAT",
    pl.Boolean: "BOOLEAN",
    pl.Date: "DATE",
}

_WIDTH = 110  # the project's line length
_COMMENT_AT = 40  # inline comments start at this column at least (aligned within a table)


def sql_type(dtype: pl.DataType) -> str:
    """The DuckDB type a polars dtype is stored as, chosen so that a frame read back with ``.pl()`` has the
    declared dtype again (tests/warehouse/test_ddl.py checks the round trip for every table)."""
    if isinstance(dtype, pl.Datetime):
        if dtype.time_unit != "us":
            raise TypeError(f"{dtype!r}: DuckDB timestamps are in microseconds; declare Datetime('us', ...)")
        if dtype.time_zone is None:
            return "TIMESTAMP"
        if dtype.time_zone != "UTC":
            raise TypeError(f"{dtype!r}: the store keeps instants in UTC; declare Datetime('us', 'UTC')")
        return "TIMESTAMPTZ"
    if isinstance(dtype, pl.List):
        return sql_type(_instance(dtype.inner)) + "[]"
    try:
        return _SQL_TYPES[type(dtype)]
    except KeyError:
        known = ", ".join(t.__name__ for t in _SQL_TYPES)
        raise TypeError(
            f"no DuckDB type declared for polars {dtype!r} (known: {known}, Datetime, List); "
            "add it to warehouse/ddl.py _SQL_TYPES"
        ) from None


def _instance(dtype: object) -> pl.DataType:
    if isinstance(dtype, pl.DataType):
        return dtype
    if isinstance(dtype, type) and issubclass(dtype, pl.DataType):
        return dtype()
    raise TypeError(f"not a polars dtype: {dtype!r}")


def _comment_block(text: str) -> list[str]:
    return textwrap.wrap(
        text, _WIDTH - 3, initial_indent="-- ", subsequent_indent="-- ", break_on_hyphens=False
    )


def _definition(col: Column, inline_key: bool) -> str:
    parts = [col.name, sql_type(col.dtype)]
    if inline_key:
        parts.append("PRIMARY KEY")  # implies NOT NULL
    elif col.not_null:
        parts.append("NOT NULL")
    if col.default is not None:
        parts.append(f"DEFAULT {col.default}")
    return " ".join(parts)


def create_table(table: Table) -> str:
    """``CREATE TABLE IF NOT EXISTS`` for ``table`` (after its sequences), then an idempotent ``ALTER TABLE
    ... ADD COLUMN IF NOT EXISTS`` for each column added after the table first shipped (a store created
    earlier gets it last, where a new store has it)."""
    inline_key = len(table.primary_key) == 1
    items: list[tuple[str, str]] = [
        (_definition(c, inline_key and c.name == table.primary_key[0]), c.note) for c in table.columns
    ]
    if len(table.primary_key) > 1:
        items.append((f"PRIMARY KEY ({', '.join(table.primary_key)})", ""))
    items += [(f"CHECK ({check})", "") for check in table.checks]
    width = max([_COMMENT_AT] + [len(f"    {d},") + 1 for d, note in items if note])
    lines = []
    for i, (definition, note) in enumerate(items):
        text = f"    {definition}" + ("," if i < len(items) - 1 else "")
        lines.append(f"{text.ljust(width)}-- {note}" if note else text)
    out = _comment_block(table.note) if table.note else []
    out += [f"CREATE SEQUENCE IF NOT EXISTS {name};" for name in table.sequences]
    out += [f"CREATE TABLE IF NOT EXISTS {table.name} (", *lines, ");"]
    for c in table.columns:
        if c.added:
            alter = f"ALTER TABLE {table.name} ADD COLUMN IF NOT EXISTS {_definition(c, False)};"
            out.append(f"{alter}  -- {c.added}")
    return "\n".join(out) + "\n"


def render(tables: Sequence[Table] | None = None) -> str:
    """The whole DDL of the writer store: the header, then each table in order."""
    if tables is None:
        from warehouse.tables import TABLES

        tables = TABLES
    names = [t.name for t in tables]
    twice = sorted({n for n in names if names.count(n) > 1})
    if twice:
        raise ValueError(f"table(s) declared twice: {', '.join(twice)}")
    return HEADER + "".join("\n" + create_table(t) for t in tables)


def shipped() -> str:
    """The ``ddl.sql`` the store runs."""
    return resources.files("warehouse").joinpath("ddl.sql").read_text(encoding="utf-8")


def stale(text: str | None = None, tables: Sequence[Table] | None = None) -> str | None:
    """None when ``text`` (the shipped ``ddl.sql``) is what the declarations generate; otherwise what
    differs (a unified diff, declarations → file) and how to fix it."""
    text = shipped() if text is None else text
    want = render(tables)
    if text == want:
        return None
    diff = difflib.unified_diff(
        text.splitlines(), want.splitlines(), "warehouse/ddl.sql", "the declarations", lineterm="", n=1
    )
    return (
        "warehouse/ddl.sql differs from the table declarations (schemas/*.py, warehouse/tables.py): "
        "change the declaration, not ddl.sql, and run `python -m warehouse.ddl --write`.\n" + "\n".join(diff)
    )


def main(argv: list[str] | None = None) -> int:
    """``python -m warehouse.ddl``: print the generated DDL; ``--write``: rewrite warehouse/ddl.sql;
    ``--check``: exit 1 (saying what differs) when warehouse/ddl.sql is out of date."""
    args = sys.argv[1:] if argv is None else argv
    if args == ["--write"]:
        out = Path(__file__).with_name("ddl.sql")
        out.write_text(render(), encoding="utf-8")
        print(f"wrote {out}")
        return 0
    if args == ["--check"]:
        problem = stale()
        if problem:
            print(problem, file=sys.stderr)
            return 1
        print("warehouse/ddl.sql matches the declarations")
        return 0
    if args:
        print("usage: python -m warehouse.ddl [--write | --check]", file=sys.stderr)
        return 2
    sys.stdout.write(render())
    return 0


if __name__ == "__main__":  # pragma: no cover
    raise SystemExit(main())
