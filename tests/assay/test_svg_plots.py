"""The report's inline SVG figures: well-formed, escaped, and drawing exactly what their legends count —
every standard, QC and unknown (one ``M`` per point in its series path), LLOQ/ULOQ where they belong."""

from __future__ import annotations

import re
import xml.etree.ElementTree as ET
from collections.abc import Callable

import numpy as np
import pytest

from assay.plots import CurvePlotData, PlateWell
from assay.svg_plots import curve_svg, heatmap_svg, levey_jennings_svg

LEVELS = [2000 / 2**i for i in range(8)]  # 2000 … 15.625 pg/mL
EVIL = "<script>alert('x')</script>"
NS = "{http://www.w3.org/2000/svg}"


def logistic4(a: float, b: float, c: float, d: float) -> Callable[[np.ndarray], np.ndarray]:
    def predict(x: np.ndarray) -> np.ndarray:
        with np.errstate(all="ignore"):
            return d + (a - d) / (1.0 + np.power(np.asarray(x, dtype=float) / c, b))

    return predict


ELISA = logistic4(0.05, 1.3, 250.0, 2.8)


def curve_data(**overrides: object) -> CurvePlotData:
    conc = [*LEVELS, *LEVELS, 0.0]
    signal = [float(ELISA(np.array([x]))[0]) for x in conc]
    signal[2] *= 1.6
    masked = [i == 2 for i in range(len(conc))]
    base: dict[str, object] = {
        "predict": ELISA,
        "std_conc": conc,
        "std_signal": signal,
        "std_masked": masked,
        "qc_conc": [50.0, 50.0, 400.0, 1200.0],
        "qc_signal": [0.35, 0.33, 1.7, 2.4],
        "unk_conc": [40.0, 300.0, 1500.0, 15.625, 2000.0, None],
        "unk_signal": [0.5, 1.2, 2.5, 0.06, 2.75, None],
        "unk_qualifier": ["=", "=", "=", "<", ">", "NR"],
        "lloq": 15.625,
        "uloq": 2000.0,
        "plate_id": "PLATE-0412",
        "analyte": "VEGF-A",
        "weighting": "1/y2",
        "r_squared": 0.9987,
        "signal_label": "OD450",
    }
    base.update(overrides)
    return CurvePlotData(**base)  # type: ignore[arg-type]


def series(svg: str, cls: str) -> list[tuple[float, float]]:
    """The points of one series: the start of each sub-path of the paths of that class."""
    root = ET.fromstring(svg)
    pts: list[tuple[float, float]] = []
    for el in root.iter(f"{NS}path"):
        if el.get("class") == cls:
            pts += [(float(x), float(y)) for x, y in re.findall(r"M(-?[\d.]+) (-?[\d.]+)", el.get("d", ""))]
    return pts


def vline(svg: str, cls: str) -> float:
    root = ET.fromstring(svg)
    (el,) = [e for e in root.iter(f"{NS}path") if e.get("class") == cls]
    return float(re.match(r"M(-?[\d.]+) ", el.get("d", "")).group(1))  # type: ignore[union-attr]


def texts(svg: str) -> str:
    return " | ".join("".join(t.itertext()) for t in ET.fromstring(svg).iter(f"{NS}text"))


def test_curve_draws_what_its_legend_counts() -> None:
    svg = curve_svg(curve_data())
    words = texts(svg)
    for text in (
        "PLATE-0412 · VEGF-A",
        "4PL fit, weighting 1/y2, R² = 0.9987",
        "LLOQ 15.62 pg/mL",
        "ULOQ 2,000 pg/mL",
        "Standard, accepted (n=16)",
        "Standard, masked: not in fit (n=1)",
        "QC at nominal conc. (n=4)",
        "Unknown, on curve at back-calc. (n=3)",
        "Unknown below LLOQ, drawn at the limit (n=1)",
        "Unknown above ULOQ, drawn at the limit (n=1)",
        "Unknown not reported (n=1), not drawn",
        "OD450",
    ):
        assert text in words, text
    std = series(svg, "std")
    assert len(std) == 2 * 16  # a white halo and the dot, per standard
    assert len(series(svg, "std-masked")) == 1 and len(series(svg, "qc")) == 4
    assert len(series(svg, "unk")) == 3
    below, above = series(svg, "unk-below"), series(svg, "unk-above")
    assert len(below) == 1 and len(above) == 1
    lloq, uloq = vline(svg, "limit lloq"), vline(svg, "limit uloq")
    assert below[0][0] < lloq < uloq < above[0][0]  # censored drawn just outside their limit
    assert all(lloq < x < uloq for x, _ in series(svg, "unk"))
    assert "0" in words.split(" | ")  # the zero standard gets its own tick


