"""Levey–Jennings/Westgard when a run is loaded (pipeline/trend.py, warehouse/trend_history.py): each run
is judged against the earlier accepted runs in a real writer store, and the judgement is loaded with it."""

from __future__ import annotations

import hashlib
import math
from datetime import UTC, datetime
from pathlib import Path

import polars as pl
import pytest

from assay.qc_report import render_qc_report
from pipeline.intake import IntakeContext, trend_at_load
from pipeline.trend import HISTORY_SCHEMA, TREND_SCHEMA, judge_trend
from schemas.config import Config, GuideSetSettings, WestgardSettings
from schemas.manifest import Manifest
from schemas.outcome import FileOutcome, PlateRecord
from schemas.qc import ACCEPTANCE_SCHEMA, CURVE_SCHEMA
from schemas.results import QUARANTINE_SCHEMA, RESULT_SCHEMA, UNRESOLVED_SCHEMA
from schemas.wells import WELL_SCHEMA
from tests.warehouse.factories import result_row
from warehouse.analyst import connect_analyst
from warehouse.paths import WarehousePaths
from warehouse.publish import publish
from warehouse.qc_report_data import build_report_input
from warehouse.store import WriterStore

AT = datetime(2026, 11, 24, 12, tzinfo=UTC)
N_RUNS = 5


def run(
    name: str, qc_h: float, *, ec50: float = 500.0, top: float = 20000.0, accepted: bool = True
) -> FileOutcome:
    """One LX-NTF plate (kit lot L1) with a QC-H in duplicate, a VEGF-A curve and one result."""
    sha = hashlib.sha256(name.encode()).hexdigest()
    plate = f"P-{name}"
    base = {"source_file": name, "format": "xponent", "plate_id": plate, "analyte_as_written": "VEGF-A",
            "analyte": "VEGF-A", "qualifier": "=", "extrapolated": False, "dilution": 1.0,
            "dilution_applied": True, "unit": "pg/mL"}  # fmt: skip
    wells = pl.DataFrame(
        [
            {
                **base,
                "well": w,
                "row_number": i,
                "sample_id": "QC-H",
                "sample_type": "qc",
                "value": v,
                "conc_pg_ml": v,
                "expected_conc": 4000.0,
            }
            for i, (w, v) in enumerate((("G1", qc_h * 0.99), ("G2", qc_h * 1.01)), start=1)
        ],
        schema=WELL_SCHEMA,
    )
    curve = {k: None for k in CURVE_SCHEMA} | {
        "source_sha256": sha, "plate_id": plate, "analyte": "VEGF-A", "assay_id": "LX-NTF", "kit_lot": "L1",
        "model": "4PL", "c": ec50, "ec50": ec50, "converged": True, "max_signal": top,
        "calibration_passed": True,
    }  # fmt: skip
    verdict = {k: None for k in ACCEPTANCE_SCHEMA} | {
        "source_sha256": sha, "plate_id": plate, "analyte": "VEGF-A", "run_accepted": accepted,
        "rule": "QC_PASS_FRACTION", "passed": accepted, "reason": "QC results within ±20%",
    }  # fmt: skip
    result = result_row(sha, plate, "CSF001", "VEGF-A", 12.0)
    return FileOutcome(
        source_file=name,
        source_sha256=sha,
        size_bytes=1,
        format="xponent",
        status="loaded",
        message=f"Plate {plate}: 1 result accepted.",
        plates=[PlateRecord(plate, "LX-NTF", "luminex", "CSF", "LX-NTF", "MAGPIX", None, "L1", 2)],
        wells=wells,
        results=pl.DataFrame([result], schema=RESULT_SCHEMA, orient="row"),
        quarantine=pl.DataFrame(schema=QUARANTINE_SCHEMA),
        unresolved=pl.DataFrame(schema=UNRESOLVED_SCHEMA),
        curves=pl.DataFrame([curve], schema=CURVE_SCHEMA, orient="row"),
        acceptance=pl.DataFrame([verdict], schema=ACCEPTANCE_SCHEMA, orient="row"),
    )


def with_trending(config: Config, *, action: str = "warning") -> Config:
    assays = [
        a.model_copy(
            update={
                "acceptance": a.acceptance.model_copy(
                    update={
                        "guide_set": GuideSetSettings(n_runs=N_RUNS),
                        "westgard": WestgardSettings(action=action),  # type: ignore[arg-type]
                    }
                )
            }
        )
        if a.assay_id == "LX-NTF"
        else a
        for a in config.assays.assays
    ]
    return config.model_copy(update={"assays": config.assays.model_copy(update={"assays": assays})})


