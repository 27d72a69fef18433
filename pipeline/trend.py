"""Levey–Jennings trending when a run is loaded: each run metric of a file's plates judged by Westgard
against the earlier accepted runs of the same assay × analyte × kit lot.

Run metrics (one value per plate × analyte): each QC level's concentration (``QC-L``, ``QC-M``, ``QC-H``:
the mean of its in-range replicate wells, pg/mL as reported), the curve's ``EC50`` (the concentration at
its mid-response, in-well pg/mL: parameter ``c`` of a 4PL; pipeline.runqc.ec50) and ``max_signal`` (mean
signal of the top calibrator). Which runs count: those loaded
before this file (load order — what the store held when this run was judged) whose acceptance passed;
their values come from the writer store (:mod:`warehouse.trend_history`). The guide set is the assay's
``acceptance.guide_set``: run-based — mean and SD of the *first* ``n_runs`` earlier accepted runs (a fixed
guide set, as LabKey's: later runs are judged against it, never folded into it; the run being judged is
never part of its own guide set) — or value-based from configuration. Until a run-based guide set exists
the metric is recorded with the reason and no rule is applied.

Rules and action: ``acceptance.westgard`` (rules, default the five rejection rules; action ``warning`` by
default). A violation is a ``westgard`` quarantine row (severity ``warning``, or ``hold`` when the action is
``reject``), the flag ``westgard`` on the run's results, and a phrase in the file's message; with action
``reject`` the run also fails acceptance (rule ``WESTGARD``): results kept, never current.

Everything judged is one row of ``qc_trend`` (:data:`TREND_SCHEMA`), loaded in the file's transaction.
A pure function of the outcome, the history and the configuration: no DuckDB here.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Mapping, Sequence
from datetime import datetime

import polars as pl

from assay.trending import levey_jennings
from pipeline.process import reject_failed_runs
from pipeline.validate import fmt_num, quarantine_frame
from schemas.config import Assay, Config
from schemas.outcome import FileOutcome
from schemas.qc import ACCEPTANCE_SCHEMA, HISTORY_SCHEMA, LOG_METRICS, TREND_SCHEMA

CURVE_METRICS = ("EC50", "max_signal")


def current_run_metrics(outcome: FileOutcome, order: int) -> pl.DataFrame:
    """This file's run metrics (:data:`HISTORY_SCHEMA`); ``order`` is the load sequence it will get."""
    plates = {p.plate_id: p for p in outcome.plates if p.assay_id}
    rows: list[dict[str, object]] = []
    rejected = _rejected_runs(outcome.acceptance)
    sha = outcome.source_sha256
    if outcome.wells is not None and outcome.wells.height:
        qc = (
            outcome.wells.filter(
                (pl.col("sample_type") == "qc")
                & (pl.col("qualifier") == "=")
                & pl.col("conc_pg_ml").is_not_null()
                & pl.col("sample_id").is_not_null()
                & pl.col("analyte").is_not_null()
            )
            .group_by("plate_id", "analyte", "sample_id", maintain_order=True)
            .agg(pl.col("conc_pg_ml").mean().alias("value"))
        )
        for r in qc.iter_rows(named=True):
            rows.append({"plate_id": r["plate_id"], "analyte": r["analyte"], "metric": r["sample_id"],
                         "value": r["value"]})  # fmt: skip
    if outcome.curves is not None:
        for c in outcome.curves.iter_rows(named=True):
            if c["converged"] and c["ec50"] is not None:
                rows.append(
                    {"plate_id": c["plate_id"], "analyte": c["analyte"], "metric": "EC50", "value": c["ec50"]}
                )
            if c["max_signal"] is not None:
                rows.append({"plate_id": c["plate_id"], "analyte": c["analyte"], "metric": "max_signal",
                             "value": c["max_signal"]})  # fmt: skip
    out = [
        {
            "assay_id": plates[r["plate_id"]].assay_id,
            "analyte": r["analyte"],
            "kit_lot": plates[r["plate_id"]].kit_lot or "",
            "metric": r["metric"],
            "run_id": f"{sha}:{r['plate_id']}",
            "run_order": order,
            "value": r["value"],
            "accepted": (r["plate_id"], r["analyte"]) not in rejected,
        }
        for r in rows
        if r["plate_id"] in plates and isinstance(r["value"], float) and math.isfinite(r["value"])
    ]
    return pl.DataFrame(out, schema=HISTORY_SCHEMA, orient="row")


def _rejected_runs(acceptance: pl.DataFrame | None) -> set[tuple[str, str]]:
    if acceptance is None or acceptance.height == 0:
        return set()
    bad = acceptance.filter(~pl.col("run_accepted")).select("plate_id", "analyte").unique()
    return {(str(p), str(a)) for p, a in bad.iter_rows()}


