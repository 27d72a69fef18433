"""The QC report's figures as small inline SVG, written directly: the standard curve, the plate heat map,
Levey–Jennings charts — the same content as :mod:`assay.plots` (same data classes, same points, limits and
legend counts) without matplotlib.

Why: drawing through matplotlib cost ~0.3–0.8 s of CPU per figure and per format (layout engine, text
measurement), ~5 s an analyte; a 30-plex plate took minutes. Here a figure is a few kilobytes of text built
in about a millisecond: each series is ONE ``<path>`` (a dot is ``M x y h0`` drawn with a round cap, a
marker a few relative moves), so a figure is a handful of elements whatever the number of wells. The page
stays self-contained (no file beside it, no script, no external reference) and a 30-plex page stays far
below 2 MB. matplotlib (:mod:`assay.plots`) remains for figure files (PNG/SVG for a slide or a paper).

Each series path carries a class naming it (``std``, ``std-masked``, ``qc``, ``unk``, ``unk-below``,
``unk-above``, ``lj-point``...) and one ``M`` per point drawn, so what is drawn can be counted.
"""

from __future__ import annotations

import html
import math
from collections.abc import Mapping, Sequence
from datetime import date, datetime

import numpy as np

from assay.plot_data import (
    IN_CONTROL_COLOUR,
    TYPE_MARK,
    CurvePlotData,
    FloatArray,
    PlateWell,
    format_number,
    replicate_cvs,
    rule_colour,
    split_wells,
)

_C_CURVE = "#1f3b73"
_C_STD = "#1f77b4"
_C_MASKED = "#7f7f7f"
_C_QC = "#d95f02"
_C_UNK = "#2ca02c"
_C_CENSORED = "#9467bd"
_C_LIMIT = "#555555"
_C_MISSING = "#d9d9d9"
_C_NO_READING = "#a6a6a6"
_C_CV_BAD = "#d62728"
_C_GRID = "#e5e5e5"
_LOG_SIGNAL_RATIO = 200.0  # as assay.plots: signals spanning more than this factor get a log y axis
_FONT = 'font-family="system-ui,DejaVu Sans,sans-serif"'


def _e(text: object) -> str:
    return html.escape(str(text), quote=True)


def _f(v: float) -> str:
    """A coordinate with one decimal, trailing zero dropped (the bulk of every figure's bytes)."""
    s = f"{v:.1f}"
    return s[:-2] if s.endswith(".0") else s


def _tick(v: float) -> str:
    """A tick label: plain digits with thousands separators (20,000; 0.5), no trailing zeros."""
    return f"{v:,g}" if abs(v) < 1e6 else format_number(v, 3)


def _floats(values: Sequence[float | None]) -> FloatArray:
    return np.array([math.nan if v is None else float(v) for v in values], dtype=np.float64)


def _svg(width: int, height: int, title: str, body: list[str], css_class: str) -> str:
    return (
        f'<svg class="fig {css_class}" xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {width} {height}" '
        f'width="{width}" height="{height}" role="img" {_FONT} font-size="11">'
        f"<title>{_e(title)}</title>" + "".join(body) + "</svg>"
    )


def _text(x: float, y: float, s: str, *, anchor: str = "start", extra: str = "") -> str:
    a = "" if anchor == "start" else f' text-anchor="{anchor}"'
    return f'<text x="{_f(x)}" y="{_f(y)}"{a}{extra}>{_e(s)}</text>'


def _vlabel(x: float, y: float, s: str) -> str:
    """An axis label turned a quarter left, centred on (x, y)."""
    return f'<text transform="translate({_f(x)} {_f(y)}) rotate(-90)" text-anchor="middle">{_e(s)}</text>'


def _run_label(v: float | date | datetime | str) -> str:
    if isinstance(v, datetime):
        return v.date().isoformat()
    return v.isoformat() if isinstance(v, date) else str(v)


def _dots(points: Sequence[tuple[float, float]]) -> str:
    """Dots (round-capped zero-length strokes) at whole pixels: half a pixel does not show on a 5 px dot."""
    return "".join(f"M{x:.0f} {y:.0f}h0" for x, y in points)


def _shapes(points: Sequence[tuple[float, float]], shape: str) -> str:
    """One relative sub-path per point, starting with its own ``M``."""
    return "".join(f"M{_f(x)} {_f(y)}{shape}" for x, y in points)


