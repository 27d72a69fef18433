"""Run acceptance (ICH M10 ligand-binding defaults): each rule passes and fails, limits are inclusive."""

from __future__ import annotations

import math
import re
import shutil
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import polars as pl
import pytest
import yaml

from assay.acceptance import (
    CV_FLAG,
    LevelsSource,
    RuleResult,
    RunAcceptance,
    evaluate_plate,
    evaluate_run,
    flag_replicate_cv,
    replicate_cv,
)
from schemas.config import (
    DEFAULT_CONFIG_DIR,
    Acceptance,
    Assay,
    ConfigError,
    CvLimits,
    GuideSetSettings,
    load_config,
)
from schemas.config import Config as StudyConfig
from schemas.wells import conform

ACC = Acceptance()  # ICH M10 defaults; replicate CV: unknown 15 %, standard 20 %


def levels(recoveries: list[float | None], **extra: list[Any]) -> pl.DataFrame:
    """A calibrator level table, S1 (top) down, nominal 4000 / 4**i, with the given recoveries."""
    n = len(recoveries)
    nominal = [4000 / 4**i for i in range(n)]
    back = [None if r is None else nom * r / 100 for nom, r in zip(nominal, recoveries, strict=True)]
    data: dict[str, list[Any]] = {
        "level": [f"S{i + 1}" for i in range(n)],
        "nominal": nominal,
        "back_calc": back,
        "recovery_pct": recoveries,
        "masked": [False] * n,
    }
    data.update(extra)
    return pl.DataFrame(
        data, schema_overrides={"nominal": pl.Float64, "back_calc": pl.Float64, "recovery_pct": pl.Float64}
    )


GOOD_CURVE = levels([100.0] * 7)


def qcs(results: dict[str, list[float | None]], *, qualifier: str = "=") -> pl.DataFrame:
    """QC rows in the canonical well table: per level name, recoveries in % of the nominal."""
    nominal = {"QC-L": 50.0, "QC-M": 500.0, "QC-H": 2500.0}
    rows = []
    for i, (name, recs) in enumerate(results.items()):
        for j, rec in enumerate(recs):
            rows.append(
                {
                    "source_file": "plate.csv",
                    "format": "test",
                    "plate_id": "P1",
                    "well": f"{'ABCDEFGH'[i]}{j + 1}",
                    "sample_id": name,
                    "sample_type": "qc",
                    "expected_conc": nominal[name],
                    "analyte_as_written": "VEGF",
                    "analyte": "VEGF-A",
                    "qualifier": qualifier if rec is not None else "NR",
                    "value": None if rec is None else nominal[name] * rec / 100,
                    "extrapolated": False,
                    "dilution": 1.0,
                    "dilution_applied": False,
                }
            )
    return conform(pl.DataFrame(rows))


GOOD_QCS = qcs({"QC-L": [100.0, 100.0], "QC-M": [100.0, 100.0], "QC-H": [100.0, 100.0]})


def rule(run: RunAcceptance, code: str, subject: str | None = None) -> RuleResult:
    found = [r for r in run.rules if r.code == code and (subject is None or r.subject == subject)]
    assert len(found) == 1, (code, subject, run.rules)
    return found[0]


# ── configuration ────────────────────────────────────────────────────────────────────────────────────────


def test_default_acceptance_loads_from_the_shipped_configuration(config: StudyConfig) -> None:
    for assay in config.assays.assays:
        acc = assay.acceptance
        assert acc.calibrators.recovery_pct == 20 and acc.calibrators.recovery_pct_at_limits == 25
        assert acc.calibrators.min_pass_fraction == 0.75 and acc.calibrators.min_levels == 6
        assert acc.qcs.recovery_pct == 20
        assert acc.qcs.min_pass_fraction == pytest.approx(2 / 3)
        assert acc.qcs.min_level_pass_fraction == 0.5
        assert acc.guide_set == GuideSetSettings(kind="run-based", n_runs=20, values={})
        # the replicate CV limits are the assay's own, set once
        assert acc.replicate_cv_max_pct == assay.replicate_cv_max_pct