def judge_trend(
    outcome: FileOutcome,
    history: pl.DataFrame,
    config: Config,
    *,
    order: int,
    at: datetime,
    n_history: Mapping[tuple[str, str, str, str], int] | None = None,
) -> FileOutcome:
    """The outcome with ``qc_trend`` filled and Westgard violations turned into flags (module doc).

    ``history``: earlier runs' metrics (:data:`HISTORY_SCHEMA`, any runs; only accepted ones are used);
    ``order``: the load sequence this file will get; ``at``: the judgement time. ``n_history``: the number
    of earlier accepted runs per (assay_id, analyte, kit_lot, metric), when ``history`` holds only the runs
    the judgement uses (warehouse.trend_history.TrendHistory: guide-set runs and the Westgard look-back);
    counted from ``history`` when None."""
    current = current_run_metrics(outcome, order)
    if current.height == 0:
        return outcome
    sha = outcome.source_sha256
    earlier = history.filter(pl.col("accepted") & (pl.col("run_order") < order))
    trend_rows: list[dict[str, object]] = []
    for (assay_id,), cur in current.partition_by("assay_id", as_dict=True, maintain_order=True).items():
        assay = config.assays.get(str(assay_id))
        if assay is None:
            continue
        counts = (
            None
            if n_history is None
            else {(a, lot, m): n for (x, a, lot, m), n in n_history.items() if x == assay_id}
        )
        trend_rows += _judge_assay(
            assay, cur, earlier.filter(pl.col("assay_id") == assay_id), sha, at, counts
        )
    trend = pl.DataFrame(trend_rows, schema=TREND_SCHEMA, orient="row")
    return _apply(outcome, trend)


def _judge_assay(
    assay: Assay,
    current: pl.DataFrame,
    earlier: pl.DataFrame,
    sha: str,
    at: datetime,
    counts: dict[tuple[str, str, str], int] | None = None,
) -> list[dict[str, object]]:
    acc = assay.acceptance
    # the run being judged never joins its own guide set: it takes part as not accepted (see
    # assay.trending.levey_jennings: run-based guide sets are built from accepted rows only)
    series = pl.concat([earlier, current.with_columns(pl.lit(False).alias("accepted"))], how="vertical").drop(
        "assay_id"
    )
    lot = assay.kit_lot if acc.guide_set.kind == "value-based" else None
    logged = pl.col("metric").is_in(list(LOG_METRICS))
    series = series.with_columns(
        value=pl.when(logged).then(pl.col("value").log10()).otherwise(pl.col("value"))
    )
    settings = acc.guide_set
    if settings.kind == "value-based" and any(m in settings.values for m in LOG_METRICS):
        values = {
            m: ({a: (math.log10(mean), sd) for a, (mean, sd) in by.items()} if m in LOG_METRICS else by)
            for m, by in settings.values.items()
        }
        settings = settings.model_copy(update={"values": values})
    judged = levey_jennings(series, settings, kit_lot=lot, rules=tuple(acc.westgard.rules))
    n_hist = (
        counts
        if counts is not None
        else {
            (str(a), str(lot_), str(m)): n
            for a, lot_, m, n in earlier.group_by("analyte", "kit_lot", "metric").len().iter_rows()
        }
    )
    mine = judged.filter(pl.col("run_id").str.starts_with(f"{sha}:")).with_columns(
        value=pl.when(pl.col("metric").is_in(list(LOG_METRICS)))
        .then(10.0 ** pl.col("value"))
        .otherwise(pl.col("value"))
    )
    acc_of = {(r["run_id"], r["analyte"], r["metric"]): r["accepted"] for r in current.iter_rows(named=True)}
    out: list[dict[str, object]] = []
    for r in mine.iter_rows(named=True):
        rules = list(r["violations"] or [])
        out.append(
            {
                "source_sha256": sha,
                "plate_id": str(r["run_id"]).split(":", 1)[1],
                "analyte": r["analyte"],
                "assay_id": assay.assay_id,
                "kit_lot": r["kit_lot"] or None,
                "series": r["metric"],
                "value": r["value"],
                "unit": "signal" if r["metric"] == "max_signal" else "pg/mL",
                "scale": "log10" if r["metric"] in LOG_METRICS else "linear",
                "run_accepted": acc_of[(r["run_id"], r["analyte"], r["metric"])],
                "guide_kind": r["gs_kind"],
                "guide_mean": r["gs_mean"],
                "guide_sd": r["gs_sd"],
                "guide_n": r["gs_n"],
                "z": r["z"],
                "n_history": n_hist.get((r["analyte"], r["kit_lot"], r["metric"]), 0),
                "rules_violated": ";".join(rules) or None,
                "action": acc.westgard.action if rules else None,
                "note": r["note"],
                "judged_at": at,
            }
        )
    return out


