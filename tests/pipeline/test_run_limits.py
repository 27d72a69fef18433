"""Quantification limits per run from the accepted calibrators (``limits_from``), and the instrument's
concentrations recomputed through our curve (``recomputed_conc``/``recomputed_diff_pct``)."""

from __future__ import annotations

import hashlib
from pathlib import Path
from typing import Any

import polars as pl
import pytest
from pipeline_factories import make_well, run_plate

from assay.curves import CurveFit
from pipeline.manifest import load_manifest
from pipeline.process import process_file
from pipeline.runqc import assess_plate, ec50
from readers.base import FileInput, PlateInfo
from schemas.config import Config

TOP, STEP, LEVELS = 10000.0, 4.0, 7
LOWEST = TOP / STEP ** (LEVELS - 1)  # 2.44140625
NEXT = LOWEST * STEP  # 9.765625: the accepted LLOQ once the lowest standard is masked


def _signal(conc: float) -> float:
    """A 4PL the 5PL fits exactly: 30 at zero, 30 000 at saturation, midpoint 1000 pg/mL."""
    a, d, c, b = 30.0, 30000.0, 1000.0, 1.0
    return d + (a - d) / (1 + (conc / c) ** b)


def _standards(off_level: int | None = None, off_by: float = 3.0) -> list[dict[str, Any]]:
    """The VEGF-A series in duplicate with signals on the curve; ``off_level`` (1 = top) reads as if it
    held ``off_by``× its concentration, so it is masked."""
    rows = []
    for i in range(LEVELS):
        conc = TOP / STEP**i
        read_as = conc * off_by if off_level == i + 1 else conc
        for col in (1, 2):
            rows.append(
                make_well(
                    f"Standard{i + 1}",
                    f"{'ABCDEFGH'[i]}{col}",
                    "VEGF-A",
                    "=",
                    conc,
                    sample_type="standard",
                    expected_conc=conc,
                    signal=_signal(read_as),
                )
            )
    return rows


def _unknowns() -> list[dict[str, Any]]:
    return [
        make_well("CSF001", "A3", value=5.0, signal=_signal(5.0)),  # between S7 and S6
        make_well("CSF002", "B3", value=NEXT, signal=_signal(NEXT)),  # exactly at the accepted LLOQ
        make_well("CSF003", "C3", qualifier="<", value=None),  # OOR <, no number
        make_well(
            "CSF004", "D3", qualifier="<", value=1.0, reported_text="< 1.0"
        ),  # censored by the instrument
        make_well("CSF005", "E3", value=400.0, signal=_signal(400.0)),
    ]


def _by_sample(res: pl.DataFrame) -> dict[str, tuple[str, float | None]]:
    return {r["sample_id"]: (r["qualifier"], r["conc_pg_ml"]) for r in res.iter_rows(named=True)}


def test_the_limits_follow_a_masked_lowest_standard(config: Config) -> None:
    res, _, prep = run_plate(config, [*_standards(off_level=LEVELS), *_unknowns()])
    curve = prep.curves["VEGF-A"]
    assert curve.masked == ("Standard7",) and curve.lloq == pytest.approx(NEXT)
    lim = prep.limits.row(0, named=True)
    assert (lim["lloq_pg_ml"], lim["uloq_pg_ml"], lim["limit_source"]) == (
        pytest.approx(NEXT),
        pytest.approx(TOP),
        "standards",
    )
    got = _by_sample(res)
    assert got["CSF001"] == ("<", pytest.approx(NEXT))  # below the accepted LLOQ: censored at it
    assert got["CSF002"] == ("=", pytest.approx(NEXT))  # exactly at the limit: in range
    assert got["CSF003"] == ("<", pytest.approx(NEXT))  # OOR < gets the accepted LLOQ
    assert got["CSF004"] == ("<", pytest.approx(1.0))  # the instrument's own censoring is kept
    assert got["CSF005"] == ("=", pytest.approx(400.0))
    w = prep.wells.filter(pl.col("sample_id") == "CSF001").row(0, named=True)
    assert "below_accepted_lloq" in w["flags"] and w["reported_text"] == "5.0"
    assert res.filter(pl.col("sample_id") == "CSF001")["lloq_pg_ml"].to_list() == [pytest.approx(NEXT)]


