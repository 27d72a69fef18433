"""The signal model of the synthetic plates: a four-parameter logistic (4PL) per plate × analyte, replicate
noise, and how a Luminex instrument prints the concentration it back-calculates.

Real immunoassays are read through a sigmoid standard curve, and every censoring token a reader has to
understand (``OOR <``, ``OOR >``, ``*12.3``, ``***``; domain.md §4) comes from where a noisy signal falls
on that curve. Generating the texts from the curve, rather than drawing tokens at random, makes the
synthetic files behave like real ones at the limits: a sample near the lowest standard is sometimes in
range and sometimes ``OOR <``, depending on its replicate's noise.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
from numpy.typing import ArrayLike, NDArray

FloatArray = NDArray[np.float64]

# xPONENT's vocabulary (readers/tokens.py parses exactly these).
BELOW = "OOR <"
ABOVE = "OOR >"
NOT_AVAILABLE = "***"
EXTRAPOLATED = "*"

# Relative tolerance for "at a limit": a value exactly at the lowest/highest standard is in range
# (domain.md §4), and a back-calculation of that standard's own signal must not fall out by rounding.
_AT_LIMIT_RTOL = 1e-9


@dataclass(frozen=True)
class Curve4PL:
    """``signal(x) = top + (bottom - top) / (1 + (x / ec50) ** slope)``: ``bottom`` at zero concentration,
    ``top`` the plateau, ``ec50`` the concentration at the midpoint (same unit as ``x``), ``slope`` > 0."""

    bottom: float
    top: float
    ec50: float
    slope: float

    def __post_init__(self) -> None:
        if not (self.top > self.bottom and self.ec50 > 0 and self.slope > 0):
            raise ValueError(f"not an increasing 4PL: {self}")

    def signal(self, conc: ArrayLike) -> FloatArray:
        """Noiseless signal at in-well concentration(s); monotone increasing, ``bottom`` at 0."""
        x = np.clip(np.asarray(conc, dtype=np.float64), 0.0, None)
        return self.top + (self.bottom - self.top) / (1.0 + (x / self.ec50) ** self.slope)

    def conc(self, signal: ArrayLike) -> FloatArray:
        """Back-calculated concentration; NaN where the signal is at/below ``bottom`` or at/above ``top``
        (no finite concentration gives it)."""
        s = np.asarray(signal, dtype=np.float64)
        out = np.full(s.shape, np.nan)
        ok = (s > self.bottom) & (s < self.top)
        ratio = (s[ok] - self.bottom) / (self.top - s[ok])
        out[ok] = self.ec50 * ratio ** (1.0 / self.slope)
        return out


def add_noise(
    signal: ArrayLike,
    rng: np.random.Generator,
    *,
    cv: float,
    additive_sd: float,
    floor: float,
    resolution: float,
    ceiling: float | None = None,
) -> FloatArray:
    """A measured signal: multiplicative replicate noise (lognormal with this CV) plus additive read noise,
    kept at or above ``floor`` (an instrument never prints a negative MFI), capped at ``ceiling`` (a plate
    reader saturates), and rounded to the instrument's ``resolution`` (MFI medians are whole or half
    counts; ODs have three decimals) so the number written is the number the curve saw."""
    s = np.asarray(signal, dtype=np.float64)
    sigma = float(np.sqrt(np.log1p(cv**2)))
    noisy = s * np.exp(rng.normal(-0.5 * sigma**2, sigma, s.shape)) + rng.normal(0.0, additive_sd, s.shape)
    if ceiling is not None:
        noisy = np.minimum(noisy, ceiling)
    return quantise(np.maximum(noisy, floor), resolution)


def quantise(values: ArrayLike, resolution: float) -> FloatArray:
    """Round to a multiple of ``resolution`` (then to 6 decimals, so 0.1-steps print without float dust)."""
    v = np.asarray(values, dtype=np.float64)
    return np.round(np.round(v / resolution) * resolution, 6)


def format_conc(value: float, *, decimals: int = 2, decimals_below_one: int = 4) -> str:
    """A concentration as xPONENT prints it: fixed decimals, more of them below 1 so a small value (an
    ng/mL mix-up, a low standard) does not print as ``0.00``."""
    return f"{value:.{decimals if abs(value) >= 1 else decimals_below_one}f}"


def classify(
    signal: ArrayLike, curve: Curve4PL, lowest_std: float, highest_std: float
) -> tuple[FloatArray, NDArray[np.int8]]:
    """Back-calculated in-well concentration and its range class per signal: -2 below the curve (no
    concentration), -1 between the curve bottom and the lowest standard, 0 in range (limits included),
    1 above the highest standard, 2 above the curve."""
    s = np.asarray(signal, dtype=np.float64)
    conc = curve.conc(s)
    cls = np.zeros(s.shape, dtype=np.int8)
    cls[s <= curve.bottom] = -2
    cls[s >= curve.top] = 2
    finite = np.isfinite(conc)
    cls[finite & (conc < lowest_std * (1 - _AT_LIMIT_RTOL))] = -1
    cls[finite & (conc > highest_std * (1 + _AT_LIMIT_RTOL))] = 1
    return conc, cls


def reported_texts(
    signal: ArrayLike,
    curve: Curve4PL,
    *,
    lowest_std: float,
    highest_std: float,
    multiplier: ArrayLike = 1.0,
    extrapolate_below: bool = False,
    extrapolate_above: bool = False,
    failed: ArrayLike | None = None,
    standard: ArrayLike | None = None,
    decimals: int = 2,
    decimals_below_one: int = 4,
) -> list[str]:
    """The concentration cells xPONENT prints for these signals of one analyte on one plate.

    The signal is back-calculated through the plate's curve (in-well pg/mL, the standards' unit) and
    multiplied by ``multiplier`` (the well's dilution, times a unit factor when a lab typed the standards
    in another unit). In range → a number; between the curve bottom and the lowest standard → ``OOR <``,
    or ``*value`` when the plate's analysis extrapolates; above the highest standard → ``OOR >`` or
    ``*value``; beyond the curve's asymptotes → ``OOR <``/``OOR >``; ``failed`` cells → ``***``.
    ``standard`` wells define the range, so the software prints their observed concentration as a plain
    number even when a replicate's noise puts it just past its own nominal value.
    """
    conc, cls = classify(signal, curve, lowest_std, highest_std)
    mult = np.broadcast_to(np.asarray(multiplier, dtype=np.float64), conc.shape)
    value = conc * mult
    bad = np.zeros(conc.shape, dtype=bool) if failed is None else np.asarray(failed, dtype=bool)
    std = np.zeros(conc.shape, dtype=bool) if standard is None else np.asarray(standard, dtype=bool)
    cls = np.where(std & (np.abs(cls) == 1), 0, cls)
    out: list[str] = []
    for v, c, f in zip(value.tolist(), cls.tolist(), bad.tolist(), strict=True):
        if f:
            out.append(NOT_AVAILABLE)
        elif c == 0:
            out.append(format_conc(v, decimals=decimals, decimals_below_one=decimals_below_one))
        elif (c == -1 and extrapolate_below) or (c == 1 and extrapolate_above):
            out.append(
                EXTRAPOLATED + format_conc(v, decimals=decimals, decimals_below_one=decimals_below_one)
            )
        else:
            out.append(BELOW if c < 0 else ABOVE)
    return out


def geometric_middle(series: Sequence[float]) -> float:
    """Geometric mean of the ends of a standard series (where a mid QC sits)."""
    return float(np.sqrt(min(series) * max(series)))
