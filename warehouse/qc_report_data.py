"""Assembling a plate's QC report from the analyst store: curves, calibrators, acceptance, wells and the
Levey–Jennings series across runs (same assay, analyte and kit lot) of each QC level, the EC50 and the max
signal — as judged when each run was loaded (``qc_trend``; pipeline/trend.py). A store without that
judgement (loaded before it existed) falls back to judging the QC levels here."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace

import duckdb
import numpy as np
import polars as pl

from assay.curves import CurveFit
from assay.plot_data import CurvePlotData, PlateWell
from assay.qc_report import (
    AnalyteReport,
    CalibratorRow,
    LeveyJenningsSeries,
    QcReportInput,
    QcRow,
    SignatureRow,
    TrendRow,
)
from assay.trending import levey_jennings
from schemas.config import Acceptance, Config


class PlateNotFoundError(Exception):
    pass


def _fit(row: dict[str, object]) -> CurveFit:
    return CurveFit(
        a=float(row["a"] or np.nan),  # type: ignore[arg-type]
        b=float(row["b"] or np.nan),  # type: ignore[arg-type]
        c=float(row["c"] or np.nan),  # type: ignore[arg-type]
        d=float(row["d"] or np.nan),  # type: ignore[arg-type]
        r_squared=float(row["r_squared"] or np.nan),  # type: ignore[arg-type]
        weighting=row["weighting"],  # type: ignore[arg-type]
        converged=bool(row["converged"]),
        message=str(row["fit_message"] or ""),
        model=row["model"],  # type: ignore[arg-type]
        g=None if row["g"] is None else float(row["g"]),  # type: ignore[arg-type]
    )


def _q(con: duckdb.DuckDBPyConnection, sql: str, params: Sequence[object]) -> pl.DataFrame:
    return con.sql(sql, params=list(params)).pl()


def build_report_input(con: duckdb.DuckDBPyConnection, plate_id: str, config: Config) -> QcReportInput:
    """Everything the report shows for ``plate_id`` (the latest file version of that plate)."""
    plates = _q(
        con,
        "select p.*, f.source_file from plates p join files f using (source_sha256) where p.plate_id = ? "
        "order by f.loaded_at desc",
        [plate_id],
    )
    if plates.height == 0:
        known = [r[0] for r in con.execute("select plate_id from plates order by 1 limit 5").fetchall()]
        raise PlateNotFoundError(f"no plate {plate_id!r} in the warehouse (e.g. {', '.join(known)})")
    p = plates.row(0, named=True)
    sha = p["source_sha256"]
    curves = _q(
        con, "select * from curves where source_sha256 = ? and plate_id = ? order by analyte", [sha, plate_id]
    )
    cal = _q(con, "select * from calibrators where source_sha256 = ? and plate_id = ?", [sha, plate_id])
    acc = _q(con, "select * from run_acceptance where source_sha256 = ? and plate_id = ?", [sha, plate_id])
    wells = _q(con, "select * from wells where source_sha256 = ? and plate_id = ?", [sha, plate_id])
    assay = config.assays.get(p["assay_id"]) if p["assay_id"] else None
    trends = _trend_frame(con, p)  # every analyte's series in one query: a 30-plex is not 30 round trips
    analytes: list[AnalyteReport] = []
    for c in curves.iter_rows(named=True):
        analytes.append(_analyte(con, c, cal, acc, wells, p, assay.acceptance if assay else None, trends))
    analytes = _with_review(con, sha, plate_id, analytes)
    rejected = [a for a in analytes if a.verdict == "fail"]
    reasons = [f"{a.analyte}: {'; '.join(a.reasons)}" for a in rejected]
    flagged = [
        f"{a.analyte}: Westgard {t.rules.replace(';', ', ')} on {t.series} ({t.action})"
        for a in analytes
        for t in a.trend
        if t.rules
    ]
    reasons += flagged
    verdict = ("fail" if rejected else "review" if flagged else "pass") if analytes else "not assessed"
    return QcReportInput(
        plate_id=plate_id,
        source_file=p["source_file"],
        sha256=sha,
        assay=f"{p['assay_id']} — {assay.name}" if assay else str(p["assay_id"]),
        verdict=verdict,
        verdict_reasons=tuple(reasons),
        kit_lot=p["kit_lot"] or (assay.kit_lot if assay else None),
        instrument=p["instrument"],
        acquired_at=p["acquired_at"],
        platform=p["platform"],
        analytes=tuple(analytes),
    )


def _with_review(
    con: duckdb.DuckDBPyConnection, sha: str, plate_id: str, analytes: list[AnalyteReport]
) -> list[AnalyteReport]:
    """Each analyte's review state and signatures (issue 21: the signatures' manifestation on the report),
    from the store's run_review and run_signatures views (empty for a snapshot published before them)."""
    states = dict(
        con.execute(
            "SELECT analyte, review_state FROM run_review WHERE source_sha256 = ? AND plate_id = ?",
            [sha, plate_id],
        ).fetchall()
    )
    sigs: dict[str, list[SignatureRow]] = {}
    for analyte, sig_id, meaning, name, account, at, reason in con.execute(
        "SELECT analyte, signature_id, meaning, signer_name, signer, signed_at, coalesce(reason, '') "
        "FROM run_signatures WHERE source_sha256 = ? AND plate_id = ? ORDER BY signature_id",
        [sha, plate_id],
    ).fetchall():
        sigs.setdefault(analyte, []).append(SignatureRow(sig_id, meaning, name, account, at, reason))
    return [
        replace(
            a,
            review_state=states.get(a.analyte, "pending_review"),
            signatures=tuple(sigs.get(a.analyte, ())),
        )
        for a in analytes
    ]