def _copy(tmp_path: Path) -> Path:
    d = tmp_path / "config"
    shutil.copytree(DEFAULT_CONFIG_DIR, d)
    return d


def _set_acceptance(d: Path, index: int, block: object) -> None:
    path = d / "assays.yaml"
    data = yaml.safe_load(path.read_text())
    data["assays"][index]["acceptance"] = block
    path.write_text(yaml.safe_dump(data))


def test_the_commented_example_in_assays_yaml_is_valid(tmp_path: Path) -> None:
    text = (DEFAULT_CONFIG_DIR / "assays.yaml").read_text()
    m = re.search(r"^(\s*)# acceptance:\n((?:\1#   .*\n)+)", text, flags=re.M)
    assert m, "assays.yaml should carry a commented acceptance: example"
    body = "\n".join(line.split("#", 1)[1][3:] for line in m.group(2).splitlines())
    block = yaml.safe_load(body)
    d = _copy(tmp_path)
    _set_acceptance(d, 3, block)  # ELISA-VEGF
    assay = load_config(d).assays.get("ELISA-VEGF")
    assert assay is not None
    assert assay.acceptance.qcs.min_pass_fraction == pytest.approx(2 / 3)
    assert assay.acceptance.guide_set.values["QC-H"]["VEGF-A"] == (1500, 120)


def test_a_bad_acceptance_key_is_named(tmp_path: Path) -> None:
    d = _copy(tmp_path)
    _set_acceptance(d, 1, {"qcs": {"min_pass_fractoin": 0.5}})
    with pytest.raises(
        ConfigError, match=r"(?s)assays\.yaml.*assays\[1\]\.acceptance\.qcs\.min_pass_fractoin"
    ):
        load_config(d)


@pytest.mark.parametrize(
    ("block", "where"),
    [
        ({"calibrators": {"min_pass_fraction": "3/0"}}, r"acceptance\.calibrators\.min_pass_fraction"),
        ({"calibrators": {"min_pass_fraction": 1.5}}, r"acceptance\.calibrators\.min_pass_fraction"),
        ({"guide_set": {"kind": "by-eye"}}, r"acceptance\.guide_set\.kind"),
        ({"guide_set": {"n_runs": 1}}, r"acceptance\.guide_set\.n_runs"),
        ({"guide_set": {"kind": "value-based"}}, r"value-based guide set needs values"),
        ({"guide_set": {"values": {"QC-H": {"VEGF-A": [60, 0]}}}}, r"acceptance\.guide_set\.values"),
        ({"guide_set": {"values": {"QC-H": {"IL-6": [60, 10]}}}}, r"values\.QC-H names analytes .*IL-6"),
        ({"replicate_cv_max_pct": {"unknown": 10, "standard": 10}}, r"set the limits once"),
    ],
)
def test_bad_acceptance_values_are_refused_with_the_key(tmp_path: Path, block: object, where: str) -> None:
    d = _copy(tmp_path)
    _set_acceptance(d, 0, block)
    with pytest.raises(ConfigError, match=rf"(?s)assays\.yaml.*assays\[0\].*{where}"):
        load_config(d)


def test_fractions_may_be_written_as_ratios() -> None:
    acc = Acceptance.model_validate({"qcs": {"min_pass_fraction": "2/3"}})
    assert acc.qcs.min_pass_fraction == 2 / 3


def test_an_acceptance_object_takes_the_assays_cv_limits() -> None:
    shipped = load_config().assays.get("LX-NTF")
    assert shipped is not None
    data = shipped.model_dump(by_alias=True) | {
        "acceptance": Acceptance(),
        "replicate_cv_max_pct": {"unknown": 12, "standard": 18},
    }
    assay = Assay.model_validate(data)
    assert assay.acceptance.replicate_cv_max_pct == CvLimits(unknown=12, standard=18)


