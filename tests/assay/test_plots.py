"""QC plots: each writes a readable PNG/SVG from a small fixture, shows what it claims, and is quick."""

from __future__ import annotations

import struct
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from datetime import date, timedelta
from pathlib import Path

import numpy as np
import polars as pl
import pytest
from matplotlib.figure import Figure

from assay.plots import (
    CurvePlotData,
    PlateWell,
    figure_png,
    figure_svg,
    format_number,
    levey_jennings_plot,
    plate_heatmap,
    replicate_cvs,
    save_figure,
    standard_curve_plot,
    wells_from_frame,
)
from schemas.wells import conform

PNG_MAGIC = b"\x89PNG\r\n\x1a\n"
LEVELS = [2000 / 2**i for i in range(8)]  # 2000 … 15.625 pg/mL


def logistic4(a: float, b: float, c: float, d: float) -> Callable[[np.ndarray], np.ndarray]:
    def predict(x: np.ndarray) -> np.ndarray:
        with np.errstate(all="ignore"):
            return d + (a - d) / (1.0 + np.power(np.asarray(x, dtype=float) / c, b))

    return predict


ELISA = logistic4(0.05, 1.3, 250.0, 2.8)


def png_size(data: bytes) -> tuple[int, int]:
    assert data[:8] == PNG_MAGIC
    assert data[12:16] == b"IHDR"
    width, height = struct.unpack(">II", data[16:24])
    return int(width), int(height)


def curve_data(**overrides: object) -> CurvePlotData:
    conc = [*LEVELS, *LEVELS, 0.0]
    signal = [float(ELISA(np.array([x]))[0]) for x in conc]
    signal[2] *= 1.6  # a bad replicate, masked below
    masked = [False] * len(conc)
    masked[2] = True
    unk_conc = [40.0, 300.0, 1500.0, 15.625, 2000.0, None]
    unk_signal = [float(ELISA(np.array([x]))[0]) for x in (40.0, 300.0, 1500.0)] + [0.06, 2.75, None]
    base: dict[str, object] = {
        "predict": ELISA,
        "std_conc": conc,
        "std_signal": signal,
        "std_masked": masked,
        "qc_conc": [50.0, 50.0, 400.0, 1200.0],
        "qc_signal": [0.35, 0.33, 1.7, 2.4],
        "unk_conc": unk_conc,
        "unk_signal": unk_signal,
        "unk_qualifier": ["=", "=", "=", "<", ">", "NR"],
        "lloq": 15.625,
        "uloq": 2000.0,
        "plate_id": "PLATE-0412",
        "analyte": "VEGF-A",
        "model": "4PL",
        "weighting": "1/y2",
        "r_squared": 0.9987,
        "signal_label": "OD450",
    }
    base.update(overrides)
    return CurvePlotData(**base)  # type: ignore[arg-type]


def plate_wells() -> list[PlateWell]:
    wells: list[PlateWell] = []
    for i, lv in enumerate(LEVELS):
        s = float(ELISA(np.array([lv]))[0])
        wells += [
            PlateWell(f"{'ABCDEFGH'[i]}1", s, "standard", f"Standard{i + 1}"),
            PlateWell(f"{'ABCDEFGH'[i]}2", s * (1.5 if i == 3 else 1.02), "standard", f"Standard{i + 1}"),
        ]
    wells += [PlateWell("A3", 0.9, "qc", "QC low"), PlateWell("B3", 0.92, "qc", "QC low")]
    wells += [PlateWell("C3", 0.04, "blank", "Blank"), PlateWell("D3", None, "unknown", "S-17")]
    for col in range(4, 12, 2):
        for row in "ABCDEFGH":
            s = 0.1 + 0.2 * col
            wells += [
                PlateWell(f"{row}{col}", s, "unknown", f"S-{row}{col}"),
                PlateWell(f"{row}{col + 1}", s * 1.05, "unknown", f"S-{row}{col}"),
            ]
    return wells


# --- standard curve ---------------------------------------------------------------------------------------


def test_standard_curve_png_is_a_real_image_of_the_requested_size() -> None:
    fig = standard_curve_plot(curve_data(), figsize=(9.0, 5.4))
    data = figure_png(fig, dpi=100)
    assert png_size(data) == (900, 540)
    assert len(data) > 10_000