def test_curve_counts_follow_the_data() -> None:
    rng = np.random.default_rng(7)
    conc = list(10 ** rng.uniform(1, 3.3, 60))
    q = ["<" if c < 40 else (">" if c > 1800 else "=") for c in conc]
    q[5] = "NR"
    svg = curve_svg(curve_data(unk_conc=conc, unk_signal=[None] * 60, unk_qualifier=q))
    n_below, n_above = q.count("<"), q.count(">")
    n_in = q.count("=")
    assert len(series(svg, "unk-below")) == n_below and len(series(svg, "unk-above")) == n_above
    assert len(series(svg, "unk")) == n_in
    assert f"below LLOQ, drawn at the limit (n={n_below})" in texts(svg)


def test_log_signal_axis_for_wide_ranges() -> None:
    mfi = logistic4(20.0, 1.2, 300.0, 25000.0)
    sig = [float(mfi(np.array([x]))[0]) for x in LEVELS]
    svg = curve_svg(
        curve_data(predict=mfi, std_conc=LEVELS, std_signal=sig, std_masked=[], signal_label="MFI")
    )
    assert "MFI (log scale)" in texts(svg)
    assert "OD450 (log scale)" not in texts(curve_svg(curve_data()))


def test_names_are_escaped_and_the_svg_is_well_formed() -> None:
    svg = curve_svg(curve_data(analyte=EVIL, unit="pg/mL & more"))
    assert "<script" not in svg and "&lt;script&gt;" in svg
    ET.fromstring(svg)
    ET.fromstring(heatmap_svg([PlateWell("A1", 1.0, "unknown", EVIL)], title=EVIL))
    ET.fromstring(levey_jennings_svg([1.0, 2.0], title=EVIL, x=[EVIL, "b"]))


def test_heatmap_marks_cvs_and_missing_wells() -> None:
    wells = [PlateWell(f"{r}1", 10.0 * (i + 1), "standard", f"S{i}") for i, r in enumerate("ABCDEFGH")]
    wells += [PlateWell("A2", 100.0, "unknown", "X"), PlateWell("B2", 200.0, "unknown", "X")]  # CV 47 %
    wells += [PlateWell("C2", None, "qc", "QC1"), PlateWell("D2", 0.0, "blank", "B")]
    svg = heatmap_svg(wells, title="P · NfL", signal_label="MFI")
    words = texts(svg)
    for text in ("P · NfL · 96-well plate", "S", "47%", "QC NR", "B", "replicate CV > 20% (2 wells)"):
        assert text in words, text
    assert "MFI (log scale; ≤ 0 shown at the minimum)" in words
    assert len(series(svg, "cv-high")) == 2
    big = heatmap_svg([PlateWell("P24", 1.0)])
    assert "384-well plate" in texts(big)


def test_levey_jennings_names_rules_and_rings_this_run() -> None:
    values = [100, 101, 99, 131, 122, 123, None, 100]
    svg = levey_jennings_svg(
        values,
        mean=100.0,
        sd=10.0,
        violations=[(3, ["1-3s"]), (5, ["2-2s"])],
        current_index=7,
        title="NfL QC mid",
        metric="QC mid",
        unit="pg/mL",
        x=[f"P{i}" for i in range(8)],
    )
    words = texts(svg)
    for text in ("NfL QC mid", "mean 100.0, SD 10.00 pg/mL; 7 runs charted", "+3 SD", "−2 SD", "this run"):
        assert text in words, text
    assert words.count("1-3s") == 2 and words.count("2-2s") == 2  # on the point and in the legend
    assert len(series(svg, "lj-point")) == 7  # the gap is not drawn
    root = ET.fromstring(svg)
    assert len([e for e in root.iter(f"{NS}circle") if e.get("class") == "current"]) == 1


@pytest.mark.parametrize(
    "make",
    [
        lambda: curve_svg(curve_data()),
        lambda: heatmap_svg(
            [PlateWell(f"{r}{c}", float(c), "unknown", f"{r}") for r in "ABCDEFGH" for c in range(1, 13)]
        ),
        lambda: levey_jennings_svg(list(range(40)), violations=[(39, ["1-3s"])]),
    ],
    ids=["curve", "heatmap", "levey-jennings"],
)
def test_each_figure_is_small(make: Callable[[], str]) -> None:
    assert len(make()) < 16_000