# ── calibrators ──────────────────────────────────────────────────────────────────────────────────────────


def test_a_good_run_is_accepted_with_every_rule_reported() -> None:
    run = evaluate_run(GOOD_CURVE, GOOD_QCS, ACC)
    assert run.accepted and run.reasons == [] and run.summary() == "VEGF-A: run accepted"
    codes = [(r.code, r.subject) for r in run.rules]
    assert codes == [
        ("CAL_PASS_FRACTION", None),
        ("CAL_MIN_LEVELS", None),
        ("QC_PASS_FRACTION", None),
        ("QC_LEVEL_PASS_FRACTION", "QC-L"),
        ("QC_LEVEL_PASS_FRACTION", "QC-M"),
        ("QC_LEVEL_PASS_FRACTION", "QC-H"),
    ]


@pytest.mark.parametrize(("recovery", "ok"), [(120.0, True), (120.1, False), (80.0, True), (79.9, False)])
def test_calibrator_recovery_limit_is_inclusive(recovery: float, ok: bool) -> None:
    run = evaluate_run(levels([100, 100, 100, recovery, 100, 100, 100]), GOOD_QCS, ACC)
    assert run.calibrators["passed"][3] is ok
    assert run.calibrators["limit_pct"][3] == 20


def test_recovery_is_computed_from_back_calc_without_round_off_failures() -> None:
    # 100 × 0.36 / 0.3 is not exactly 120 in floating point; it is 120 %, at the limit, and passes
    lv = pl.DataFrame(
        {
            "level": ["S1", "S2", "S3", "S4", "S5", "S6", "S7"],
            "nominal": [30.0, 10.0, 3.0, 1.0, 0.3, 0.1, 0.03],
            "back_calc": [30.0, 10.0, 3.0, 1.0, 0.36, 0.1, 0.03],
            "recovery_pct": [None] * 7,
            "masked": [False] * 7,
        },
        schema_overrides={"recovery_pct": pl.Float64},
    )
    run = evaluate_run(lv, GOOD_QCS, ACC)
    assert run.calibrators["recovery_pct"][4] == pytest.approx(120.0)
    assert run.calibrators["passed"].to_list() == [True] * 7


@pytest.mark.parametrize(
    ("index", "recovery", "ok"),
    [
        (6, 125.0, True),  # LLOQ: ±25 %
        (6, 125.1, False),
        (0, 75.0, True),  # ULOQ: ±25 %
        (0, 74.9, False),
        (3, 125.0, False),  # a middle level: ±20 %
    ],
)
def test_lloq_and_uloq_levels_get_25_percent(index: int, recovery: float, ok: bool) -> None:
    rec: list[float | None] = [100.0] * 7
    rec[index] = recovery
    run = evaluate_run(levels(rec), GOOD_QCS, ACC)
    assert run.calibrators["passed"][index] is ok
    assert run.calibrators["at_limit"].to_list() == [True, False, False, False, False, False, True]


def test_75_percent_of_calibrators_passes_and_less_fails() -> None:
    # 8 levels, 6 pass: exactly 75 % and 6 levels — accepted
    ok = evaluate_run(levels([100, 130, 100, 100, 130, 100, 100, 100]), GOOD_QCS, ACC)
    assert rule(ok, "CAL_PASS_FRACTION").passed and rule(ok, "CAL_PASS_FRACTION").observed == 0.75
    assert ok.accepted
    # 9 levels, 6 pass: 66.7 % < 75 % although 6 levels meet the criteria
    bad = evaluate_run(levels([100, 130, 100, 130, 100, 130, 100, 100, 100]), GOOD_QCS, ACC)
    r = rule(bad, "CAL_PASS_FRACTION")
    assert not r.passed and r.limit == 0.75
    assert rule(bad, "CAL_MIN_LEVELS").passed
    assert not bad.accepted
    assert r.reason.startswith(
        "calibrators: 6 of 9 non-zero levels within ±20% (±25% at LLOQ/ULOQ) (needs ≥75%)"
    )
    assert "S2 (recovery 130.0% outside ±20%)" in r.reason
    assert bad.reasons == [r.reason]