def load_all(
    tmp_path: Path, config: Config, outcomes: list[FileOutcome]
) -> tuple[WriterStore, list[FileOutcome]]:
    store = WriterStore(WarehousePaths.at(tmp_path / "wh"))
    ctx = IntakeContext(config, Manifest.empty(), store, "run-1")
    done = []
    for o in outcomes:
        judged = trend_at_load(o, ctx)
        store.load(judged, "run-1")
        done.append(judged)
    return store, done


# QC-H history 55, 65, 55, 65, 60 (mean 60, SD 5): 75 is exactly +3 SD (in range), 75.5 is beyond
GUIDE = [55.0, 65.0, 55.0, 65.0, 60.0]


def test_a_run_is_judged_at_load_against_the_earlier_accepted_runs(tmp_path: Path, config: Config) -> None:
    cfg = with_trending(config)
    rejected_outlier = run("rej", 500.0, accepted=False)  # a failed run: never in the guide set
    history = [run(f"h{i}", v) for i, v in enumerate(GUIDE)]
    on_limit, beyond = run("on-limit", 75.0), run("beyond", 75.5)
    store, done = load_all(tmp_path, cfg, [rejected_outlier, *history, on_limit, beyond])
    trend = store.con.sql("select * from qc_trend order by judged_at, plate_id, series").pl()
    assert set(trend.columns) == set(TREND_SCHEMA)
    h = trend.filter((pl.col("plate_id") == "P-h3") & (pl.col("series") == "QC-H")).row(0, named=True)
    assert h["guide_kind"] is None and h["note"] == "guide set not yet established: 3 of 5 accepted runs"
    lim = trend.filter((pl.col("plate_id") == "P-on-limit") & (pl.col("series") == "QC-H")).row(0, named=True)
    assert (lim["guide_mean"], lim["guide_n"], lim["n_history"]) == (pytest.approx(60.0), 5, 5)
    assert lim["guide_sd"] == pytest.approx(5.0) and lim["z"] == pytest.approx(3.0)
    assert lim["rules_violated"] is None  # exactly at mean + 3 SD is in range
    out = trend.filter((pl.col("plate_id") == "P-beyond") & (pl.col("series") == "QC-H")).row(0, named=True)
    assert out["rules_violated"] == "1-3s;2-2s" and out["action"] == "warning"  # 2-2s with the +3 SD before
    assert out["guide_mean"] == pytest.approx(60.0)  # the run before did not join the fixed guide set
    # EC50 and max signal did not move: judged, no rule
    curves = trend.filter((pl.col("plate_id") == "P-beyond") & pl.col("series").is_in(["EC50", "max_signal"]))
    assert curves.height == 2 and curves["rules_violated"].null_count() == 2
    # the flag reaches the quarantine, the results, the file verdict; the run stays accepted
    q = store.con.sql("select * from quarantine where rule = 'westgard'").pl()
    assert q["severity"].to_list() == ["warning"] and q["plate_id"].to_list() == ["P-beyond"]
    assert "violates Westgard 1-3s, 2-2s" in q["message"][0] and "mean 60 ± SD 5" in q["message"][0]
    res = store.con.sql("select plate_id, status, flags from results_all where plate_id = 'P-beyond'").pl()
    assert res.row(0) == ("P-beyond", "loaded", "westgard")
    last = done[-1]
    assert last.status == "loaded_with_issues"
    assert last.message.endswith(
        "Levey–Jennings: 1 Westgard violation flagged (P-beyond VEGF-A QC-H 1-3s, 2-2s)."
    )
    assert done[-2].status == "loaded" and "Westgard" not in done[-2].message


def test_a_shift_in_ec50_trips_the_systematic_rules(tmp_path: Path, config: Config) -> None:
    cfg = with_trending(config)
    ec = [480.0, 520.0, 480.0, 520.0, 500.0]  # mean 500, SD 20
    runs = [run(f"h{i}", 60.0 + (i % 2), ec50=e) for i, e in enumerate(ec)]
    runs += [run(f"s{i}", 60.5, ec50=525.0) for i in range(4)]  # 4 × beyond +1 SD: 4-1s on the 4th
    store, _ = load_all(tmp_path, cfg, runs)
    got = store.con.sql(
        "select plate_id, rules_violated from qc_trend where series = 'EC50' and plate_id like 'P-s%' "
        "order by plate_id"
    ).fetchall()
    assert got == [("P-s0", None), ("P-s1", None), ("P-s2", None), ("P-s3", "4-1s")]


