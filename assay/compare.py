"""Our curve against the instrument's own concentrations, well by well.

When an export carries both the signal and the instrument software's concentration (Bio-Plex ``FI`` and
``Obs Conc``, xPONENT ``Median`` and ``Result``, MSD ``Signal`` and ``Calc. Concentration``), each well's
concentration is recomputed through our curve and the disagreement reported, so a difference in curve
model, weighting, masking or background handling shows up as numbers before anyone trusts either side.

Only wells the instrument reported as a number (qualifier ``=``, extrapolated ``*`` values included and
marked) are compared; censored (``<``/``>``) and not-reported rows have nothing to compare. Our value is put
on the instrument's basis: multiplied by the well's dilution when the instrument's value already includes
it (``dilution_applied``), in-well otherwise.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import polars as pl

from assay.curves import CurveFit


@dataclass(frozen=True)
class WellDisagreement:
    """One well: the instrument's concentration, ours from the same signal, and the % difference."""

    well: str
    sample_id: str | None
    sample_type: str
    signal: float
    instrument_conc: float
    our_conc: float | None  # None: the signal is outside our curve's asymptotes
    diff_pct: float | None  # (ours − instrument) / instrument × 100; None when either side has no value
    extrapolated: bool  # the instrument marked its value as beyond the standards (``*``)


@dataclass(frozen=True)
class InstrumentComparison:
    """Every compared well and a summary of the disagreement."""

    wells: tuple[WellDisagreement, ...]
    n_compared: int  # wells with a % difference
    n_outside_curve: int  # instrument gave a number, our curve gives none
    median_abs_diff_pct: float | None
    max_abs_diff_pct: float | None

    def table(self) -> pl.DataFrame:
        return pl.DataFrame(
            [w.__dict__ for w in self.wells],
            schema={
                "well": pl.String(),
                "sample_id": pl.String(),
                "sample_type": pl.String(),
                "signal": pl.Float64(),
                "instrument_conc": pl.Float64(),
                "our_conc": pl.Float64(),
                "diff_pct": pl.Float64(),
                "extrapolated": pl.Boolean(),
            },
            orient="row",
        )

    def within(self, tolerance_pct: float) -> bool:
        """True when every compared well agrees within ±``tolerance_pct`` and none is outside our curve."""
        return self.n_outside_curve == 0 and all(
            w.diff_pct is None or abs(w.diff_pct) <= tolerance_pct for w in self.wells
        )


def compare_to_instrument(
    wells: pl.DataFrame,
    fit: CurveFit,
    *,
    background: float = 0.0,
    sample_types: tuple[str, ...] = ("unknown", "qc", "standard", "control"),
) -> InstrumentComparison:
    """Recompute the instrument's reported concentrations of one plate × analyte through ``fit``.

    ``wells`` is the canonical well table (schemas/wells.py) of one plate and analyte; ``background`` is
    subtracted from each signal first when the curve was fitted on background-subtracted signals (Bio-Plex
    fits FI − mean blank FI). Rows of other sample types, without a finite signal, or without a reported
    number are skipped.
    """
    compared = wells.filter(
        pl.col("sample_type").is_in(list(sample_types))
        & (pl.col("qualifier") == "=")
        & pl.col("value").is_not_null()
        & pl.col("signal").is_not_null()
    )
    # only the columns read below: a dict of every column of every row costs more than the comparison
    needed = (
        "signal",
        "value",
        "dilution",
        "dilution_applied",
        "well",
        "sample_id",
        "sample_type",
        "extrapolated",
    )
    rows = compared.select(needed).to_dicts()
    out: list[WellDisagreement] = []
    for r in rows:
        signal, instrument = float(r["signal"]), float(r["value"])
        if not (math.isfinite(signal) and math.isfinite(instrument)):
            continue
        in_well = fit.inverse(signal - background) if fit.converged else math.nan
        factor = float(r["dilution"] or 1.0) if r["dilution_applied"] else 1.0
        ours = in_well * factor if math.isfinite(in_well) else None
        diff = None if ours is None or instrument == 0 else (ours - instrument) / instrument * 100.0
        out.append(
            WellDisagreement(
                well=str(r["well"]),
                sample_id=r["sample_id"],
                sample_type=str(r["sample_type"]),
                signal=signal,
                instrument_conc=instrument,
                our_conc=ours,
                diff_pct=diff,
                extrapolated=bool(r["extrapolated"]),
            )
        )
    diffs = np.array([abs(w.diff_pct) for w in out if w.diff_pct is not None], dtype=np.float64)
    return InstrumentComparison(
        wells=tuple(out),
        n_compared=int(diffs.size),
        n_outside_curve=sum(1 for w in out if w.our_conc is None),
        median_abs_diff_pct=float(np.median(diffs)) if diffs.size else None,
        max_abs_diff_pct=float(diffs.max()) if diffs.size else None,
    )
