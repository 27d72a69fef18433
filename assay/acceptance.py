"""Run acceptance: does one analytical run (one analyte's curve and QCs on one plate) pass ICH M10?

Pure functions of data. The verdict and its reasons are returned; keeping a failed run's results — and
never making them current — is the caller's job.

Rules (limits from :class:`schemas.config.Acceptance`; ICH M10 §4 defaults, domain.md §5). Every limit is
inclusive: a value exactly at a limit passes (recovery 120.0 % passes ±20 %, 2 of 3 passes ≥ 2/3).

``CAL_PASS_FRACTION``
    Of the non-zero calibrator levels (anchor points excluded), at least ``min_pass_fraction`` have a
    back-calculated concentration within ±``recovery_pct`` % of nominal (±``recovery_pct_at_limits`` % at
    the LLOQ and ULOQ levels — the lowest and highest non-zero, non-anchor nominal). A masked level (taken
    out of the fit) counts as not meeting the criteria: masking a bad calibrator must not improve the score.
``CAL_MIN_LEVELS``
    At least ``min_levels`` non-zero calibrator levels meet those criteria (ICH M10: "a minimum of 6
    concentration levels … should meet the above criteria").
``QC_PASS_FRACTION``
    Of all QC results, at least ``min_pass_fraction`` are within ±``recovery_pct`` % of their nominal. A
    run without QC results fails. A censored (``<``/``>``) or unreported QC is not within.
``QC_LEVEL_PASS_FRACTION``
    The same, at least ``min_level_pass_fraction`` of the results at each QC level (one rule per level).

Replicate CV is a flag on wells, not a run-acceptance rule (LabKey; ICH M10 sets no replicate-CV
criterion for a run): :func:`replicate_cv` reports it per replicate group, :func:`flag_replicate_cv` marks
the wells.
"""

from __future__ import annotations

import math
import statistics
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Protocol, runtime_checkable

import polars as pl

from schemas.config import Acceptance

_TOL = 1e-9  # percent points / proportions: round-off must not turn a value at a limit into a failure

LEVEL_COLUMNS = ("level", "nominal", "back_calc", "recovery_pct", "masked")
"""Columns the calibrator level table must have; ``anchor`` (bool) and ``analyte`` are optional."""

QC_COLUMNS = ("sample_id", "expected_conc", "value", "qualifier")
"""Columns the QC table must have; ``sample_type`` (only ``qc`` rows are used) and ``analyte`` optional."""

CV_FLAG = "replicate_cv_high"
"""Flag :func:`flag_replicate_cv` adds to the ``flags`` of the wells of a replicate group over its limit."""

_CV_SAMPLE_TYPES = {"unknown": "unknown", "standard": "standard", "qc": "standard", "control": "standard"}


@runtime_checkable
class LevelsSource(Protocol):
    """Anything carrying the calibrator level table as ``levels`` (e.g. a standards summary object)."""

    @property
    def levels(self) -> pl.DataFrame: ...


@dataclass(frozen=True)
class RuleResult:
    """One acceptance rule applied to one run.

    ``observed`` and ``limit`` are in the rule's own unit: a proportion (0–1) for the ``*_PASS_FRACTION``
    rules, a count for ``CAL_MIN_LEVELS``; ``observed`` is None when there was nothing to judge.
    ``subject`` names what the rule looked at when it is one of several (the QC level).
    """

    code: str
    passed: bool
    observed: float | None
    limit: float
    reason: str
    subject: str | None = None


@dataclass(frozen=True, eq=False)
class RunAcceptance:
    """The verdict on one run, with the rule results and the per-item detail behind them.

    ``calibrators``: one row per calibrator level — ``level`` (string), ``nominal``, ``back_calc``,
    ``recovery_pct``, ``masked``, ``anchor``, ``at_limit`` (LLOQ/ULOQ level), ``limit_pct``, ``passed``
    (null for zero and anchor levels, which are not judged), ``reason``.
    ``qcs``: one row per QC result — ``qc_level``, ``sample_id``, ``expected_conc``, ``value``,
    ``qualifier``, ``recovery_pct``, ``limit_pct``, ``passed``, ``reason``.
    ``replicate_cv``: see :func:`replicate_cv` (flags only; they do not decide ``accepted``).
    """

    accepted: bool
    rules: tuple[RuleResult, ...]
    calibrators: pl.DataFrame
    qcs: pl.DataFrame
    replicate_cv: pl.DataFrame
    analyte: str | None = None

    @property
    def failed(self) -> tuple[RuleResult, ...]:
        return tuple(r for r in self.rules if not r.passed)

    @property
    def reasons(self) -> list[str]:
        """Plain-words reasons the run failed (empty when accepted)."""
        return [r.reason for r in self.failed]

    def summary(self) -> str:
        head = f"{self.analyte}: " if self.analyte else ""
        if self.accepted:
            return f"{head}run accepted"
        return f"{head}run rejected — " + "; ".join(self.reasons)


