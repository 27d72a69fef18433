"""How a stored table is declared: once, next to its Pandera model when it has one (issue 17, point 4).

A table of the writer store was defined three times (polars dtypes, a Pandera model, the DDL) with only a
column-order test between them. Now each table is one :class:`Table`: its columns come from the Pandera
model (:func:`model_columns`: name, polars dtype, nullability, description) or, for a table with no data
rules, from a plain list of :class:`Column`; what the store needs and Pandera does not express (primary key,
NOT NULL where the store is laxer than the contract, defaults, checks, columns added to stores created
earlier) is declared here beside it. The polars schema the pipeline builds frames with is
:func:`polars_schema` of the same columns, and ``warehouse/ddl.sql`` is generated from every declared
table by ``python -m warehouse.ddl --write`` (a test fails when it differs).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass

# Registered before any model's schema is built here (at import): a schema built earlier keeps check
# functions that know no polars data, and schemas/quick_check.py, which applies them directly, fails.
import pandera.backends.polars.builtin_checks  # noqa: F401
import pandera.polars as pa
import polars as pl

UTC_TIMESTAMP = pl.Datetime("us", "UTC")
"""A point in time (the store's TIMESTAMPTZ)."""


@dataclass(frozen=True)
class Column:
    """One column of a stored table.

    ``not_null``: the store refuses a null (NOT NULL). ``note``: what the column holds (the DDL's comment).
    ``default``: a DuckDB expression the store fills in when an insert leaves the column out.
    ``added``: the column came after the table first shipped; stores created before get it by
    ``ALTER TABLE ... ADD COLUMN IF NOT EXISTS`` (the text names the change). Such a column is nullable,
    and is declared after the table's original columns so old and new stores have the same column order.
    """

    name: str
    dtype: pl.DataType
    not_null: bool = False
    note: str = ""
    default: str | None = None
    added: str = ""

    def __post_init__(self) -> None:
        if self.added and self.not_null and self.default is None:
            raise ValueError(
                f"column {self.name} is added to existing stores, so it cannot be NOT NULL without a default "
                "(their rows have no value for it)"
            )


@dataclass(frozen=True)
class Table:
    """A table of the writer store: its columns in order, its key and the note the DDL carries above it.

    ``checks``: table CHECK constraints (DuckDB boolean expressions over the columns). ``sequences``:
    sequences created before the table (a column takes the next number with
    ``default="nextval('name')"``)."""

    name: str
    columns: tuple[Column, ...]
    primary_key: tuple[str, ...] = ()
    note: str = ""
    checks: tuple[str, ...] = ()
    sequences: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        names = [c.name for c in self.columns]
        twice = sorted({n for n in names if names.count(n) > 1})
        if twice:
            raise ValueError(f"table {self.name} declares column(s) {', '.join(twice)} twice")
        by_name = {c.name: c for c in self.columns}
        for key in self.primary_key:
            if key not in by_name:
                raise ValueError(f"table {self.name}: primary key column {key} is not one of its columns")
            if not by_name[key].not_null:
                raise ValueError(f"table {self.name}: primary key column {key} must be declared not_null")
        added = [c.added != "" for c in self.columns]
        if any(added) and added != sorted(added):
            raise ValueError(
                f"table {self.name}: columns added to existing stores must come after the original ones "
                "(ALTER TABLE appends them: a new store must have the same column order as an old one)"
            )

    @property
    def names(self) -> list[str]:
        return [c.name for c in self.columns]

    @property
    def schema(self) -> dict[str, pl.DataType]:
        """The polars schema of the whole stored table (every column, in the store's order)."""
        return polars_schema(self.columns)


def polars_schema(columns: Iterable[Column]) -> dict[str, pl.DataType]:
    """``{name: polars dtype}`` of ``columns``, in order: the schema frames are built and cast with."""
    return {c.name: c.dtype for c in columns}


def _polars_dtype(dtype: object) -> pl.DataType:
    """Pandera's polars engine gives the dtype class for plain types (``pl.Int32``) and an instance for
    parametrised ones (``Datetime('us', 'UTC')``): always an instance."""
    if isinstance(dtype, pl.DataType):
        return dtype
    if isinstance(dtype, type) and issubclass(dtype, pl.DataType):
        return dtype()
    raise TypeError(f"not a polars dtype: {dtype!r}")


def model_columns(
    model: type[pa.DataFrameModel],
    *,
    nullable_in_store: Iterable[str] = (),
    added: Mapping[str, str] | None = None,
) -> tuple[Column, ...]:
    """The columns of a Pandera model, in its order: dtype from the model's annotation, NOT NULL where the
    model says ``nullable=False``, the note from ``Field(description=...)``.

    ``nullable_in_store``: columns the contract requires but the store has always accepted null (stores
    created earlier must keep working; say why where it is used). ``added``: column → the change that
    added it to existing stores (see :class:`Column`)."""
    schema = model.to_schema()
    lax = set(nullable_in_store)
    unknown = lax.difference(schema.columns) | set(added or {}).difference(schema.columns)
    if unknown:
        raise ValueError(f"{model.__name__} has no column(s) {', '.join(sorted(unknown))}")
    out = []
    for name, col in schema.columns.items():
        out.append(
            Column(
                name,
                _polars_dtype(col.dtype.type),
                not_null=not col.nullable and name not in lax,
                note=col.description or "",
                added=(added or {}).get(name, ""),
            )
        )
    return tuple(out)