def test_standard_curve_svg_shows_title_limits_and_legend() -> None:
    svg = figure_svg(standard_curve_plot(curve_data()))
    assert svg.lstrip().startswith("<?xml") and "<svg" in svg
    for text in (
        "PLATE-0412",
        "VEGF-A",
        "4PL fit",
        "weighting 1/y2",
        "R² = 0.9987",
        "LLOQ 15.62 pg/mL",
        "ULOQ 2,000 pg/mL",
        "Standard, accepted (n=16)",
        "Standard, masked: not in fit (n=1)",
        "QC at nominal conc. (n=4)",
        "on curve at back-calc. (n=3)",
        "below LLOQ, drawn at the limit (n=1)",
        "above ULOQ, drawn at the limit (n=1)",
        "not reported (n=1)",
        "OD450",
    ):
        assert text in svg, text


def test_zero_standard_gets_a_zero_tick_on_the_log_axis() -> None:
    fig = standard_curve_plot(curve_data())
    ax = fig.axes[0]
    labels = [t.get_text() for t in ax.get_xticklabels()]
    assert labels[0] == "0"
    assert ax.get_xscale() == "log"


def test_signal_axis_goes_log_for_wide_mfi_ranges_and_stays_linear_for_od() -> None:
    assert standard_curve_plot(curve_data()).axes[0].get_yscale() == "linear"
    mfi = logistic4(20.0, 1.1, 2000.0, 25000.0)
    conc = LEVELS
    data = curve_data(
        predict=mfi,
        std_conc=conc,
        std_signal=[float(mfi(np.array([x]))[0]) for x in conc],
        std_masked=(),
        unk_conc=(),
        unk_signal=(),
        unk_qualifier=(),
    )
    assert standard_curve_plot(data).axes[0].get_yscale() == "log"


def test_dollar_signs_in_names_are_text_not_mathtext() -> None:
    svg = figure_svg(standard_curve_plot(curve_data(analyte="IL-6 $x$ lot $")))
    assert "IL-6 $x$ lot $" in svg


def test_curve_rejects_mismatched_lengths() -> None:
    with pytest.raises(ValueError, match="std_masked"):
        standard_curve_plot(curve_data(std_masked=[True]))
    with pytest.raises(ValueError, match="unk_qualifier"):
        standard_curve_plot(curve_data(unk_qualifier=["="]))


def test_curve_without_any_point_still_draws() -> None:
    data = CurvePlotData(predict=ELISA, std_conc=[], std_signal=[])
    assert png_size(figure_png(standard_curve_plot(data)))[0] > 0


def test_save_figure_writes_png_and_svg(tmp_path: Path) -> None:
    paths = save_figure(standard_curve_plot(curve_data()), tmp_path / "sub" / "curve.anything")
    assert [p.name for p in paths] == ["curve.png", "curve.svg"]
    assert paths[0].read_bytes()[:8] == PNG_MAGIC
    assert "VEGF-A" in paths[1].read_text(encoding="utf-8")
    with pytest.raises(ValueError, match="unsupported"):
        save_figure(standard_curve_plot(curve_data()), tmp_path / "x", formats=["gif"])


def test_svg_is_reproducible() -> None:
    assert figure_svg(standard_curve_plot(curve_data())) == figure_svg(standard_curve_plot(curve_data()))


# --- plate heat map ---------------------------------------------------------------------------------------


def test_replicate_cv_is_sample_sd_over_mean() -> None:
    groups = replicate_cvs(
        [
            PlateWell("A1", 100.0, "unknown", "S1"),
            PlateWell("A2", 120.0, "unknown", "S1"),
            PlateWell("B1", 50.0, "unknown", "S2"),  # alone: no CV
            PlateWell("C1", 10.0, "unknown", None),  # no sample ID: not grouped
            PlateWell("C2", 10.0, "unknown", None),
            PlateWell("D1,D2", 10.0, "unknown", "S3"),  # already an average
            PlateWell("E1", 5.0, "standard", "S1"),  # same ID, other type: other group
        ]
    )
    assert len(groups) == 1
    (g,) = groups
    assert g.wells == ("A1", "A2") and g.sample_id == "S1"
    assert g.mean == pytest.approx(110.0)
    assert g.cv_pct == pytest.approx(np.std([100.0, 120.0], ddof=1) / 110.0 * 100)