_DIAMOND = "m0 -6l6 6l-6 6l-6 -6z"
_CROSS = "m-4 -4l8 8m0 -8l-8 8"
_RING = "m-5 0a5 5 0 1 0 10 0a5 5 0 1 0 -10 0"
_CHEVRON = {"<": "m4 -6l-8 6l8 6", ">": "m-4 -6l8 6l-8 6"}


class _Axis:
    """Data → pixel along one axis, linear or log10."""

    def __init__(self, lo: float, hi: float, p0: float, p1: float, log: bool) -> None:
        self.log = log
        self.lo, self.hi = (math.log10(lo), math.log10(hi)) if log else (lo, hi)
        if self.hi <= self.lo:
            self.hi = self.lo + 1.0
        self.p0, self.p1 = p0, p1

    def __call__(self, v: float) -> float:
        t = math.log10(v) if self.log else v
        return self.p0 + (t - self.lo) / (self.hi - self.lo) * (self.p1 - self.p0)

    def ticks(self) -> list[float]:
        """Decades on a log axis (with 2 and 5 between them when the axis spans under two decades);
        on a linear axis, steps of 1, 2, 2.5 or 5 × 10^k giving at most 7 ticks."""
        if self.log:
            first, last = math.ceil(self.lo - 1e-9), math.floor(self.hi + 1e-9)
            mults = (1.0,) if last - first >= 2 else (1.0, 2.0, 5.0)
            ticks = [m * 10.0**k for k in range(first - 1, last + 1) for m in mults]
            return [t for t in ticks if self.lo - 1e-9 <= math.log10(t) <= self.hi + 1e-9]
        span = self.hi - self.lo
        raw = span / 6
        mag = 10.0 ** math.floor(math.log10(raw))
        step = next(m * mag for m in (1.0, 2.0, 2.5, 5.0, 10.0) if m * mag >= raw)
        start = math.ceil(self.lo / step) * step
        return [round(start + i * step, 12) for i in range(int((self.hi - start) / step + 1e-9) + 1)]


def _y_range(values: Sequence[float], log: bool) -> tuple[float, float]:
    vals = [v for v in values if math.isfinite(v) and (v > 0 or not log)]
    if not vals:
        return (1.0, 10.0) if log else (0.0, 1.0)
    lo, hi = min(vals), max(vals)
    if log:
        return lo / 1.5, hi * 1.5
    pad = (hi - lo) * 0.06 or abs(hi) * 0.1 or 1.0
    return lo - pad, hi + pad


def _legend(x: float, y: float, entries: Sequence[tuple[str, str]]) -> list[str]:
    """Legend rows: (swatch SVG drawn at the origin, label); each row 17 px."""
    out = []
    for i, (swatch, label) in enumerate(entries):
        cy = y + i * 17
        out.append(f'<g transform="translate({_f(x)} {_f(cy)})">{swatch}</g>')
        out.append(_text(x + 16, cy + 4, label))
    return out


# ---------------------------------------------------------------------------------------------------------
# Standard curve
# ---------------------------------------------------------------------------------------------------------


