"""Levey–Jennings trending: guide sets and Westgard rules on run metrics, per analyte × kit lot × metric.

A *run metric* is one number per run: a QC level's concentration (``QC-L``, ``QC-M``, ``QC-H``) or a
curve metric (``EC50``, ``max_signal``). Its *guide set* is the mean and SD it is judged against:
run-based (the first ``n_runs`` accepted runs of the kit lot) or value-based (from configuration),
:class:`schemas.config.GuideSetSettings`.

Westgard rules, evaluated on the chronologically ordered series of one metric (each point is judged with
the points before it; a rule is reported on the point that completes its pattern). "Beyond k SD" is strict:
a value exactly at mean ± k·SD is in range (mean 60, SD 10: 90 is in, 91 is over 3 SD).

========  ===================================================  ===========  ================
rule      fires when                                           action       error detected
========  ===================================================  ===========  ================
``1-2s``  this point beyond ±2 SD                               warning      (screening only)
``1-3s``  this point beyond ±3 SD                               reject       random
``R-4s``  this point beyond +2 SD and the previous beyond       reject       random
          −2 SD, or the reverse
``2-2s``  this and the previous point beyond 2 SD, same side    reject       systematic
``4-1s``  this and the 3 previous beyond 1 SD, same side        reject       systematic
``10x``   this and the 9 previous on the same side of the mean  reject       systematic
========  ===================================================  ===========  ================

The rules here look back along one metric's series (across runs). Westgard's within-run readings across
QC levels (R-4s between two levels of one run, 2-2s across two levels) are not applied.
"""

from __future__ import annotations

import math
import statistics
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Literal

import polars as pl
import pyarrow as pa

from schemas.config import GuideSetSettings

GuideSetKind = Literal["run-based", "value-based"]

RULES: dict[str, tuple[Literal["warning", "reject"], Literal["random", "systematic", "screening"]]] = {
    "1-2s": ("warning", "screening"),
    "1-3s": ("reject", "random"),
    "2-2s": ("reject", "systematic"),
    "R-4s": ("reject", "random"),
    "4-1s": ("reject", "systematic"),
    "10x": ("reject", "systematic"),
}
"""Every rule: (action, kind of error it detects)."""

REJECT_RULES = tuple(r for r, (action, _) in RULES.items() if action == "reject")
WARNING_RULES = tuple(r for r, (action, _) in RULES.items() if action == "warning")

SERIES_COLUMNS = ("analyte", "kit_lot", "metric", "run_id", "run_order", "value")
"""Columns :func:`levey_jennings` needs; ``accepted`` (bool, default True) is optional."""

_REL_TOL = 1e-9  # relative: round-off must not move a value that sits exactly on a limit


@dataclass(frozen=True)
class GuideSet:
    """Mean and SD a run metric is judged against; ``run_ids`` are the runs it was built from."""

    mean: float
    sd: float
    n: int
    kind: GuideSetKind
    run_ids: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        if not (math.isfinite(self.mean) and math.isfinite(self.sd) and self.sd > 0):
            raise ValueError(f"a guide set needs a finite mean and an SD > 0; got {self.mean}, {self.sd}")

    def z(self, x: float) -> float:
        """Distance from the mean in SDs."""
        return (x - self.mean) / self.sd

    def side(self, x: float, k: float) -> int:
        """+1 when ``x`` is beyond mean + k·SD, −1 beyond mean − k·SD, 0 within (the limit included)."""
        d = x - self.mean
        lim = k * self.sd
        tol = _REL_TOL * max(abs(x), abs(self.mean), lim)
        if d > lim + tol:
            return 1
        if d < -(lim + tol):
            return -1
        return 0

    def in_range(self, x: float, k: float = 3.0) -> bool:
        """True when ``x`` is within mean ± k·SD, limits included."""
        return self.side(x, k) == 0


def guide_set_from_values(mean: float, sd: float) -> GuideSet:
    """A value-based guide set (from configuration)."""
    return GuideSet(mean=float(mean), sd=float(sd), n=0, kind="value-based")


def run_based_guide_set(
    values: Sequence[float | None],
    n_runs: int,
    *,
    run_ids: Sequence[str] | None = None,
) -> GuideSet | None:
    """Mean and sample SD of the first ``n_runs`` finite values (accepted runs, in run order).

    None while fewer than ``n_runs`` values exist, or when they do not vary (SD 0).
    """
    ids = list(run_ids) if run_ids is not None else [str(i) for i in range(len(values))]
    if len(ids) != len(values):
        raise ValueError(f"{len(values)} values but {len(ids)} run ids")
    used = [(float(v), r) for v, r in zip(values, ids, strict=True) if v is not None and math.isfinite(v)]
    used = used[:n_runs]
    if len(used) < n_runs or n_runs < 2:
        return None
    xs = [v for v, _ in used]
    sd = statistics.stdev(xs)
    if not sd > 0:
        return None
    return GuideSet(
        mean=statistics.fmean(xs), sd=sd, n=len(xs), kind="run-based", run_ids=tuple(r for _, r in used)
    )