def evaluate_run(
    standards: pl.DataFrame | LevelsSource,
    qcs: pl.DataFrame,
    acceptance: Acceptance,
    *,
    wells: pl.DataFrame | None = None,
) -> RunAcceptance:
    """Judge one run of one analyte against ``acceptance`` (see the module docstring for the rules).

    ``standards``: the calibrator level table (columns :data:`LEVEL_COLUMNS`, optional ``anchor``), or an
    object with that table as ``.levels``. ``qcs``: the QC results (columns :data:`QC_COLUMNS`; rows of
    another ``sample_type`` than ``qc`` are ignored when that column is present). ``wells``: the run's
    well table, for replicate-CV flags; without it the QC rows are checked. Both tables must be of one
    analyte (an ``analyte`` column with two values raises ``ValueError``: use :func:`evaluate_plate`).
    """
    levels = standards if isinstance(standards, pl.DataFrame) else standards.levels
    _require(levels, LEVEL_COLUMNS, "calibrator level table")
    _require(qcs, QC_COLUMNS, "QC table")
    analyte = _single_analyte(levels, qcs, wells)
    cal = _judge_calibrators(levels, acceptance)
    qc = _judge_qcs(qcs, acceptance)
    rules = (*_calibrator_rules(cal, acceptance), *_qc_rules(qc, acceptance))
    cv = replicate_cv(wells if wells is not None else qcs, acceptance)
    return RunAcceptance(
        accepted=all(r.passed for r in rules),
        rules=rules,
        calibrators=cal,
        qcs=qc,
        replicate_cv=cv,
        analyte=analyte,
    )


def evaluate_plate(
    standards: pl.DataFrame | LevelsSource,
    wells: pl.DataFrame,
    acceptance: Acceptance,
) -> dict[str, RunAcceptance]:
    """:func:`evaluate_run` for each analyte of a multiplex plate, keyed by analyte.

    ``standards`` must carry an ``analyte`` column; ``wells`` is the plate's well table (its ``qc`` rows are
    the QCs, every row feeds the replicate-CV flags). An analyte is the ``analyte`` column, else
    ``analyte_as_written`` (as :mod:`assay.curves` keys its fits). Analytes with a curve but no QC, or QCs
    but no curve, are judged too (and fail).
    """
    levels = standards if isinstance(standards, pl.DataFrame) else standards.levels
    _require(levels, ("analyte",), "calibrator level table")
    keyed = wells.with_columns(_analyte_key(wells).alias("__analyte"))
    qc_rows = keyed.filter(pl.col("sample_type") == "qc") if "sample_type" in keyed.columns else keyed.head(0)
    names = [
        *levels["analyte"].drop_nulls().unique(maintain_order=True).to_list(),
        *qc_rows["__analyte"].drop_nulls().unique(maintain_order=True).to_list(),
    ]
    out: dict[str, RunAcceptance] = {}
    for name in dict.fromkeys(names):
        of = keyed.filter(pl.col("__analyte") == name).drop("__analyte")
        out[name] = evaluate_run(
            levels.filter(pl.col("analyte") == name),
            qc_rows.filter(pl.col("__analyte") == name).drop("__analyte"),
            acceptance,
            wells=of,
        )
        if out[name].analyte is None:
            out[name] = _with_analyte(out[name], name)
    return out


# ── calibrators ──────────────────────────────────────────────────────────────────────────────────────────