def test_at_least_six_calibrator_levels_must_meet_the_criteria() -> None:
    six = evaluate_run(levels([100.0] * 6), GOOD_QCS, ACC)
    assert rule(six, "CAL_MIN_LEVELS").passed and six.accepted
    five = evaluate_run(levels([100.0] * 5), GOOD_QCS, ACC)
    r = rule(five, "CAL_MIN_LEVELS")
    assert not r.passed and r.observed == 5 and r.limit == 6
    assert rule(five, "CAL_PASS_FRACTION").passed  # 100 % of five
    assert five.reasons == ["calibrators: 5 non-zero levels meet the criteria (needs ≥6)"]


def test_a_masked_calibrator_counts_as_failing() -> None:
    # masking a bad level must not improve the score: 6 of 8 stays 6 of 8
    run = evaluate_run(
        levels([100.0] * 8, masked=[False, True, False, False, False, True, False, False]), GOOD_QCS, ACC
    )
    assert rule(run, "CAL_PASS_FRACTION").observed == 0.75
    assert run.calibrators["reason"][1].startswith("masked")
    assert run.accepted
    run = evaluate_run(
        levels([100.0] * 7, masked=[False, True, False, False, False, True, False]), GOOD_QCS, ACC
    )
    assert not run.accepted


def test_zero_calibrators_and_anchor_points_are_not_judged() -> None:
    lv = levels(
        [250.0, 100, 100, 100, 100, 100, 100, 100, 300],
        anchor=[True, False, False, False, False, False, False, False, True],
    )
    lv = pl.concat([lv, levels([None]).with_columns(level=pl.lit("S0"), nominal=pl.lit(0.0))], how="diagonal")
    run = evaluate_run(lv, GOOD_QCS, ACC)
    assert run.accepted
    assert run.calibrators["passed"].to_list() == [None, *[True] * 7, None, None]
    # the ±25 % levels are the ends of the judged range, not the anchors
    assert run.calibrators["at_limit"].to_list() == [False, True, *[False] * 5, True, False, False]


def test_no_back_calculated_value_fails_the_level() -> None:
    run = evaluate_run(levels([100, 100, 100, None, 100, 100, 100]), GOOD_QCS, ACC)
    assert run.calibrators["passed"][3] is False
    assert run.calibrators["reason"][3] == "no back-calculated concentration"


def test_a_standards_summary_object_is_accepted() -> None:
    @dataclass
    class Summary:
        levels: pl.DataFrame

    s = Summary(GOOD_CURVE)
    assert isinstance(s, LevelsSource)
    assert evaluate_run(s, GOOD_QCS, ACC).accepted


def test_missing_columns_are_named() -> None:
    with pytest.raises(ValueError, match="masked"):
        evaluate_run(GOOD_CURVE.drop("masked"), GOOD_QCS, ACC)


# ── QCs ──────────────────────────────────────────────────────────────────────────────────────────────────


@pytest.mark.parametrize(("recovery", "ok"), [(120.0, True), (120.1, False), (80.0, True), (79.9, False)])
def test_qc_recovery_limit_is_inclusive(recovery: float, ok: bool) -> None:
    run = evaluate_run(
        GOOD_CURVE, qcs({"QC-L": [100.0, recovery], "QC-M": [100.0] * 2, "QC-H": [100.0] * 2}), ACC
    )
    assert run.qcs["passed"][1] is ok


def test_two_of_three_qcs_pass_one_of_three_fails() -> None:
    two = evaluate_run(GOOD_CURVE, qcs({"QC-L": [100.0], "QC-M": [100.0], "QC-H": [130.0]}), ACC)
    r = rule(two, "QC_PASS_FRACTION")
    assert r.passed and r.observed == pytest.approx(2 / 3)
    assert r.reason == "QCs: 2 of 3 within ±20% (needs ≥2/3)"
    one = evaluate_run(GOOD_CURVE, qcs({"QC-L": [100.0], "QC-M": [130.0], "QC-H": [130.0]}), ACC)
    r = rule(one, "QC_PASS_FRACTION")
    assert not r.passed and r.reason == "QCs: 1 of 3 within ±20% (needs ≥2/3)"
    assert not one.accepted