def test_action_reject_fails_the_run(tmp_path: Path, config: Config) -> None:
    cfg = with_trending(config, action="reject")
    runs = [run(f"h{i}", v) for i, v in enumerate(GUIDE)] + [run("bad", 90.0), run("after", 60.0)]
    store, done = load_all(tmp_path, cfg, runs)
    res = store.con.sql("select status, hold_reason from results_all where plate_id = 'P-bad'").fetchall()
    assert res[0][0] == "run_rejected" and "Westgard QC-H 1-3s" in res[0][1]
    acc = store.con.sql(
        "select rule, run_accepted from run_acceptance where plate_id = 'P-bad' order by rule"
    ).fetchall()
    assert acc == [("QC_PASS_FRACTION", False), ("WESTGARD", False)]
    q = store.con.sql("select severity from quarantine where rule = 'westgard'").fetchall()
    assert q == [("hold",)]
    assert "failed the run" in done[-2].message
    # the rejected run stays out of the next run's look-back (5 accepted runs before it, not 6)
    after = store.con.sql(
        "select n_history, rules_violated from qc_trend where plate_id = 'P-after' and series = 'QC-H'"
    ).fetchall()
    assert after == [(5, None)]


def test_no_history_records_the_values_unjudged(config: Config) -> None:
    o = judge_trend(
        run("first", 60.0), pl.DataFrame(schema=HISTORY_SCHEMA), with_trending(config), order=1, at=AT
    )
    assert o.qc_trend is not None and o.qc_trend.height == 3  # QC-H, EC50, max_signal
    assert o.qc_trend["rules_violated"].null_count() == 3 and o.status == "loaded"


def test_the_qc_report_charts_what_was_judged_at_load(tmp_path: Path, config: Config) -> None:
    cfg = with_trending(config)
    runs = [run(f"h{i}", v, ec50=500.0 + 10 * (i % 2)) for i, v in enumerate(GUIDE)] + [run("beyond", 80.0)]
    store, _ = load_all(tmp_path, cfg, runs)
    publish(store)
    store.close()
    con = connect_analyst(WarehousePaths.at(tmp_path / "wh"))
    report = build_report_input(con, "P-beyond", cfg)
    (a,) = report.analytes
    assert [t.series for t in a.trend] == ["QC-H", "EC50", "max_signal"]
    assert a.trend[0].rules == "1-3s" and a.trend[1].rules == ""
    charts = {s.metric: s for s in a.levey_jennings}
    assert set(charts) == {"QC-H", "EC50 (mid-response)", "max signal (top calibrator)"}
    assert [charts[k].unit for k in sorted(charts)] == ["log10 pg/mL", "pg/mL", "signal"]
    ec50 = charts["EC50 (mid-response)"]
    # EC50 is charted and judged on log10: the guide mean is the mean of log10(EC50) of the 5 runs
    expected = sum(math.log10(500.0 + 10 * (i % 2)) for i in range(5)) / 5
    assert len(ec50.values) == 6 and ec50.current_index == 5 and ec50.mean == pytest.approx(expected)
    assert ec50.values[0] == pytest.approx(math.log10(500.0))
    assert a.trend[1].scale == "log10" and a.trend[0].scale == "linear"
    assert charts["QC-H"].violations == [(5, ("1-3s",))]
    assert report.verdict == "review" and any("Westgard 1-3s on QC-H" in r for r in report.verdict_reasons)
    page = render_qc_report(report)
    assert "Westgard at load — 1 of 3 run metrics flagged" in page and "1-3s</span> warning" in page


def test_a_value_based_guide_set_takes_the_ec50_as_a_geometric_mean(config: Config) -> None:
    cfg = with_trending(config)
    (ntf,) = [a for a in cfg.assays.assays if a.assay_id == "LX-NTF"]
    gs = GuideSetSettings(
        kind="value-based", values={"EC50": {"VEGF-A": (500.0, 0.02)}, "QC-H": {"VEGF-A": (60.0, 5.0)}}
    )
    assay = ntf.model_copy(
        update={"kit_lot": "L1", "acceptance": ntf.acceptance.model_copy(update={"guide_set": gs})}
    )
    cfg = cfg.model_copy(
        update={
            "assays": cfg.assays.model_copy(
                update={"assays": [assay if a is ntf else a for a in cfg.assays.assays]}
            )
        }
    )
    o = judge_trend(run("v", 60.0, ec50=600.0), pl.DataFrame(schema=HISTORY_SCHEMA), cfg, order=1, at=AT)
    assert o.qc_trend is not None
    t = {r["series"]: r for r in o.qc_trend.iter_rows(named=True)}
    assert t["EC50"]["scale"] == "log10" and t["EC50"]["guide_mean"] == pytest.approx(math.log10(500.0))
    assert (
        t["EC50"]["z"] == pytest.approx(math.log10(600 / 500) / 0.02)
        and t["EC50"]["rules_violated"] == "1-3s"
    )
    assert t["QC-H"]["z"] == pytest.approx(0.0) and t["QC-H"]["rules_violated"] is None
    assert "geometric mean 500 pg/mL" in o.quarantine.filter(pl.col("rule") == "westgard")["message"][0]
