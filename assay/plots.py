"""QC plots an assay scientist looks at: the standard curve, the plate heat map, Levey–Jennings charts.

Pure functions: each builds a :class:`matplotlib.figure.Figure` with the object-oriented API (no pyplot, no
global figure manager, so it is safe in worker threads and never opens a window) and returns it; writing
is separate (:func:`save_figure`, :func:`figure_png`, :func:`figure_svg`).

The inputs are deliberately minimal — arrays, small dataclasses and a ``predict`` callable for the curve —
so the plots do not depend on how a curve was fitted (4PL, 5PL) or on the warehouse layout.
"""

from __future__ import annotations

import io
import math
import threading
from collections.abc import Mapping, Sequence
from datetime import date, datetime
from pathlib import Path

import matplotlib

matplotlib.use("Agg")  # never a GUI backend, even if something later imports pyplot

import numpy as np
import polars as pl
from matplotlib import colors as mcolors
from matplotlib import dates as mdates
from matplotlib import ticker
from matplotlib.artist import Artist
from matplotlib.axis import Axis
from matplotlib.figure import Figure
from matplotlib.lines import Line2D
from matplotlib.patches import Rectangle
from matplotlib.path import Path as MplPath

# The plots' inputs and number helpers live in assay/plot_data.py (no matplotlib there); re-exported here.
from assay.plot_data import IN_CONTROL_COLOUR, RULE_COLOURS, rule_colour
from assay.plot_data import TYPE_MARK as _TYPE_MARK
from assay.plot_data import CurvePlotData as CurvePlotData
from assay.plot_data import FloatArray as FloatArray
from assay.plot_data import PlateWell as PlateWell
from assay.plot_data import ReplicateCv as ReplicateCv
from assay.plot_data import floats as _floats
from assay.plot_data import format_number as format_number
from assay.plot_data import replicate_cvs as replicate_cvs
from assay.plot_data import split_wells as _split_wells
from assay.plot_data import well_name as _well_name
from assay.plot_data import wells_from_frame as wells_from_frame

# Colours (colour-blind safe where it matters: accepted vs masked vs QC vs unknown differ in marker too).
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

# "<" and ">" as open chevron markers (a mathtext marker like "$<$" goes through matplotlib's mathtext
# parser, which is not thread-safe).
_CHEVRON = {
    "<": MplPath([(0.5, 0.7), (-0.5, 0.0), (0.5, -0.7)], [MplPath.MOVETO, MplPath.LINETO, MplPath.LINETO]),
    ">": MplPath([(-0.5, 0.7), (0.5, 0.0), (-0.5, -0.7)], [MplPath.MOVETO, MplPath.LINETO, MplPath.LINETO]),
}

_LOG_SIGNAL_RATIO = 200.0  # signals spanning more than this factor get a log y axis (MFI yes, OD no)


def _tx(text: object) -> str:
    """Text for a figure: matplotlib parses ``$...$`` as math, so a ``$`` in a name must be escaped."""
    return str(text).replace("$", r"\$")


def _plain_log_ticks(axis: Axis) -> None:
    """Log-axis ticks as plain numbers (10, 100, 1000), no minor labels: the default formatters emit
    mathtext (10^2), which reads worse and goes through matplotlib's non-thread-safe mathtext parser."""
    axis.set_major_formatter(ticker.FuncFormatter(lambda v, _pos: f"{v:g}"))
    axis.set_minor_formatter(ticker.NullFormatter())


# ---------------------------------------------------------------------------------------------------------
# Writing figures
# ---------------------------------------------------------------------------------------------------------


_SVG_LOCK = threading.Lock()


def figure_png(fig: Figure, *, dpi: int = 110) -> bytes:
    """The figure as PNG bytes."""
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=dpi, metadata={"Software": None})
    return buf.getvalue()


def figure_svg(fig: Figure) -> str:
    """The figure as SVG text, with its text kept as ``<text>`` elements (not outlines)."""
    buf = io.BytesIO()
    # svg.fonttype is read from the global rcParams while drawing; rc_context sets and restores it, and the
    # lock keeps two of our renders from restoring it under each other's feet.
    with _SVG_LOCK, matplotlib.rc_context({"svg.fonttype": "none", "svg.hashsalt": "bct-biomarkers-qc"}):
        fig.savefig(buf, format="svg", metadata={"Date": None})
    return buf.getvalue().decode("utf-8")


