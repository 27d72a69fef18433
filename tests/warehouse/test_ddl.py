"""One definition per table (issue 17, point 4): ddl.sql is generated from the declarations, a store made
by the last hand-written DDL keeps working, and every table reads back as the polars schema it declares."""

from __future__ import annotations

from pathlib import Path

import duckdb
import polars as pl
import pytest

from schemas.results import RESULTS_TABLE, ResultModel
from schemas.table import Table, model_columns
from warehouse import ddl
from warehouse.paths import WarehousePaths
from warehouse.store import WriterStore
from warehouse.tables import TABLES

HAND_WRITTEN = Path(__file__).parent / "ddl_before_issue17.sql"
"""warehouse/ddl.sql as it was last written by hand (commit e30302b), frozen: the schema of every store
created before issue 17. Never edit it: it stands for stores that exist."""

Schema = tuple[list[tuple[object, ...]], list[tuple[object, ...]]]


def _schema(con: duckdb.DuckDBPyConnection) -> Schema:
    """Every column (position, type, nullability, default) and constraint of the store, in a stable order."""
    columns = con.execute(
        "SELECT table_name, ordinal_position, column_name, data_type, is_nullable, column_default "
        "FROM information_schema.columns WHERE table_schema = 'main' ORDER BY ALL"
    ).fetchall()
    constraints = con.execute(
        "SELECT table_name, constraint_type, constraint_column_names, expression, constraint_text, "
        "constraint_name FROM duckdb_constraints() ORDER BY ALL"
    ).fetchall()
    return columns, constraints


def _tables_with(table: Table) -> tuple[Table, ...]:
    return tuple(table if t.name == table.name else t for t in TABLES)


def test_ddl_sql_is_what_the_declarations_generate() -> None:
    problem = ddl.stale()
    assert problem is None, problem


def test_a_model_column_changed_without_the_ddl_fails_the_check() -> None:
    """The check above can fail: a column added to the Pandera model, or a dtype changed, and not
    regenerated, is named with the command that fixes it."""

    class Grown(ResultModel):
        retest_of: str

    grown = Table(
        "results_all", (*model_columns(Grown), *RESULTS_TABLE.columns[-2:]), primary_key=("result_id",)
    )
    problem = ddl.stale(tables=_tables_with(grown))
    assert problem is not None
    assert "+    retest_of VARCHAR NOT NULL," in problem
    assert "python -m warehouse.ddl --write" in problem

    wider = Table(
        "results_all",
        tuple(
            c if c.name != "n_wells" else type(c)(c.name, pl.Int64(), not_null=True)
            for c in RESULTS_TABLE.columns
        ),
        primary_key=("result_id",),
    )
    problem = ddl.stale(tables=_tables_with(wider))
    assert problem is not None and "+    n_wells BIGINT NOT NULL," in problem


def test_a_store_made_by_the_hand_written_ddl_opens_with_the_same_schema_as_a_new_one(tmp_path: Path) -> None:
    """The generated DDL equals the hand-written one: run over a store the old DDL created (CREATE ... IF
    NOT EXISTS leaves its tables as they are), it must leave exactly the schema a new store gets — same
    columns in the same order, types, nullability, defaults, keys. Any difference in a declaration (or a
    column added without ``added=``) shows here."""
    old = WarehousePaths.at(tmp_path / "old")
    old.ensure()
    con = duckdb.connect(str(old.ingest_db))
    con.execute(HAND_WRITTEN.read_text(encoding="utf-8"))
    before = _schema(con)
    con.close()
    with WriterStore(old) as store:
        upgraded = _schema(store.con)
    with WriterStore(WarehousePaths.at(tmp_path / "new")) as store:
        new = _schema(store.con)
    assert upgraded == new, _difference(upgraded, new)
    # and what the hand-written DDL declared, the generated one declares exactly (later changes may only
    # add tables, and columns at the end of a table)
    assert before == _restricted(new, before), _difference(before, _restricted(new, before))


def _difference(got: Schema, want: Schema) -> str:
    lines = []
    for what, g, w in (("column", got[0], want[0]), ("constraint", got[1], want[1])):
        lines += [f"only in the first: {what} {r}" for r in g if r not in w]
        lines += [f"only in the second: {what} {r}" for r in w if r not in g]
    return "\n".join(lines)


def _names(value: object) -> list[str]:
    assert isinstance(value, list)
    return [str(v) for v in value]


