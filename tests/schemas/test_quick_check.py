"""The one-pass fast path never says "passes" where Pandera would fail (else a bad row would load)."""

from __future__ import annotations

from typing import Any

import pandera.polars as pa
import polars as pl
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from schemas.quick_check import passes
from schemas.results import RESULT_SCHEMA, ResultModel
from schemas.wells import WELL_SCHEMA, WellModel, conform
from tests.warehouse.factories import result_row, sha


def _results() -> pl.DataFrame:
    rows = [
        {**result_row(sha("a.csv"), "P1", f"S{i}", "VEGF-A", float(i) + 1.0), "status": "loaded"}
        for i in range(4)
    ]
    rows[2].update(conc_pg_ml=2.4, qualifier="<")
    rows[3].update(conc_pg_ml=None, qualifier="NR", cv_pct=None)
    return pl.DataFrame(rows, schema_overrides=RESULT_SCHEMA).select(
        [pl.col(c).cast(t) for c, t in RESULT_SCHEMA.items()]
    )


def _wells() -> pl.DataFrame:
    base: dict[str, Any] = {
        "source_file": "p.csv",
        "format": "xponent",
        "plate_id": "P1",
        "row_number": 10,
        "sample_type": "unknown",
        "analyte_as_written": "VEGF",
        "qualifier": "=",
        "extrapolated": False,
        "unit": "pg/mL",
        "unit_source": "file",
        "dilution": 1.0,
        "dilution_applied": False,
    }
    rows = [{**base, "well": w, "sample_id": "S1", "value": 3.0} for w in ("A1", "A2", "B12")]
    return conform(pl.DataFrame(rows))


def _pandera_ok(model: type[pa.DataFrameModel], df: pl.DataFrame) -> bool:
    try:
        model.validate(df, lazy=True)
    except (pa.errors.SchemaErrors, pa.errors.SchemaError):
        return False
    return True


@pytest.mark.parametrize(("model", "make"), [(ResultModel, _results), (WellModel, _wells)])
def test_a_valid_frame_passes_both(model: type[pa.DataFrameModel], make: Any) -> None:
    df = make()
    assert passes(model, df) and _pandera_ok(model, df)


BREAKS = [
    (ResultModel, _results, lambda df: df.with_columns(conc_pg_ml=pl.lit(-1.0))),  # ge 0
    (ResultModel, _results, lambda df: df.with_columns(result_id=pl.lit("0" * 32))),  # unique
    (ResultModel, _results, lambda df: df.with_columns(study_id=pl.lit(None, pl.String))),  # not null
    (ResultModel, _results, lambda df: df.with_columns(dilution=pl.lit(float("nan")))),  # NaN = null
    (ResultModel, _results, lambda df: df.with_columns(qualifier=pl.lit("<"), conc_pg_ml=None)),  # df check
    (ResultModel, _results, lambda df: df.with_columns(status=pl.lit("done"))),  # isin
    (ResultModel, _results, lambda df: df.drop("kit_lot")),  # strict
    (ResultModel, _results, lambda df: df.with_columns(n_wells=pl.col("n_wells").cast(pl.Int64))),  # dtype
    (WellModel, _wells, lambda df: df.with_columns(well=pl.lit("Q1"))),  # str_matches
    (WellModel, _wells, lambda df: df.with_columns(plate_id=pl.lit(""))),  # str_length
    (WellModel, _wells, lambda df: df.select(list(reversed(df.columns)))),  # ordered
]


@pytest.mark.parametrize(("model", "make", "breaking"), BREAKS)
def test_every_kind_of_break_goes_to_pandera(
    model: type[pa.DataFrameModel], make: Any, breaking: Any
) -> None:
    df = breaking(make())
    assert not passes(model, df)
    assert not _pandera_ok(model, df)


_RESULT_NUMS = ["conc_pg_ml", "lloq_pg_ml", "uloq_pg_ml", "cv_pct", "dilution", "visitnum"]
_VALUES = st.one_of(
    st.none(), st.floats(allow_nan=True, allow_infinity=True), st.sampled_from([0.0, -0.0, -1e-9, 1e300])
)


@settings(max_examples=150, deadline=None)
@given(
    col=st.sampled_from(_RESULT_NUMS),
    row=st.integers(0, 3),
    value=_VALUES,
    qualifier=st.sampled_from(["=", "<", ">", "NR", "?", None]),
    status=st.sampled_from(["loaded", "held", "unresolved", "run_rejected", "nope"]),
    participant=st.sampled_from(["BCT-01-0001", None]),
)
def test_results_fast_path_implies_pandera(
    col: str, row: int, value: float | None, qualifier: str | None, status: str, participant: str | None
) -> None:
    df = _results()
    i = pl.int_range(pl.len()) == row
    df = df.with_columns(
        pl.when(i).then(pl.lit(value, pl.Float64)).otherwise(pl.col(col)).alias(col),
        qualifier=pl.when(i).then(pl.lit(qualifier, pl.String)).otherwise(pl.col("qualifier")),
        status=pl.when(i).then(pl.lit(status)).otherwise(pl.col("status")),
        participant_id=pl.when(i).then(pl.lit(participant, pl.String)).otherwise(pl.col("participant_id")),
    )
    if passes(ResultModel, df):
        assert _pandera_ok(ResultModel, df)


@settings(max_examples=100, deadline=None)
@given(
    col=st.sampled_from([c for c, t in WELL_SCHEMA.items() if t == pl.String()]),
    row=st.integers(0, 2),
    text=st.one_of(st.none(), st.text(max_size=6), st.sampled_from(["A1", "P24", "Q1", "A25", "=", "<"])),
)
def test_wells_fast_path_implies_pandera(col: str, row: int, text: str | None) -> None:
    df = _wells()
    i = pl.int_range(pl.len()) == row
    df = df.with_columns(pl.when(i).then(pl.lit(text, pl.String)).otherwise(pl.col(col)).alias(col))
    if passes(WellModel, df):
        assert _pandera_ok(WellModel, df)