def _judge_calibrators(levels: pl.DataFrame, acceptance: Acceptance) -> pl.DataFrame:
    rules = acceptance.calibrators
    n = levels.height
    level = [None if x is None else str(x) for x in levels["level"].to_list()]
    nominal = _floats(levels["nominal"])
    back = _floats(levels["back_calc"])
    rec_in = _floats(levels["recovery_pct"])
    masked = [bool(m) for m in levels["masked"].to_list()]
    anchor = [bool(a) for a in levels["anchor"].to_list()] if "anchor" in levels.columns else [False] * n
    judged = [x is not None and x > 0 and not a for x, a in zip(nominal, anchor, strict=True)]
    ends = [x for x, j in zip(nominal, judged, strict=True) if j and x is not None]
    lloq, uloq = (min(ends), max(ends)) if ends else (math.nan, math.nan)
    recovery: list[float | None] = []
    at_limit: list[bool] = []
    limit: list[float | None] = []
    passed: list[bool | None] = []
    reason: list[str] = []
    for i in range(n):
        rec = rec_in[i]
        nom, bc = nominal[i], back[i]
        if rec is None and bc is not None and nom:
            rec = 100.0 * bc / nom
        recovery.append(rec)
        edge = judged[i] and nom in (lloq, uloq)
        at_limit.append(edge)
        if not judged[i]:
            limit.append(None)
            passed.append(None)
            reason.append("anchor point: not judged" if anchor[i] else "zero calibrator: not judged")
            continue
        lim = rules.recovery_pct_at_limits if edge else rules.recovery_pct
        limit.append(lim)
        where = " (LLOQ/ULOQ)" if edge else ""
        if masked[i]:
            passed.append(False)
            reason.append(f"masked (excluded from the fit): counts as failing{where}")
        elif rec is None:
            passed.append(False)
            reason.append(f"no back-calculated concentration{where}")
        elif _within(rec, lim):
            passed.append(True)
            reason.append(f"recovery {rec:.1f}% within ±{lim:g}%{where}")
        else:
            passed.append(False)
            reason.append(f"recovery {rec:.1f}% outside ±{lim:g}%{where}")
    return pl.DataFrame(
        {
            "level": level,
            "nominal": nominal,
            "back_calc": back,
            "recovery_pct": recovery,
            "masked": masked,
            "anchor": anchor,
            "at_limit": at_limit,
            "limit_pct": limit,
            "passed": passed,
            "reason": reason,
        },
        schema={
            "level": pl.String,
            "nominal": pl.Float64,
            "back_calc": pl.Float64,
            "recovery_pct": pl.Float64,
            "masked": pl.Boolean,
            "anchor": pl.Boolean,
            "at_limit": pl.Boolean,
            "limit_pct": pl.Float64,
            "passed": pl.Boolean,
            "reason": pl.String,
        },
    )


def _calibrator_rules(cal: pl.DataFrame, acceptance: Acceptance) -> list[RuleResult]:
    rules = acceptance.calibrators
    judged = cal.filter(pl.col("passed").is_not_null())
    total = judged.height
    ok = int(judged["passed"].sum()) if total else 0
    criteria = f"within ±{rules.recovery_pct:g}% (±{rules.recovery_pct_at_limits:g}% at LLOQ/ULOQ)"
    failing = [
        f"{lv} ({why})"
        for lv, p, why in zip(judged["level"], judged["passed"], judged["reason"], strict=True)
        if not p
    ]
    detail = f"; failing: {', '.join(failing)}" if failing else ""
    if total == 0:
        frac_rule = RuleResult(
            "CAL_PASS_FRACTION",
            False,
            None,
            rules.min_pass_fraction,
            "calibrators: no non-zero calibrator level to judge",
        )
    else:
        frac = ok / total
        frac_rule = RuleResult(
            "CAL_PASS_FRACTION",
            frac >= rules.min_pass_fraction - _TOL,
            frac,
            rules.min_pass_fraction,
            f"calibrators: {ok} of {total} non-zero levels {criteria} "
            f"(needs ≥{_share(rules.min_pass_fraction)}){detail}",
        )
    levels_rule = RuleResult(
        "CAL_MIN_LEVELS",
        ok >= rules.min_levels,
        float(ok),
        float(rules.min_levels),
        f"calibrators: {ok} non-zero levels meet the criteria (needs ≥{rules.min_levels})",
    )
    return [frac_rule, levels_rule]


# ── QCs ──────────────────────────────────────────────────────────────────────────────────────────────────