def test_the_limits_follow_a_masked_top_standard(config: Config) -> None:
    rows = [
        *_standards(off_level=1, off_by=1 / 3),
        make_well("CSF009", "F3", value=8000.0, signal=_signal(8000.0)),
    ]
    res, _, prep = run_plate(config, rows)
    assert prep.curves["VEGF-A"].masked == ("Standard1",)
    assert prep.limits["uloq_pg_ml"].to_list() == [pytest.approx(TOP / STEP)]
    assert _by_sample(res)["CSF009"] == (">", pytest.approx(TOP / STEP))


def test_all_standards_accepted_leaves_the_instruments_numbers(config: Config) -> None:
    res, _, prep = run_plate(config, [*_standards(), *_unknowns()])
    assert prep.curves["VEGF-A"].masked == ()
    assert prep.limits["lloq_pg_ml"].to_list() == [pytest.approx(LOWEST)]
    got = _by_sample(res)
    assert got["CSF001"] == ("=", pytest.approx(5.0))
    assert got["CSF003"] == ("<", pytest.approx(LOWEST))


def _beyond() -> list[dict[str, Any]]:
    """What an instrument prints beyond the standards: an extrapolated ``*`` number under the lowest
    standard, a bare number over the top one (diluted 1:2), and one exactly at the lowest standard."""
    return [
        make_well("CSF011", "A5", value=0.2012, reported_text="*0.2012", extrapolated=True),
        make_well("CSF012", "B5", value=12000.0, reported_text="12000", dilution=2.0),
        make_well("CSF013", "C5", value=LOWEST, reported_text=str(LOWEST)),
    ]


def test_values_beyond_the_accepted_range_are_censored_whatever_the_instrument_printed(
    config: Config,
) -> None:
    res, _, prep = run_plate(config, [*_standards(), *_beyond()])
    assert prep.curves["VEGF-A"].masked == ()  # every standard accepted: the run's range is the series
    got = _by_sample(res)
    assert got["CSF011"] == ("<", pytest.approx(LOWEST))
    assert got["CSF012"] == (">", pytest.approx(TOP * 2))  # the limit × the dilution
    assert got["CSF013"] == ("=", pytest.approx(LOWEST))  # at the limit: in range
    w = {r["sample_id"]: r for r in prep.wells.iter_rows(named=True)}
    assert w["CSF011"]["reported_text"] == "*0.2012" and w["CSF011"]["extrapolated"] is True
    assert "below_accepted_lloq" in w["CSF011"]["flags"]
    assert w["CSF012"]["reported_text"] == "12000" and w["CSF012"]["extrapolated"] is True
    assert "above_accepted_uloq" in w["CSF012"]["flags"]
    r = {x["sample_id"]: x for x in res.iter_rows(named=True)}
    assert r["CSF011"]["extrapolated"] is True and r["CSF013"]["extrapolated"] is False


def test_report_extrapolated_keeps_the_instruments_number_marked(config: Config) -> None:
    assay = config.assays.get("LX-NTF").model_copy(update={"report_extrapolated": True})
    res, _, prep = run_plate(config, [*_standards(), *_beyond()], assay=assay)
    got = _by_sample(res)
    assert got["CSF011"] == ("=", pytest.approx(0.2012))
    assert got["CSF012"] == ("=", pytest.approx(24000.0))
    w = prep.wells.filter(pl.col("sample_id") == "CSF012").row(0, named=True)
    assert w["extrapolated"] is True and "reported_beyond_range" in w["flags"]