def test_qc_overall_fails_while_every_level_has_half() -> None:
    run = evaluate_run(
        GOOD_CURVE,
        qcs({"QC-L": [100.0, 130.0], "QC-M": [100.0, 130.0], "QC-H": [100.0, 130.0]}),
        ACC,
    )
    assert [r.code for r in run.failed] == ["QC_PASS_FRACTION"]
    assert run.reasons == ["QCs: 3 of 6 within ±20% (needs ≥2/3)"]


def test_qc_per_level_needs_half() -> None:
    half = evaluate_run(
        GOOD_CURVE, qcs({"QC-L": [100.0] * 2, "QC-M": [100.0] * 2, "QC-H": [100.0, 130.0]}), ACC
    )
    r = rule(half, "QC_LEVEL_PASS_FRACTION", "QC-H")
    assert r.passed and r.reason == "QC-H: 1 of 2 within ±20% (needs ≥50% per level)"
    assert half.accepted
    # 4 of 6 overall (2/3, passes) but QC-H has none within: the run fails on that level alone
    none = evaluate_run(
        GOOD_CURVE, qcs({"QC-L": [100.0] * 2, "QC-M": [100.0] * 2, "QC-H": [130.0, 75.0]}), ACC
    )
    assert rule(none, "QC_PASS_FRACTION").passed
    assert [(r.code, r.subject) for r in none.failed] == [("QC_LEVEL_PASS_FRACTION", "QC-H")]
    assert none.reasons == ["QC-H: 0 of 2 within ±20% (needs ≥50% per level)"]
    assert not none.accepted
    assert none.summary() == "VEGF-A: run rejected — QC-H: 0 of 2 within ±20% (needs ≥50% per level)"


def test_censored_unreported_and_missing_qcs_are_not_within() -> None:
    run = evaluate_run(GOOD_CURVE, qcs({"QC-L": [100.0, 100.0]}, qualifier="<"), ACC)
    assert run.qcs["passed"].to_list() == [False, False]
    assert run.qcs["reason"][0].startswith("censored (<50)")
    run = evaluate_run(GOOD_CURVE, qcs({"QC-L": [None, 100.0]}), ACC)
    assert run.qcs["passed"].to_list() == [False, True] and run.qcs["reason"][0] == "not reported"
    run = evaluate_run(GOOD_CURVE, GOOD_QCS.head(0), ACC)
    assert not run.accepted
    assert run.reasons == ["QCs: no QC results — a run cannot be accepted without QCs"]


def test_only_qc_rows_are_judged_as_qcs() -> None:
    other = GOOD_QCS.with_columns(sample_type=pl.lit("unknown"), value=pl.lit(1.0))
    run = evaluate_run(GOOD_CURVE, pl.concat([GOOD_QCS, other]), ACC)
    assert run.qcs.height == 6 and run.accepted


def test_qc_limits_come_from_configuration() -> None:
    loose = Acceptance.model_validate({"qcs": {"recovery_pct": 30, "min_level_pass_fraction": 1}})
    data = qcs({"QC-L": [100.0, 125.0], "QC-M": [100.0] * 2, "QC-H": [100.0] * 2})
    assert evaluate_run(GOOD_CURVE, data, loose).accepted
    data = qcs({"QC-L": [100.0, 135.0], "QC-M": [100.0] * 2, "QC-H": [100.0] * 2})
    run = evaluate_run(GOOD_CURVE, data, loose)
    assert run.reasons == ["QC-L: 1 of 2 within ±30% (needs ≥100% per level)"]