def westgard(
    values: Sequence[float | None],
    guide: GuideSet,
    *,
    rules: Iterable[str] = tuple(RULES),
) -> list[tuple[str, ...]]:
    """Westgard violations per point of a chronologically ordered series (see the module table).

    Returns one tuple of rule names per input value (empty: no violation), in :data:`RULES` order. A null
    or non-finite value is skipped: it gets no violation and does not break or join a pattern.
    """
    wanted = set(rules)
    unknown = wanted - set(RULES)
    if unknown:
        raise ValueError(f"unknown Westgard rules {sorted(unknown)}; known: {list(RULES)}")
    idx = [i for i, v in enumerate(values) if v is not None and math.isfinite(v)]
    xs = [float(values[i]) for i in idx]  # type: ignore[arg-type]
    s1 = [guide.side(x, 1) for x in xs]
    s2 = [guide.side(x, 2) for x in xs]
    s3 = [guide.side(x, 3) for x in xs]
    s0 = [guide.side(x, 0) for x in xs]
    out: list[tuple[str, ...]] = [() for _ in values]
    for j, i in enumerate(idx):
        hit: list[str] = []
        if s2[j]:
            hit.append("1-2s")
        if s3[j]:
            hit.append("1-3s")
        if j >= 1 and s2[j] and s2[j] == s2[j - 1]:
            hit.append("2-2s")
        if j >= 1 and s2[j] * s2[j - 1] == -1:
            hit.append("R-4s")
        if j >= 3 and _same_side(s1[j - 3 : j + 1]):
            hit.append("4-1s")
        if j >= 9 and _same_side(s0[j - 9 : j + 1]):
            hit.append("10x")
        out[i] = tuple(r for r in hit if r in wanted)
    return out


def guide_sets(
    series: pl.DataFrame,
    settings: GuideSetSettings,
    *,
    kit_lot: str | None = None,
) -> dict[tuple[str, str, str], GuideSet]:
    """The guide set of each (analyte, kit_lot, metric) of ``series`` that has one.

    Run-based: from the first ``settings.n_runs`` accepted runs (``accepted`` column; all when absent) in
    ``run_order``; a key with fewer has none yet. Value-based: ``settings.values[metric][analyte]``, for
    the series of kit lot ``kit_lot`` (pass the assay's configured ``kit_lot``) — or of every lot when
    ``kit_lot`` is None.
    """
    out: dict[tuple[str, str, str], GuideSet] = {}
    for key, part in _parts(series):
        gs, _ = _guide_for(key, part, settings, kit_lot)
        if gs is not None:
            out[key] = gs
    return out


def levey_jennings(
    series: pl.DataFrame,
    settings: GuideSetSettings,
    *,
    kit_lot: str | None = None,
    rules: Iterable[str] = tuple(RULES),
) -> pl.DataFrame:
    """Judge every point of every (analyte, kit_lot, metric) series against its guide set.

    ``series``: one row per run × metric (columns :data:`SERIES_COLUMNS`, optional ``accepted``;
    ``run_order`` is anything sortable — a run timestamp). Every row given is judged and joins the
    look-back; pass only accepted runs to keep rejected runs out of the patterns. Guide sets as
    :func:`guide_sets`.

    Returns the input rows sorted by analyte, kit_lot, metric, run_order, with ``gs_kind``, ``gs_mean``,
    ``gs_sd``, ``gs_n``, ``z``, ``violations`` (list of rule names), ``reject`` (a reject rule fired),
    ``warning`` (only a warning rule fired) and ``note`` (why a point was not judged).
    """
    wanted = tuple(rules)
    ordered = _ordered(series)
    if ordered.height == 0:
        return series.head(0).with_columns(
            pl.lit(None, dtype=pl.String).alias("gs_kind"),
            pl.lit(None, dtype=pl.Float64).alias("gs_mean"),
            pl.lit(None, dtype=pl.Float64).alias("gs_sd"),
            pl.lit(None, dtype=pl.Int64).alias("gs_n"),
            pl.lit(None, dtype=pl.Float64).alias("z"),
            pl.lit(None, dtype=pl.List(pl.String)).alias("violations"),
            pl.lit(None, dtype=pl.Boolean).alias("reject"),
            pl.lit(None, dtype=pl.Boolean).alias("warning"),
            pl.lit(None, dtype=pl.String).alias("note"),
        )
    # One pass over plain columns (a loop of frame operations per series costs more than the rules)
    keys = list(zip(*(ordered[c].to_list() for c in _KEYS), strict=True))
    values: list[float | None] = ordered["value"].cast(pl.Float64).to_list()
    accepted: list[bool] = (
        ordered["accepted"].fill_null(False).to_list()
        if "accepted" in ordered.columns
        else [True] * ordered.height
    )
    run_ids = ordered["run_id"].cast(pl.String).to_list()
    out: dict[str, list[object]] = {c: [] for c in _JUDGED_COLUMNS}
    start = 0
    for end in [*(i for i in range(1, len(keys)) if keys[i] != keys[i - 1]), len(keys)]:
        key = tuple(str(k) for k in keys[start])
        vals = values[start:end]
        acc = [i for i in range(end - start) if accepted[start + i]]
        gs, note = _guide_for_values(
            (key[0], key[1], key[2]),
            [vals[i] for i in acc],
            [run_ids[start + i] for i in acc],
            settings,
            kit_lot,
        )
        n = end - start
        if gs is None:
            viol: list[tuple[str, ...]] = [() for _ in range(n)]
            z: list[float | None] = [None] * n
        else:
            viol = westgard(vals, gs, rules=wanted)
            z = [gs.z(v) if v is not None and math.isfinite(v) else None for v in vals]
        rejects = [any(RULES[r][0] == "reject" for r in v) for v in viol]
        out["gs_kind"] += [gs.kind if gs else None] * n
        out["gs_mean"] += [gs.mean if gs else None] * n
        out["gs_sd"] += [gs.sd if gs else None] * n
        out["gs_n"] += [gs.n if gs else None] * n
        out["z"] += z
        out["violations"] += [list(v) for v in viol]
        out["reject"] += rejects
        out["warning"] += [bool(v) and not r for v, r in zip(viol, rejects, strict=True)]
        out["note"] += [note] * n
        start = end
    # the list column through Arrow: from Python lists polars builds a Series per inner list
    violations = pa.array(out["violations"], type=pa.large_list(pa.large_string()))
    return ordered.with_columns(
        pl.Series(c, violations if c == "violations" else out[c], dtype=t) for c, t in _JUDGED_COLUMNS.items()
    )


