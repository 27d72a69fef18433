"""Preparing wells: analyte names, units (never guessed), limits, the curve, and one dilution."""

from __future__ import annotations

import numpy as np
import polars as pl
import pytest
from pipeline_factories import SHA, make_well, make_wells, run_plate, standards

from assay.curves import CurveFit, fit_curve
from pipeline.prepare import match_assay, no_assay_message, prepare_plate, resolve_analytes
from pipeline.runqc import assess_plate
from readers.base import PlateInfo
from schemas.config import Config, Standards


def wells_of(prep: object, sample: str = "CSF001") -> pl.DataFrame:
    return prep.wells.filter(pl.col("sample_id") == sample)  # type: ignore[attr-defined]


def test_analyte_names_resolve_through_the_catalogue(config: Config) -> None:
    w = resolve_analytes(
        make_wells(
            [make_well(analyte_as_written=a) for a in ("Hu VEGF (45)", "TNF-α", "YKL-40", "Hu FOO (12)")]
        ),
        config,
    )
    assert w["analyte"].to_list() == ["VEGF-A", "TNF-a", "CHI3L1", None]


def test_unknown_analyte_is_rejected_with_its_wells_kept(config: Config) -> None:
    res, q, prep = run_plate(config, [make_well(), make_well(analyte="Hu FOO (12)", well="A4")])
    assert res["analyte"].to_list() == ["VEGF-A"]
    (row,) = q.to_dicts()
    assert (row["rule"], row["severity"], row["analyte"], row["well"]) == (
        "unknown_analyte",
        "reject",
        "Hu FOO (12)",
        "A4",
    )
    assert "not in the analyte catalogue" in row["message"] and row["message"].endswith(
        "re-process the file."
    )
    assert prep.wells.height == 2


def test_analyte_outside_the_assay_is_rejected(config: Config) -> None:
    res, q, _ = run_plate(config, [make_well(), make_well(analyte="IL-6", well="A4")])
    assert res["analyte"].to_list() == ["VEGF-A"]
    assert q["rule"].to_list() == ["analyte_not_in_assay"]


@pytest.mark.parametrize(
    ("unit", "dilution", "applied", "expected"),
    [
        ("pg/mL", 4.0, False, 40.0),  # the file's value is in-well: × dilution
        ("pg/mL", 4.0, True, 10.0),  # the instrument already multiplied: never twice
        ("ng/mL", 2.0, False, 20000.0),
        ("ng/L", 1.0, False, 10.0),
    ],
)
def test_conc_applies_unit_factor_and_dilution_exactly_once(
    config: Config, unit: str, dilution: float, applied: bool, expected: float
) -> None:
    res, _, prep = run_plate(
        config, [make_well(value=10.0, unit=unit, dilution=dilution, dilution_applied=applied)]
    )
    assert wells_of(prep)["conc_pg_ml"].to_list() == [pytest.approx(expected)]
    r = res.row(0, named=True)
    assert r["conc_pg_ml"] == pytest.approx(expected)
    assert r["unit_as_written"] == unit and r["dilution"] == dilution


def test_a_filled_limit_takes_the_dilution_even_when_the_file_applied_it(config: Config) -> None:
    # xPONENT: numbers include the dilution, "OOR <" does not: the limit is in-well
    res, _, _ = run_plate(
        config,
        [
            make_well(well="A3", qualifier="<", value=None, dilution=2.0, dilution_applied=True),
            make_well(well="A4", qualifier="<", value=None, dilution=2.0, dilution_applied=True),
        ],
    )
    assert res["conc_pg_ml"].to_list() == [pytest.approx(10000 / 4**6 * 2)]


def test_no_unit_in_the_file_takes_the_assay_unit(config: Config) -> None:
    _, q, prep = run_plate(config, [make_well(unit=None, unit_source=None)])
    w = wells_of(prep).row(0, named=True)
    assert (w["unit"], w["unit_source"], w["conc_pg_ml"]) == ("pg/mL", "config", 10.0)
    assert q.height == 0


def test_no_unit_anywhere_holds_the_results_and_never_guesses(config: Config) -> None:
    assay = config.assays.get("LX-NTF").model_copy(update={"unit": None})  # type: ignore[union-attr]
    res, q, prep = run_plate(config, [make_well(unit=None, unit_source=None)], assay=assay)
    assert wells_of(prep).row(0, named=True)["conc_pg_ml"] is None
    r = res.row(0, named=True)
    assert (r["qualifier"], r["conc_pg_ml"]) == ("NR", None)
    assert r["hold_reason"] and "unit_unknown" in r["flags"]
    (row,) = q.to_dicts()
    assert (row["rule"], row["severity"]) == ("unit_unknown", "hold")
    assert "gives no unit for VEGF-A" in row["message"]