def save_figure(
    fig: Figure, path: Path, *, formats: Sequence[str] = ("png", "svg"), dpi: int = 150
) -> list[Path]:
    """Write ``fig`` once per format at ``path`` with the suffix replaced; returns the paths written."""
    written: list[Path] = []
    path.parent.mkdir(parents=True, exist_ok=True)
    for fmt in formats:
        target = path.with_suffix("." + fmt)
        if fmt == "png":
            target.write_bytes(figure_png(fig, dpi=dpi))
        elif fmt == "svg":
            target.write_text(figure_svg(fig), encoding="utf-8")
        else:
            raise ValueError(f"unsupported figure format {fmt!r} (png or svg)")
        written.append(target)
    return written


# ---------------------------------------------------------------------------------------------------------
# Standard curve
# ---------------------------------------------------------------------------------------------------------


def _curve_title(data: CurvePlotData) -> str:
    first = " · ".join(_tx(p) for p in (data.plate_id, data.analyte) if p) or "Standard curve"
    parts = [f"{_tx(data.model)} fit"]
    if data.weighting:
        parts.append(f"weighting {_tx(data.weighting)}")
    if data.r_squared is not None and math.isfinite(data.r_squared):
        parts.append(f"R² = {data.r_squared:.4f}")
    return first + "\n" + ", ".join(parts)