def _apply(outcome: FileOutcome, trend: pl.DataFrame) -> FileOutcome:
    hits = trend.filter(pl.col("rules_violated").is_not_null())
    if hits.height == 0:
        return dataclasses.replace(outcome, qc_trend=trend)
    q_rows: list[dict[str, object]] = []
    runs: dict[tuple[str, str], list[str]] = {}
    reject: dict[tuple[str, str], str] = {}
    for r in hits.iter_rows(named=True):
        key = (r["plate_id"], r["analyte"])
        what = f"{r['series']} {r['rules_violated'].replace(';', ', ')}"
        runs.setdefault(key, []).append(what)
        value = fmt_num(r["value"]) + (" pg/mL" if r["unit"] == "pg/mL" else "")
        centre = (
            f"geometric mean {fmt_num(10 ** r['guide_mean'])} pg/mL, SD {r['guide_sd']:.3g} in log10"
            if r["scale"] == "log10"
            else f"mean {fmt_num(r['guide_mean'])} ± SD {fmt_num(r['guide_sd'])}"
        )
        basis = f"guide set {centre}" + (
            f" from the first {r['guide_n']} accepted runs"
            if r["guide_kind"] == "run-based"
            else " (configured)"
        )
        rejecting = r["action"] == "reject"
        todo = (
            "the run fails acceptance; investigate (reagents, calibrators, instrument) and re-assay the "
            "samples"
            if rejecting
            else "the results are loaded and flagged; review the Levey–Jennings chart in the plate's QC "
            "report and investigate before the trend continues"
        )
        q_rows.append(
            {
                "source_file": outcome.source_file,
                "source_sha256": outcome.source_sha256,
                "plate_id": r["plate_id"],
                "analyte": r["analyte"],
                "value_text": fmt_num(r["value"]),
                "rule": "westgard",
                "severity": "hold" if rejecting else "warning",
                "message": f"Plate {r['plate_id']}, {r['analyte']} {r['series']}: {value} "
                f"(z = {r['z']:+.2f}, {basis}) violates Westgard "
                f"{r['rules_violated'].replace(';', ', ')}; {todo}.",
            }
        )
        if rejecting:
            reject[key] = f"Westgard {what} (kit lot {r['kit_lot']})"
    quarantine = pl.concat(
        [q for q in (outcome.quarantine, quarantine_frame(q_rows)) if q is not None and q.height],
        how="vertical",
    )
    results = outcome.results
    if results is not None and results.height:
        keys = pl.DataFrame(
            [{"plate_id": p, "analyte": a, "_wg": True} for p, a in runs],
            schema={"plate_id": pl.String(), "analyte": pl.String(), "_wg": pl.Boolean()},
        )
        f = pl.col("flags")
        results = (
            results.join(keys, on=["plate_id", "analyte"], how="left", maintain_order="left")
            .with_columns(
                flags=pl.when(pl.col("_wg").is_null())
                .then(f)
                .when(f.is_null() | (f == ""))
                .then(pl.lit("westgard"))
                .otherwise(pl.concat_str([f, pl.lit(";westgard")]))
            )
            .drop("_wg")
        )
        if reject:
            results = reject_failed_runs(results, reject)
    acceptance = _westgard_acceptance(outcome, reject)
    phrase = "; ".join(f"{p} {a} {', '.join(w)}" for (p, a), w in runs.items())
    n = hits.height
    verb = "failed the run" if reject else "flagged"
    message = outcome.message.rstrip(".") + (
        f". Levey–Jennings: {n} Westgard violation{'s' if n != 1 else ''} {verb} ({phrase})."
    )
    status = "loaded_with_issues" if outcome.status == "loaded" else outcome.status
    return dataclasses.replace(
        outcome,
        qc_trend=trend,
        quarantine=quarantine,
        results=results,
        acceptance=acceptance,
        message=message,
        status=status,
    )


def _westgard_acceptance(outcome: FileOutcome, reject: dict[tuple[str, str], str]) -> pl.DataFrame | None:
    """With action ``reject``: the failed runs' acceptance rows say so (run_accepted false, rule WESTGARD)."""
    acc = outcome.acceptance
    if not reject:
        return acc
    keys = list(reject)
    base = acc if acc is not None else pl.DataFrame(schema=ACCEPTANCE_SCHEMA)
    hit = pl.struct("plate_id", "analyte").is_in([{"plate_id": p, "analyte": a} for p, a in keys])
    base = base.with_columns(run_accepted=pl.when(hit).then(pl.lit(False)).otherwise(pl.col("run_accepted")))
    extra = pl.DataFrame(
        [
            {
                "source_sha256": outcome.source_sha256,
                "plate_id": p,
                "analyte": a,
                "run_accepted": False,
                "rule": "WESTGARD",
                "subject": None,
                "passed": False,
                "observed": None,
                "limit_value": None,
                "reason": f"{why}: the run fails acceptance (acceptance.westgard.action = reject)",
            }
            for (p, a), why in reject.items()
        ],
        schema=ACCEPTANCE_SCHEMA,
        orient="row",
    )
    return pl.concat([base, extra], how="vertical")


__all__: Sequence[str] = ("HISTORY_SCHEMA", "TREND_SCHEMA", "current_run_metrics", "judge_trend")
