"""Levey–Jennings guide sets and Westgard rules: each rule fires on its pattern and not on the near miss."""

from __future__ import annotations

import math
import statistics
from collections.abc import Sequence

import polars as pl
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from assay.trending import (
    REJECT_RULES,
    RULES,
    WARNING_RULES,
    GuideSet,
    guide_set_from_values,
    guide_sets,
    levey_jennings,
    run_based_guide_set,
    westgard,
)
from schemas.config import GuideSetSettings

GS = guide_set_from_values(60, 10)  # mean 60, SD 10 (domain.md §5)


def test_guide_set_boundary_is_inclusive() -> None:
    assert GS.in_range(90) and GS.in_range(30)  # exactly mean ± 3 SD: in range
    assert not GS.in_range(91) and not GS.in_range(29)
    assert westgard([90], GS) == [("1-2s",)]  # beyond 2 SD (a warning), not 1-3s
    assert westgard([91], GS) == [("1-2s", "1-3s")]
    assert westgard([29], GS) == [("1-2s", "1-3s")]


def test_rule_table_says_which_rules_reject_and_which_warn() -> None:
    assert WARNING_RULES == ("1-2s",)
    assert set(REJECT_RULES) == {"1-3s", "2-2s", "R-4s", "4-1s", "10x"}
    assert {r for r, (_, kind) in RULES.items() if kind == "random"} == {"1-3s", "R-4s"}
    assert {r for r, (_, kind) in RULES.items() if kind == "systematic"} == {"2-2s", "4-1s", "10x"}


@pytest.mark.parametrize(
    ("rule", "fires", "near_miss"),
    [
        ("1-2s", [81.0], [80.0]),
        ("1-3s", [91.0], [90.0]),
        ("1-3s", [29.0], [30.0]),
        ("2-2s", [81.0, 81.0], [81.0, 80.0]),  # the second exactly at +2 SD is not beyond
        ("2-2s", [39.0, 39.0], [39.0, 81.0]),  # opposite sides: R-4s, not 2-2s
        ("R-4s", [81.0, 39.0], [81.0, 40.0]),
        ("R-4s", [39.0, 81.0], [39.0, 39.0]),
        ("4-1s", [71.0, 71.0, 71.0, 71.0], [71.0, 71.0, 71.0, 70.0]),
        ("4-1s", [49.0, 49.0, 49.0, 49.0], [49.0, 49.0, 71.0, 49.0]),
        ("10x", [61.0] * 10, [61.0] * 9 + [60.0]),  # a point on the mean breaks the run
        ("10x", [59.0] * 10, [59.0] * 9),
    ],
)
def test_each_westgard_rule_fires_on_its_pattern_not_on_the_near_miss(
    rule: str, fires: list[float], near_miss: list[float]
) -> None:
    got = westgard(fires, GS)
    assert rule in got[-1], got  # reported on the point that completes the pattern
    assert all(rule not in v for v in got[:-1])
    assert all(rule not in v for v in westgard(near_miss, GS))


def test_a_series_with_no_pattern_has_no_violation() -> None:
    series = [60.0, 65.0, 55.0, 72.0, 48.0, 61.0, 59.0, 78.0, 42.0, 60.0, 63.0]
    assert westgard(series, GS) == [()] * len(series)


def test_missing_values_are_skipped_and_do_not_break_a_pattern() -> None:
    assert westgard([81.0, None, math.nan, 81.0], GS) == [("1-2s",), (), (), ("1-2s", "2-2s")]


def test_rules_can_be_chosen_and_unknown_rules_refused() -> None:
    assert westgard([81.0, 81.0], GS, rules=["2-2s"]) == [(), ("2-2s",)]
    with pytest.raises(ValueError, match="1-5s"):
        westgard([60.0], GS, rules=["1-5s"])


def test_a_guide_set_needs_a_positive_sd() -> None:
    with pytest.raises(ValueError, match="SD > 0"):
        GuideSet(mean=60, sd=0, n=0, kind="value-based")