def test_heatmap_96_png_and_svg_show_types_cv_and_missing() -> None:
    fig = plate_heatmap(plate_wells(), title="PLATE-0412 · VEGF-A", signal_label="OD450", cv_limit=20.0)
    w, h = png_size(figure_png(fig, dpi=100))
    assert w > h > 400
    svg = figure_svg(fig)
    for text in ("PLATE-0412 · VEGF-A", "96-well plate", "QC", "NR", "OD450", "no sample"):
        assert text in svg, text
    assert "replicate CV &gt; 20% (2 wells)" in svg  # Standard4: 1.5× between replicates
    cv4 = next(g for g in replicate_cvs(plate_wells()) if g.sample_id == "Standard4").cv_pct
    assert f"{cv4:.0f}%" in svg


def test_heatmap_switches_to_384_when_a_well_is_beyond_h12() -> None:
    wells = [PlateWell("A1", 10.0, "standard", "S1"), PlateWell("P24", 1000.0, "unknown", "X")]
    svg = figure_svg(plate_heatmap(wells))
    assert "384-well plate" in svg
    assert plate_heatmap(wells).axes[0].get_images()[0].get_array().shape == (16, 24)  # type: ignore[union-attr]
    with pytest.raises(ValueError, match="96 or 384"):
        plate_heatmap(wells, plate_size=1536)


def test_heatmap_accepts_the_canonical_well_table_with_average_rows() -> None:
    df = conform(
        pl.DataFrame(
            {
                "source_file": ["f.csv"] * 3,
                "format": ["xponent"] * 3,
                "plate_id": ["P1"] * 3,
                "well": ["A1", "A2", "B3,B4"],
                "sample_id": ["S1", "S1", "U9"],
                "sample_type": ["standard", "standard", "unknown"],
                "analyte_as_written": ["NfL"] * 3,
                "signal": [100.0, 110.0, 55.0],
                "qualifier": ["=", "=", "="],
                "extrapolated": [False] * 3,
                "dilution": [1.0] * 3,
                "dilution_applied": [False] * 3,
            }
        )
    )
    wells = wells_from_frame(df)
    assert [w.well for w in wells] == ["A1", "A2", "B3,B4"]
    image = plate_heatmap(df).axes[0].get_images()[0].get_array()
    assert image is not None
    assert float(image[1, 2]) == float(image[1, 3]) == 55.0  # both wells of the average row
    assert bool(np.ma.getmaskarray(image)[7, 11])  # an empty well stays masked (grey)


def test_heatmap_nonpositive_signals_are_clipped_not_dropped() -> None:
    wells = [PlateWell("A1", -0.01, "blank", "B"), PlateWell("A2", 1.0), PlateWell("A3", 10.0)]
    fig = plate_heatmap(wells)
    image = fig.axes[0].get_images()[0].get_array()
    assert image is not None and float(image[0, 0]) == 1.0
    assert "≤ 0 shown at the minimum" in figure_svg(fig)


# --- Levey–Jennings ---------------------------------------------------------------------------------------

LJ_VALUES = [100, 102, 97, 99, 101, 131, 100, 98, 122, 123, 99, 101, 96, 100]


def test_levey_jennings_svg_names_the_rules_and_sd_lines() -> None:
    fig = levey_jennings_plot(
        LJ_VALUES,
        mean=100.0,
        sd=10.0,
        violations=[(5, ["1-3s"]), (9, ["2-2s"]), (12, ["R-4s", "4-1s"])],
        current_index=13,
        title="NfL QC high",
        metric="QC high concentration",
        unit="pg/mL",
    )
    assert png_size(figure_png(fig, dpi=100)) == (1000, 420)
    svg = figure_svg(fig)
    for text in (
        "1-3s",
        "2-2s",
        "R-4s, 4-1s",
        "+3 SD",
        "−2 SD",
        "mean",
        "NfL QC high",
        "this run",
        "Westgard",
    ):
        assert text in svg, text