def _analyte(
    con: duckdb.DuckDBPyConnection,
    c: dict[str, object],
    cal: pl.DataFrame,
    acc: pl.DataFrame,
    wells: pl.DataFrame,
    plate: dict[str, object],
    acceptance: Acceptance | None,
    trends: pl.DataFrame | None,
) -> AnalyteReport:
    analyte = str(c["analyte"])
    fit = _fit(c)
    levels = cal.filter(pl.col("analyte") == analyte).sort("nominal", descending=True)
    rules = acc.filter(pl.col("analyte") == analyte)
    w = wells.filter(pl.col("analyte") == analyte)
    std = w.filter((pl.col("sample_type") == "standard") & pl.col("expected_conc").is_not_null())
    masked = set(levels.filter(pl.col("masked"))["nominal"].to_list())
    qcs = w.filter(pl.col("sample_type") == "qc")
    # the assay's QC acceptance limit (ICH M10 default ±20 %), the same the run was judged with
    qc_limit_pct = acceptance.qcs.recovery_pct if acceptance else 20.0
    unk = w.filter(pl.col("sample_type") == "unknown")
    # The curve's x axis is in-well: a value the file already dilution-corrected is divided back.
    in_well = unk.select(
        pl.when(pl.col("dilution_applied"))
        .then(pl.col("value") / pl.col("dilution"))
        .otherwise(pl.col("value"))
    ).to_series()
    curve = CurvePlotData(
        predict=fit.predict,
        std_conc=std["expected_conc"].to_list(),
        std_signal=std["signal"].to_list(),
        std_masked=[x in masked for x in std["expected_conc"].to_list()],
        qc_conc=qcs["expected_conc"].fill_null(float("nan")).to_list(),
        qc_signal=qcs["signal"].to_list(),
        unk_conc=[None if v is None else float(v) for v in in_well.to_list()],
        unk_signal=unk["signal"].to_list(),
        unk_qualifier=unk["qualifier"].to_list(),
        lloq=c["lloq_in_well"],  # type: ignore[arg-type]
        uloq=c["uloq_in_well"],  # type: ignore[arg-type]
        plate_id=str(plate["plate_id"]),
        analyte=analyte,
        model=fit.model,
        weighting=fit.weighting,
        r_squared=fit.r_squared,
        signal_label=str(w["signal_kind"].drop_nulls().first() or "Signal"),
    )
    cal_rows = tuple(
        CalibratorRow(
            level=r["level"],
            nominal=r["nominal"],
            back_calculated=r["back_calc"],
            signal=r["mean_signal"],
            recovery_pct=r["recovery_pct"],
            masked=bool(r["masked"]),
            mask_reason=r["mask_reason"] or "",
            passed=r["within_limits"],
            residual_pct=r.get("residual_pct"),
        )
        for r in levels.iter_rows(named=True)
    )
    qc_rows = tuple(
        QcRow(
            name=r["sample_id"] or "QC",
            expected=r["expected_conc"],
            observed=r["value"],
            passed=r["expected_conc"] is not None
            and r["value"] is not None
            and r["qualifier"] == "="
            and abs(r["value"] / r["expected_conc"] - 1) * 100 <= qc_limit_pct,
            wells=r["well"],
            qualifier=r["qualifier"],
        )
        for r in qcs.sort("sample_id", "well").iter_rows(named=True)
    )
    verdict = None if rules.height == 0 else ("pass" if bool(rules["run_accepted"].all()) else "fail")
    judged = (
        None if trends is None else _trend_rows(trends.filter(pl.col("analyte") == analyte), analyte, plate)
    )
    lj: list[LeveyJenningsSeries]
    trend: list[TrendRow] = []
    if judged is None:  # a store loaded before trending at load existed
        lj = _lj_series(con, analyte, plate, acceptance)
    else:
        lj, trend = judged
    reasons = tuple(rules.filter(~pl.col("passed"))["reason"].to_list())
    return AnalyteReport(
        analyte=analyte,
        verdict=verdict,
        reasons=reasons,
        curve=curve,
        curve_parameters={k: v for k, v in fit.parameters.items()},
        curve_message=f"{c['model']} fit, {c['concentrations_from']}; {c['notes'] or ''}".strip("; "),
        calibrators=cal_rows,
        qcs=qc_rows,
        wells=[
            PlateWell(r["well"], r["signal"], r["sample_type"], r["sample_id"])
            for r in w.iter_rows(named=True)
        ],
        signal_label=curve.signal_label,
        levey_jennings=tuple(lj),
        trend=tuple(trend),
    )


