"""The 4PL standard curve: fit, inverse, and censoring of a plate's signals at the standards' limits."""

from __future__ import annotations

import math

import numpy as np
import polars as pl
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from assay.curves import CurveFit, concentrations_from_signal, fit_4pl
from schemas.wells import WELL_SCHEMA, WellModel, conform

TRUE = CurveFit(a=0.05, b=1.3, c=250.0, d=2.8, r_squared=1.0, weighting="none", converged=True, message="")
LEVELS = [2000 / 2**i for i in range(8)]  # 2000 … 15.625 pg/mL, as the ELISA-VEGF configuration
LLOQ, ULOQ = min(LEVELS), max(LEVELS)


@pytest.mark.parametrize("weighting", ["none", "1/y", "1/y2"])
def test_recovers_known_parameters_from_noiseless_standards(weighting: str) -> None:
    x = np.array([*LEVELS, 0.0])
    fit = fit_4pl(x, TRUE.predict(x), weighting=weighting)  # type: ignore[arg-type]
    assert fit.converged and fit.model == "4PL" and fit.weighting == weighting
    for got, want in ((fit.a, TRUE.a), (fit.b, TRUE.b), (fit.c, TRUE.c), (fit.d, TRUE.d)):
        assert got == pytest.approx(want, rel=1e-4)
    assert fit.r_squared == pytest.approx(1.0)


def test_interpolates_unknowns_within_one_percent() -> None:
    fit = fit_4pl(LEVELS, [TRUE.predict(x) for x in LEVELS])
    for conc in (20.0, 77.0, 300.0, 1234.0, 1900.0):
        assert fit.inverse(TRUE.predict(conc)) == pytest.approx(conc, rel=0.01)


def test_decreasing_curve_competitive_elisa() -> None:
    true = CurveFit(a=2.5, b=1.0, c=100.0, d=0.1, r_squared=1.0, weighting="none", converged=True, message="")
    fit = fit_4pl(LEVELS, true.predict(np.array(LEVELS)))
    assert fit.converged and fit.a > fit.d
    assert fit.inverse(true.predict(60.0)) == pytest.approx(60.0, rel=1e-3)


def test_noisy_standards_still_fit() -> None:
    rng = np.random.default_rng(7)
    y = TRUE.predict(np.array(LEVELS)) * (1 + 0.04 * rng.standard_normal(len(LEVELS)))
    fit = fit_4pl(LEVELS, y)
    assert fit.converged and fit.r_squared > 0.98
    assert fit.c == pytest.approx(TRUE.c, rel=0.3)


def test_inverse_outside_the_asymptotes_is_nan() -> None:
    assert math.isnan(TRUE.inverse(0.01))  # below a
    assert math.isnan(TRUE.inverse(2.8))  # at d: no finite concentration
    assert math.isnan(TRUE.inverse(3.5))
    assert TRUE.inverse(TRUE.a) == 0.0
    arr = TRUE.inverse(np.array([0.01, TRUE.predict(100.0), 9.0]))
    assert math.isnan(arr[0]) and arr[1] == pytest.approx(100.0) and math.isnan(arr[2])


@pytest.mark.parametrize(
    ("conc", "signal", "why"),
    [
        ([1.0, 2.0, 3.0], [0.1, 0.2, 0.3], "at least 4 distinct"),
        ([0.0, 0.0, 10.0, 100.0, 100.0], [0.1, 0.1, 0.3, 1.0, 1.1], "at least 4 distinct"),
        ([1.0, 10.0, 100.0, 1000.0], [0.5, 0.5, 0.5, 0.5], "same signal"),
        ([1.0, 10.0, math.nan, 1000.0], [0.1, 0.5, 1.0, 2.0], "at least 4 distinct"),
        ([1.0, 2.0], [0.1, 0.2, 0.3], "differ in shape"),
    ],
)
def test_unfittable_standards_are_a_status_not_an_exception(
    conc: list[float], signal: list[float], why: str
) -> None:
    fit = fit_4pl(conc, signal)
    assert not fit.converged and why in fit.message
    assert math.isnan(fit.predict(10.0))