# ── run-based guide sets ─────────────────────────────────────────────────────────────────────────────────


def test_run_based_guide_set_from_the_first_n_runs() -> None:
    values = [50.0, 55.0, None, 60.0, 65.0, 70.0, 500.0]
    gs = run_based_guide_set(values, 5, run_ids=[f"r{i}" for i in range(7)])
    assert gs is not None and gs.kind == "run-based" and gs.n == 5
    assert gs.mean == pytest.approx(60.0)
    assert gs.sd == pytest.approx(statistics.stdev([50, 55, 60, 65, 70]))  # sample SD; 500 is run 6
    assert gs.run_ids == ("r0", "r1", "r3", "r4", "r5")
    assert run_based_guide_set(values, 7) is None  # only 6 values yet
    assert run_based_guide_set([60.0] * 5, 5) is None  # no spread: no guide set


def series(
    values: Sequence[float | None], *, lot: str = "L1", metric: str = "QC-H", start: int = 0
) -> pl.DataFrame:
    n = len(values)
    return pl.DataFrame(
        {
            "analyte": ["VEGF-A"] * n,
            "kit_lot": [lot] * n,
            "metric": [metric] * n,
            "run_id": [f"{lot}-{start + i:03d}" for i in range(n)],
            "run_order": list(range(start, start + n)),
            "value": list(values),
        },
        schema_overrides={"value": pl.Float64},
    )


BASELINE = [60.0 + d for d in (10, 5, 0, -5, -10)] * 4  # 20 runs: mean 60, SD 7.25, ending below the mean


def test_levey_jennings_builds_the_guide_set_from_the_first_n_accepted_runs() -> None:
    s = series([*BASELINE, 95.0, 77.0, 77.0]).with_columns(accepted=pl.Series([True] * 23))
    # a rejected run early on is plotted but not part of the guide set
    s = pl.concat([s, series([300.0], start=-1).with_columns(accepted=pl.lit(False))])
    out = levey_jennings(s, GuideSetSettings(n_runs=20))
    assert out["run_order"].to_list() == list(range(-1, 23))  # chronological
    sd = statistics.stdev(BASELINE)
    assert out["gs_mean"].unique().to_list() == [pytest.approx(60.0)]
    assert out["gs_sd"][0] == pytest.approx(sd) and out["gs_n"][0] == 20
    tail = out.tail(3)
    assert tail["violations"].to_list() == [["1-2s", "1-3s"], ["1-2s", "2-2s"], ["1-2s", "2-2s"]]
    assert tail["reject"].to_list() == [True, True, True]
    # the rejected run is judged too
    assert out["violations"].to_list()[0] == ["1-2s", "1-3s"] and out["reject"][0]
    assert out["z"][1] == pytest.approx(10 / sd)
    gs = guide_sets(s, GuideSetSettings(n_runs=20))
    assert gs[("VEGF-A", "L1", "QC-H")].run_ids[0] == "L1-000"


def test_until_n_runs_there_is_no_guide_set_and_the_points_say_so() -> None:
    out = levey_jennings(series(BASELINE[:7]), GuideSetSettings(n_runs=20))
    assert out["gs_mean"].null_count() == 7 and out["violations"].to_list() == [[]] * 7
    assert out["note"][0] == "guide set not yet established: 7 of 20 accepted runs"
    assert not out["reject"].any()


def test_each_kit_lot_and_metric_has_its_own_guide_set() -> None:
    s = pl.concat(
        [
            series(BASELINE, lot="L1"),
            series([v * 2 for v in BASELINE], lot="L2", start=20),  # a new lot reads twice as high
            series([v / 10 for v in BASELINE], metric="EC50"),
        ]
    )
    gs = guide_sets(s, GuideSetSettings(n_runs=20))
    assert gs[("VEGF-A", "L1", "QC-H")].mean == pytest.approx(60)
    assert gs[("VEGF-A", "L2", "QC-H")].mean == pytest.approx(120)
    assert gs[("VEGF-A", "L1", "EC50")].mean == pytest.approx(6)
    assert not levey_jennings(s, GuideSetSettings(n_runs=20))["reject"].any()