def _judge_qcs(qcs: pl.DataFrame, acceptance: Acceptance) -> pl.DataFrame:
    lim = acceptance.qcs.recovery_pct
    rows = qcs.filter(pl.col("sample_type") == "qc") if "sample_type" in qcs.columns else qcs
    sample_id = rows["sample_id"].cast(pl.String).to_list()
    expected = _floats(rows["expected_conc"])
    value = _floats(rows["value"])
    qualifier = rows["qualifier"].cast(pl.String).to_list()
    level: list[str] = []
    recovery: list[float | None] = []
    passed: list[bool] = []
    reason: list[str] = []
    for sid, exp, val, q in zip(sample_id, expected, value, qualifier, strict=True):
        level.append(sid if sid is not None else (f"{exp:g}" if exp is not None else "(unnamed QC)"))
        rec = 100.0 * val / exp if (val is not None and exp) else None
        recovery.append(rec)
        if exp is None or exp <= 0:
            passed.append(False)
            reason.append("no nominal (expected) concentration")
        elif q != "=":
            passed.append(False)
            reason.append(
                "not reported" if q == "NR" or val is None else f"censored ({q}{val:g}): not quantified"
            )
        elif rec is None:
            passed.append(False)
            reason.append("no value")
        elif _within(rec, lim):
            passed.append(True)
            reason.append(f"recovery {rec:.1f}% within ±{lim:g}%")
        else:
            passed.append(False)
            reason.append(f"recovery {rec:.1f}% outside ±{lim:g}%")
    return pl.DataFrame(
        {
            "qc_level": level,
            "sample_id": sample_id,
            "expected_conc": expected,
            "value": value,
            "qualifier": qualifier,
            "recovery_pct": recovery,
            "limit_pct": [lim] * len(level),
            "passed": passed,
            "reason": reason,
        },
        schema={
            "qc_level": pl.String,
            "sample_id": pl.String,
            "expected_conc": pl.Float64,
            "value": pl.Float64,
            "qualifier": pl.String,
            "recovery_pct": pl.Float64,
            "limit_pct": pl.Float64,
            "passed": pl.Boolean,
            "reason": pl.String,
        },
    )


def _qc_rules(qc: pl.DataFrame, acceptance: Acceptance) -> list[RuleResult]:
    rules = acceptance.qcs
    within = f"within ±{rules.recovery_pct:g}%"
    total = qc.height
    if total == 0:
        return [
            RuleResult(
                "QC_PASS_FRACTION",
                False,
                None,
                rules.min_pass_fraction,
                "QCs: no QC results — a run cannot be accepted without QCs",
            )
        ]
    ok = int(qc["passed"].sum())
    out = [
        RuleResult(
            "QC_PASS_FRACTION",
            ok / total >= rules.min_pass_fraction - _TOL,
            ok / total,
            rules.min_pass_fraction,
            f"QCs: {ok} of {total} {within} (needs ≥{_share(rules.min_pass_fraction)})",
        )
    ]
    # Levels from low to high nominal, as a lab reads them (QC-L, QC-M, QC-H).
    order = (
        qc.group_by("qc_level", maintain_order=True)
        .agg(pl.col("expected_conc").median().alias("nominal"))
        .sort("nominal", "qc_level", nulls_last=True, maintain_order=True)
    )
    tally: dict[str | None, list[int]] = {}  # level → [QCs, passed]: a few rows, counted in Python
    for name, passed in zip(qc["qc_level"].to_list(), qc["passed"].to_list(), strict=True):
        t = tally.setdefault(name, [0, 0])
        t[0] += 1
        t[1] += bool(passed)
    for name in order["qc_level"].to_list():
        n, k = tally[name]
        out.append(
            RuleResult(
                "QC_LEVEL_PASS_FRACTION",
                k / n >= rules.min_level_pass_fraction - _TOL,
                k / n,
                rules.min_level_pass_fraction,
                f"{name}: {k} of {n} {within} (needs ≥{_share(rules.min_level_pass_fraction)} per level)",
                subject=name,
            )
        )
    return out


# ── replicate CV ─────────────────────────────────────────────────────────────────────────────────────────


