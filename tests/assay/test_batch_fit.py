"""Batched curve fits (issue 18 point 2) against the per-curve reference path.

``fit_standards_batched`` / ``fit_curves_batched`` fit all curves of a plate together (the calibrations
advance in lockstep, each round of fits is one vectorised trust-region solve, assay/trust_region_batch.py);
``fit_standards`` / ``fit_curve`` fit one curve at a time, as before. Both must give the same calibrations:
parameters within 1e-6 relative, and the same decisions (convergence, messages, masked levels, limits,
verdict). Checked over the real exports of the corpus, over a generated study, and on random curves.
"""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import polars as pl
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from assay import batching, trust_region, trust_region_batch
from assay.curves import (
    _B_BOUNDS,
    _G_BOUNDS,
    _TIGHT,
    CurveFit,
    CurveSpec,
    Model,
    Weighting,
    _BatchResiduals,
    _prepare,
    _Residuals,
    fit_curve,
    fit_curves_batched,
)
from assay.standards import (
    StandardCurve,
    StandardWell,
    fit_standards,
    fit_standards_batched,
    standard_wells,
)
from readers.base import FileInput
from readers.detect import read
from schemas.config import Config
from synth.generator import build_study

REL = 1e-6  # issue 18: batched parameters within 1e-6 relative of the per-curve fits

# Real exports with a standard series (one calibration per plate × analyte × signal read), read by our
# readers: 45 calibrations (the Bio-Plex 27-plex alone holds 27), Luminex, MSD and plate readers.
CORPUS_FILES = (
    "bioplex/labkey_10JAN07_plate_1.xls",
    "bioplex/labkey_plate_1_IgA-Biot_(Standard2).xls",
    "bioplex/labkey_RawAndSummary.xlsx",
    "msd/allotropy_msd_workbench_test_1.csv",
    "allotropy/msd_workbench/test_msd_workbench_xlsx.xlsx",
    "platereader/allotropy_softmax_pro_group_with_partial_rows.txt",
    "platereader/allotropy_gen5_kinetic_standard_curve.txt",
    "allotropy/moldev_softmax_pro/MD_SMP_absorbance_endpoint_partial_plate_example02.txt",
    "allotropy/agilent_gen5/absorbance/endpoint_stdcurve_singleplate.txt",
    "allotropy/agilent_gen5/fluorescence/alphalisa_endpoint_singleplate.txt",
)
# Calibrations whose 5PL takes seconds (standards at background, optimum on the bound of g: RawAndSummary,
# the MSD xlsx, SoftMax example02): the 5PL comparison leaves them to the 4PL ones (CI time).
SLOW_5PL = (
    "bioplex/labkey_RawAndSummary.xlsx",
    "allotropy/msd_workbench/test_msd_workbench_xlsx.xlsx",
    "allotropy/moldev_softmax_pro/MD_SMP_absorbance_endpoint_partial_plate_example02.txt",
)


def assert_same_fit(one: CurveFit, many: CurveFit, where: str) -> None:
    assert many.converged == one.converged, where
    assert many.message == one.message, where
    assert many.model == one.model and many.n_points == one.n_points, where
    for name, value in one.parameters.items():
        other = many.parameters[name]
        if math.isnan(value):
            assert math.isnan(other), f"{where}: {name}"
        else:
            assert other == pytest.approx(value, rel=REL, abs=1e-300), f"{where}: {name}"


def assert_same_calibration(one: StandardCurve, many: StandardCurve, where: str) -> None:
    assert_same_fit(one.fit, many.fit, where)
    assert many.masked == one.masked, where
    assert (many.lloq, many.uloq, many.passed) == (one.lloq, one.uloq, one.passed), where
    assert (many.reasons, many.notes, many.n_fits) == (one.reasons, one.notes, one.n_fits), where
    for a, b in zip(one.levels, many.levels, strict=True):
        assert (a.level, a.accepted, a.masked, a.mask_step) == (b.level, b.accepted, b.masked, b.mask_step)
        if a.back_calc is None:
            assert b.back_calc is None, where
        else:
            assert b.back_calc == pytest.approx(a.back_calc, rel=1e-5), where


def compare(series: dict[str, list[StandardWell]], model: Model, weighting: Weighting) -> list[StandardCurve]:
    """Both paths over every series; returns the per-curve calibrations (for the caller's sanity checks)."""
    names = list(series)
    many = fit_standards_batched([series[n] for n in names], model=model, weighting=weighting)
    ones = []
    for name, batched in zip(names, many, strict=True):
        one = fit_standards(series[name], model=model, weighting=weighting)
        assert_same_calibration(one, batched, f"{name} {model} {weighting}")
        ones.append(one)
    return ones