def curve_svg(data: CurvePlotData) -> str:
    """Log-x concentration vs signal: fitted curve, standards, QCs, unknowns on the curve, LLOQ/ULOQ —
    the points and legend counts of :func:`assay.plots.standard_curve_plot`."""
    std_x, std_y = _floats(data.std_conc), _floats(data.std_signal)
    if std_x.shape != std_y.shape:
        raise ValueError("std_conc and std_signal differ in length")
    masked = np.array(data.std_masked if data.std_masked else [False] * std_x.size, dtype=bool)
    if masked.shape != std_x.shape:
        raise ValueError("std_masked and std_conc differ in length")
    qc_x, qc_y = _floats(data.qc_conc), _floats(data.qc_signal)
    if qc_x.shape != qc_y.shape:
        raise ValueError("qc_conc and qc_signal differ in length")
    unk_x, unk_y = _floats(data.unk_conc), _floats(data.unk_signal)
    if unk_x.shape != unk_y.shape:
        raise ValueError("unk_conc and unk_signal differ in length")
    unk_q = [q or "=" for q in data.unk_qualifier] if data.unk_qualifier else ["="] * unk_x.size
    if len(unk_q) != unk_x.size:
        raise ValueError("unk_qualifier and unk_conc differ in length")

    limits = [v for v in (data.lloq, data.uloq) if v is not None and math.isfinite(v) and v > 0]
    positive = [float(v) for v in (*std_x, *qc_x, *unk_x, *limits) if math.isfinite(v) and v > 0]
    lo = min(positive) if positive else 1.0
    hi = max(positive) if positive else 10.0
    x_zero = lo / 4.0
    grid = np.logspace(math.log10(lo / 2.0), math.log10(hi * 2.0), 120)
    with np.errstate(all="ignore"):
        curve = np.asarray(data.predict(grid), dtype=np.float64)

    # unknowns: on the curve at their back-calculated concentration; censored at the limit, nudged outside
    n_nr = 0
    on_x: list[float] = []
    cens: dict[str, tuple[list[float], list[float]]] = {"<": ([], []), ">": ([], [])}
    cens_need: dict[str, list[int]] = {"<": [], ">": []}
    for x, y, q in zip(unk_x, unk_y, unk_q, strict=True):
        if q == "NR" or not math.isfinite(x) or x <= 0:
            n_nr += 1
        elif q in cens:
            if not math.isfinite(y):
                cens_need[q].append(len(cens[q][0]))
            cens[q][0].append(float(x))
            cens[q][1].append(float(y))
        else:
            on_x.append(float(x))
    with np.errstate(all="ignore"):
        on_y = [float(v) for v in np.asarray(data.predict(np.array(on_x)), dtype=np.float64)] if on_x else []
        for q, idx in cens_need.items():
            if idx:
                at = np.asarray(data.predict(np.array([cens[q][0][i] for i in idx])), dtype=np.float64)
                for i, v in zip(idx, at, strict=True):
                    cens[q][1][i] = float(v)

    signals = [float(v) for v in (*std_y, *qc_y, *curve, *on_y, *cens["<"][1], *cens[">"][1])]
    pos = [v for v in signals if math.isfinite(v) and v > 0]
    log_y = data.log_signal
    if log_y is None:
        log_y = bool(pos) and max(pos) / min(pos) > _LOG_SIGNAL_RATIO

    has_zero = bool((std_x == 0).any())
    x_min, x_max = (x_zero / 1.6 if has_zero else lo / 2.2), hi * 2.2
    W, H, L, R, T, B = 880, 400, 66, 560, 46, 346  # plot area [L, R] × [T, B]; legend right of R
    ax = _Axis(x_min, x_max, L, R, True)
    y_lo, y_hi = _y_range(signals, bool(log_y))
    ay = _Axis(y_lo, y_hi, B, T, bool(log_y))

    def inside(x: float, y: float) -> bool:
        return math.isfinite(x) and math.isfinite(y) and x > 0 and (y > 0 or not log_y)

    body: list[str] = [f'<rect x="{L}" y="{T}" width="{R - L}" height="{B - T}" fill="none" stroke="#999"/>']
    # grid and ticks
    xt = ax.ticks()
    xlabels = [_tick(t) for t in xt]
    if has_zero:
        xt.insert(0, x_zero)
        xlabels.insert(0, "0")
    grid_d = "".join(f"M{_f(ax(t))} {T}V{B}" for t in xt)
    yt = ay.ticks()
    grid_d += "".join(f"M{L} {_f(ay(t))}H{R}" for t in yt)
    body.append(f'<path d="{grid_d}" stroke="{_C_GRID}" stroke-width=".6"/>')
    body += [_text(ax(t), B + 15, s, anchor="middle") for t, s in zip(xt, xlabels, strict=True)]
    body += [_text(L - 5, ay(t) + 4, _tick(t), anchor="end") for t in yt]
    body.append(_text((L + R) / 2, B + 32, f"Concentration ({data.unit}, log scale)", anchor="middle"))
    body.append(_vlabel(14, (T + B) / 2, data.signal_label + (" (log scale)" if log_y else "")))
    first = " · ".join(p for p in (data.plate_id, data.analyte) if p) or "Standard curve"
    fit = [f"{data.model} fit"]
    if data.weighting:
        fit.append(f"weighting {data.weighting}")
    if data.r_squared is not None and math.isfinite(data.r_squared):
        fit.append(f"R² = {data.r_squared:.4f}")
    body.append(_text(L, 16, first, extra=' font-size="13" font-weight="600"'))
    body.append(_text(L, 34, ", ".join(fit)))
    if has_zero:
        zx = _f(ax(x_zero * 1.8))
        body.append(f'<path d="M{zx} {T}V{B}" stroke="{_C_LIMIT}" stroke-width=".6" stroke-dasharray="1 3"/>')

    legend: list[tuple[str, str]] = []
    # fitted curve (broken where the model gives no finite value)
    d, pen = [], "M"
    for gx, gy in zip(grid, curve, strict=True):
        if inside(float(gx), float(gy)):
            d.append(f"{pen}{_f(ax(float(gx)))} {_f(ay(float(gy)))}")
            pen = "L"
        else:
            pen = "M"
    body.append(f'<path class="curve" d="{"".join(d)}" fill="none" stroke="{_C_CURVE}" stroke-width="1.8"/>')
    legend.append((f'<path d="M0 0h12" stroke="{_C_CURVE}" stroke-width="1.8"/>', f"Fitted {data.model}"))

    # limits
    for lim, name, dash in ((data.lloq, "LLOQ", "6 4"), (data.uloq, "ULOQ", "8 3 2 3")):
        if lim is not None and math.isfinite(lim) and lim > 0:
            px = _f(ax(lim))
            body.append(
                f'<path class="limit {name.lower()}" d="M{px} {T}V{B}" stroke="{_C_LIMIT}" '
                f'stroke-width="1.1" stroke-dasharray="{dash}"/>'
            )
            legend.append(
                (
                    f'<path d="M0 0h12" stroke="{_C_LIMIT}" stroke-width="1.1" stroke-dasharray="{dash}"/>',
                    f"{name} {format_number(lim)} {data.unit}",
                )
            )

    drawn_x = np.where(std_x > 0, std_x, x_zero)
    ok = ~masked & np.isfinite(std_y)
    bad = masked & np.isfinite(std_y)
    std_pts = [(ax(x), ay(y)) for x, y in zip(drawn_x[ok], std_y[ok], strict=True) if inside(x, y)]
    bad_pts = [(ax(x), ay(y)) for x, y in zip(drawn_x[bad], std_y[bad], strict=True) if inside(x, y)]
    qc_ok = np.isfinite(qc_x) & (qc_x > 0) & np.isfinite(qc_y)
    qc_pts = [(ax(x), ay(y)) for x, y in zip(qc_x[qc_ok], qc_y[qc_ok], strict=True) if inside(x, y)]
    unk_pts = [(ax(x), ay(y)) for x, y in zip(on_x, on_y, strict=True) if inside(x, y)]

    dot = 'fill="none" stroke-linecap="round"'
    if unk_pts:
        body.append(
            f'<path class="unk" d="{_dots(unk_pts)}" {dot} stroke="{_C_UNK}" stroke-opacity=".75" '
            'stroke-width="5"/>'
        )
    for q in ("<", ">"):
        xs, ys = cens[q]
        if xs:
            nudge = 1 / 1.12 if q == "<" else 1.12
            pts = [(ax(x * nudge), ay(y)) for x, y in zip(xs, ys, strict=True) if inside(x, y)]
            cls = "unk-below" if q == "<" else "unk-above"
            body.append(
                f'<path class="{cls}" d="{_shapes(pts, _CHEVRON[q])}" fill="none" stroke="{_C_CENSORED}" '
                'stroke-width="2"/>'
            )
    if std_pts:
        body.append(
            f'<path class="std" d="{_dots(std_pts)}" {dot} stroke="#fff" stroke-width="9"/>'
            f'<path class="std" d="{_dots(std_pts)}" {dot} stroke="{_C_STD}" stroke-width="7.6"/>'
        )
    if bad_pts:
        body.append(
            f'<path class="std-masked" d="{_shapes(bad_pts, _RING)}" fill="none" stroke="{_C_MASKED}" '
            'stroke-width="1.4"/>'
            f'<path class="std-masked-x" d="{_shapes(bad_pts, _CROSS)}" stroke="{_C_MASKED}" '
            'stroke-width="1.4"/>'
        )
    if qc_pts:
        body.append(
            f'<path class="qc" d="{_shapes(qc_pts, _DIAMOND)}" fill="{_C_QC}" stroke="#000" '
            'stroke-width=".6"/>'
        )

    legend.append(
        (
            f'<path d="M0 0h0" {dot} stroke="{_C_STD}" stroke-width="7.6"/>',
            f"Standard, accepted (n={int(ok.sum())})",
        )
    )
    if bad.any():
        legend.append(
            (
                f'<path d="M0 0{_RING}M0 0{_CROSS}" fill="none" stroke="{_C_MASKED}" stroke-width="1.4"/>',
                f"Standard, masked: not in fit (n={int(bad.sum())})",
            )
        )
    if qc_ok.any():
        legend.append(
            (
                f'<path d="M0 0{_DIAMOND}" fill="{_C_QC}" stroke="#000" stroke-width=".6"/>',
                f"QC at nominal conc. (n={int(qc_ok.sum())})",
            )
        )
    if on_x:
        legend.append(
            (
                f'<path d="M0 0h0" {dot} stroke="{_C_UNK}" stroke-width="5"/>',
                f"Unknown, on curve at back-calc. (n={len(on_x)})",
            )
        )
    for q, name in (("<", "below LLOQ"), (">", "above ULOQ")):
        if cens[q][0]:
            legend.append(
                (
                    f'<path d="M0 0{_CHEVRON[q]}" fill="none" stroke="{_C_CENSORED}" stroke-width="2"/>',
                    f"Unknown {name}, drawn at the limit (n={len(cens[q][0])})",
                )
            )
    if n_nr:
        legend.append(("", f"Unknown not reported (n={n_nr}), not drawn"))
    body += _legend(R + 20, T + 6, legend)
    alt = f"Standard curve of {data.analyte}" if data.analyte else "Standard curve"
    return _svg(W, H, alt, body, "curve")


