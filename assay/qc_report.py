"""A per-run QC report: one self-contained ``index.html`` an assay scientist opens to judge a plate.

The page carries the run's identity (plate, file and its SHA-256, assay, kit lot, instrument, acquisition
time), the run verdict with its reasons in plain words, and per analyte: the standard curve, the calibrator
table (nominal, back-calculated, recovery, masked and why), the QC table, the plate heat map with replicate
CVs, and Levey–Jennings charts where a series is given.

Self-contained: styles are inline CSS, there is no JavaScript and no external reference (a
Content-Security-Policy forbids any), so the file can be mailed or archived with the run. With
``image_format="inline"`` (what `biomarkers qc-report` and the upload service write) the figures are SVG
written directly into the page by :mod:`assay.svg_plots`: a 30-plex page is ~0.4 s of CPU and ~1.3 MB
(matplotlib took ~5 s an analyte). ``png``/``svg`` embed matplotlib figures as base64 images; with
``link_figures`` those are files beside the page, linked. Each analyte folds (``<details>``), open when it
did not pass. Every piece of text from the data is HTML-escaped.

:class:`QcReportInput` is plain data; the caller fills it from the warehouse. Acceptance decisions (which
calibrator passes, the verdict) are inputs: the report shows them, it does not re-decide them.
"""

from __future__ import annotations

import base64
import html
import math
import os
import re
import tempfile
from collections import Counter
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from functools import partial
from pathlib import Path
from types import ModuleType
from typing import TYPE_CHECKING, Literal

from assay import svg_plots
from assay.plot_data import CurvePlotData, PlateWell, format_number, replicate_cvs

if TYPE_CHECKING:
    from matplotlib.figure import Figure

ImageFormat = Literal["inline", "png", "svg"]
"""``inline``: figures as SVG elements written directly in the page (:mod:`assay.svg_plots`; fast, small);
``png``/``svg``: matplotlib figures (:mod:`assay.plots`) embedded as base64 images."""


@dataclass(frozen=True)
class CalibratorRow:
    """One standard level (or one standard well): nominal vs back-calculated concentration.

    ``recovery_pct`` None is computed as back-calc / nominal × 100 (when both are known and nominal > 0).
    ``passed`` is the acceptance decision made upstream (None: not assessed).
    """

    level: str
    nominal: float
    back_calculated: float | None
    signal: float | None = None
    recovery_pct: float | None = None
    masked: bool = False
    mask_reason: str = ""
    passed: bool | None = None
    wells: str = ""
    residual_pct: float | None = None  # (mean signal − curve) / curve × 100, against the final curve


@dataclass(frozen=True)
class QcRow:
    """One QC sample (or replicate group): expected vs observed concentration and the decision."""

    name: str
    expected: float | None
    observed: float | None
    passed: bool | None
    level: str = ""
    wells: str = ""
    qualifier: str = "="  # "<" / ">" when the observed value is censored at a limit
    recovery_pct: float | None = None  # None: computed as observed / expected × 100 when in range


@dataclass(frozen=True)
class LeveyJenningsSeries:
    """A run metric over runs, for a Levey–Jennings chart; see :func:`assay.plots.levey_jennings_plot`."""

    title: str
    values: Sequence[float | None]
    mean: float | None = None
    sd: float | None = None
    x: Sequence[float | date | datetime | str] | None = None
    violations: Sequence[tuple[int, Sequence[str]]] = ()
    current_index: int | None = None
    metric: str = ""
    unit: str = ""


@dataclass(frozen=True)
class TrendRow:
    """One run metric of this plate as judged by Levey–Jennings/Westgard when the run was loaded."""

    series: str  # QC-L / QC-M / QC-H / EC50 / max_signal
    value: float | None
    unit: str = ""
    guide_mean: float | None = None
    guide_sd: float | None = None
    guide_n: int | None = None
    z: float | None = None
    rules: str = ""  # Westgard rules violated, "" when none
    action: str = ""  # warning | reject when a rule fired
    note: str = ""  # why it was not judged
    scale: str = "linear"  # "log10": guide_mean/guide_sd/z are of log10(value) (EC50)


@dataclass(frozen=True)
class SignatureRow:
    """One electronic signature on the run (issue 21): its manifestation — who, when (UTC), what it means
    (21 CFR 11.50)."""

    signature_id: str
    meaning: str  # reviewed | approved | rejected
    signer_name: str
    signer: str
    signed_at: datetime
    reason: str = ""