def corpus_series(corpus: Path) -> dict[str, list[StandardWell]]:
    out: dict[str, list[StandardWell]] = {}
    for rel in CORPUS_FILES:
        path = corpus / rel
        siblings = {p.name: p.read_bytes() for p in path.parent.iterdir() if p.is_file() and p != path}
        wells = read(FileInput(path.name, path.read_bytes(), siblings)).wells
        std = wells.filter(
            (pl.col("sample_type") == "standard")
            & pl.col("expected_conc").is_not_null()
            & pl.col("signal").is_not_null()
        ).with_columns(pl.coalesce("analyte", "analyte_as_written").alias("_curve"))
        for (plate, analyte, kind), part in std.group_by(
            ["plate_id", "_curve", "signal_kind"], maintain_order=True
        ):
            out[f"{rel} {plate} {analyte} {kind}"] = standard_wells(part)
    return out


@pytest.fixture(scope="module")
def real_series(corpus: Path) -> dict[str, list[StandardWell]]:
    return corpus_series(corpus)


@pytest.mark.corpus
@pytest.mark.parametrize(("model", "weighting"), [("4PL", "1/y2"), ("5PL", "1/y2"), ("4PL", "none")])
def test_corpus_calibrations_batched_equal_per_curve(
    real_series: dict[str, list[StandardWell]], model: Model, weighting: Weighting
) -> None:
    assert len(real_series) >= 40
    series = {k: v for k, v in real_series.items() if model == "4PL" or not k.startswith(SLOW_5PL)}
    ones = compare(series, model, weighting)
    assert sum(c.fit.converged for c in ones) >= 30  # the comparison is over real fits, not failures
    assert any(c.masked for c in ones)  # … and over masking rounds (leave-one-out refits)


@pytest.fixture(scope="module")
def study_series(config: Config) -> dict[str, list[StandardWell]]:
    """Every plate × analyte standard series of a small generated study (signals minus the mean blank,
    as pipeline/runqc fits them)."""
    study = build_study(seed=5, participants=3, config=config)
    out: dict[str, list[StandardWell]] = {}
    for plate in study.plates:
        for analyte in plate.assay.analytes:
            blanks = [w.cells[analyte].signal for w in plate.wells if w.sample_type == "blank"]
            offset = float(np.mean(blanks)) if blanks else 0.0
            out[f"{plate.plate_id} {analyte}"] = [
                StandardWell(
                    w.level or w.sample_id, w.expected_conc[analyte], w.cells[analyte].signal - offset
                )
                for w in plate.wells
                if w.sample_type == "standard" and analyte in w.expected_conc and analyte in w.cells
            ]
    return out


@pytest.mark.parametrize("model", ["4PL", "5PL"])
def test_generated_study_calibrations_batched_equal_per_curve(
    study_series: dict[str, list[StandardWell]], model: Model
) -> None:
    assert len(study_series) >= 20
    ones = compare(study_series, model, "1/y2")
    assert all(c.fit.converged for c in ones)


def _curve(
    a: float, d: float, c: float, b: float, g: float, levels: int, noise: float, seed: int
) -> CurveSpec:
    rng = np.random.default_rng(seed)
    x = np.array([0.0, *(5000.0 / 3**i for i in range(levels - 1))])
    y = d + (a - d) / (1 + (x / c) ** b) ** g
    return CurveSpec(x, y * (1 + noise * rng.standard_normal(x.size)), "4PL", "1/y2")


curves = st.builds(
    _curve,
    a=st.floats(10.0, 200.0),
    d=st.floats(5_000.0, 40_000.0),
    c=st.floats(20.0, 2_000.0),
    b=st.floats(0.6, 2.5),
    g=st.just(1.0),
    levels=st.integers(5, 9),
    noise=st.sampled_from([0.0, 0.01, 0.05]),
    seed=st.integers(0, 1_000),
)


@settings(max_examples=12, deadline=None)
@given(specs=st.lists(curves, min_size=1, max_size=4), model=st.sampled_from(["4PL", "5PL"]))
def test_random_curves_batched_equal_per_curve(specs: list[CurveSpec], model: Model) -> None:
    specs = [CurveSpec(s.conc, s.signal, model, s.weighting) for s in specs]
    many = fit_curves_batched(specs)
    for i, (spec, batched) in enumerate(zip(specs, many, strict=True)):
        one = fit_curve(spec.conc, spec.signal, model=model, weighting=spec.weighting)
        assert_same_fit(one, batched, f"curve {i}")
        assert one.converged


def test_a_curve_that_cannot_be_fitted_does_not_disturb_the_others() -> None:
    good = _curve(40.0, 20_000.0, 300.0, 1.2, 1.0, 8, 0.02, 1)
    flat = CurveSpec(good.conc, np.full(8, 500.0), "4PL", "1/y2")
    few = CurveSpec([0.0, 1.0, 2.0], [1.0, 2.0, 3.0], "4PL", "1/y2")
    nan = CurveSpec(good.conc, np.full(8, np.nan), "5PL", "1/y2")
    specs = [good, flat, few, nan, CurveSpec(good.conc, good.signal, "5PL", "1/y"), good]
    many = fit_curves_batched(specs)
    for spec, batched in zip(specs, many, strict=True):
        assert_same_fit(
            fit_curve(spec.conc, spec.signal, model=spec.model, weighting=spec.weighting), batched, ""
        )
    assert [f.converged for f in many] == [True, False, False, False, True, True]
    assert "same signal" in many[1].message and "at least 4" in many[2].message


