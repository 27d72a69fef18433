"""A Pandera model's rules evaluated in one polars pass — the fast path in front of ``Model.validate``.

Pandera's polars backend evaluates every column's nullability, uniqueness and each check with a collect
of its own, so its cost per call is set by the ~35 columns of our result model, not by the few hundred
rows of a file — paid on every file, although nearly every file passes. So the same rules
are first evaluated together, through Pandera's own check implementations
(``PolarsCheckBackend.apply``, with Pandera's treatment of nulls); only a frame that does not pass is
validated by Pandera itself, which names every failing row and rule as before.

The fast path may only ever say "passes" when Pandera would: anything it does not mirror (coercion,
regex column selectors, optional columns, model-level uniqueness) makes it decline (``None`` plan), and
any doubt (a dtype that is not exactly the model's) sends the frame to Pandera.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass

import pandera.backends.polars.builtin_checks  # noqa: F401  (registers Pandera's polars check functions)
import pandera.polars as pa
import polars as pl
from pandera.api.polars.types import PolarsData
from pandera.backends.polars.checks import PolarsCheckBackend
from pandera.constants import CHECK_OUTPUT_KEY


@dataclass(frozen=True)
class _Plan:
    columns: tuple[str, ...]
    dtypes: tuple[pl.DataType, ...]
    not_null: tuple[str, ...]
    unique: tuple[str, ...]
    checks: tuple[tuple[str, pa.Check], ...]  # (column or "*", check)


@functools.cache
def _plan(model: type[pa.DataFrameModel]) -> _Plan | None:
    schema = model.to_schema()
    if schema.coerce or schema.unique or not schema.strict or not schema.ordered:
        return None
    if getattr(schema, "add_missing_columns", False) or schema.unique_column_names:
        return None
    columns, dtypes, not_null, unique = [], [], [], []
    checks: list[tuple[str, pa.Check]] = [("*", c) for c in schema.checks]
    for name, col in schema.columns.items():
        if col.regex or col.coerce or not col.required or col.dtype is None:
            return None
        columns.append(name)
        dtypes.append(col.dtype.type)
        if not col.nullable:
            not_null.append(name)
        if col.unique:
            unique.append(name)
        checks += [(name, c) for c in col.checks]
    return _Plan(tuple(columns), tuple(dtypes), tuple(not_null), tuple(unique), tuple(checks))


def passes(model: type[pa.DataFrameModel], df: pl.DataFrame) -> bool:
    """True only if ``model.validate(df)`` would pass; False means "ask Pandera" (it may still pass)."""
    plan = _plan(model)
    if plan is None or tuple(df.columns) != plan.columns:
        return False
    if tuple(df.dtypes) != plan.dtypes:
        return False
    lf = df.lazy()
    parts: list[pl.LazyFrame] = []
    for name in plan.not_null:
        ok = pl.col(name).is_not_null()
        if df.schema[name].is_float():
            ok = ok & pl.col(name).is_not_nan()  # Pandera counts NaN as null
        parts.append(lf.select(ok.all().alias(f"null_{name}")))
    parts += [lf.select(pl.col(n).is_duplicated().not_().all().alias(f"unique_{n}")) for n in plan.unique]
    for i, (key, check) in enumerate(plan.checks):
        out = PolarsCheckBackend(check).apply(PolarsData(lf, key))
        if isinstance(out, bool):
            if not out:
                return False
            continue
        got = pl.col(CHECK_OUTPUT_KEY)
        ok = (got | got.is_null()) if check.ignore_na else got.fill_null(False)
        parts.append(out.select(ok.all().alias(f"check_{i}")))
    if not parts:
        return True
    row = pl.concat(parts, how="horizontal").collect().row(0)
    return all(v is True for v in row)