@dataclass(frozen=True)
class AnalyteReport:
    """Everything the report shows for one analyte of the plate."""

    analyte: str
    unit: str = "pg/mL"
    verdict: str | None = None  # "pass" | "fail" | "review"; None: not assessed per analyte
    reasons: Sequence[str] = ()
    curve: CurvePlotData | None = None
    curve_parameters: Mapping[str, float] = field(default_factory=dict)  # e.g. {"a": .., "b": ..}
    curve_message: str = ""
    calibrators: Sequence[CalibratorRow] = ()
    qcs: Sequence[QcRow] = ()
    wells: Sequence[PlateWell] = ()
    signal_label: str = "Signal"
    cv_limit_pct: float | None = 20.0
    levey_jennings: Sequence[LeveyJenningsSeries] = ()
    trend: Sequence[TrendRow] = ()
    review_state: str | None = None  # pending_review | reviewed | approved | rejected; None: not known
    signatures: Sequence[SignatureRow] = ()


@dataclass(frozen=True)
class QcReportInput:
    """One plate/run: its identity, its verdict with reasons in plain words, and its analytes."""

    plate_id: str
    source_file: str
    sha256: str
    assay: str
    verdict: str  # "pass" | "fail" | "review"
    verdict_reasons: Sequence[str] = ()
    kit_lot: str | None = None
    instrument: str | None = None
    acquired_at: datetime | str | None = None
    platform: str | None = None
    analytes: Sequence[AnalyteReport] = ()
    generated_at: datetime | None = None  # None: now (UTC)


# ---------------------------------------------------------------------------------------------------------


def _e(value: object) -> str:
    return html.escape("" if value is None else str(value), quote=True)


def _num(value: float | None, sig: int = 4) -> str:
    return format_number(value, sig)


def _pct(value: float | None) -> str:
    return "—" if value is None or not math.isfinite(value) else f"{value:.1f}%"


def _slug(text: str) -> str:
    return re.sub(r"[^a-z0-9]+", "-", text.lower()).strip("-") or "analyte"


_VERDICT_CLASS = {"pass": "pass", "accepted": "pass", "fail": "fail", "rejected": "fail"}


def _verdict_badge(verdict: str | None) -> str:
    if verdict is None:
        return '<span class="badge none">not assessed</span>'
    cls = _VERDICT_CLASS.get(verdict.strip().lower(), "review")
    return f'<span class="badge {cls}">{_e(verdict.upper())}</span>'


def _status(passed: bool | None, masked: bool = False) -> str:
    if masked:
        return '<span class="tag masked">masked</span>'
    if passed is None:
        return '<span class="tag none">—</span>'
    return '<span class="tag pass">pass</span>' if passed else '<span class="tag fail">fail</span>'


def _image(fig: Figure, alt: str, fmt: ImageFormat) -> str:
    from assay.plots import figure_png, figure_svg

    if fmt == "svg":
        data = base64.b64encode(figure_svg(fig).encode("utf-8")).decode("ascii")
        uri = f"data:image/svg+xml;base64,{data}"
    else:
        uri = "data:image/png;base64," + base64.b64encode(figure_png(fig, dpi=110)).decode("ascii")
    return f'<figure><img alt="{_e(alt)}" src="{uri}"></figure>'


def _recovery(value: float | None, reference: float | None) -> float | None:
    if value is None or reference is None or not (math.isfinite(value) and math.isfinite(reference)):
        return None
    return value / reference * 100.0 if reference > 0 else None


# ---------------------------------------------------------------------------------------------------------