# ── helpers ──────────────────────────────────────────────────────────────────────────────────────────────


def _same_side(sides: Sequence[int]) -> bool:
    return bool(sides) and sides[0] != 0 and all(s == sides[0] for s in sides)


_KEYS = ("analyte", "kit_lot", "metric")

_JUDGED_COLUMNS: dict[str, pl.DataType] = {
    "gs_kind": pl.String(),
    "gs_mean": pl.Float64(),
    "gs_sd": pl.Float64(),
    "gs_n": pl.Int64(),
    "z": pl.Float64(),
    "violations": pl.List(pl.String()),
    "reject": pl.Boolean(),
    "warning": pl.Boolean(),
    "note": pl.String(),
}


def _parts(series: pl.DataFrame) -> list[tuple[tuple[str, str, str], pl.DataFrame]]:
    ordered = _ordered(series)
    out: list[tuple[tuple[str, str, str], pl.DataFrame]] = []
    for part in ordered.partition_by(list(_KEYS), maintain_order=True):
        a, lot, m = (part[c][0] for c in _KEYS)
        out.append(((str(a), str(lot), str(m)), part))
    return out


def _ordered(series: pl.DataFrame) -> pl.DataFrame:
    """The series checked (one value per run and metric) and sorted by series, then run order."""
    missing = [c for c in SERIES_COLUMNS if c not in series.columns]
    if missing:
        raise ValueError(f"run-metric series lacks columns {missing}; has {series.columns}")
    keys = ["analyte", "kit_lot", "metric"]
    dup = series.filter(pl.struct([*keys, "run_id"]).is_duplicated())
    if dup.height:
        first = dup.row(0, named=True)
        raise ValueError(
            "one value per run and metric: run "
            f"{first['run_id']} has {dup.height} rows for {first['analyte']} {first['metric']}"
            f" (kit lot {first['kit_lot']}); average the replicates first"
        )
    return series.sort([*keys, "run_order", "run_id"], nulls_last=True, maintain_order=True)


def _guide_for(
    key: tuple[str, str, str],
    part: pl.DataFrame,
    settings: GuideSetSettings,
    kit_lot: str | None,
) -> tuple[GuideSet | None, str | None]:
    acc = part.filter(pl.col("accepted").fill_null(False)) if "accepted" in part.columns else part
    return _guide_for_values(
        key,
        acc["value"].cast(pl.Float64).to_list(),
        acc["run_id"].cast(pl.String).to_list(),
        settings,
        kit_lot,
    )


def _guide_for_values(
    key: tuple[str, str, str],
    accepted_values: list[float | None],
    accepted_run_ids: list[str],
    settings: GuideSetSettings,
    kit_lot: str | None,
) -> tuple[GuideSet | None, str | None]:
    """The guide set of one series from its accepted runs' values in run order (or from configuration),
    or why there is none."""
    analyte, lot, metric = key
    if settings.kind == "value-based":
        if kit_lot is not None and lot != kit_lot:
            return None, f"configured guide-set values are for kit lot {kit_lot}, not {lot}"
        pair = settings.values.get(metric, {}).get(analyte)
        if pair is None:
            return None, f"no configured guide-set values for {metric} of {analyte}"
        return guide_set_from_values(*pair), None
    gs = run_based_guide_set(accepted_values, settings.n_runs, run_ids=accepted_run_ids)
    if gs is None:
        have = sum(1 for v in accepted_values if v is not None and not math.isnan(v))
        if have >= settings.n_runs:
            return None, f"guide set not usable: the first {settings.n_runs} accepted runs do not vary"
        return None, f"guide set not yet established: {have} of {settings.n_runs} accepted runs"
    return gs, None