def standard_curve_plot(data: CurvePlotData, *, figsize: tuple[float, float] = (9.0, 5.4)) -> Figure:
    """Log-x concentration vs signal: fitted curve, standards, QCs, unknowns on the curve, LLOQ/ULOQ."""
    std_x = _floats(data.std_conc)
    std_y = _floats(data.std_signal)
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
    unk_q = list(data.unk_qualifier) if data.unk_qualifier else ["="] * unk_x.size
    if len(unk_q) != unk_x.size:
        raise ValueError("unk_qualifier and unk_conc differ in length")

    fig = Figure(figsize=figsize, layout="constrained")
    ax = fig.add_subplot()
    ax.set_xscale("log")

    positive = [v for v in (*std_x, *qc_x, *unk_x) if math.isfinite(v) and v > 0]
    for lim in (data.lloq, data.uloq):
        if lim is not None and math.isfinite(lim) and lim > 0:
            positive.append(lim)
    lo = min(positive) if positive else 1.0
    hi = max(positive) if positive else 10.0
    x_zero = lo / 4.0  # where a zero-concentration standard is drawn on the log axis
    grid = np.logspace(math.log10(lo / 2.0), math.log10(hi * 2.0), 300)
    with np.errstate(all="ignore"):
        curve = np.asarray(data.predict(grid), dtype=np.float64)

    signals = [v for v in (*std_y, *qc_y, *unk_y, *curve) if math.isfinite(v)]
    pos_signals = [v for v in signals if v > 0]
    log_y = data.log_signal
    if log_y is None:
        log_y = bool(pos_signals) and max(pos_signals) / min(pos_signals) > _LOG_SIGNAL_RATIO
    if log_y:
        ax.set_yscale("log")
        _plain_log_ticks(ax.yaxis)

    ax.plot(grid, curve, color=_C_CURVE, lw=1.8, label=f"Fitted {_tx(data.model)}", zorder=2)

    drawn_x = np.where(std_x > 0, std_x, x_zero)
    ok = ~masked & np.isfinite(std_y)
    ax.scatter(
        drawn_x[ok],
        std_y[ok],
        s=46,
        marker="o",
        color=_C_STD,
        edgecolors="white",
        linewidths=0.6,
        label=f"Standard, accepted (n={int(ok.sum())})",
        zorder=4,
    )
    bad = masked & np.isfinite(std_y)
    if bad.any():
        ax.scatter(
            drawn_x[bad],
            std_y[bad],
            s=70,
            marker="o",
            facecolors="none",
            edgecolors=_C_MASKED,
            linewidths=1.4,
            zorder=4,
        )
        ax.scatter(drawn_x[bad], std_y[bad], s=40, marker="x", color=_C_MASKED, linewidths=1.4, zorder=5)
    has_zero = bool((std_x == 0).any())
    if has_zero:  # a break between the zero standard and the log-scaled concentrations
        ax.axvline(x_zero * 1.8, color=_C_LIMIT, lw=0.6, ls=(0, (1, 3)), zorder=1)

    qc_ok = np.isfinite(qc_x) & (qc_x > 0) & np.isfinite(qc_y)
    if qc_ok.any():
        ax.scatter(
            qc_x[qc_ok],
            qc_y[qc_ok],
            s=70,
            marker="D",
            color=_C_QC,
            edgecolors="black",
            linewidths=0.6,
            label=f"QC at nominal conc. (n={int(qc_ok.sum())})",
            zorder=6,
        )

    n_nr = 0
    in_x: list[float] = []
    in_y: list[float] = []
    cens: dict[str, tuple[list[float], list[float]]] = {"<": ([], []), ">": ([], [])}
    for x, y, q in zip(unk_x, unk_y, unk_q, strict=True):
        q = q or "="
        if q == "NR" or not math.isfinite(x) or x <= 0:
            n_nr += 1
            continue
        if q in cens:
            if not math.isfinite(y):
                y = float(np.asarray(data.predict(np.array([x]))).ravel()[0])
            cens[q][0].append(x)
            cens[q][1].append(y)
        else:
            in_x.append(x)
            in_y.append(float(np.asarray(data.predict(np.array([x]))).ravel()[0]))
    if in_x:
        ax.scatter(
            in_x,
            in_y,
            s=18,
            marker="o",
            color=_C_UNK,
            alpha=0.75,
            edgecolors="none",
            label=f"Unknown, on curve at back-calc. (n={len(in_x)})",
            zorder=3,
        )
    for q, name in (("<", "below LLOQ"), (">", "above ULOQ")):
        xs, ys = cens[q]
        if xs:
            nudge = 1 / 1.12 if q == "<" else 1.12  # just outside the limit line, on the censored side
            ax.scatter(
                [v * nudge for v in xs],
                ys,
                s=70,
                marker=_CHEVRON[q],
                facecolors="none",
                edgecolors=_C_CENSORED,
                linewidths=2.0,
                label=f"Unknown {name}, drawn at the limit (n={len(xs)})",
                zorder=3,
            )
    if n_nr:
        ax.scatter([], [], marker="", label=f"Unknown not reported (n={n_nr}), not drawn")

    for lim, name, ls in ((data.lloq, "LLOQ", "--"), (data.uloq, "ULOQ", "-.")):
        if lim is not None and math.isfinite(lim) and lim > 0:
            ax.axvline(
                lim, color=_C_LIMIT, ls=ls, lw=1.1, label=f"{name} {format_number(lim)} {_tx(data.unit)}"
            )

    x_min, x_max = (x_zero / 1.6 if has_zero else lo / 2.2), hi * 2.2
    ax.set_xlim(x_min, x_max)
    ticks = [float(t) for t in ticker.LogLocator().tick_values(x_min, x_max) if x_min <= t <= x_max]
    tick_labels = [f"{t:g}" for t in ticks]
    if has_zero:
        ticks.insert(0, x_zero)
        tick_labels.insert(0, "0")
    ax.set_xticks(ticks, tick_labels)
    ax.xaxis.set_minor_formatter(ticker.NullFormatter())
    ax.set_xlabel(f"Concentration ({_tx(data.unit)}, log scale)")
    ax.set_ylabel(_tx(data.signal_label) + (" (log scale)" if log_y else ""))
    ax.grid(True, which="major", color="#e5e5e5", lw=0.6)
    ax.set_axisbelow(True)
    ax.set_title(_curve_title(data), fontsize=11, loc="left")

    handles: list[Artist | tuple[Artist, ...]] = []
    labels: list[str] = []
    for handle, label in zip(*ax.get_legend_handles_labels(), strict=True):
        handles.append(handle)
        labels.append(label)
        if bad.any() and label.startswith("Standard, accepted"):
            ring = Line2D([], [], ls="", marker="o", markerfacecolor="none", markeredgecolor=_C_MASKED, ms=8)
            cross = Line2D([], [], ls="", marker="x", color=_C_MASKED, ms=6, mew=1.4)
            handles.append((ring, cross))
            labels.append(f"Standard, masked: not in fit (n={int(bad.sum())})")
    ax.legend(
        handles,
        labels,
        loc="upper left",
        bbox_to_anchor=(1.01, 1.0),
        fontsize=8,
        frameon=False,
        borderaxespad=0.0,
    )
    return fig


# ---------------------------------------------------------------------------------------------------------
# Plate heat map
# ---------------------------------------------------------------------------------------------------------