def _calibrator_table(a: AnalyteReport) -> str:
    rows = []
    for c in a.calibrators:
        rec = c.recovery_pct if c.recovery_pct is not None else _recovery(c.back_calculated, c.nominal)
        cls = ' class="masked-row"' if c.masked else (' class="fail-row"' if c.passed is False else "")
        rows.append(
            f"<tr{cls}><td>{_e(c.level)}</td><td>{_e(c.wells)}</td><td class=n>{_num(c.nominal)}</td>"
            f"<td class=n>{_num(c.signal)}</td><td class=n>{_num(c.back_calculated)}</td>"
            f"<td class=n>{_pct(rec)}</td><td class=n>{_signed_pct(c.residual_pct)}</td>"
            f"<td>{_status(c.passed, c.masked)}</td><td>{_e(c.mask_reason)}</td></tr>"
        )
    nonzero = [c for c in a.calibrators if c.nominal > 0]
    accepted = sum(1 for c in nonzero if c.passed and not c.masked)
    masked = sum(1 for c in a.calibrators if c.masked)
    caption = f"{accepted} of {len(nonzero)} non-zero calibrators accepted" + (
        f"; {masked} masked" if masked else ""
    )
    return (
        f"<table><caption>Calibrators — {_e(caption)}</caption><thead><tr><th>Level</th><th>Wells</th>"
        f"<th>Nominal ({_e(a.unit)})</th><th>{_e(a.signal_label)}</th><th>Back-calc. ({_e(a.unit)})</th>"
        f"<th>Recovery</th><th>Residual</th><th>Status</th><th>Mask reason</th></tr></thead><tbody>"
        + "".join(rows)
        + "</tbody></table>"
    )


def _qc_table(a: AnalyteReport) -> str:
    rows = []
    for q in a.qcs:
        censored = q.qualifier in ("<", ">")
        rec = q.recovery_pct
        if rec is None and not censored:
            rec = _recovery(q.observed, q.expected)
        observed = (_e(q.qualifier) if censored else "") + _num(q.observed)
        cls = ' class="fail-row"' if q.passed is False else ""
        rows.append(
            f"<tr{cls}><td>{_e(q.name)}</td><td>{_e(q.level)}</td><td>{_e(q.wells)}</td>"
            f"<td class=n>{_num(q.expected)}</td><td class=n>{observed}</td><td class=n>{_pct(rec)}</td>"
            f"<td>{_status(q.passed)}</td></tr>"
        )
    passed = sum(1 for q in a.qcs if q.passed)
    return (
        f"<table><caption>Quality controls — {passed} of {len(a.qcs)} pass</caption><thead><tr>"
        f"<th>QC</th><th>Level</th><th>Wells</th><th>Expected ({_e(a.unit)})</th>"
        f"<th>Observed ({_e(a.unit)})</th><th>Recovery</th><th>Result</th></tr></thead><tbody>"
        + "".join(rows)
        + "</tbody></table>"
    )


def _signed_pct(value: float | None) -> str:
    return "—" if value is None else _e(f"{value:+.1f}%")


def _trend_table(a: AnalyteReport) -> str:
    rows = []
    for t in a.trend:
        cls = ' class="fail-row"' if t.rules else ""
        n = f" (n = {t.guide_n})" if t.guide_n else " (set)"
        if t.guide_mean is None or t.guide_sd is None:
            guide = "—"
        elif t.scale == "log10":
            guide = f"{_num(10**t.guide_mean)} ×/÷ {_num(10**t.guide_sd, 3)} (geometric){n}"
        else:
            guide = f"{_num(t.guide_mean)} ± {_num(t.guide_sd)}{n}"
        verdict = (
            f'<span class="tag fail">{_e(t.rules.replace(";", ", "))}</span> {_e(t.action)}'
            if t.rules
            else ('<span class="tag pass">in control</span>' if t.z is not None else _e(t.note))
        )
        rows.append(
            f"<tr{cls}><td>{_e(t.series)}</td><td class=n>{_num(t.value)} {_e(t.unit)}</td>"
            f"<td class=n>{guide}</td><td class=n>{'—' if t.z is None else _e(f'{t.z:+.2f}')}</td>"
            f"<td>{verdict}</td></tr>"
        )
    flagged = sum(1 for t in a.trend if t.rules)
    caption = f"Westgard at load — {flagged} of {len(a.trend)} run metrics flagged"
    return (
        f"<table><caption>{_e(caption)}</caption><thead><tr><th>Series</th><th>This run</th>"
        "<th>Guide mean ± SD</th><th>z</th><th>Westgard</th></tr></thead><tbody>"
        + "".join(rows)
        + "</tbody></table>"
    )