def test_an_unknown_unit_is_held_too(config: Config) -> None:
    res, q, _ = run_plate(config, [make_well(unit="IU/mL")])
    assert res["qualifier"].to_list() == ["NR"]
    (row,) = q.to_dicts()
    assert row["rule"] == "unit_unknown" and "'IU/mL'" in row["message"] and row["value_text"] == "IU/mL"


def test_out_of_range_without_any_limit_is_held(config: Config) -> None:
    base = config.assays.get("LX-NTF")
    assert base is not None
    assay = base.model_copy(
        update={"standards": Standards(levels=7, step=4, top_pg_ml={}), "limits_pg_ml": {}}
    )
    res, q, _ = run_plate(
        config, [make_well(qualifier="<", value=None), make_well(well="A4", value=3.0)], assay=assay
    )
    r = res.row(0, named=True)
    assert (r["qualifier"], r["conc_pg_ml"], r["n_wells"]) == ("=", 3.0, 2)
    assert "limit_unknown" in r["flags"] and r["hold_reason"]
    assert q.filter(pl.col("rule") == "limit_unknown")["well"].to_list() == ["A3"]


def test_standards_far_off_the_kit_series_hold_the_analyte(config: Config) -> None:
    # the lab typed the BDNF standards in ng/mL under a pg/mL header
    rows = [
        *standards("BDNF", top=20.0),
        make_well(analyte="BDNF", value=28.1),
        make_well("CSF002", "B3", "BDNF", "<", None),
    ]
    res, q, _ = run_plate(config, rows)
    assert res.height == 2
    assert all("standards_off_scale" in f for f in res["flags"].to_list())
    (row,) = q.filter(pl.col("rule") == "standards_off_scale").to_dicts()
    assert row["severity"] == "hold"
    assert "1000× lower" in row["message"] and "ng/mL under a pg/mL header" in row["message"]


def test_assay_matching_and_the_sentence_when_nothing_matches(config: Config) -> None:
    w = resolve_analytes(
        make_wells([make_well(analyte_as_written="Hu VEGF (45)"), make_well(analyte_as_written="IL-6")]),
        config,
    )
    assert match_assay(PlateInfo("P1", protocol="BCT NTF 8-plex"), w, config).assay_id == "LX-NTF"  # type: ignore[union-attr]
    assert match_assay(PlateInfo("P1", protocol="Mystery panel"), w, config) is None
    w2 = resolve_analytes(make_wells([make_well(analyte_as_written="NfL")]), config)
    assert match_assay(PlateInfo("P1"), w2, config).assay_id == "LX-NDG"  # type: ignore[union-attr]
    msg = no_assay_message(PlateInfo("P1", protocol="Mystery panel"), w, config)
    assert (
        "protocol 'Mystery panel'" in msg
        and "analytes IL-6, VEGF-A" in msg
        and "LX-NTF (BCT NTF 8-plex" in msg
    )
    assert msg.endswith("re-process the file.")


def _od(conc: float) -> float:
    a, b, c, d = 0.05, 1.2, 400.0, 3.0
    return d + (a - d) / (1 + (conc / c) ** b)


def test_signal_only_plate_gets_concentrations_from_its_curve(config: Config) -> None:
    series = [2000 / 2**i for i in range(8)]
    rows = [
        make_well(
            f"S{i}",
            f"{'ABCDEFGH'[i]}{col}",
            "VEGF-A",
            "NR",
            None,
            sample_type="standard",
            expected_conc=c,
            signal=_od(c),
            reported_text=None,
            unit=None,
            unit_source=None,
        )
        for i, c in enumerate(series)
        for col in (1, 2)
    ]
    rows += [
        make_well(
            "CSF001",
            w,
            "VEGF-A",
            "NR",
            None,
            signal=_od(100.0),
            reported_text=None,
            unit=None,
            unit_source=None,
            dilution=2.0,
        )
        for w in ("A3", "B3")
    ]
    rows += [
        make_well(
            "CSF002", "C3", "VEGF-A", "NR", None, signal=0.01, reported_text=None, unit=None, unit_source=None
        )
    ]
    plate = PlateInfo("P1", protocol="VEGF ELISA")
    wells = resolve_analytes(make_wells(rows), config)
    assay = config.assays.get("ELISA-VEGF")
    assert assay is not None
    prep = prepare_plate(wells, plate, assay, config, SHA)
    s1 = prep.wells.filter(pl.col("sample_id") == "CSF001")
    assert s1["value"].to_list() == [pytest.approx(100.0, rel=1e-3)] * 2
    assert s1["conc_pg_ml"].to_list() == [pytest.approx(200.0, rel=1e-3)] * 2  # × dilution, once
    assert s1["unit_source"].to_list() == ["config"] * 2
    low = prep.wells.filter(pl.col("sample_id") == "CSF002").row(0, named=True)
    assert (low["qualifier"], low["value"]) == ("<", pytest.approx(min(series)))
    assert prep.curve_note and "4PL" in prep.curve_note and "VEGF-A R²=" in prep.curve_note
    assert np.isclose(prep.limits.row(0, named=True)["lloq_pg_ml"], min(series))