# ── a failed run keeps its detail; multiplex plates ──────────────────────────────────────────────────────


def test_a_failed_run_keeps_every_rule_and_detail() -> None:
    run = evaluate_run(levels([100.0] * 5), qcs({"QC-L": [130.0], "QC-M": [130.0], "QC-H": [100.0]}), ACC)
    assert not run.accepted
    assert len(run.rules) == 6 and {r.code for r in run.failed} == {
        "CAL_MIN_LEVELS",
        "QC_PASS_FRACTION",
        "QC_LEVEL_PASS_FRACTION",
    }
    assert run.calibrators.height == 5 and run.qcs.height == 3


def test_one_run_is_one_analyte_and_a_plate_is_split_by_analyte() -> None:
    il6 = GOOD_QCS.with_columns(analyte=pl.lit("IL-6"), value=pl.col("value") * 1.5)
    wells = pl.concat([GOOD_QCS, il6])
    with pytest.raises(ValueError, match="one analyte"):
        evaluate_run(GOOD_CURVE, wells, ACC)
    curves = pl.concat(
        [GOOD_CURVE.with_columns(analyte=pl.lit("VEGF-A")), GOOD_CURVE.with_columns(analyte=pl.lit("IL-6"))]
    )
    runs = evaluate_plate(curves, wells, ACC)
    assert list(runs) == ["VEGF-A", "IL-6"]
    assert runs["VEGF-A"].accepted and not runs["IL-6"].accepted
    assert runs["IL-6"].analyte == "IL-6"
    assert rule(runs["IL-6"], "QC_PASS_FRACTION").reason == "QCs: 0 of 6 within ±20% (needs ≥2/3)"


# ── replicate CV ─────────────────────────────────────────────────────────────────────────────────────────


def pair(
    sample_type: str,
    sample_id: str,
    a: float,
    b: float,
    *,
    row: str = "A",
    signal: tuple[float, float] | None = None,
) -> list[dict[str, object]]:
    """Two replicate wells (row1, row2) of one sample, one analyte."""
    return [
        {
            "source_file": "plate.csv",
            "format": "test",
            "plate_id": "P1",
            "well": well,
            "sample_id": sample_id,
            "sample_type": sample_type,
            "analyte_as_written": "VEGF",
            "analyte": "VEGF-A",
            "qualifier": "=",
            "value": v,
            "signal": None if signal is None else signal[k],
            "extrapolated": False,
            "dilution": 1.0,
            "dilution_applied": False,
        }
        for k, (well, v) in enumerate(zip((f"{row}1", f"{row}2"), (a, b), strict=True))
    ]


def cv_of_pair(a: float, b: float) -> float:
    return 100 * abs(a - b) / math.sqrt(2) / ((a + b) / 2)


def test_replicate_cv_unknowns_and_standards_have_their_own_limits() -> None:
    # CV 17.6 %: over the unknown limit (15 %), within the standard limit (20 %)
    a, b = 100.0, 128.5
    assert 15 < cv_of_pair(a, b) < 20
    wells = conform(
        pl.DataFrame(
            [
                *pair("unknown", "1001-A", a, b),
                *pair("standard", "Standard2", a, b, row="B"),
                *pair("qc", "QC-M", a, b, row="C"),
                *pair("blank", "Blank", a, b, row="D"),
            ]
        )
    )
    cv = replicate_cv(wells, ACC)
    assert cv["sample_type"].to_list() == ["unknown", "standard", "qc"]  # blanks are not checked
    assert cv["limit_pct"].to_list() == [15, 20, 20]
    assert cv["flagged"].to_list() == [True, False, False]
    assert cv["cv_pct"][0] == pytest.approx(cv_of_pair(a, b))
    assert cv["wells"][0] == "A1,A2" and cv["reason"][0] == "CV 17.6% over 15% (unknown)"
    # a standard pair over 20 % is flagged
    wide = replicate_cv(conform(pl.DataFrame(pair("standard", "Standard2", 100.0, 135.0))), ACC)
    assert wide["flagged"].to_list() == [True]