def replicate_cv(wells: pl.DataFrame, acceptance: Acceptance) -> pl.DataFrame:
    """Replicate CV per replicate group, flagged above the assay's limit (at the limit is not flagged).

    A replicate group is the single-well rows (replicate-average rows, whose ``well`` lists several wells,
    are not replicates) of one ``plate_id`` × analyte × ``sample_type`` × ``sample_id`` × ``dilution``
    (the columns present). Unknowns are held to ``replicate_cv_max_pct.unknown``; standards, QCs and
    controls to ``.standard``; blanks are not checked. CV = sample SD / mean × 100 of the
    ``replicate_cv_basis`` (``value``: only when every replicate is quantified, qualifier ``=``). A group
    whose mean signal is at or below ``replicate_cv_min_mean_signal`` is not flagged (LabKey).

    Columns: the key columns, ``wells`` (comma-joined, when a ``well`` column exists), ``n``, ``mean``,
    ``sd``, ``cv_pct``, ``limit_pct``, ``mean_signal``, ``flagged``, ``reason`` and ``row_positions``
    (positions of the group's rows in ``wells``, for :func:`flag_replicate_cv`).
    """
    if "sample_type" not in wells.columns or "sample_id" not in wells.columns:
        return _empty_cv([])
    basis = acceptance.replicate_cv_basis
    limits = acceptance.replicate_cv_max_pct
    floor = acceptance.replicate_cv_min_mean_signal
    df = wells.with_row_index("__pos").with_columns(_analyte_key(wells).alias("analyte"))
    keys = [c for c in ("plate_id", "analyte", "sample_type", "sample_id", "dilution") if c in df.columns]
    single = ~pl.col("well").cast(pl.String).str.contains(",") if "well" in df.columns else pl.lit(True)
    df = df.filter(
        pl.col("sample_type").is_in(list(_CV_SAMPLE_TYPES)) & pl.col("sample_id").is_not_null() & single
    )
    if df.is_empty():
        return _empty_cv(keys, df)
    aggs = [pl.col("__pos").alias("row_positions")]
    for col in ("value", "signal", "qualifier", "well"):
        if col in df.columns:
            aggs.append(pl.col(col).alias(f"__{col}"))
    groups = df.group_by(keys, maintain_order=True).agg(aggs).filter(pl.col("row_positions").list.len() >= 2)
    if groups.is_empty():
        return _empty_cv(keys, df)
    records: dict[str, list[object]] = {
        c: [] for c in ("n", "mean", "sd", "cv_pct", "limit_pct", "mean_signal", "flagged", "reason")
    }
    for g in groups.iter_rows(named=True):
        n = len(g["row_positions"])
        signals = _finite(g.get("__signal") or [])
        mean_signal = statistics.fmean(signals) if signals and len(signals) == n else None
        if basis == "value":
            qualifiers = g.get("__qualifier") or [None] * n
            quantified = [v for v, q in zip(g.get("__value") or [], qualifiers, strict=False) if q == "="]
            data = _finite(quantified)
        else:
            data = signals
        lim = getattr(limits, _CV_SAMPLE_TYPES[g["sample_type"]])
        mean: float | None = None
        sd: float | None = None
        cv: float | None = None
        flagged = False
        if len(data) < n:
            lacking = "a quantified value" if basis == "value" else "a signal"
            why = f"{n - len(data)} of {n} replicates without {lacking}: no CV"
        elif (mean := statistics.fmean(data)) == 0:
            sd = statistics.stdev(data)
            why = "mean is 0: no CV"
        else:
            sd = statistics.stdev(data)
            cv = 100.0 * sd / abs(mean)
            if floor is not None and mean_signal is not None and mean_signal <= floor:
                why = f"CV {cv:.1f}% not judged: mean signal {mean_signal:g} ≤ {floor:g}"
            elif cv > lim + _TOL:
                flagged = True
                why = f"CV {cv:.1f}% over {lim:g}% ({g['sample_type']})"
            else:
                why = f"CV {cv:.1f}% within {lim:g}% ({g['sample_type']})"
        for col, val in zip(records, (n, mean, sd, cv, lim, mean_signal, flagged, why), strict=True):
            records[col].append(val)
    out = groups.select(
        *keys,
        *([pl.col("__well").list.join(",").alias("wells")] if "__well" in groups.columns else []),
    ).with_columns(
        pl.Series("n", records["n"], dtype=pl.Int64),
        pl.Series("mean", records["mean"], dtype=pl.Float64),
        pl.Series("sd", records["sd"], dtype=pl.Float64),
        pl.Series("cv_pct", records["cv_pct"], dtype=pl.Float64),
        pl.Series("limit_pct", records["limit_pct"], dtype=pl.Float64),
        pl.Series("mean_signal", records["mean_signal"], dtype=pl.Float64),
        pl.Series("flagged", records["flagged"], dtype=pl.Boolean),
        pl.Series("reason", records["reason"], dtype=pl.String),
        groups["row_positions"].cast(pl.List(pl.Int64)),
    )
    return out