def test_levey_jennings_colours_points_by_their_most_severe_rule() -> None:
    fig = levey_jennings_plot(
        LJ_VALUES, mean=100.0, sd=10.0, violations=[(5, ["2-2s", "1-3s"]), (9, ["2-2s"])]
    )
    points = next(
        c for c in fig.axes[0].collections if np.asarray(c.get_offsets()).shape[0] == len(LJ_VALUES)
    )
    colours = [tuple(np.round(c, 3)) for c in np.asarray(points.get_facecolor())]
    assert colours[5] != colours[9] != colours[0]
    assert colours[0] == colours[1]


def test_levey_jennings_accepts_dates_labels_gaps_and_no_guide_set() -> None:
    dates = [date(2019, 1, 1) + timedelta(days=7 * i) for i in range(len(LJ_VALUES))]
    vals: list[float | None] = [float(v) for v in LJ_VALUES]
    vals[3] = None
    assert figure_png(levey_jennings_plot(vals, x=dates, violations=[(5, ["1-3s"])]))[:8] == PNG_MAGIC
    labels = [f"RUN-{i}" for i in range(len(LJ_VALUES))]
    svg = figure_svg(levey_jennings_plot(LJ_VALUES, x=labels))
    assert "RUN-0" in svg and "Run" in svg
    assert figure_png(levey_jennings_plot([]))[:8] == PNG_MAGIC
    with pytest.raises(ValueError, match="differ in length"):
        levey_jennings_plot(LJ_VALUES, x=[1, 2])


# --- speed and threads ------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "make",
    [
        lambda: standard_curve_plot(curve_data()),
        lambda: plate_heatmap(plate_wells(), title="P"),
        lambda: levey_jennings_plot(LJ_VALUES, mean=100.0, sd=10.0, violations=[(5, ["1-3s"])]),
    ],
    ids=["curve", "heatmap", "levey-jennings"],
)
def test_each_plot_renders_to_png_in_under_a_second(make: Callable[[], Figure]) -> None:
    """The matplotlib figures are only drawn for `qc-report --figure-files` now (the page draws inline SVG,
    bounded by the 30-plex test in test_qc_report.py). The curve figure measured 0.45-0.59 s of CPU on an
    idle machine (unchanged code; constrained layout draws it twice), so the old 0.5 s bound failed by
    itself: 1 s, said in the session-5 note, where making it faster again is left open."""
    figure_png(make())  # warm caches (fonts)
    best = min(_timed(lambda: figure_png(make())) for _ in range(3))
    assert best < 1.0, f"{best:.2f}s"


def _timed(fn: Callable[[], object]) -> float:
    """CPU seconds: matplotlib draws in this one thread, so on an idle machine this is the wall time; on a
    shared CI runner the wall clock also counts other jobs (1.5 s measured here at load 14)."""
    t0 = time.process_time()
    fn()
    return time.process_time() - t0


def test_plots_render_concurrently_in_threads() -> None:
    makers: list[Callable[[int], Figure]] = [
        lambda i: standard_curve_plot(curve_data(analyte=f"A{i}")),
        lambda i: plate_heatmap(plate_wells(), title=f"A{i}"),
        lambda i: levey_jennings_plot(LJ_VALUES, violations=[(5, ["1-3s"])], title=f"A{i}"),
    ]

    def job(i: int) -> tuple[bytes, str]:
        fig = makers[i % 3](i)
        return figure_png(fig, dpi=50), figure_svg(fig)

    with ThreadPoolExecutor(max_workers=4) as pool:
        results = list(pool.map(job, range(9)))
    for i, (png, svg) in enumerate(results):
        assert png[:8] == PNG_MAGIC
        assert f"A{i}" in svg  # text kept as text in every SVG, whatever the other threads did


def test_format_number_keeps_four_significant_digits() -> None:
    assert format_number(15.625) == "15.62"
    assert format_number(2000.0) == "2,000"
    assert format_number(1234567.0) == "1,235,000"
    assert format_number(0.0012345) == "0.001234"
    assert format_number(None) == format_number(float("nan")) == "—"
    assert format_number(0.0) == "0"
