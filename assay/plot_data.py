"""The plain data the QC figures are drawn from, and the numbers they show — no drawing library here.

Both renderers read these: :mod:`assay.plots` (matplotlib: figure files for a slide or a paper) and
:mod:`assay.svg_plots` (the report's inline SVG). Kept apart so the report, the command line and the upload
service do not import matplotlib (~1 s) to build a page that does not use it.
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np
import polars as pl
from numpy.typing import NDArray

FloatArray = NDArray[np.float64]


def format_number(value: float | None, sig: int = 4) -> str:
    """A number with ``sig`` significant digits, without scientific notation for everyday magnitudes."""
    if value is None or not math.isfinite(value):
        return "—"
    if value == 0:
        return "0"
    digits = sig - 1 - math.floor(math.log10(abs(value)))
    if digits <= 0:
        return f"{round(value, digits):,.0f}"
    return f"{value:,.{digits}f}"


def floats(values: Sequence[float | None]) -> FloatArray:
    return np.array([math.nan if v is None else float(v) for v in values], dtype=np.float64)


@dataclass(frozen=True)
class CurvePlotData:
    """What the standard-curve plot needs, independent of the curve model.

    Concentrations are *in-well* (before the sample dilution), in ``unit``; signals are raw (OD, MFI...).

    - standards: one entry per well (replicates separately) — nominal concentration, signal, masked
      (excluded from the fit). A nominal 0 (blank in the series) is drawn at the left edge.
    - QCs: nominal concentration and observed signal, so their distance from the curve shows.
    - unknowns: back-calculated concentration (the limit when censored), signal and qualifier
      (``=``, ``<``, ``>``, ``NR``; empty = ``=``). ``NR`` rows are counted, not drawn.
    - ``predict``: concentration → signal of the fitted curve (e.g. ``CurveFit.predict``).
    """

    predict: Callable[[FloatArray], FloatArray]
    std_conc: Sequence[float]
    std_signal: Sequence[float | None]
    std_masked: Sequence[bool] = ()
    qc_conc: Sequence[float] = ()
    qc_signal: Sequence[float | None] = ()
    unk_conc: Sequence[float | None] = ()
    unk_signal: Sequence[float | None] = ()
    unk_qualifier: Sequence[str] = ()
    lloq: float | None = None
    uloq: float | None = None
    plate_id: str = ""
    analyte: str = ""
    model: str = "4PL"
    weighting: str = ""
    r_squared: float | None = None
    unit: str = "pg/mL"
    signal_label: str = "Signal"
    log_signal: bool | None = None  # None: log when the signals span more than a factor of 200


_WELL_RE = re.compile(r"^([A-Pa-p])(\d{1,2})$")
TYPE_MARK = {"standard": "S", "blank": "B", "qc": "QC", "control": "C", "unknown": ""}


@dataclass(frozen=True)
class PlateWell:
    """One well's reading for one analyte. ``well`` may list wells (``"A3,A4"``, a replicate-average row):
    each listed well then shows that value. ``signal`` None = no reading."""

    well: str
    signal: float | None
    sample_type: str = "unknown"
    sample_id: str | None = None


@dataclass(frozen=True)
class ReplicateCv:
    """Coefficient of variation of one replicate group (same sample type and sample ID on the plate)."""

    sample_id: str
    sample_type: str
    wells: tuple[str, ...]
    mean: float
    cv_pct: float


def wells_from_frame(df: pl.DataFrame) -> list[PlateWell]:
    """Plate wells from a frame with ``well`` and ``signal`` (the canonical well table of one analyte);
    ``sample_type`` and ``sample_id`` are used when present."""
    n = df.height
    types = df["sample_type"].to_list() if "sample_type" in df.columns else ["unknown"] * n
    ids = df["sample_id"].to_list() if "sample_id" in df.columns else [None] * n
    return [
        PlateWell(str(w), None if s is None else float(s), t or "unknown", i)
        for w, s, t, i in zip(df["well"].to_list(), df["signal"].to_list(), types, ids, strict=True)
    ]


def split_wells(well: str) -> list[tuple[int, int]]:
    out: list[tuple[int, int]] = []
    for part in well.split(","):
        m = _WELL_RE.match(part.strip())
        if m:
            out.append((ord(m.group(1).upper()) - ord("A"), int(m.group(2)) - 1))
    return out


def well_name(row: int, col: int) -> str:
    return f"{chr(ord('A') + row)}{col + 1}"


def replicate_cvs(wells: Sequence[PlateWell]) -> list[ReplicateCv]:
    """Replicate CV (sample SD / mean, %) per group of single wells sharing sample type and sample ID.

    Rows that already average several wells, rows without a sample ID, groups with fewer than two finite
    signals and groups with a non-positive mean (CV undefined) give no CV.
    """
    groups: dict[tuple[str, str], list[tuple[str, float]]] = {}
    for w in wells:
        if w.sample_id is None or w.signal is None or not math.isfinite(w.signal) or "," in w.well:
            continue
        groups.setdefault((w.sample_type, w.sample_id), []).append((w.well.strip(), float(w.signal)))
    out: list[ReplicateCv] = []
    for (stype, sid), members in groups.items():
        if len(members) < 2:
            continue
        vals = np.array([v for _, v in members])
        mean = float(vals.mean())
        if mean <= 0:
            continue
        out.append(
            ReplicateCv(sid, stype, tuple(w for w, _ in members), mean, float(vals.std(ddof=1) / mean * 100))
        )
    return out


# Westgard rules, most severe first; a point violating several is coloured by the first listed here. One
# table for both renderers (matplotlib figures and the QC page's inline SVG), so their colours never differ.
RULE_COLOURS: dict[str, str] = {
    "13s": "#d62728",
    "r4s": "#9467bd",
    "22s": "#ff7f0e",
    "41s": "#8c564b",
    "10x": "#e377c2",
    "12s": "#b8860b",
}
OTHER_RULE_COLOUR = "#17becf"
IN_CONTROL_COLOUR = "#1f3b73"


def rule_colour(rules: Sequence[str]) -> str:
    """The colour of the most severe Westgard rule among ``rules`` ("1-3s", "R4s", "13s" all match)."""
    keys = {re.sub(r"[^0-9a-z]", "", r.lower()) for r in rules}
    for key, colour in RULE_COLOURS.items():
        if key in keys:
            return colour
    return OTHER_RULE_COLOUR