def test_limits_from_kit_uses_the_configured_limits(config: Config) -> None:
    assay = config.assays.get("LX-NTF").model_copy(
        update={"limits_from": "kit", "limits_pg_ml": {"VEGF-A": (3.0, 8000.0)}}
    )
    res, _, prep = run_plate(config, [*_standards(off_level=LEVELS), *_unknowns()], assay=assay)
    lim = prep.limits.row(0, named=True)
    assert (lim["lloq_pg_ml"], lim["uloq_pg_ml"], lim["limit_source"]) == (3.0, 8000.0, "kit")
    got = _by_sample(res)
    assert got["CSF001"] == ("=", pytest.approx(5.0))  # no censoring at the run's limits
    assert got["CSF003"] == ("<", pytest.approx(3.0))
    assert "limit_from_kit" in prep.wells.filter(pl.col("sample_id") == "CSF003")["flags"][0]


def test_a_plate_without_calibrator_signals_keeps_the_nominal_limits(config: Config) -> None:
    rows = [{**r, "signal": None} for r in _standards(off_level=LEVELS)] + _unknowns()
    _, _, prep = run_plate(config, rows)
    assert prep.curves == {}
    assert prep.limits["lloq_pg_ml"].to_list() == [pytest.approx(LOWEST)]


def test_runqc_reuses_the_curve_fitted_in_prepare(config: Config) -> None:
    _, _, prep = run_plate(config, [*_standards(off_level=LEVELS), *_unknowns()])
    qc = assess_plate(prep.wells, PlateInfo(plate_id="P1"), prep.assay, "ab" * 32, prep.curves)
    row = qc.curves.row(0, named=True)
    assert (row["lloq_in_well"], row["masked_levels"]) == (pytest.approx(NEXT), "Standard7")
    assert "instrument vs our curve" not in (row["notes"] or "")


def test_an_xponent_plate_is_recomputed_through_our_curve(tmp_path: Path, config: Config) -> None:
    from synth.generator import generate_study

    summary = generate_study(tmp_path, seed=5, participants=6)
    export = sorted(summary.inbox.glob("*LX-NTF-CSF-P001*.csv"))[0]
    data = export.read_bytes()
    out = process_file(
        FileInput(export.name, data),
        hashlib.sha256(data).hexdigest(),
        config,
        load_manifest(summary.manifest, config),
    )
    assert out.format == "xponent" and out.wells is not None and out.curves is not None
    assert out.wells.columns[-2:] == ["recomputed_conc", "recomputed_diff_pct"]
    numbers = out.wells.filter(
        (pl.col("sample_type") == "unknown") & (pl.col("qualifier") == "=") & pl.col("signal").is_not_null()
    )
    assert numbers.height > 0
    filled = numbers.filter(pl.col("recomputed_diff_pct").is_not_null())
    assert filled.height >= 0.9 * numbers.height
    assert float(filled["recomputed_diff_pct"].abs().median()) < 5.0  # type: ignore[arg-type]
    assert filled["recomputed_conc"].is_not_null().all()
    # the instrument's value stays the reported one
    assert (numbers["value"].cast(pl.String) != "").all()
    assert out.wells.filter(pl.col("sample_type") == "standard")["recomputed_diff_pct"].is_null().all()
    notes = out.curves["notes"].fill_null("")
    assert notes.str.contains(r"instrument vs our curve: median \|diff\| ").all()