def plate_heatmap(
    wells: Sequence[PlateWell] | pl.DataFrame,
    *,
    title: str = "",
    signal_label: str = "Signal",
    show_cv: bool = True,
    cv: Mapping[str, float] | None = None,
    cv_limit: float | None = 20.0,
    plate_size: int | None = None,
) -> Figure:
    """Plate layout (8×12, or 16×24 when a well lies beyond H12) coloured by signal on a log scale.

    Each cell shows its sample-type mark (S standard, B blank, QC, C control) and, with ``show_cv``, the
    replicate CV of its group (``cv`` maps a well to a CV in %; default: computed by
    :func:`replicate_cvs`). A CV above ``cv_limit`` is outlined in red. Wells absent from the data are light
    grey; wells present without a reading are darker grey, marked "NR".
    """
    items = wells_from_frame(wells) if isinstance(wells, pl.DataFrame) else list(wells)
    placed: dict[tuple[int, int], PlateWell] = {}
    for w in items:
        for rc in _split_wells(w.well):
            placed[rc] = w
    if plate_size is None:
        big = any(r >= 8 or c >= 12 for r, c in placed)
        plate_size = 384 if big else 96
    if plate_size not in (96, 384):
        raise ValueError(f"plate_size must be 96 or 384, not {plate_size}")
    nrows, ncols = (8, 12) if plate_size == 96 else (16, 24)
    well_cv: dict[str, float] = {}
    if show_cv:
        if cv is not None:
            well_cv = {k.strip().upper(): float(v) for k, v in cv.items()}
        else:
            for group in replicate_cvs(items):
                for name in group.wells:
                    well_cv[name.upper()] = group.cv_pct

    grid = np.full((nrows, ncols), np.nan)
    for (r, c), w in placed.items():
        if r < nrows and c < ncols and w.signal is not None and math.isfinite(w.signal):
            grid[r, c] = w.signal
    finite = grid[np.isfinite(grid)]
    pos = finite[finite > 0]
    vmin = float(pos.min()) if pos.size else 1.0
    vmax = float(pos.max()) if pos.size else 10.0
    if vmax <= vmin:
        vmax = vmin * 10.0
    shown = np.where(np.isfinite(grid), np.maximum(grid, vmin), np.nan)
    cmap = matplotlib.colormaps["viridis"].with_extremes(bad=_C_MISSING)
    norm = mcolors.LogNorm(vmin=vmin, vmax=vmax, clip=True)

    small = plate_size == 96
    # A fixed layout (no layout engine): square cells, room for labels; far faster than constrained layout
    # with a few hundred cell labels.
    cell = 0.68 if small else 0.45
    left, top, bottom, gap, bar, right = 0.5, 0.85, 0.8, 0.25, 0.22, 1.15
    width, height = left + ncols * cell + gap + bar + right, top + nrows * cell + bottom
    fig = Figure(figsize=(width, height))
    ax = fig.add_axes((left / width, bottom / height, ncols * cell / width, nrows * cell / height))
    cax = fig.add_axes(
        ((left + ncols * cell + gap) / width, bottom / height, bar / width, nrows * cell / height)
    )
    image = ax.imshow(np.ma.masked_invalid(shown), cmap=cmap, norm=norm, aspect="equal")
    ax.set_xticks(range(ncols), [str(c + 1) for c in range(ncols)], fontsize=9 if small else 7)
    ax.set_yticks(range(nrows), [chr(ord("A") + r) for r in range(nrows)], fontsize=9 if small else 7)
    ax.tick_params(top=True, labeltop=True, bottom=False, labelbottom=False, length=0)
    ax.hlines(np.arange(0.5, nrows - 1, 1), -0.5, ncols - 0.5, colors="white", lw=1.2)
    ax.vlines(np.arange(0.5, ncols - 1, 1), -0.5, nrows - 0.5, colors="white", lw=1.2)
    for spine in ax.spines.values():
        spine.set_visible(False)

    n_high = 0
    for r in range(nrows):
        for c in range(ncols):
            here = placed.get((r, c))
            if here is None:
                continue
            value = grid[r, c]
            if math.isfinite(value):
                rgba = cmap(norm(max(value, vmin)))
                lum = 0.2126 * rgba[0] + 0.7152 * rgba[1] + 0.0722 * rgba[2]
                ink = "black" if lum > 0.5 else "white"
            else:
                ax.add_patch(Rectangle((c - 0.5, r - 0.5), 1, 1, color=_C_NO_READING, lw=0))
                ink = "black"
            mark = _TYPE_MARK.get(here.sample_type, here.sample_type[:1].upper())
            if not math.isfinite(value):
                mark = (mark + " NR").strip()
            cv_val = well_cv.get(_well_name(r, c))
            high = cv_val is not None and cv_limit is not None and cv_val > cv_limit
            if high:
                n_high += 1
                ax.add_patch(
                    Rectangle(
                        (c - 0.45, r - 0.45), 0.9, 0.9, fill=False, edgecolor=_C_CV_BAD, lw=2.2, zorder=3
                    )
                )
            lines = [mark] if mark else []
            if small and cv_val is not None:
                lines.append(f"{cv_val:.0f}%")
            if lines:
                ax.text(
                    c,
                    r,
                    "\n".join(lines),
                    ha="center",
                    va="center",
                    fontsize=(7.5 if small else 5.5),
                    linespacing=1.25,
                    color=ink,
                    weight="bold" if high else "normal",
                )

    cbar = fig.colorbar(image, cax=cax)
    _plain_log_ticks(cbar.ax.yaxis)
    clipped = bool((finite <= 0).any())
    cbar.set_label(
        f"{_tx(signal_label)} (log scale{'; ≤ 0 shown at the minimum' if clipped else ''})", fontsize=9
    )
    parts = [title and _tx(title), f"{plate_size}-well plate"]
    ax.set_title(" · ".join(p for p in parts if p), fontsize=11, loc="left")
    legend = [
        Rectangle((0, 0), 1, 1, color=_C_MISSING),
        Rectangle((0, 0), 1, 1, color=_C_NO_READING),
    ]
    labels = ["no sample", "NR = no reading"]
    if show_cv and cv_limit is not None:
        legend.append(Rectangle((0, 0), 1, 1, fill=False, edgecolor=_C_CV_BAD, lw=2))
        labels.append(f"replicate CV > {cv_limit:g}% ({n_high} wells)")
    key = "S standard · B blank · QC · C control" + (" · n% = replicate CV" if show_cv and small else "")
    ax.legend(
        legend,
        labels,
        loc="upper left",
        bbox_to_anchor=(0.0, -0.01),
        ncols=len(labels),
        fontsize=8,
        frameon=False,
        title=key,
        title_fontsize=8,
        alignment="left",
    )
    return fig