def _restricted(schema: Schema, to: Schema) -> Schema:
    """``schema`` without the tables and columns ``to`` does not have."""
    known = {(r[0], r[2]) for r in to[0]}
    tables = {t for t, _ in known}
    columns = [r for r in schema[0] if (r[0], r[2]) in known]
    constraints = [r for r in schema[1] if r[0] in tables and all((r[0], c) in known for c in _names(r[2]))]
    return columns, constraints


def test_every_table_stores_and_reads_back_its_declared_polars_schema() -> None:
    con = duckdb.connect()
    con.execute("SET TimeZone = 'UTC'")  # TIMESTAMPTZ is read back in the session's zone
    con.execute(ddl.render())
    for table in TABLES:
        frame = pl.DataFrame(schema=table.schema)
        con.register("incoming", frame.to_arrow())
        con.execute(f"INSERT INTO {table.name} BY NAME SELECT * FROM incoming")
        con.unregister("incoming")
        assert dict(con.sql(f"SELECT * FROM {table.name}").pl().schema) == table.schema, table.name


@pytest.mark.parametrize(
    ("dtype", "sql"),
    [
        (pl.String(), "VARCHAR"),
        (pl.Int64(), "BIGINT"),
        (pl.Int32(), "INTEGER"),
        (pl.Float64(), "DOUBLE"),
        (pl.Boolean(), "BOOLEAN"),
        (pl.Date(), "DATE"),
        (pl.Datetime("us", "UTC"), "TIMESTAMPTZ"),
        (pl.Datetime("us"), "TIMESTAMP"),
        (pl.List(pl.String()), "VARCHAR[]"),
    ],
)
def test_polars_dtypes_map_to_duckdb_types(dtype: pl.DataType, sql: str) -> None:
    assert ddl.sql_type(dtype) == sql


def test_a_dtype_the_store_cannot_keep_exactly_is_refused() -> None:
    with pytest.raises(TypeError, match="in UTC"):
        ddl.sql_type(pl.Datetime("us", "Europe/Paris"))
    with pytest.raises(TypeError, match="microseconds"):
        ddl.sql_type(pl.Datetime("ns", "UTC"))
    with pytest.raises(TypeError, match="no DuckDB type declared for polars Decimal"):
        ddl.sql_type(pl.Decimal(10, 2))


def test_keys_defaults_checks_and_added_columns_render_as_the_store_needs() -> None:
    from schemas.table import Column

    table = Table(
        "signatures",
        (
            Column("signature_id", pl.Int64(), not_null=True, default="nextval('signature_ids')"),
            Column("meaning", pl.String(), not_null=True, note="approved | reviewed"),
            Column("signed_at", pl.Datetime("us", "UTC"), not_null=True, default="current_timestamp"),
            Column("comment", pl.String(), added="issue 21"),
        ),
        primary_key=("signature_id",),
        checks=("meaning IN ('approved', 'reviewed')",),
        sequences=("signature_ids",),
        note="A test table.",
    )
    text = ddl.create_table(table)
    assert text.splitlines() == [
        "-- A test table.",
        "CREATE SEQUENCE IF NOT EXISTS signature_ids;",
        "CREATE TABLE IF NOT EXISTS signatures (",
        "    signature_id BIGINT PRIMARY KEY DEFAULT nextval('signature_ids'),",
        "    meaning VARCHAR NOT NULL,           -- approved | reviewed",
        "    signed_at TIMESTAMPTZ NOT NULL DEFAULT current_timestamp,",
        "    comment VARCHAR,",
        "    CHECK (meaning IN ('approved', 'reviewed'))",
        ");",
        "ALTER TABLE signatures ADD COLUMN IF NOT EXISTS comment VARCHAR;  -- issue 21",
    ]
    con = duckdb.connect()
    con.execute(text)
    con.execute(text)  # idempotent, as the store runs it at every start
    con.execute("INSERT INTO signatures (meaning) VALUES ('approved'), ('reviewed')")
    with pytest.raises(duckdb.ConstraintException):
        con.execute("INSERT INTO signatures (meaning) VALUES ('liked')")
    assert con.execute("SELECT signature_id, signed_at IS NOT NULL FROM signatures").fetchall() == [
        (1, True),
        (2, True),
    ]


def test_the_command_prints_and_checks_the_ddl(capsys: pytest.CaptureFixture[str]) -> None:
    assert ddl.main([]) == 0
    assert capsys.readouterr().out == ddl.shipped()
    assert ddl.main(["--check"]) == 0
    assert ddl.main(["--wrong"]) == 2
    assert "usage: python -m warehouse.ddl" in capsys.readouterr().err
