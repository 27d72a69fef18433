"""Table declarations (schemas/table.py): columns from a Pandera model, and the mistakes a declaration
cannot make (they would give a store whose schema depends on its age)."""

from __future__ import annotations

from typing import Annotated

import pandera.polars as pa
import polars as pl
import pytest

from schemas.manifest import MANIFEST_SAMPLES_TABLE, MANIFEST_SCHEMA, ManifestModel
from schemas.results import RESULT_SCHEMA, RESULTS_TABLE, ResultModel
from schemas.table import UTC_TIMESTAMP, Column, Table, model_columns, polars_schema
from schemas.wells import WELL_SCHEMA, WELLS_TABLE, WellModel


def test_model_columns_take_name_dtype_nullability_and_description_from_the_model() -> None:
    cols = {c.name: c for c in model_columns(WellModel)}
    assert list(cols) == list(WellModel.to_schema().columns)
    assert cols["row_number"] == Column(
        "row_number", pl.Int64(), note="1-based line (CSV) or row (sheet) where the value was read"
    )
    assert cols["qualifier"].not_null and not cols["analyte"].not_null
    assert {c.name: c.dtype for c in model_columns(ResultModel)}["n_wells"] == pl.Int32()


def test_the_polars_schemas_are_the_models_and_the_tables_hold_them() -> None:
    """The frames the pipeline builds and the store's tables come from the same fields, in order."""
    for schema, model, table in (
        (WELL_SCHEMA, WellModel, WELLS_TABLE),
        (RESULT_SCHEMA, ResultModel, RESULTS_TABLE),
        (MANIFEST_SCHEMA, ManifestModel, MANIFEST_SAMPLES_TABLE),
    ):
        assert list(schema) == list(model.to_schema().columns)
        names = table.names
        start = names.index(next(iter(schema)))
        assert names[start : start + len(schema)] == list(schema)
        assert all(table.schema[c] == t for c, t in schema.items())


def test_the_store_may_be_laxer_than_the_contract_only_where_declared() -> None:
    lax = {c.name for c in MANIFEST_SAMPLES_TABLE.columns if not c.not_null}
    required = {n for n, c in ManifestModel.to_schema().columns.items() if not c.nullable}
    assert lax & required == {"site_id", "collection_date", "manifest_line"}
    with pytest.raises(ValueError, match="has no column"):
        model_columns(ManifestModel, nullable_in_store=("site",))


def test_a_timestamp_declared_in_the_model_keeps_its_zone() -> None:
    class Stamped(pa.DataFrameModel):
        at: Annotated[pl.Datetime, "us", "UTC"]

    assert polars_schema(model_columns(Stamped)) == {"at": UTC_TIMESTAMP}


def test_declarations_that_would_make_old_and_new_stores_differ_are_refused() -> None:
    key = Column("id", pl.Int64(), not_null=True)
    with pytest.raises(ValueError, match="cannot be NOT NULL without a default"):
        Column("lab", pl.String(), not_null=True, added="issue 15")
    with pytest.raises(ValueError, match="must come after the original ones"):
        Table("t", (key, Column("lab", pl.String(), added="issue 15"), Column("x", pl.String())))
    with pytest.raises(ValueError, match="must be declared not_null"):
        Table("t", (Column("id", pl.Int64()),), primary_key=("id",))
    with pytest.raises(ValueError, match="not one of its columns"):
        Table("t", (key,), primary_key=("key",))
    with pytest.raises(ValueError, match="twice"):
        Table("t", (key, key))
