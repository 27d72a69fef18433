"""The synthetic signal model: the 4PL, its inverse, replicate noise, and the texts xPONENT would print."""

from __future__ import annotations

import numpy as np
import pytest

from readers.tokens import parse_conc
from synth.signal import (
    ABOVE,
    BELOW,
    NOT_AVAILABLE,
    Curve4PL,
    add_noise,
    classify,
    format_conc,
    quantise,
    reported_texts,
)

CURVE = Curve4PL(bottom=15.0, top=20000.0, ec50=5000.0, slope=0.85)
LOW, HIGH = 10000 / 4**6, 10000.0  # a 7-level, 4-fold series topped at 10,000 pg/mL


def texts(conc: list[float], **kw: object) -> list[str]:
    return reported_texts(CURVE.signal(conc), CURVE, lowest_std=LOW, highest_std=HIGH, **kw)  # type: ignore[arg-type]


def test_4pl_is_monotone_from_bottom_towards_top() -> None:
    x = np.geomspace(1e-3, 1e7, 500)
    s = CURVE.signal(x)
    assert np.all(np.diff(s) > 0)
    assert CURVE.signal([0.0])[0] == pytest.approx(CURVE.bottom)
    assert np.all(s < CURVE.top)


def test_not_an_increasing_curve_is_refused() -> None:
    with pytest.raises(ValueError):
        Curve4PL(bottom=100.0, top=10.0, ec50=1.0, slope=1.0)


def test_back_calculation_of_a_noiseless_signal_returns_the_concentration() -> None:
    x = np.geomspace(LOW / 10, HIGH * 10, 200)
    np.testing.assert_allclose(CURVE.conc(CURVE.signal(x)), x, rtol=1e-9)


def test_no_concentration_at_or_beyond_the_asymptotes() -> None:
    c = CURVE.conc([CURVE.bottom, CURVE.bottom - 1, CURVE.top, CURVE.top + 1])
    assert np.all(np.isnan(c))


def test_a_value_exactly_at_a_limit_is_in_range() -> None:
    _, cls = classify(CURVE.signal([LOW, HIGH]), CURVE, LOW, HIGH)
    assert cls.tolist() == [0, 0]
    assert texts([LOW, HIGH]) == [format_conc(LOW), format_conc(HIGH)]


def test_token_choice_below_the_lowest_standard() -> None:
    below = [LOW * 0.8]
    assert texts(below) == [BELOW]
    extrapolated = texts(below, extrapolate_below=True)[0]
    assert extrapolated.startswith("*") and float(extrapolated[1:]) == pytest.approx(LOW * 0.8, abs=0.005)
    # at or under the curve's bottom there is no concentration to extrapolate
    s = np.array([CURVE.bottom, CURVE.bottom * 0.5])
    assert reported_texts(s, CURVE, lowest_std=LOW, highest_std=HIGH, extrapolate_below=True) == [
        BELOW,
        BELOW,
    ]


def test_token_choice_above_the_highest_standard() -> None:
    above = [HIGH * 1.5]
    assert texts(above) == [ABOVE]
    assert texts(above, extrapolate_above=True)[0].startswith("*")
    s = np.array([CURVE.top, CURVE.top * 2])
    assert reported_texts(s, CURVE, lowest_std=LOW, highest_std=HIGH, extrapolate_above=True) == [
        ABOVE,
        ABOVE,
    ]


def test_failed_bead_region_prints_stars() -> None:
    assert texts([100.0, 100.0], failed=[True, False])[0] == NOT_AVAILABLE


def test_standards_print_their_observed_value_even_just_past_their_nominal() -> None:
    t = texts([HIGH * 1.05, LOW * 0.95], standard=[True, True])
    assert [float(x) for x in t] == pytest.approx([HIGH * 1.05, LOW * 0.95], rel=1e-3)


def test_reported_value_is_times_the_multiplier() -> None:
    t = texts([100.0, 100.0], multiplier=[1.0, 2.0])
    assert float(t[1]) == pytest.approx(2 * float(t[0]), rel=1e-3)
    # an ng/mL entry: a thousandth, printed with enough decimals not to collapse to 0.00
    assert texts([20.0], multiplier=0.001) == ["0.0200"]


def test_every_text_parses_with_the_readers_vocabulary() -> None:
    signal = np.append(CURVE.signal([0.0, LOW * 0.5, LOW, 100.0, HIGH, HIGH * 3]), CURVE.top)
    for kw, want in (
        ({}, ["<", "<", "=", "=", "=", ">", ">"]),
        ({"extrapolate_below": True, "extrapolate_above": True}, ["<", "=", "=", "=", "=", "=", ">"]),
    ):
        got = reported_texts(signal, CURVE, lowest_std=LOW, highest_std=HIGH, **kw)
        assert [parse_conc(t).qualifier for t in got] == want
    assert parse_conc(texts([LOW * 0.5], extrapolate_below=True)[0]).extrapolated


def test_noise_is_deterministic_quantised_floored_and_about_the_requested_cv() -> None:
    s = np.full(20000, 1000.0)
    kw = {"cv": 0.05, "additive_sd": 0.0, "floor": 1.0, "resolution": 0.5}
    a = add_noise(s, np.random.default_rng(7), **kw)
    b = add_noise(s, np.random.default_rng(7), **kw)
    assert np.array_equal(a, b)
    assert np.all(np.mod(a, 0.5) == 0)
    assert np.std(a) / np.mean(a) == pytest.approx(0.05, abs=0.005)
    low = add_noise(
        np.zeros(100), np.random.default_rng(1), cv=0.05, additive_sd=5.0, floor=1.0, resolution=0.5
    )
    assert low.min() >= 1.0
    od = add_noise(
        np.full(10, 5.0),
        np.random.default_rng(1),
        cv=0.05,
        additive_sd=0,
        floor=0,
        resolution=0.001,
        ceiling=3.5,
    )
    assert od.max() <= 3.5


def test_quantise_prints_without_float_dust() -> None:
    assert quantise([0.1234567, 2.0004], 0.001).tolist() == [0.123, 2.0]