# ---------------------------------------------------------------------------------------------------------
# Levey–Jennings
# ---------------------------------------------------------------------------------------------------------


def levey_jennings_plot(
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
    figsize: tuple[float, float] = (10.0, 4.2),
) -> Figure:
    """A run metric (QC concentration, EC50, max signal...) per run with its mean and ±1/2/3 SD lines.

    ``mean``/``sd`` are the guide set's (default: of ``values``). ``x`` gives each run's position: numbers,
    dates, or run labels (drawn in order); default the run number 1..n. ``violations`` are
    ``(index into values, rule names)``: those points are coloured by their most severe rule and labelled
    with the names. ``current_index`` rings the run the report is about.
    """
    y = _floats(values)
    n = y.size
    finite = y[np.isfinite(y)]
    if mean is None:
        mean = float(finite.mean()) if finite.size else 0.0
    if sd is None:
        sd = float(finite.std(ddof=1)) if finite.size > 1 else 0.0
    if x is not None and len(x) != n:
        raise ValueError("x and values differ in length")

    fig = Figure(figsize=figsize, layout="constrained")
    ax = fig.add_subplot()
    tick_labels: list[str] | None = None
    is_dates = False
    if x is None:
        px = np.arange(1, n + 1, dtype=np.float64)
    elif all(isinstance(v, str) for v in x):
        px = np.arange(n, dtype=np.float64)
        tick_labels = [str(v) for v in x]
    elif all(isinstance(v, date) for v in x):
        is_dates = True
        px = np.asarray(mdates.date2num(list(x)), dtype=np.float64)
        ax.xaxis_date()
        locator = mdates.AutoDateLocator(minticks=3, maxticks=10)
        ax.xaxis.set_major_locator(locator)
        ax.xaxis.set_major_formatter(mdates.ConciseDateFormatter(locator))
    else:
        px = np.array([float(v) for v in x if isinstance(v, int | float)], dtype=np.float64)
        if px.size != n:
            raise ValueError("x mixes numbers with dates or labels")

    bands = [
        (3, RULE_COLOURS["13s"], "-", 1.1),
        (2, "#e6a700", "--", 1.0),
        (1, "#9a9a9a", ":", 1.0),
    ]
    ax.axhline(mean, color="black", lw=1.3, zorder=1)
    if sd > 0:
        for k, colour, ls, lw in bands:
            for sign in (1, -1):
                ax.axhline(mean + sign * k * sd, color=colour, ls=ls, lw=lw, zorder=1)
        ax.axhspan(mean - 2 * sd, mean + 2 * sd, color="#f3f6fa", zorder=0)

    ax.plot(px, y, color="#9ab0cc", lw=1.0, zorder=2)
    by_index: dict[int, list[str]] = {}
    for idx, rules in violations:
        if 0 <= idx < n:
            by_index.setdefault(idx, []).extend(r for r in rules if r not in by_index.get(idx, []))
    colours = [rule_colour(by_index[i]) if i in by_index else IN_CONTROL_COLOUR for i in range(n)]
    ok = np.isfinite(y)
    ax.scatter(px[ok], y[ok], c=[c for c, k in zip(colours, ok, strict=True) if k], s=36, zorder=4)
    if current_index is not None and 0 <= current_index < n and ok[current_index]:
        ax.scatter(
            [px[current_index]],
            [y[current_index]],
            s=170,
            facecolors="none",
            edgecolors="black",
            linewidths=1.4,
            zorder=5,
        )

    # Rule labels above points over the mean, below points under it; staggered for neighbours.
    last_pos: float | None = None
    stagger = 0
    span = (float(px.max()) - float(px.min())) if n > 1 else 1.0
    for idx in sorted(by_index):
        if not ok[idx]:
            continue
        stagger = stagger + 1 if last_pos is not None and px[idx] - last_pos < span / 12 else 0
        last_pos = float(px[idx])
        up = y[idx] >= mean
        offset = (10 + 11 * (stagger % 2)) * (1 if up else -1)
        ax.annotate(
            _tx(", ".join(by_index[idx])),
            xy=(px[idx], y[idx]),
            xytext=(0, offset),
            textcoords="offset points",
            ha="center",
            va="bottom" if up else "top",
            fontsize=8,
            color=rule_colour(by_index[idx]),
            weight="bold",
            bbox={"boxstyle": "round,pad=0.15", "fc": "white", "ec": "none", "alpha": 0.85},
            zorder=6,
        )

    if sd > 0:
        lows = [mean - 4 * sd, *finite]
        highs = [mean + 4 * sd, *finite]
        pad = 0.6 * sd
        ax.set_ylim(min(lows) - pad, max(highs) + pad)
        sec = ax.secondary_yaxis("right")
        sec.set_yticks(
            [mean + k * sd for k in (-3, -2, -1, 0, 1, 2, 3)],
            ["−3 SD", "−2 SD", "−1 SD", "mean", "+1 SD", "+2 SD", "+3 SD"],
            fontsize=8,
        )
        sec.tick_params(length=0)
    if tick_labels is not None:
        step = max(1, math.ceil(n / 20))
        ax.set_xticks(list(range(0, n, step)), tick_labels[::step], rotation=45, ha="right", fontsize=8)
    ax.set_xlabel("Date" if is_dates else "Run")
    ylabel = _tx(metric or "Value") + (f" ({_tx(unit)})" if unit else "")
    ax.set_ylabel(ylabel)
    head = _tx(title) if title else "Levey–Jennings"
    stats = (
        f"mean {format_number(mean)}, SD {format_number(sd)}"
        + (f" {_tx(unit)}" if unit else "")
        + f"; {int(ok.sum())} runs charted"
    )
    ax.set_title(head + "\n" + stats, fontsize=11, loc="left")
    ax.grid(True, axis="x", color="#eeeeee", lw=0.6)

    handles: list[Line2D] = [
        Line2D([], [], ls="", marker="o", color=IN_CONTROL_COLOUR, label="in control"),
    ]
    seen: dict[str, str] = {}
    for idx in sorted(by_index):
        for rule in by_index[idx]:
            seen.setdefault(rule, rule_colour([rule]))
    for rule, colour in seen.items():
        handles.append(Line2D([], [], ls="", marker="o", color=colour, label=_tx(rule)))
    if current_index is not None and 0 <= current_index < n:
        handles.append(
            Line2D(
                [],
                [],
                ls="",
                marker="o",
                markersize=11,
                markerfacecolor="none",
                color="black",
                label="this run",
            )
        )
    ax.legend(
        handles=handles,
        loc="upper left",
        bbox_to_anchor=(1.07, 1.0),
        fontsize=8,
        frameon=False,
        title="Westgard",
        title_fontsize=8,
        alignment="left",
    )
    return fig