def flag_replicate_cv(wells: pl.DataFrame, cv: pl.DataFrame) -> pl.DataFrame:
    """``wells`` with :data:`CV_FLAG` added to the ``flags`` of every row of a flagged replicate group.

    ``cv`` is :func:`replicate_cv` of the same ``wells`` (its ``row_positions`` index them). Row order and
    every other column are unchanged; a flag already present is not repeated.
    """
    positions = set(cv.filter(pl.col("flagged"))["row_positions"].explode().drop_nulls().to_list())
    current = wells["flags"].to_list() if "flags" in wells.columns else [None] * wells.height
    flags = [_add_flag(f, CV_FLAG) if i in positions else f for i, f in enumerate(current)]
    return wells.with_columns(pl.Series("flags", flags, dtype=pl.String))


# ── helpers ──────────────────────────────────────────────────────────────────────────────────────────────


def _within(recovery_pct: float, limit_pct: float) -> bool:
    return abs(recovery_pct - 100.0) <= limit_pct + _TOL


def _share(fraction: float) -> str:
    """0.75 → "75%", 0.5 → "50%", 2/3 → "2/3" (a share a lab would write)."""
    pct = fraction * 100
    if abs(pct - round(pct)) < 1e-6:
        return f"{round(pct)}%"
    for den in range(2, 13):
        num = round(fraction * den)
        if abs(num / den - fraction) < 1e-9:
            return f"{num}/{den}"
    return f"{pct:.1f}%"


def _floats(s: pl.Series) -> list[float | None]:
    out: list[float | None] = []
    for x in s.cast(pl.Float64).to_list():
        out.append(None if x is None or not math.isfinite(x) else float(x))
    return out


def _finite(xs: Sequence[object]) -> list[float]:
    return [float(x) for x in xs if isinstance(x, int | float) and math.isfinite(x)]


def _require(df: pl.DataFrame, columns: Sequence[str], what: str) -> None:
    missing = [c for c in columns if c not in df.columns]
    if missing:
        raise ValueError(f"{what} lacks columns {missing}; has {df.columns}")


def _analyte_key(df: pl.DataFrame) -> pl.Expr:
    cols = [c for c in ("analyte", "analyte_as_written") if c in df.columns]
    if not cols:
        return pl.lit(None, dtype=pl.String)
    return pl.coalesce([pl.col(c).cast(pl.String) for c in cols])


def _single_analyte(*tables: pl.DataFrame | None) -> str | None:
    names: set[str] = set()
    for t in tables:
        # a table without an analyte column names none (its key would be all null): no query for it
        if t is not None and t.height and ("analyte" in t.columns or "analyte_as_written" in t.columns):
            names.update(t.select(_analyte_key(t)).to_series().drop_nulls().unique().to_list())
    if len(names) > 1:
        raise ValueError(f"one run is one analyte; these tables hold {sorted(names)} (use evaluate_plate)")
    return next(iter(names), None)


def _with_analyte(run: RunAcceptance, analyte: str) -> RunAcceptance:
    return RunAcceptance(run.accepted, run.rules, run.calibrators, run.qcs, run.replicate_cv, analyte)


def _add_flag(flags: str | None, new: str) -> str:
    parts = [f for f in (flags or "").split(";") if f]
    return ";".join(parts if new in parts else [*parts, new])


def _empty_cv(keys: Sequence[str], like: pl.DataFrame | None = None) -> pl.DataFrame:
    schema: dict[str, pl.DataType] = {}
    for k in keys:
        schema[k] = like.schema[k] if like is not None and k in like.columns else pl.String()
    if like is not None and "well" in like.columns:
        schema["wells"] = pl.String()
    schema |= {
        "n": pl.Int64(),
        "mean": pl.Float64(),
        "sd": pl.Float64(),
        "cv_pct": pl.Float64(),
        "limit_pct": pl.Float64(),
        "mean_signal": pl.Float64(),
        "flagged": pl.Boolean(),
        "reason": pl.String(),
        "row_positions": pl.List(pl.Int64()),
    }
    return pl.DataFrame(schema=schema)