# ---------------------------------------------------------------------------------------------------------
# Plate heat map
# ---------------------------------------------------------------------------------------------------------

# matplotlib's viridis at every 8th of its 256 entries; the rest interpolated (no matplotlib import: ~1 s)
_VIRIDIS_ANCHORS = (
    "440154",
    "470d60",
    "48186a",
    "482374",
    "472d7b",
    "453781",
    "424086",
    "3e4989",
    "3b528b",
    "375b8d",
    "33638d",
    "2f6b8e",
    "2c728e",
    "297a8e",
    "26828e",
    "23898e",
    "21918c",
    "1f988b",
    "1fa088",
    "22a785",
    "28ae80",
    "32b67a",
    "3fbc73",
    "4ec36b",
    "5ec962",
    "70cf57",
    "84d44b",
    "98d83e",
    "addc30",
    "c2df23",
    "d8e219",
    "ece51b",
    "fde725",
)


def _viridis_table() -> list[tuple[float, float, float]]:
    anchors = [tuple(int(h[i : i + 2], 16) / 255 for i in (0, 2, 4)) for h in _VIRIDIS_ANCHORS]
    out: list[tuple[float, float, float]] = []
    for k in range(256):
        pos = k / 255 * (len(anchors) - 1)
        i = min(int(pos), len(anchors) - 2)
        t = pos - i
        a, b = anchors[i], anchors[i + 1]
        out.append((a[0] + (b[0] - a[0]) * t, a[1] + (b[1] - a[1]) * t, a[2] + (b[2] - a[2]) * t))
    return out