_SERIES_ORDER = {"EC50": 1, "max_signal": 2}


def _trend_frame(con: duckdb.DuckDBPyConnection, plate: dict[str, object]) -> pl.DataFrame | None:
    """``qc_trend`` rows of every run of the plate's assay and kit lot, in load order; None when the store
    has no ``qc_trend`` (older snapshot)."""
    try:
        return _q(
            con,
            """
            select t.*, f.load_seq from qc_trend t join files f using (source_sha256)
            where t.assay_id = ? and coalesce(t.kit_lot, '') = coalesce(?, '')
            order by f.load_seq, t.plate_id
            """,
            [plate["assay_id"], plate["kit_lot"]],
        )
    except duckdb.CatalogException:
        return None


def _trend_rows(
    rows: pl.DataFrame, analyte: str, plate: dict[str, object]
) -> tuple[list[LeveyJenningsSeries], list[TrendRow]]:
    """The Levey–Jennings charts and this plate's Westgard table from one analyte's ``qc_trend`` rows
    (what was judged at load)."""
    sha, pid = plate["source_sha256"], plate["plate_id"]
    here = rows.filter((pl.col("source_sha256") == sha) & (pl.col("plate_id") == pid))
    trend = [
        TrendRow(
            series=r["series"],
            value=r["value"],
            unit=r["unit"] or "",
            guide_mean=r["guide_mean"],
            guide_sd=r["guide_sd"],
            guide_n=r["guide_n"],
            z=r["z"],
            rules=r["rules_violated"] or "",
            action=r["action"] or "",
            note=r["note"] or "",
            scale=r["scale"] or "linear",
        )
        for r in here.sort(pl.col("series").replace_strict(_SERIES_ORDER, default=0), "series").iter_rows(
            named=True
        )
    ]
    charts: list[LeveyJenningsSeries] = []
    for t in trend:
        g = rows.filter(pl.col("series") == t.series)
        if g.height < 2:
            continue
        ids = g["plate_id"].to_list()
        shas = g["source_sha256"].to_list()
        current = next(
            (i for i, (s, p) in enumerate(zip(shas, ids, strict=True)) if s == sha and p == pid), None
        )
        viol = [(i, tuple(v.split(";"))) for i, v in enumerate(g["rules_violated"].to_list()) if v]
        unit = "pg/mL" if t.unit == "pg/mL" else "signal"
        values = g["value"].to_list()
        if t.scale == "log10":  # charted on the scale it was judged on
            values = [None if v is None or v <= 0 else float(np.log10(v)) for v in values]
            unit = "log10 pg/mL"
        label = {"EC50": "EC50 (mid-response)", "max_signal": "max signal (top calibrator)"}.get(
            t.series, t.series
        )
        no_guide = "" if t.guide_mean is not None else f" — no guide set yet ({t.note})"
        charts.append(
            LeveyJenningsSeries(
                title=f"{analyte} {label}{no_guide}",
                values=values,
                mean=t.guide_mean,
                sd=t.guide_sd,
                x=ids,
                violations=viol,
                current_index=current,
                metric=label,
                unit=unit,
            )
        )
    return charts, trend