def test_value_based_guide_sets_come_from_configuration() -> None:
    cfg = GuideSetSettings(kind="value-based", values={"QC-H": {"VEGF-A": (60, 10)}})
    s = pl.concat(
        [series([90.0, 91.0], lot="L1"), series([91.0], lot="L2", start=5), series([91.0], metric="QC-L")]
    )
    out = levey_jennings(s, cfg, kit_lot="L1")
    by = {(r["kit_lot"], r["metric"], r["run_order"]): r for r in out.iter_rows(named=True)}
    assert by[("L1", "QC-H", 0)]["violations"] == ["1-2s"] and not by[("L1", "QC-H", 0)]["reject"]
    assert by[("L1", "QC-H", 0)]["warning"]
    assert by[("L1", "QC-H", 1)]["violations"] == ["1-2s", "1-3s", "2-2s"]
    assert by[("L1", "QC-H", 1)]["gs_kind"] == "value-based"
    assert by[("L2", "QC-H", 5)]["note"] == "configured guide-set values are for kit lot L1, not L2"
    assert by[("L1", "QC-L", 0)]["note"] == "no configured guide-set values for QC-L of VEGF-A"
    # without a kit lot the configured values apply to every lot
    assert levey_jennings(s, cfg).filter(pl.col("kit_lot") == "L2")["reject"].to_list() == [True]


def test_one_value_per_run_and_metric() -> None:
    s = pl.concat([series([60.0]), series([61.0])])
    with pytest.raises(ValueError, match="one value per run and metric"):
        levey_jennings(s, GuideSetSettings())
    with pytest.raises(ValueError, match="run_order"):
        levey_jennings(series([60.0]).drop("run_order"), GuideSetSettings())


def test_an_empty_series_gives_an_empty_table() -> None:
    out = levey_jennings(series([]), GuideSetSettings())
    assert out.is_empty() and {"violations", "reject", "gs_mean"} <= set(out.columns)


# ── properties ───────────────────────────────────────────────────────────────────────────────────────────

means = st.floats(-1e4, 1e4, allow_nan=False)
sds = st.floats(1e-3, 1e3, allow_nan=False)


@settings(max_examples=200, deadline=None)
@given(mean=means, sd=sds, zs=st.lists(st.floats(-2, 2), max_size=40))
def test_a_series_inside_two_sd_never_fires_a_random_error_rule(
    mean: float, sd: float, zs: list[float]
) -> None:
    gs = GuideSet(mean=mean, sd=sd, n=0, kind="value-based")
    got = westgard([mean + z * sd for z in zs], gs)
    assert all(not ({"1-3s", "R-4s", "2-2s", "1-2s"} & set(v)) for v in got)


@settings(max_examples=200, deadline=None)
@given(
    mean=means,
    sd=sds,
    zs=st.lists(st.floats(-6, 6), max_size=40),
    factor=st.floats(1e-3, 1e3),
)
def test_scaling_values_and_guide_set_together_changes_nothing(
    mean: float, sd: float, zs: list[float], factor: float
) -> None:
    values = [mean + z * sd for z in zs]
    before = westgard(values, GuideSet(mean=mean, sd=sd, n=0, kind="value-based"))
    after = westgard(
        [v * factor for v in values], GuideSet(mean=mean * factor, sd=sd * factor, n=0, kind="value-based")
    )
    assert before == after


@settings(max_examples=100, deadline=None)
@given(zs=st.lists(st.floats(-6, 6), min_size=1, max_size=30))
def test_violations_are_symmetric_about_the_mean(zs: list[float]) -> None:
    gs = GuideSet(mean=0.0, sd=1.0, n=0, kind="value-based")
    assert westgard(zs, gs) == westgard([-z for z in zs], gs)