def _cv_table(a: AnalyteReport) -> str:
    if a.cv_limit_pct is None:
        return ""
    limit = a.cv_limit_pct
    high = sorted((g for g in replicate_cvs(a.wells) if g.cv_pct > limit), key=lambda g: -g.cv_pct)
    if not high:
        return f'<p class="note">No replicate group has a CV above {limit:g}%.</p>'
    rows = "".join(
        f"<tr><td>{_e(g.sample_id)}</td><td>{_e(g.sample_type)}</td><td>{_e(', '.join(g.wells))}</td>"
        f"<td class=n>{_num(g.mean)}</td><td class=n>{_pct(g.cv_pct)}</td></tr>"
        for g in high
    )
    return (
        f"<table><caption>Replicate groups with CV above {limit:g}% ({len(high)})</caption><thead><tr>"
        f"<th>Sample</th><th>Type</th><th>Wells</th><th>Mean {_e(a.signal_label)}</th><th>CV</th>"
        f"</tr></thead><tbody>{rows}</tbody></table>"
    )


def _fit_summary(a: AnalyteReport) -> str:
    c = a.curve
    items: list[tuple[str, str]] = []
    if c is not None:
        items.append(("Model", _e(c.model)))
        if c.weighting:
            items.append(("Weighting", _e(c.weighting)))
        if c.r_squared is not None:
            items.append(("R²", _e(f"{c.r_squared:.4f}")))
        items.append(("LLOQ", f"{_num(c.lloq)} {_e(a.unit)}" if c.lloq is not None else "—"))
        items.append(("ULOQ", f"{_num(c.uloq)} {_e(a.unit)}" if c.uloq is not None else "—"))
        qualifiers = Counter((q or "=") for q in c.unk_qualifier) if c.unk_qualifier else None
        n_unk = len(c.unk_conc)
        if n_unk:
            q = qualifiers or Counter({"=": n_unk})
            items.append(
                (
                    "Unknowns",
                    _e(
                        f"{n_unk}: {q.get('=', 0)} in range, {q.get('<', 0)} below LLOQ, "
                        f"{q.get('>', 0)} above ULOQ, {q.get('NR', 0)} not reported"
                    ),
                )
            )
    if a.curve_parameters:
        params = ", ".join(f"{_e(k)} = {_num(v)}" for k, v in a.curve_parameters.items())
        items.append(("Parameters", params))
    if a.curve_message:
        items.append(("Fit", _e(a.curve_message)))
    if not items:
        return ""
    return '<dl class="kv">' + "".join(f"<dt>{k}</dt><dd>{v}</dd>" for k, v in items) + "</dl>"


def _plots() -> ModuleType:
    from assay import plots

    return plots


def _lj_figure(s: LeveyJenningsSeries) -> Figure:
    from assay.plots import levey_jennings_plot

    return levey_jennings_plot(
        s.values,
        mean=s.mean,
        sd=s.sd,
        x=s.x,
        violations=s.violations,
        current_index=s.current_index,
        title=s.title,
        metric=s.metric,
        unit=s.unit,
    )


def _lj_svg(s: LeveyJenningsSeries) -> str:
    return svg_plots.levey_jennings_svg(
        s.values,
        mean=s.mean,
        sd=s.sd,
        x=s.x,
        violations=s.violations,
        current_index=s.current_index,
        title=s.title,
        metric=s.metric,
        unit=s.unit,
    )


_REVIEW_CLASS = {"approved": "pass", "rejected": "fail", "reviewed": "review", "pending_review": "none"}


def _review_badge(state: str | None) -> str:
    if state is None:
        return '<span class="tag none">—</span>'
    return f'<span class="tag {_REVIEW_CLASS.get(state, "none")}">{_e(state.replace("_", " "))}</span>'


def _review_block(a: AnalyteReport) -> str:
    """The run's review state and every signature on it: name, UTC time, meaning, reason."""
    if a.review_state is None and not a.signatures:
        return ""
    rows = "".join(
        f"<tr><td>{_e(s.signature_id)}</td><td><strong>{_e(s.meaning)}</strong></td>"
        f"<td>{_e(s.signer_name)} ({_e(s.signer)})</td><td>{_e(_utc(s.signed_at))}</td>"
        f"<td>{_e(s.reason)}</td></tr>"
        for s in a.signatures
    )
    table = (
        "<table class=signatures><caption>Electronic signatures</caption><thead><tr><th>Signature</th>"
        "<th>Meaning</th><th>Signed by</th><th>Time</th><th>Reason</th></tr></thead>"
        f"<tbody>{rows}</tbody></table>"
        if a.signatures
        else '<p class="note">Not signed yet.</p>'
    )
    return f'<div class="review"><p>Review: {_review_badge(a.review_state)}</p>{table}</div>'