def _lj_series(
    con: duckdb.DuckDBPyConnection, analyte: str, plate: dict[str, object], acceptance: Acceptance | None
) -> list[LeveyJenningsSeries]:
    """QC concentration per level across every run of the same assay and kit lot, judged by Westgard."""
    runs = _q(
        con,
        """
        select w.plate_id as run_id, w.sample_id as metric, avg(w.value) as value,
               min(f.loaded_at) as loaded_at, min(p.acquired_at) as acquired_at
        from wells w join plates p using (source_sha256, plate_id) join files f using (source_sha256)
        where w.sample_type = 'qc' and w.analyte = ? and p.assay_id = ?
          and coalesce(p.kit_lot, '') = coalesce(?, '') and w.qualifier = '='
        group by all order by min(p.acquired_at), min(f.loaded_at)
        """,
        [analyte, plate["assay_id"], plate["kit_lot"]],
    )
    if runs.height < 3 or acceptance is None:
        return []
    series = runs.with_row_index("run_order").select(
        pl.lit(analyte).alias("analyte"),
        pl.lit(plate["kit_lot"] or "").alias("kit_lot"),
        "metric",
        "run_id",
        "run_order",
        "value",
    )
    judged = levey_jennings(series, acceptance.guide_set)
    out = []
    for (metric,), g in judged.group_by("metric", maintain_order=True):
        g = g.sort("run_order")
        ids = g["run_id"].to_list()
        viol = [(i, tuple(v)) for i, v in enumerate(g["violations"].to_list()) if v]
        mean = _float(g["gs_mean"].drop_nulls().first())
        sd = _float(g["gs_sd"].drop_nulls().first())
        out.append(
            LeveyJenningsSeries(
                title=f"{analyte} {metric}",
                values=g["value"].to_list(),
                mean=mean,
                sd=sd,
                x=ids,
                violations=viol,
                current_index=ids.index(plate["plate_id"]) if plate["plate_id"] in ids else None,
                metric=str(metric),
                unit="pg/mL",
            )
        )
    return out


def _float(x: object) -> float | None:
    return None if x is None else float(x)  # type: ignore[arg-type]