def test_drive_many_hands_each_computation_its_own_answers_in_order() -> None:
    def doubler(tag: int, rounds: int) -> batching.Steps[int, int, list[int]]:
        seen: list[int] = []
        for r in range(rounds):
            answers = yield [tag * 100 + r, tag * 100 + r + 50]
            seen.extend(answers)
        return seen

    calls: list[list[int]] = []

    def answer_all(reqs: list[int]) -> list[int]:
        calls.append(reqs)
        return [2 * q for q in reqs]

    out = batching.drive_many([doubler(1, 2), doubler(2, 0), doubler(3, 1)], answer_all)
    assert out == [[200, 300, 202, 302], [], [600, 700]]
    assert calls == [[100, 150, 300, 350], [101, 151]]  # one call per round, all pending requests
    assert batching.drive_one(doubler(3, 1), lambda q: 2 * q) == [600, 700]


LEVELS = np.array([0.0, *(2000 / 3**i for i in range(7))])


@pytest.mark.parametrize("budget", [20, 10_000])
def test_solve_batch_takes_the_one_problem_solver_steps(budget: int) -> None:
    """The vectorised trust region against assay/trust_region.py (itself bit-identical to SciPy's
    least_squares) on refined 5PL problems of both orientations and on the historical 4PL (finite
    differences): the same points, status and evaluation counts."""
    rng = np.random.default_rng(7)
    datas, x0s, lbs, ubs = [], [], [], []
    for k in range(24):
        a, d = (30000.0, 40.0) if k % 2 else (40.0, 30000.0)
        y = d + (a - d) / (1 + (LEVELS / 150.0) ** 1.2) ** [0.4, 1.0, 2.5][k % 3]
        data = _prepare(LEVELS, y * (1 + 0.05 * rng.standard_normal(LEVELS.size)), "1/y2", "5PL")
        assert not isinstance(data, CurveFit)
        lo_y, hi_y = data.asymptote_bounds
        b_lo, b_hi, b0 = (
            (_B_BOUNDS[0], _B_BOUNDS[1], 1.0) if k % 4 < 2 else (-_B_BOUNDS[1], -_B_BOUNDS[0], -1.0)
        )
        lb = np.array([lo_y, b_lo, math.log(LEVELS[-1] / 1000), lo_y, _G_BOUNDS[0]])
        ub = np.array([hi_y, b_hi, math.log(LEVELS[1] * 1000), hi_y, _G_BOUNDS[1]])
        datas.append(data)
        x0s.append(np.clip(np.array([y.min(), b0, math.log(150.0), y.max(), 1.0]), lb, ub))
        lbs.append(lb)
        ubs.append(ub)
    batch = _BatchResiduals("stable5", datas)
    with np.errstate(all="ignore"):
        got = trust_region_batch.solve_batch(
            batch.fun, np.array(x0s), np.array(lbs), np.array(ubs), jac=batch.jac, x_scale_jac=True,
            ftol=_TIGHT, xtol=_TIGHT, gtol=_TIGHT, max_nfev=budget,
        )  # fmt: skip
        for k, data in enumerate(datas):
            r = _Residuals("stable5", data)
            ref = trust_region.solve(
                r.fun, x0s[k], lbs[k], ubs[k], jac=r.jac, x_scale_jac=True,
                ftol=_TIGHT, xtol=_TIGHT, gtol=_TIGHT, max_nfev=budget,
            )  # fmt: skip
            assert np.allclose(got[k].x, ref.x, rtol=REL, atol=0), k
            assert (got[k].status, got[k].nfev) == (ref.status, ref.nfev), k
        # the historical 4PL: logistic residuals, finite-difference Jacobian, default tolerances
        four = [_prepare(d.x, d.y, "1/y2", "4PL") for d in datas]
        lb4 = np.array([[lb[0], _B_BOUNDS[0], LEVELS[-1] / 1000, lb[0]] for lb in lbs])
        ub4 = np.array([[ub[0], _B_BOUNDS[1], LEVELS[1] * 1000, ub[0]] for ub in ubs])
        x4 = np.array([[d.y[0], 1.0, 150.0, d.y[-1]] for d in datas])
        x4 = np.clip(x4, lb4, ub4)
        logistic = _BatchResiduals("logistic", four)  # type: ignore[arg-type]
        got4 = trust_region_batch.solve_batch(logistic.fun, x4, lb4, ub4, max_nfev=budget)
        for k, data in enumerate(four):
            ref = trust_region.solve(_Residuals("logistic", data).fun, x4[k], lb4[k], ub4[k], max_nfev=budget)  # type: ignore[arg-type]
            assert np.allclose(got4[k].x, ref.x, rtol=REL, atol=0), k
            assert (got4[k].status, got4[k].nfev) == (ref.status, ref.nfev), k