def test_a_curve_that_cannot_be_fitted_holds_the_results(config: Config) -> None:
    rows = [
        make_well(
            "S1",
            "A1",
            "VEGF-A",
            "NR",
            None,
            sample_type="standard",
            expected_conc=100.0,
            signal=1.0,
            reported_text=None,
            unit=None,
        ),
        make_well("CSF001", "A3", "VEGF-A", "NR", None, signal=0.5, reported_text=None, unit=None),
    ]
    res, q, prep = run_plate(config, rows, "ELISA-VEGF")
    r = res.row(0, named=True)
    assert r["qualifier"] == "NR" and "curve_failed" in r["flags"] and r["hold_reason"]
    assert q.filter(pl.col("rule") == "curve_failed")["severity"].to_list() == ["hold"]
    assert "no curve" in prep.curve_note


def test_grid_unknowns_are_read_through_the_accepted_curve_after_masking(config: Config) -> None:
    """A signal-only plate with one bad standard level: the level is masked, and the unknowns and QCs are
    read through exactly the curve recorded for the run (the one the curves table stores), × dilution once."""
    series = [2000 / 2**i for i in range(8)]
    bad = series[2]  # 500 pg/mL read as if it were 800: masked

    def od(c: float) -> float:
        return _od(c * 1.6) if c == bad else _od(c)

    rows = [
        make_well(
            f"S{i}",
            f"{'ABCDEFGH'[i]}{col}",
            "VEGF-A",
            "NR",
            None,
            sample_type="standard",
            expected_conc=c,
            signal=od(c),
            reported_text=None,
            unit=None,
            unit_source=None,
        )
        for i, c in enumerate(series)
        for col in (1, 2)
    ]
    signals = {"CSF001": _od(90.0), "CSF002": _od(700.0)}
    rows += [
        make_well(
            sid,
            well,
            "VEGF-A",
            "NR",
            None,
            signal=s,
            reported_text=None,
            unit=None,
            unit_source=None,
            dilution=2.0,
        )
        for (sid, s), well in zip(signals.items(), ("A3", "B3"), strict=True)
    ]
    rows += [
        make_well(
            "QC-M",
            "C3",
            "VEGF-A",
            "NR",
            None,
            sample_type="qc",
            expected_conc=300.0,
            signal=_od(300.0),
            reported_text=None,
            unit=None,
            unit_source=None,
        )
    ]
    plate = PlateInfo("P1", protocol="VEGF ELISA")
    assay = config.assays.get("ELISA-VEGF")
    assert assay is not None
    prep = prepare_plate(resolve_analytes(make_wells(rows), config), plate, assay, config, SHA)
    curve = prep.curves["VEGF-A"]
    assert curve.masked == ("S2",)  # the 500 pg/mL level (S0 is the top)
    qc = assess_plate(prep.wells, plate, assay, SHA, prep.curves, prep.comparisons)
    stored = qc.curves.row(0, named=True)
    assert stored["masked_levels"] == "S2"
    # residuals against the final curve: the levels on it sit on it, the masked one far off it
    cal = {r["level"]: r for r in qc.calibrators.iter_rows(named=True)}
    s2 = cal["S2"]
    assert s2["fitted_signal"] == pytest.approx(_od(500.0), rel=1e-6)
    assert s2["residual"] == pytest.approx(_od(800.0) - _od(500.0), rel=1e-6)
    assert s2["residual_pct"] == pytest.approx((_od(800.0) / _od(500.0) - 1) * 100, rel=1e-6)
    assert all(abs(r["residual_pct"]) < 1e-4 for name, r in cal.items() if name != "S2")
    assert stored["residual_rms_pct"] < 1e-4 and stored["residual_rmse"] < 1e-6
    fit = CurveFit(
        stored["a"], stored["b"], stored["c"], stored["d"], stored["r_squared"], "1/y2", True, "", model="4PL"
    )
    for sid, s in signals.items():
        got = prep.wells.filter(pl.col("sample_id") == sid).row(0, named=True)
        assert got["qualifier"] == "="
        assert got["value"] == pytest.approx(fit.inverse(s), rel=1e-12)
        assert got["conc_pg_ml"] == pytest.approx(2.0 * fit.inverse(s), rel=1e-12)
    qc_row = prep.wells.filter(pl.col("sample_id") == "QC-M").row(0, named=True)
    assert qc_row["value"] == pytest.approx(fit.inverse(_od(300.0)), rel=1e-12)
    # the unmasked fit (every level) reads the unknowns differently: the test would catch a regression
    unmasked = fit_curve(series, [od(c) for c in series], model="4PL", weighting="1/y2").inverse(
        signals["CSF001"]
    )
    assert abs(unmasked / fit.inverse(signals["CSF001"]) - 1) > 1e-3
    assert "S2 masked" in (prep.curve_note or "")