def _analyte_section(
    a: AnalyteReport,
    anchor: str,
    run: QcReportInput,
    fmt: ImageFormat,
    figure_dir: Path | None,
    link_figures: bool = False,
) -> str:
    # Each analyte folds (<details>, no script): a 30-plex page opens short; analytes that did not pass
    # are open, so what needs a look is what the page shows first.
    opened = " open" if (a.verdict or "").strip().lower() != "pass" else ""
    parts = [
        f'<section class="analyte" id="{anchor}"><h2>{_e(a.analyte)} {_verdict_badge(a.verdict)}</h2>'
        f"<details{opened}><summary>curve, calibrators, QCs, plate map, trends</summary>"
    ]
    if a.reasons:
        parts.append('<ul class="reasons">' + "".join(f"<li>{_e(r)}</li>" for r in a.reasons) + "</ul>")
    parts.append(_review_block(a))
    parts.append(_fit_summary(a))

    def emit(make: Callable[[], Figure], inline: Callable[[], str], alt: str, name: str) -> None:
        from assay.plots import save_figure  # matplotlib, imported only when a figure is drawn with it

        if fmt == "inline":
            # the figure drawn as SVG in the page; matplotlib only when figure files are asked for
            parts.append(f"<figure>{inline()}</figure>")
            if figure_dir is not None:
                save_figure(make(), figure_dir / f"{anchor}_{name}")
            return
        fig = make()
        if figure_dir is not None and link_figures:
            # linked, not embedded: the page stays small and each figure is drawn once per file format
            stem = f"{anchor}_{name}"
            save_figure(fig, figure_dir / stem)
            parts.append(
                f'<figure><a href="{figure_dir.name}/{stem}.svg"><img loading="lazy" alt="{_e(alt)}" '
                f'src="{figure_dir.name}/{stem}.png"></a></figure>'
            )
            return
        parts.append(_image(fig, alt, fmt))
        if figure_dir is not None:
            save_figure(fig, figure_dir / f"{anchor}_{name}")

    parts.append("<h3>Standard curve</h3>")
    if a.curve is not None:
        curve = a.curve
        emit(
            lambda: _plots().standard_curve_plot(curve),
            lambda: svg_plots.curve_svg(curve),
            f"Standard curve of {a.analyte}",
            "curve",
        )
    else:
        parts.append(
            '<p class="note">No standard curve for this analyte (the file reports concentrations).</p>'
        )
    if a.calibrators:
        parts.append(_calibrator_table(a))
    parts.append("<h3>Quality controls</h3>")
    parts.append(_qc_table(a) if a.qcs else '<p class="note">No QC samples on this plate.</p>')
    if a.wells:
        parts.append("<h3>Plate map</h3>")
        title = f"{run.plate_id} · {a.analyte}"
        emit(
            lambda: _plots().plate_heatmap(
                a.wells, title=title, signal_label=a.signal_label, cv_limit=a.cv_limit_pct
            ),
            lambda: svg_plots.heatmap_svg(
                a.wells, title=title, signal_label=a.signal_label, cv_limit=a.cv_limit_pct
            ),
            f"Plate heat map of {a.analyte}",
            "plate",
        )
        parts.append(_cv_table(a))
    if a.levey_jennings or a.trend:
        parts.append("<h3>Levey–Jennings</h3>")
    if a.trend:
        parts.append(_trend_table(a))
    if a.levey_jennings:
        for i, s in enumerate(a.levey_jennings, start=1):
            emit(
                partial(_lj_figure, s),
                partial(_lj_svg, s),
                f"Levey–Jennings chart: {s.title}",
                f"lj{i}",
            )
    parts.append("</details></section>")
    return "".join(parts)