@pytest.mark.parametrize("reported", ["instrument", "recomputed"])
def test_reported_value_instrument_or_recomputed(config: Config, reported: str) -> None:
    """An export with signals and concentrations where the instrument's number disagrees with our curve:
    ``reported_value`` decides which one the result carries; the other is kept beside it in wells."""
    base = config.assays.get("LX-NTF")
    assert base is not None
    assay = base.model_copy(update={"reported_value": reported})
    truth = 50.0
    rows = [
        *_standards(off_level=LEVELS),  # the lowest standard masked: our accepted LLOQ is NEXT
        make_well("CSF010", "E3", value=55.0, signal=_signal(truth), dilution=2.0),  # instrument +10%
        make_well("CSF010", "E4", value=55.0, signal=_signal(truth), dilution=2.0),
        make_well("CSF011", "F3", value=5.0, signal=_signal(5.0)),  # below our accepted LLOQ
        make_well("QC-M", "G3", value=990.0, sample_type="qc", expected_conc=1000.0, signal=_signal(1000.0)),
    ]
    res, _, prep = run_plate(config, rows, assay=assay)
    r = res.filter(pl.col("sample_id") == "CSF010").row(0, named=True)
    w = prep.wells.filter(pl.col("sample_id") == "CSF010")
    assert w["reported_text"].to_list() == ["55.0", "55.0"]  # what the instrument wrote, either way
    assert w["recomputed_conc"].to_list() == [pytest.approx(truth, rel=1e-4)] * 2
    low = res.filter(pl.col("sample_id") == "CSF011").row(0, named=True)
    qc = prep.wells.filter(pl.col("sample_id") == "QC-M").row(0, named=True)
    if reported == "instrument":
        assert r["conc_pg_ml"] == pytest.approx(110.0) and "recomputed_conc" not in (r["flags"] or "")
        assert qc["value"] == 990.0
        # the instrument's 5.0 is below the accepted LLOQ: censored there (instrument mode's own rule)
        assert (low["qualifier"], low["conc_pg_ml"]) == ("<", pytest.approx(NEXT))
    else:
        assert r["conc_pg_ml"] == pytest.approx(2 * truth, rel=1e-4)  # ours, × dilution once
        assert r["qualifier"] == "=" and "recomputed_conc" in r["flags"].split(";")
        assert qc["value"] == pytest.approx(1000.0, rel=1e-4)
        assert (low["qualifier"], low["conc_pg_ml"]) == ("<", pytest.approx(NEXT))
        assert "recomputed_conc" in low["flags"].split(";")


def test_high_cv_counts_only_above_the_minimum_mean_signal(config: Config) -> None:
    """LabKey's rule: replicates 40% apart are flagged when their mean signal is above the assay's
    ``replicate_cv_min_mean_signal`` (100 by default), not near background."""
    rows = [
        make_well("CSF020", "A5", value=10.0, signal=50.0),  # mean signal 55: not judged
        make_well("CSF020", "A6", value=16.0, signal=60.0),
        make_well("CSF021", "B5", value=10.0, signal=500.0),  # mean signal 550: flagged
        make_well("CSF021", "B6", value=16.0, signal=600.0),
        make_well("CSF022", "C5", value=10.0),  # no signal at all: judged on its CV
        make_well("CSF022", "C6", value=16.0),
    ]
    res, q, _ = run_plate(config, rows)
    flagged = {r["sample_id"]: "high_cv" in (r["flags"] or "") for r in res.iter_rows(named=True)}
    assert flagged == {"CSF020": False, "CSF021": True, "CSF022": True}
    assert sorted(q.filter(pl.col("rule") == "high_cv")["sample_id"].to_list()) == ["CSF021", "CSF022"]


def test_ec50_is_the_mid_response_concentration() -> None:
    """For a 4PL the EC50 is c; for a 5PL it is where the curve is half-way between its asymptotes."""
    four = CurveFit(30.0, 1.2, 800.0, 30000.0, 1.0, "none", True, "", model="4PL")
    five = CurveFit(30.0, 1.2, 800.0, 30000.0, 1.0, "none", True, "", model="5PL", g=0.5)
    assert ec50(four) == pytest.approx(800.0)
    x = ec50(five)
    assert x == pytest.approx(800.0 * (2**2 - 1) ** (1 / 1.2)) and five.predict(x) == pytest.approx(15015.0)