_VIRIDIS_RGB = _viridis_table()
_VIRIDIS = ["#" + "".join(f"{round(v * 255):02x}" for v in rgb) for rgb in _VIRIDIS_RGB]


def heatmap_svg(
    wells: Sequence[PlateWell],
    *,
    title: str = "",
    signal_label: str = "Signal",
    show_cv: bool = True,
    cv: Mapping[str, float] | None = None,
    cv_limit: float | None = 20.0,
) -> str:
    """Plate layout coloured by signal (log scale, viridis), sample-type marks, replicate CVs, high CVs
    outlined — what :func:`assay.plots.plate_heatmap` shows."""
    placed: dict[tuple[int, int], PlateWell] = {}
    for w in wells:
        for rc in split_wells(w.well):
            placed[rc] = w
    big = any(r >= 8 or c >= 12 for r, c in placed)
    nrows, ncols = (16, 24) if big else (8, 12)
    well_cv: dict[str, float] = {}
    if show_cv:
        if cv is not None:
            well_cv = {k.strip().upper(): float(v) for k, v in cv.items()}
        else:
            for group in replicate_cvs(wells):
                for name in group.wells:
                    well_cv[name.strip().upper()] = group.cv_pct
    values = [
        float(w.signal)
        for (r, c), w in placed.items()
        if r < nrows and c < ncols and w.signal is not None and math.isfinite(w.signal)
    ]
    pos_vals = [v for v in values if v > 0]
    vmin = min(pos_vals) if pos_vals else 1.0
    vmax = max(pos_vals) if pos_vals else 10.0
    if vmax <= vmin:
        vmax = vmin * 10.0
    log_lo, log_span = math.log10(vmin), math.log10(vmax) - math.log10(vmin)

    def shade(v: float) -> int:  # viridis index of a signal on the log scale, clipped to [vmin, vmax]
        t = (math.log10(min(max(v, vmin), vmax)) - log_lo) / log_span
        return min(255, int(t * 256))

    cell = 34 if not big else 21
    L, T = 30, 52
    pw, ph = ncols * cell, nrows * cell
    bar_x = L + pw + 22
    W, H = bar_x + 110, T + ph + 66
    fs = 10 if not big else 7
    heading = " · ".join(p for p in (title, f"{nrows * ncols}-well plate") if p)
    body: list[str] = [_text(L, 16, heading, extra=' font-size="13" font-weight="600"')]
    body += [_text(L + (c + 0.5) * cell, T - 6, str(c + 1), anchor="middle") for c in range(ncols)]
    body += [_text(L - 6, T + (r + 0.5) * cell + 4, chr(65 + r), anchor="end") for r in range(nrows)]
    rects: dict[str, list[str]] = {}
    labels: list[str] = []
    outlines: list[str] = []
    n_high = 0
    for r in range(nrows):
        for c in range(ncols):
            x0, y0 = L + c * cell, T + r * cell
            here = placed.get((r, c))
            v = None if here is None or here.signal is None else float(here.signal)
            if here is None:
                colour, ink = _C_MISSING, "#000"
            elif v is None or not math.isfinite(v):
                colour, ink = _C_NO_READING, "#000"
            else:
                k = shade(v)
                colour, rgb = _VIRIDIS[k], _VIRIDIS_RGB[k]
                lum = 0.2126 * rgb[0] + 0.7152 * rgb[1] + 0.0722 * rgb[2]
                ink = "#000" if lum > 0.5 else "#fff"
            rects.setdefault(colour, []).append(f"M{x0} {y0}h{cell}v{cell}h-{cell}z")
            if here is None:
                continue
            mark = TYPE_MARK.get(here.sample_type, here.sample_type[:1].upper())
            if v is None or not math.isfinite(v):
                mark = (mark + " NR").strip()
            cv_val = well_cv.get(f"{chr(65 + r)}{c + 1}")
            high = cv_val is not None and cv_limit is not None and cv_val > cv_limit
            if high:
                n_high += 1
                outlines.append(f"M{x0 + 2} {y0 + 2}h{cell - 4}v{cell - 4}h-{cell - 4}z")
            lines = [mark] if mark else []
            if not big and cv_val is not None:
                lines.append(f"{cv_val:.0f}%")
            if lines:
                cx = _f(x0 + cell / 2)
                top = y0 + cell / 2 + fs * 0.35 - (len(lines) - 1) * fs * 0.6
                weight = ' font-weight="700"' if high else ""
                fill = "" if ink == "#000" else ' fill="#fff"'
                if len(lines) == 1:
                    labels.append(f'<text x="{cx}" y="{_f(top)}"{fill}{weight}>{_e(lines[0])}</text>')
                else:
                    spans = "".join(
                        f'<tspan x="{cx}" y="{_f(top + i * fs * 1.2)}">{_e(s)}</tspan>'
                        for i, s in enumerate(lines)
                    )
                    labels.append(f"<text{fill}{weight}>{spans}</text>")
    body += [f'<path d="{"".join(d)}" fill="{colour}"/>' for colour, d in rects.items()]
    grid_d = "".join(f"M{L + c * cell} {T}v{ph}" for c in range(1, ncols))
    grid_d += "".join(f"M{L} {T + r * cell}h{pw}" for r in range(1, nrows))
    body.append(f'<path d="{grid_d}" stroke="#fff" stroke-width="1.2"/>')
    if outlines:
        body.append(
            f'<path class="cv-high" d="{"".join(outlines)}" fill="none" stroke="{_C_CV_BAD}" '
            'stroke-width="2.4"/>'
        )
    body.append(f'<g class="marks" text-anchor="middle" font-size="{fs}">{"".join(labels)}</g>')
    # colour bar: 32 steps on the log scale, ticks at plain numbers
    steps = 32
    for i in range(steps):
        frac = (i + 0.5) / steps
        colour = _VIRIDIS[min(255, int(frac * 256))]
        y = T + ph - (i + 1) * ph / steps
        body.append(
            f'<rect x="{bar_x}" y="{_f(y)}" width="14" height="{_f(ph / steps + 0.5)}" fill="{colour}"/>'
        )
    bar = _Axis(vmin, vmax, T + ph, T, True)
    for t in bar.ticks():
        body.append(f'<path d="M{bar_x + 14} {_f(bar(t))}h4" stroke="#000"/>')
        body.append(_text(bar_x + 20, bar(t) + 4, _tick(t)))
    clipped = any(v <= 0 for v in values)
    bar_label = f"{signal_label} (log scale{'; ≤ 0 shown at the minimum' if clipped else ''})"
    body.append(
        f'<text transform="translate({bar_x + 76} {_f(T + ph / 2)}) rotate(-90)" text-anchor="middle" '
        f'font-size="10">{_e(bar_label)}</text>'
    )
    key = "S standard · B blank · QC · C control" + (" · n% = replicate CV" if show_cv and not big else "")
    body.append(_text(L, T + ph + 20, key, extra=' font-size="10"'))
    entries = [(f'fill="{_C_MISSING}"', "no sample"), (f'fill="{_C_NO_READING}"', "NR = no reading")]
    if show_cv and cv_limit is not None:
        entries.append(
            (
                f'fill="none" stroke="{_C_CV_BAD}" stroke-width="2"',
                f"replicate CV > {cv_limit:g}% ({n_high} wells)",
            )
        )
    x = L
    for attrs, label in entries:
        body.append(f'<rect x="{x}" y="{T + ph + 32}" width="12" height="12" {attrs}/>')
        body.append(_text(x + 17, T + ph + 42, label, extra=' font-size="10"'))
        x += 30 + 6 * len(label)
    return _svg(W, H, f"Plate heat map: {title}" if title else "Plate heat map", body, "plate")