_CSS = """
summary { cursor: pointer; color: var(--muted); }
:root { --ink:#1b1f24; --muted:#5b6470; --line:#d8dde3; --pass:#1a7f37; --fail:#c62828; --review:#b26b00; }
* { box-sizing: border-box; }
body { font: 15px/1.45 system-ui, -apple-system, "Segoe UI", Roboto, "DejaVu Sans", sans-serif;
       color: var(--ink); margin: 0; background: #f6f7f9; }
main { max-width: 1180px; margin: 0 auto; padding: 24px 28px 60px; background: #fff; }
h1 { font-size: 24px; margin: 0 0 4px; }
h2 { font-size: 20px; margin: 0 0 10px; display: flex; align-items: center; gap: 10px; }
h3 { font-size: 16px; margin: 22px 0 8px; color: #2b3440; }
header { border-bottom: 2px solid var(--line); padding-bottom: 14px; margin-bottom: 18px; }
.sub { color: var(--muted); margin: 0 0 12px; }
dl.kv { display: grid; grid-template-columns: max-content 1fr; gap: 3px 16px; margin: 8px 0; }
dl.kv dt { color: var(--muted); }
dl.kv dd { margin: 0; overflow-wrap: anywhere; }
code { font: 13px/1.3 ui-monospace, "DejaVu Sans Mono", monospace; }
.verdict { display: flex; gap: 14px; align-items: flex-start; margin-top: 12px; padding: 12px 14px;
           border-radius: 6px; background: #f3f5f8; }
.verdict.pass { background: #ecf7ef; } .verdict.fail { background: #fdeeee; }
.verdict.review { background: #fff6e6; }
.verdict ul { margin: 0; padding-left: 18px; }
.badge { font-size: 13px; font-weight: 700; letter-spacing: .04em; padding: 3px 10px; border-radius: 4px;
         color: #fff; white-space: nowrap; }
.badge.pass { background: var(--pass); } .badge.fail { background: var(--fail); }
.badge.review { background: var(--review); } .badge.none { background: #8a939e; font-weight: 500; }
.tag { font-size: 12px; font-weight: 600; padding: 1px 7px; border-radius: 3px; }
.tag.pass { color: var(--pass); background: #e3f3e7; } .tag.fail { color: var(--fail); background: #fbe3e3; }
.tag.masked { color: #555; background: #e8e8e8; } .tag.none { color: var(--muted); }
table { border-collapse: collapse; margin: 8px 0 14px; font-size: 14px; min-width: 60%; }
caption { text-align: left; font-weight: 600; padding: 4px 0; color: #2b3440; }
th, td { border-bottom: 1px solid var(--line); padding: 4px 10px; text-align: left; vertical-align: top; }
th { background: #f0f2f5; font-weight: 600; }
td.n { text-align: right; font-variant-numeric: tabular-nums; white-space: nowrap; }
tr.masked-row td { color: #777; background: #f7f7f7; }
tr.fail-row td { background: #fff3f3; }
figure { margin: 6px 0 10px; }
figure img, figure svg { max-width: 100%; height: auto; border: 1px solid #eceff3; }
figure svg { background: #fff; }
section.analyte { border-top: 2px solid var(--line); padding-top: 18px; margin-top: 26px; }
nav table { min-width: 0; }
nav a { color: #1f4e9c; }
.note { color: var(--muted); font-style: italic; }
ul.reasons { margin: 0 0 8px; padding-left: 20px; }
footer { margin-top: 30px; color: var(--muted); font-size: 12px; }
@media print { body { background: #fff; } main { max-width: none; } section.analyte { break-before: page; } }
"""


def _last_signature(a: AnalyteReport) -> str:
    if not a.signatures:
        return ""
    s = a.signatures[-1]
    return f" {_e(s.meaning)} by {_e(s.signer_name)}, {_e(_utc(s.signed_at))}"


def _utc(at: datetime) -> str:
    return at.astimezone(UTC).strftime("%Y-%m-%d %H:%M:%S UTC")


def _when(value: datetime | str | None) -> str:
    if value is None:
        return "—"
    return value.isoformat(sep=" ", timespec="seconds") if isinstance(value, datetime) else str(value)