@settings(max_examples=200, deadline=None)
@given(
    a=st.floats(0.0, 0.5),
    span=st.floats(0.5, 4.0),
    b=st.floats(0.3, 4.0),
    log_c=st.floats(0.0, 4.0),
    fraction=st.floats(0.02, 0.98),
)
def test_predict_then_inverse_round_trips(
    a: float, span: float, b: float, log_c: float, fraction: float
) -> None:
    fit = CurveFit(
        a=a, b=b, c=10**log_c, d=a + span, r_squared=1.0, weighting="none", converged=True, message=""
    )
    # a concentration whose signal lies well inside the asymptotes (fraction of the span)
    x = fit.c * (fraction / (1 - fraction)) ** (1 / b)
    assert fit.inverse(fit.predict(x)) == pytest.approx(x, rel=1e-6)


def plate(extra: list[dict[str, object]], *, analyte: str = "VEGF") -> pl.DataFrame:
    """Standards in duplicate (+ a zero standard) on the true curve, then ``extra`` rows."""
    rows: list[dict[str, object]] = []
    for level in [*LEVELS, 0.0]:
        for rep in range(2):
            rows.append(
                {
                    "well": f"A{len(rows) % 12 + 1}",
                    "sample_id": f"STD {level:g}",
                    "sample_type": "standard",
                    "expected_conc": level,
                    "signal": TRUE.predict(level) * (1.01 if rep else 0.99),
                }
            )
    rows += extra
    base = {
        "source_file": "run1.txt",
        "format": "platereader_grid",
        "plate_id": "P1",
        "analyte_as_written": analyte,
        "qualifier": "NR",
        "extrapolated": False,
        "dilution": 1.0,
        "dilution_applied": False,
        "signal_kind": "OD450",
    }
    return conform(pl.DataFrame([{**base, **r} for r in rows], infer_schema_length=None))


def unknown(well: str, signal: float | None, **kw: object) -> dict[str, object]:
    return {"well": well, "sample_id": f"P-{well}", "sample_type": "unknown", "signal": signal, **kw}


def by_well(df: pl.DataFrame, well: str) -> dict[str, object]:
    return df.row(by_predicate=pl.col("well") == well, named=True)


def test_concentrations_and_censoring() -> None:
    wells = plate(
        [
            unknown("C1", TRUE.predict(100.0), dilution=4.0),
            unknown("C2", TRUE.predict(LLOQ)),  # exactly at the LLOQ: in range
            unknown("C3", TRUE.predict(ULOQ)),  # exactly at the ULOQ: in range
            unknown("C4", TRUE.predict(10.0)),  # on the curve, below the lowest standard
            unknown("C5", TRUE.predict(2500.0)),  # on the curve, above the highest standard
            unknown("C6", 0.01),  # below the bottom asymptote
            unknown("C7", 3.5),  # above the top asymptote
            unknown("C8", None, flags="no_reading"),
            {"well": "D1", "sample_id": "BLK", "sample_type": "blank", "signal": 0.05},
        ]
    )
    out, fits = concentrations_from_signal(wells, unit="pg/mL")
    assert out.schema == pl.Schema(WELL_SCHEMA) and out.height == wells.height
    WellModel.validate(out)
    assert fits["VEGF"].converged
    c1 = by_well(out, "C1")
    assert c1["qualifier"] == "=" and c1["value"] == pytest.approx(100.0, rel=0.01)  # in-well: not × 4
    assert c1["dilution"] == 4.0 and c1["dilution_applied"] is False
    assert c1["unit"] == "pg/mL" and c1["unit_source"] == "config" and c1["flags"] == "conc_from_4pl"
    assert (by_well(out, "C2")["qualifier"], by_well(out, "C2")["value"]) == ("=", pytest.approx(LLOQ))
    assert (by_well(out, "C3")["qualifier"], by_well(out, "C3")["value"]) == ("=", pytest.approx(ULOQ))
    assert (by_well(out, "C4")["qualifier"], by_well(out, "C4")["value"]) == ("<", LLOQ)
    assert (by_well(out, "C5")["qualifier"], by_well(out, "C5")["value"]) == (">", ULOQ)
    assert (by_well(out, "C6")["qualifier"], by_well(out, "C6")["value"]) == ("<", LLOQ)
    assert (by_well(out, "C7")["qualifier"], by_well(out, "C7")["value"]) == (">", ULOQ)
    c8 = by_well(out, "C8")
    assert c8["qualifier"] == "NR" and c8["value"] is None and c8["flags"] == "no_reading"
    assert by_well(out, "D1")["qualifier"] == "<"  # the blank reads at the bottom of the curve
    assert out["analyte"].null_count() == out.height and out["conc_pg_ml"].null_count() == out.height