# ---------------------------------------------------------------------------------------------------------
# Levey–Jennings
# ---------------------------------------------------------------------------------------------------------


def levey_jennings_svg(
    values: Sequence[float | None],
    *,
    mean: float | None = None,
    sd: float | None = None,
    x: Sequence[float | date | datetime | str] | None = None,
    violations: Sequence[tuple[int, Sequence[str]]] = (),
    current_index: int | None = None,
    title: str = "",
    metric: str = "",
    unit: str = "",
) -> str:
    """A run metric per run with its mean and ±1/2/3 SD lines, points coloured by their most severe
    Westgard rule and labelled, the current run ringed — what :func:`assay.plots.levey_jennings_plot` shows.
    Runs are drawn in order; ``x`` labels them (run labels, dates or numbers; default 1..n)."""
    y = _floats(values)
    n = y.size
    finite = y[np.isfinite(y)]
    if mean is None:
        mean = float(finite.mean()) if finite.size else 0.0
    if sd is None:
        sd = float(finite.std(ddof=1)) if finite.size > 1 else 0.0
    if x is not None and len(x) != n:
        raise ValueError("x and values differ in length")
    labels = [str(i + 1) for i in range(n)] if x is None else [_run_label(v) for v in x]

    W, H, L, R, T, B = 880, 340, 96, 700, 46, 220  # room below and left for slanted run labels
    lows = [*finite, mean - 4 * sd] if sd > 0 else [*finite, mean]
    highs = [*finite, mean + 4 * sd] if sd > 0 else [*finite, mean]
    pad = 0.6 * sd if sd > 0 else (max(highs) - min(lows)) * 0.1 or 1.0
    ay = _Axis(min(lows) - pad, max(highs) + pad, B, T, False)
    step = (R - L) / max(n, 1)

    def px(i: int) -> float:
        return L + (i + 0.5) * step

    body: list[str] = [f'<rect x="{L}" y="{T}" width="{R - L}" height="{B - T}" fill="none" stroke="#999"/>']
    if sd > 0:
        body.append(
            f'<rect x="{L}" y="{_f(ay(mean + 2 * sd))}" width="{R - L}" '
            f'height="{_f(ay(mean - 2 * sd) - ay(mean + 2 * sd))}" fill="#f3f6fa"/>'
        )
        bands = (
            (3, "#d62728", ""),
            (2, "#e6a700", ' stroke-dasharray="5 3"'),
            (1, "#9a9a9a", ' stroke-dasharray="1 2"'),
        )
        for k, colour, dash in bands:
            d = "".join(f"M{L} {_f(ay(mean + s * k * sd))}H{R}" for s in (1, -1))
            body.append(f'<path class="sd{k}" d="{d}" stroke="{colour}"{dash}/>')
        names = ["−3 SD", "−2 SD", "−1 SD", "mean", "+1 SD", "+2 SD", "+3 SD"]
        sd_labels = "".join(_text(R + 5, ay(mean + k * sd) + 4, names[k + 3]) for k in range(-3, 4))
        body.append(f'<g font-size="10">{sd_labels}</g>')
    body.append(f'<path class="mean" d="M{L} {_f(ay(mean))}H{R}" stroke="#000" stroke-width="1.3"/>')
    body += [_text(L - 5, ay(t) + 4, _tick(t), anchor="end") for t in ay.ticks()]
    body.append(_vlabel(14, (T + B) / 2, (metric or "Value") + (f" ({unit})" if unit else "")))
    every = max(1, math.ceil(n / 20))
    slanted = "".join(
        f'<text transform="translate({_f(px(i))} {B + 10})rotate(-40)">{_e(labels[i])}</text>'
        for i in range(0, n, every)
    )
    body.append(f'<g text-anchor="end" font-size="9">{slanted}</g>')

    ok = np.isfinite(y)
    line, pen = [], "M"
    for i in range(n):
        if ok[i]:
            line.append(f"{pen}{px(i):.0f} {ay(float(y[i])):.0f}")
            pen = "L"
        else:
            pen = "M"
    body.append(f'<path d="{"".join(line)}" fill="none" stroke="#9ab0cc"/>')
    by_index: dict[int, list[str]] = {}
    for idx, rules in violations:
        if 0 <= idx < n:
            by_index.setdefault(idx, []).extend(r for r in rules if r not in by_index.get(idx, []))
    groups: dict[str, list[tuple[float, float]]] = {}
    for i in range(n):
        if ok[i]:
            colour = rule_colour(by_index[i]) if i in by_index else IN_CONTROL_COLOUR
            groups.setdefault(colour, []).append((px(i), ay(float(y[i]))))
    for colour, pts in groups.items():
        body.append(
            f'<path class="lj-point" d="{_dots(pts)}" fill="none" stroke-linecap="round" stroke="{colour}" '
            'stroke-width="7"/>'
        )
    if current_index is not None and 0 <= current_index < n and ok[current_index]:
        cx, cy = px(current_index), ay(float(y[current_index]))
        body.append(
            f'<circle class="current" cx="{_f(cx)}" cy="{_f(cy)}" r="8" fill="none" stroke="#000" '
            'stroke-width="1.4"/>'
        )
    last: int | None = None
    stagger = 0
    for idx in sorted(by_index):
        if not ok[idx]:
            continue
        stagger = stagger + 1 if last is not None and idx - last <= max(1, n // 12) else 0
        last = idx
        up = y[idx] >= mean
        off = (12 + 12 * (stagger % 2)) * (-1 if up else 1)
        colour = rule_colour(by_index[idx])
        body.append(
            _text(
                px(idx),
                ay(float(y[idx])) + off + (0 if up else 8),
                ", ".join(by_index[idx]),
                anchor="middle",
                extra=f' class="rule" font-size="10" font-weight="700" fill="{colour}"',
            )
        )

    head = title or "Levey–Jennings"
    stats = (
        f"mean {format_number(mean)}, SD {format_number(sd)}"
        + (f" {unit}" if unit else "")
        + f"; {int(ok.sum())} runs charted"
    )
    body.append(_text(L, 16, head, extra=' font-size="13" font-weight="600"'))
    body.append(_text(L, 34, stats))
    legend: list[tuple[str, str]] = [
        (
            f'<path d="M0 0h0" stroke-linecap="round" stroke="{IN_CONTROL_COLOUR}" stroke-width="7"/>',
            "in control",
        )
    ]
    seen: dict[str, str] = {}
    for idx in sorted(by_index):
        for rule in by_index[idx]:
            seen.setdefault(rule, rule_colour([rule]))
    legend += [
        (f'<path d="M0 0h0" stroke-linecap="round" stroke="{c}" stroke-width="7"/>', rule)
        for rule, c in seen.items()
    ]
    if current_index is not None and 0 <= current_index < n:
        legend.append(('<circle r="6" fill="none" stroke="#000" stroke-width="1.4"/>', "this run"))
    body.append(_text(R + 60, T + 2, "Westgard", extra=' font-size="10" font-weight="600"'))
    body += _legend(R + 66, T + 18, legend)
    return _svg(W, H, f"Levey–Jennings chart: {head}", body, "lj")