def render_qc_report(
    run: QcReportInput,
    *,
    image_format: ImageFormat = "png",
    figure_dir: Path | None = None,
    link_figures: bool = False,
    style_nonce: str | None = None,
) -> str:
    """The report's HTML (see :func:`write_qc_report`). ``style_nonce``: served by a page whose
    Content-Security-Policy allows styles by nonce (the upload service), the stylesheet carries it."""
    anchors: list[str] = []
    for i, a in enumerate(run.analytes, start=1):
        anchors.append(f"a{i}-{_slug(a.analyte)}")
    verdict_cls = _VERDICT_CLASS.get(run.verdict.strip().lower(), "review")
    reasons = (
        "<ul>" + "".join(f"<li>{_e(r)}</li>" for r in run.verdict_reasons) + "</ul>"
        if run.verdict_reasons
        else ""
    )
    identity = [
        ("Plate", _e(run.plate_id)),
        ("File", _e(run.source_file)),
        ("SHA-256", f"<code>{_e(run.sha256)}</code>"),
        ("Assay", _e(run.assay)),
        ("Platform", _e(run.platform or "—")),
        ("Kit lot", _e(run.kit_lot or "—")),
        ("Instrument", _e(run.instrument or "—")),
        ("Acquired", _e(_when(run.acquired_at))),
    ]
    overview_rows = []
    for a, anchor in zip(run.analytes, anchors, strict=True):
        cal_nonzero = [c for c in a.calibrators if c.nominal > 0]
        cal_ok = sum(1 for c in cal_nonzero if c.passed and not c.masked)
        r2 = a.curve.r_squared if a.curve is not None else None
        overview_rows.append(
            f'<tr><td><a href="#{anchor}">{_e(a.analyte)}</a></td><td>{_verdict_badge(a.verdict)}</td>'
            f"<td class=n>{_e(f'{r2:.4f}') if r2 is not None else '—'}</td>"
            f"<td class=n>{cal_ok} / {len(cal_nonzero)}</td>"
            f"<td class=n>{sum(1 for q in a.qcs if q.passed)} / {len(a.qcs)}</td>"
            f"<td>{_review_badge(a.review_state)}{_last_signature(a)}</td></tr>"
        )
    overview = (
        "<nav><table><caption>Analytes</caption><thead><tr><th>Analyte</th><th>Verdict</th><th>R²</th>"
        "<th>Calibrators accepted</th><th>QCs pass</th><th>Review</th></tr></thead><tbody>"
        + "".join(overview_rows)
        + "</tbody></table></nav>"
        if run.analytes
        else '<p class="note">No analyte on this plate.</p>'
    )
    sections = "".join(
        _analyte_section(a, anchor, run, image_format, figure_dir, link_figures)
        for a, anchor in zip(run.analytes, anchors, strict=True)
    )
    generated = run.generated_at or datetime.now(UTC)
    title = f"QC report — {run.plate_id}"
    images = "data: 'self'" if link_figures else "data:"  # linked figures sit beside the page
    csp = f"default-src 'none'; img-src {images}; style-src 'unsafe-inline'"
    nonce = f' nonce="{_e(style_nonce)}"' if style_nonce else ""
    return (
        "<!DOCTYPE html>\n"
        '<html lang="en"><head><meta charset="utf-8">'
        f'<meta http-equiv="Content-Security-Policy" content="{csp}">'
        '<meta name="viewport" content="width=device-width, initial-scale=1">'
        f"<title>{_e(title)}</title><style{nonce}>{_CSS}</style></head><body><main>"
        f"<header><h1>{_e(title)}</h1><p class=sub>{_e(run.assay)}</p>"
        '<dl class="kv">' + "".join(f"<dt>{k}</dt><dd>{v}</dd>" for k, v in identity) + "</dl>"
        f'<div class="verdict {verdict_cls}"><div>Run verdict {_verdict_badge(run.verdict)}</div>'
        f"<div>{reasons}</div></div></header>"
        f"{overview}{sections}"
        f"<footer>Generated {_e(_when(generated))} by the BCT-002-US biomarker pipeline.</footer>"
        "</main></body></html>\n"
    )


def write_qc_report(
    out_dir: Path,
    run: QcReportInput,
    *,
    image_format: ImageFormat = "png",
    figure_files: bool = False,
    link_figures: bool = False,
) -> Path:
    """Write ``out_dir/index.html`` for one plate/run and return its path.

    ``image_format`` chooses how plots are embedded (inline SVG drawn directly, base64 PNG, or base64
    SVG from matplotlib). With ``figure_files`` the
    plots are also written as PNG and SVG under ``out_dir/figures/``; with ``link_figures`` as well, the page
    links them instead of embedding them (a 30-plex page is then kilobytes, not megabytes, and each figure
    is drawn once per format; the folder is the artifact). The page is replaced atomically.
    """
    out_dir.mkdir(parents=True, exist_ok=True)
    figure_dir = out_dir / "figures" if figure_files else None
    page = render_qc_report(
        run, image_format=image_format, figure_dir=figure_dir, link_figures=link_figures and figure_files
    )
    target = out_dir / "index.html"
    fd, tmp = tempfile.mkstemp(prefix=".index-", suffix=".html", dir=out_dir)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            fh.write(page)
        os.replace(tmp, target)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return target