def test_exact_limit_is_snapped_to_the_limit() -> None:
    # Signals built from the *fitted* curve at the limits back-calculate to the limits themselves.
    wells = plate([])
    fit = concentrations_from_signal(wells, unit="pg/mL")[1]["VEGF"]
    at_limits = plate([unknown("C2", fit.predict(LLOQ)), unknown("C3", fit.predict(ULOQ))])
    out, _ = concentrations_from_signal(at_limits, unit="pg/mL")
    assert (by_well(out, "C2")["qualifier"], by_well(out, "C2")["value"]) == ("=", LLOQ)
    assert (by_well(out, "C3")["qualifier"], by_well(out, "C3")["value"]) == ("=", ULOQ)


def test_standards_are_back_calculated() -> None:
    out, _ = concentrations_from_signal(plate([]), unit="pg/mL")
    std = out.filter((pl.col("sample_type") == "standard") & (pl.col("expected_conc") == 250.0))
    assert std["qualifier"].to_list() == ["=", "="]
    assert std["value"].to_list() == pytest.approx([250.0, 250.0], rel=0.05)
    zero = out.filter(pl.col("expected_conc") == 0.0)
    assert zero["qualifier"].to_list() == ["<", "<"]  # a zero standard is below the lowest non-zero one


def test_without_a_unit_the_unit_stays_unknown() -> None:
    out, _ = concentrations_from_signal(plate([unknown("C1", TRUE.predict(100.0))]), unit=None)
    c1 = by_well(out, "C1")
    assert c1["qualifier"] == "=" and c1["unit"] is None and c1["unit_source"] is None


def test_a_failed_fit_leaves_the_analyte_not_reported() -> None:
    rows = [
        {"well": f"A{i}", "sample_type": "standard", "expected_conc": c, "signal": 0.5}
        for i, c in enumerate((10.0, 100.0, 1000.0, 5000.0), start=1)
    ]
    wells = plate([]).head(0).vstack(plate([*rows, unknown("C1", 0.5)], analyte="HGF").tail(5))
    out, fits = concentrations_from_signal(wells, unit="pg/mL")
    assert not fits["HGF"].converged
    assert out["qualifier"].unique().to_list() == ["NR"] and out["value"].null_count() == out.height
    flags = by_well(out, "C1")["flags"]
    assert isinstance(flags, str) and "curve_failed" in flags.split(";") and "same signal" in flags


def test_each_analyte_gets_its_own_curve() -> None:
    vegf = plate([unknown("C1", TRUE.predict(100.0))], analyte="VEGF")
    hgf = plate([unknown("C1", TRUE.predict(400.0))], analyte="HGF").with_columns(
        pl.col("signal") * 1.0, pl.col("expected_conc") * 4
    )
    out, fits = concentrations_from_signal(pl.concat([vegf, hgf]), unit="pg/mL")
    assert set(fits) == {"VEGF", "HGF"}
    c1 = out.filter(pl.col("well") == "C1").sort("analyte_as_written")
    assert c1["value"].to_list() == pytest.approx([1600.0, 100.0], rel=0.01)


def test_the_canonical_analyte_groups_when_present() -> None:
    wells = plate([unknown("C1", TRUE.predict(100.0))]).with_columns(pl.lit("VEGF-A").alias("analyte"))
    _, fits = concentrations_from_signal(wells, unit="pg/mL")
    assert list(fits) == ["VEGF-A"]


def test_rows_that_already_have_a_value_are_left_alone() -> None:
    wells = plate(
        [unknown("C1", TRUE.predict(100.0), qualifier="=", value=99.0, unit="ng/mL", unit_source="file")]
    )
    c1 = by_well(concentrations_from_signal(wells, unit="pg/mL")[0], "C1")
    assert (c1["value"], c1["unit"], c1["unit_source"], c1["flags"]) == (99.0, "ng/mL", "file", None)