def test_replicate_cv_at_the_limit_is_not_flagged() -> None:
    t = 0.2 / math.sqrt(2)  # a pair 1 ± t has a CV of exactly 20 %
    cv = replicate_cv(conform(pl.DataFrame(pair("standard", "Standard3", 1 + t, 1 - t))), ACC)
    assert cv["cv_pct"][0] == pytest.approx(20.0)
    assert cv["flagged"].to_list() == [False]


def test_replicate_cv_is_not_judged_at_low_signal() -> None:
    low = replicate_cv(conform(pl.DataFrame(pair("unknown", "1001-B", 10.0, 20.0, signal=(50.0, 90.0)))), ACC)
    assert low["flagged"].to_list() == [False] and "mean signal 70 ≤ 100" in low["reason"][0]
    high = replicate_cv(
        conform(pl.DataFrame(pair("unknown", "1001-B", 10.0, 20.0, signal=(500.0, 900.0)))), ACC
    )
    assert high["flagged"].to_list() == [True]


def test_replicate_cv_on_signal_and_without_all_replicates_quantified() -> None:
    by_signal = Acceptance(replicate_cv_basis="signal")
    rows = pair("unknown", "1001-C", 10.0, 20.0, signal=(1000.0, 1010.0))
    assert replicate_cv(conform(pl.DataFrame(rows)), by_signal)["flagged"].to_list() == [False]
    assert replicate_cv(conform(pl.DataFrame(rows)), ACC)["flagged"].to_list() == [True]
    censored = conform(pl.DataFrame(rows)).with_columns(qualifier=pl.Series(["=", "<"]))
    cv = replicate_cv(censored, ACC)
    assert (
        cv["cv_pct"].to_list() == [None]
        and cv["reason"][0] == "1 of 2 replicates without a quantified value: no CV"
    )


def test_replicate_average_rows_are_not_replicates() -> None:
    rows = pair("unknown", "1001-D", 100.0, 200.0)
    rows[1]["well"] = "D1,D2"
    assert replicate_cv(conform(pl.DataFrame(rows)), ACC).is_empty()


def test_flagged_groups_mark_their_wells_and_evaluate_run_reports_them() -> None:
    wells = conform(
        pl.DataFrame(
            [*pair("unknown", "1001-E", 100.0, 200.0), *pair("unknown", "1001-F", 100.0, 101.0, row="B")]
        )
    ).with_columns(flags=pl.Series(["outlier", None, None, None]))
    run = evaluate_run(GOOD_CURVE, GOOD_QCS, ACC, wells=wells)
    assert run.accepted  # replicate CV flags wells; it does not decide the run
    assert run.replicate_cv["flagged"].to_list() == [True, False]
    flagged = flag_replicate_cv(wells, run.replicate_cv)
    assert flagged["flags"].to_list() == [f"outlier;{CV_FLAG}", CV_FLAG, None, None]
    assert flag_replicate_cv(flagged, run.replicate_cv)["flags"].to_list() == flagged["flags"].to_list()
    assert flagged.drop("flags").equals(wells.drop("flags"))


def test_without_wells_the_qc_replicates_are_checked() -> None:
    run = evaluate_run(GOOD_CURVE, qcs({"QC-L": [100.0, 150.0]}), ACC)
    assert run.replicate_cv["sample_id"].to_list() == ["QC-L"]
    assert run.replicate_cv["flagged"].to_list() == [True]


def test_the_assays_cv_limits_reach_the_rules(config: StudyConfig) -> None:
    assay = config.assays.get("ELISA-VEGF")
    assert assay is not None
    a, b = 100.0, 128.5  # CV 17.6 %: within this assay's 20 % for unknowns
    cv = replicate_cv(conform(pl.DataFrame(pair("unknown", "1001-G", a, b))), assay.acceptance)
    assert cv["limit_pct"].to_list() == [20] and cv["flagged"].to_list() == [False]
