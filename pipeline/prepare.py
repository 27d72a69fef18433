"""From a reader's well table to wells with canonical analyte, unit, limits and a pg/mL concentration.

Per plate, in this order:

1. ``analyte`` = ``config.catalogue.resolve(analyte_as_written)``; a name outside the catalogue, or an
   analyte the matched assay does not measure, is quarantined (reject) and its wells give no result.
2. the assay: ``config.assays.match(plate.protocol, analytes)``; no match → the plate is quarantined.
3. unit: the file's unit (``unit_source`` "file"), else the assay's (``"config"``); none or one we cannot
   convert → the wells are held (``unit_unknown``) — a unit is never guessed.
4. the plate's standards are fitted once per analyte (``pipeline.runqc.fit_curves``: fit, masking,
   accepted levels); the curves travel on in :class:`PreparedPlate` and runqc judges the run on them.
5. signal-only exports (plate-reader OD grids, raw MFI/ECL): unknowns and QCs are read through that
   *accepted* curve (after masking — exactly the parameters recorded in ``curves``), censored at its
   accepted LLOQ/ULOQ (``assay.curves.concentrations_from_signal``); the dilution is applied in step 7.
   When the instrument reported concentrations as well as signals, each unknown/QC well is recomputed
   through our curve (``assay.compare``): ``recomputed_conc`` (in-well, the file's unit) and
   ``recomputed_diff_pct`` (ours − instrument, % of instrument, on the instrument's basis). The
   instrument's value stays the reported one.
6. in-well limits per plate × analyte (``plate_limits``), with ``assay.limits_from``:

   - ``"standards"`` (default): the run's lowest/highest *accepted* non-zero calibrator after masking;
     a plate × analyte without calibrator signals (or with no accepted level) falls back to the lowest/
     highest standard ``expected_conc`` (> 0) on the plate, else to ``assay.kit_limits(analyte)``;
   - ``"kit"``: ``assay.kit_limits(analyte)``, else as for ``"standards"``.

   ``OOR <``/``OOR >`` wells without a number get that limit as ``value`` (flag ``limit_from_standards``/
   ``limit_from_kit``); no limit at all → held (``limit_unknown``).

   Censoring at the run's accepted range, whatever the instrument printed (issue 14; ICH M10: below the
   LLOQ is not quantifiable): an unknown well the instrument reported as a number (qualifier ``=`` —
   an extrapolated ``*0.2012`` or a bare number) whose in-well value is strictly below the plate's LLOQ
   (above its ULOQ) becomes ``<`` LLOQ (``>`` ULOQ): ``value`` = the limit (an in-well number, like an OOR
   fill; the dilution is applied in step 7), ``extrapolated`` set, flag ``below_accepted_lloq``/
   ``above_accepted_uloq``; the instrument's text and number stay in ``reported_text``. A value exactly at
   a limit stays in range. Wells the instrument itself censored (``<``/``>``, with or without a number)
   keep the instrument's censoring and number. An assay with ``report_extrapolated: true`` (a deviation
   from the SAP, to be documented) keeps such values ``=``, marked ``extrapolated`` and flagged
   ``reported_beyond_range``.
7. ``conc_pg_ml`` — computed here and nowhere else::

       conc_pg_ml = value × factor_to_pg_ml(unit) × (1 if dilution_applied else dilution)

   A limit filled from the standards or the kit is an in-well number, so it always takes the dilution.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

import polars as pl

from assay.compare import InstrumentComparison, compare_to_instrument
from assay.curves import AcceptedCurve, concentrations_from_signal
from assay.standards import StandardCurve
from pipeline.runqc import background, fit_curves
from pipeline.validate import HOLD, fmt_num, quarantine_frame
from readers.base import PlateInfo
from readers.units import factor_to_pg_ml
from schemas.config import Assay, Config
from schemas.wells import RECOMPUTED_SCHEMA  # declared with the wells table (schemas/wells.py)

FACTOR = "_factor"  # internal: unit → pg/mL multiplier (null: unit unknown)
LIMIT_FILLED = "_limit_filled"  # internal: value is a limit taken from standards/kit (an in-well number)

LIMITS_SCHEMA: dict[str, pl.DataType] = {
    "plate_id": pl.String(),
    "analyte": pl.String(),
    "lloq_pg_ml": pl.Float64(),  # in-well
    "uloq_pg_ml": pl.Float64(),
    "limit_source": pl.String(),  # "standards" | "kit"
}


@dataclass(frozen=True)
class PreparedPlate:
    plate: PlateInfo
    assay: Assay
    wells: pl.DataFrame  # canonical columns + internal HOLD, FACTOR, LIMIT_FILLED
    limits: pl.DataFrame  # LIMITS_SCHEMA
    quarantine: pl.DataFrame
    curve_note: str | None = None
    warnings: list[str] = field(default_factory=list)
    analyte_holds: dict[str, str] = field(default_factory=dict)  # analyte → hold code for all its results
    curves: dict[str, StandardCurve] = field(default_factory=dict)  # analyte → calibration (runqc reuses)
    comparisons: dict[str, InstrumentComparison] = field(default_factory=dict)  # analyte → vs instrument


def resolve_analytes(wells: pl.DataFrame, config: Config) -> pl.DataFrame:
    """Canonical ``analyte`` from ``analyte_as_written`` (catalogue aliases); null when unknown."""
    names = [n for n in wells["analyte_as_written"].unique().to_list() if n is not None]
    known = set(config.catalogue.names)
    mapping = {n: config.catalogue.resolve(n) for n in names}
    resolved = pl.col("analyte_as_written").replace_strict(mapping, default=None, return_dtype=pl.String())
    reader_said = pl.when(pl.col("analyte").is_in(list(known))).then(pl.col("analyte"))
    return wells.with_columns(analyte=pl.coalesce(resolved, reader_said))


def match_assay(plate: PlateInfo, wells: pl.DataFrame, config: Config) -> Assay | None:
    analytes = {a for a in wells["analyte"].unique().to_list() if a is not None}
    return config.assays.match(plate.protocol, analytes)


def analyte_from_assay(wells: pl.DataFrame, assay: Assay) -> pl.DataFrame:
    """Wells of an export that does not name its analyte (``analyte_as_written`` "", the readers'
    convention; a plate map's ``analyte`` block names it per well instead) take the assay's analyte when
    the assay measures exactly one; for a multi-analyte assay they stay unnamed (held, see prepare_plate)."""
    if len(assay.analytes) != 1:
        return wells
    unnamed = pl.col("analyte").is_null() & (pl.col("analyte_as_written").str.strip_chars() == "")
    return wells.with_columns(
        analyte=pl.when(unnamed).then(pl.lit(assay.analytes[0])).otherwise(pl.col("analyte"))
    )


def select_signal(wells: pl.DataFrame, assay: Assay) -> tuple[pl.DataFrame, pl.DataFrame, str | None]:
    """(reads that feed the curve, the other reads of the wells, why the plate cannot be fitted).

    One read per well (or none) needs no setting. Several (OD450 and OD650, two filters): the assay's
    ``signal_kind`` chooses; the others are kept, flagged ``not_fitted``, never fitted nor aggregated (they
    are not replicates). Several without a setting, or a setting the file does not hold: the reason."""
    kinds = sorted({k for k in wells["signal_kind"].unique().to_list() if k is not None})
    if len(kinds) <= 1:
        return wells, wells.clear(), None
    want = assay.signal_kind
    if want is None or want not in kinds:
        said = "does not say" if want is None else f"says {want!r}, which this file does not hold, and not"
        return (
            wells,
            wells.clear(),
            f"the export holds several reads per well ({', '.join(kinds)}) and assay {assay.assay_id} {said} "
            "which one feeds the standard curve; set signal_kind for it in assays.yaml (one of "
            f"{', '.join(kinds)}), then re-process the file.",
        )
    fitted = wells.filter(pl.col("signal_kind").is_null() | (pl.col("signal_kind") == want))
    others = wells.filter(pl.col("signal_kind").is_not_null() & (pl.col("signal_kind") != want))
    note = f"not_fitted: assay {assay.assay_id} fits {want}"
    f = pl.col("flags")
    others = others.with_columns(
        flags=pl.when(f.is_null() | (f == ""))
        .then(pl.lit(note))
        .otherwise(pl.concat_str([f, pl.lit(";" + note)]))
    )
    return fitted, others, None


def no_assay_message(
    plate: PlateInfo, wells: pl.DataFrame, config: Config, by_name: list[Assay] | None = None
) -> str:
    unnamed = wells.filter(pl.col("analyte_as_written").str.strip_chars() == "").height == wells.height
    if unnamed:
        several = (
            f" (its name matches the file_patterns of several: {', '.join(a.assay_id for a in by_name)})"
            if by_name and len(by_name) > 1
            else ""
        )
        return (
            f"Plate {plate.plate_id}: the export does not name its analyte or assay{several}, so its values "
            "are read but not loaded; upload it again choosing its assay (the upload's assay field, or "
            "`biomarkers ingest --assay`), or add a file-name pattern to the assay's file_patterns in "
            "assays.yaml, then re-process the file."
        )
    found = sorted({a for a in wells["analyte"].unique().to_list() if a is not None})
    unknown = sorted(
        {
            a
            for a in wells.filter(pl.col("analyte").is_null())["analyte_as_written"].unique().to_list()
            if a is not None
        }
    )
    what = f"protocol {plate.protocol!r}" if plate.protocol else "no protocol name"
    have = f"analytes {', '.join(found)}" if found else "no analyte from the catalogue"
    if unknown:
        have += f" (and {', '.join(repr(u) for u in unknown)}, not in analytes.yaml)"
    configured = "; ".join(
        f"{a.assay_id} ({', '.join(a.protocol_names) or 'no protocol names'}: {', '.join(a.analytes)})"
        for a in config.assays.assays
    )
    return (
        f"Plate {plate.plate_id} has {what} and {have}, which match no configured assay (configured: "
        f"{configured}); add the protocol name to protocol_names of the right assay in assays.yaml, or ask "
        "the lab which kit was run, then re-process the file."
    )


def _needs_curve(wells: pl.DataFrame) -> bool:
    has_numbers = wells.filter(pl.col("value").is_not_null() | pl.col("reported_text").is_not_null()).height
    return has_numbers == 0 and wells["signal"].is_not_null().any()


def _with_flag(flag: str, when: pl.Expr) -> pl.Expr:
    f = pl.col("flags")
    appended = (
        pl.when(f.is_null() | (f == "")).then(pl.lit(flag)).otherwise(pl.concat_str([f, pl.lit(";" + flag)]))
    )
    return pl.when(when).then(appended).otherwise(f).alias("flags")


def _set_hold(rule: str, when: pl.Expr) -> pl.Expr:
    """Set HOLD where ``when`` holds and no earlier rule already did (the first rule wins)."""
    return pl.when(when & pl.col(HOLD).is_null()).then(pl.lit(rule)).otherwise(pl.col(HOLD)).alias(HOLD)


def prepare_plate(
    wells: pl.DataFrame, plate: PlateInfo, assay: Assay, config: Config, source_sha256: str
) -> PreparedPlate:
    """Analyte, unit, curve, limits and ``conc_pg_ml`` for the wells of one plate (see module doc).

    ``wells`` is the plate's slice of the canonical well table with ``analyte`` already resolved."""
    src = wells["source_file"][0] if wells.height else None
    q: list[dict[str, object]] = []
    warnings: list[str] = []

    def qrow(**kw: object) -> None:
        q.append({"source_file": src, "source_sha256": source_sha256, "plate_id": plate.plate_id, **kw})

    w = wells.with_columns(
        pl.col("value").fill_nan(None),
        pl.col("signal").fill_nan(None),
        pl.col("expected_conc").fill_nan(None),
    )
    if HOLD not in w.columns:
        w = w.with_columns(pl.lit(None, pl.String()).alias(HOLD))

    # 1. analytes outside the catalogue / outside the assay
    w = w.with_columns(
        _set_hold("unknown_analyte", pl.col("analyte").is_null()),
    ).with_columns(_set_hold("analyte_not_in_assay", ~pl.col("analyte").is_in(list(assay.analytes))))
    for rule, col in (("unknown_analyte", "analyte_as_written"), ("analyte_not_in_assay", "analyte")):
        bad = w.filter(pl.col(HOLD) == rule)
        for (name,), g in bad.group_by(col, maintain_order=True):
            n = g.height
            if rule == "unknown_analyte" and not str(name or "").strip():
                why = (
                    f"the export does not name the analyte and assay {assay.assay_id} measures several "
                    f"({', '.join(assay.analytes)})"
                )
                todo = "name it per well in the plate map's analyte block, then re-process the file"
            elif rule == "unknown_analyte":
                why = f"analyte {name!r} is not in the analyte catalogue (analytes.yaml)"
                todo = (
                    "add it (or an alias) to analytes.yaml if the study measures it, then re-process the file"
                )
            else:
                why = (
                    f"analyte {name} is not measured by assay {assay.assay_id} ({', '.join(assay.analytes)})"
                )
                todo = (
                    f"add it to the analytes of {assay.assay_id} in assays.yaml if the panel has it, "
                    "then re-process"
                )
            qrow(
                well=_wells_text(g["well"].to_list()),
                row_number=g["row_number"].min(),
                analyte=str(name),
                rule=rule,
                severity="reject",
                message=f"Plate {plate.plate_id}: {why}, so its {n} value{'s' if n != 1 else ''} "
                f"{'are' if n != 1 else 'is'} not loaded; {todo}.",
            )

    # 1b. an unknown sample without a dilution in the file (the reader set 1 and flagged it): held per well
    no_dil = (pl.col("sample_type") == "unknown") & pl.col("flags").fill_null("").str.contains(
        r"(^|;)dilution_missing"
    )
    w = w.with_columns(_set_hold("dilution_missing", no_dil))
    for (sample,), g in w.filter(pl.col(HOLD) == "dilution_missing").group_by(
        "sample_id", maintain_order=True
    ):
        qrow(
            well=_wells_text(g["well"].to_list()),
            row_number=g["row_number"].min(),
            sample_id=sample,
            rule="dilution_missing",
            severity="hold",
            message=f"Plate {plate.plate_id}: no dilution factor for this sample: {sample or '(unnamed)'} in "
            f"well{'s' if g.height != 1 else ''} {_wells_text(g['well'].to_list())} has an empty dilution "
            "cell, so its results are held; ask the lab for the dilution, correct it in the export (or the "
            "plate map) and upload it again.",
        )

    # 2. unit: the file's, else the assay's; never guessed
    blank = pl.col("unit").is_null() | (pl.col("unit").str.strip_chars() == "")
    w = w.with_columns(
        unit=pl.when(blank).then(pl.lit(assay.unit, pl.String())).otherwise(pl.col("unit")),
        unit_source=pl.when(blank)
        .then(pl.lit("config" if assay.unit else None, pl.String()))
        .otherwise(pl.coalesce(pl.col("unit_source"), pl.lit("file"))),
    )
    units = [u for u in w["unit"].unique().to_list() if u is not None]
    factors = {u: factor_to_pg_ml(u) for u in units}
    w = w.with_columns(
        pl.col("unit").replace_strict(factors, default=None, return_dtype=pl.Float64()).alias(FACTOR)
    )

    # 3. the plate's calibrations, fitted once (masking included): what the run is judged on and, for a
    # signal-only export, what its unknowns and QCs are read through
    curves = fit_curves(w, assay)

    # 4. plate-reader grids: concentrations from the plate's own accepted standard curve
    curve_note: str | None = None
    if _needs_curve(w) and assay.unit and factor_to_pg_ml(assay.unit) is not None:
        w, curve_note, failed = _apply_curve(w, assay.unit, plate.plate_id, assay, curves)
        curve_failed = pl.col("flags").fill_null("").str.contains("curve_failed")
        w = w.with_columns(_set_hold("curve_failed", curve_failed))
        for key, why in failed.items():
            g = w.filter(curve_failed & (pl.col("analyte") == key) & (pl.col("sample_type") == "unknown"))
            n = g["sample_id"].n_unique()
            qrow(
                analyte=key,
                row_number=g["row_number"].min(),
                rule="curve_failed",
                severity="hold",
                message=f"Plate {plate.plate_id}: no standard curve could be fitted for {key} ({why}), so "
                f"the results of {n} sample{'s' if n != 1 else ''} are held without a value; check the "
                "standards' expected concentrations on the plate map and the plate itself, then re-send "
                "the export with its plate map.",
            )

    w = w.with_columns(_set_hold("unit_unknown", pl.col(FACTOR).is_null()))
    no_unit = w.filter((pl.col(HOLD) == "unit_unknown") & (pl.col("sample_type") == "unknown"))
    for (analyte, unit), g in no_unit.group_by("analyte", "unit", maintain_order=True):
        n_samples = g["sample_id"].n_unique()
        if unit is None:
            why = f"the file gives no unit for {analyte} and assay {assay.assay_id} configures none"
            todo = "add `unit` to the assay in assays.yaml, or ask the lab to re-export with units"
        else:
            why = f"the unit {unit!r} written for {analyte} is not one the pipeline converts to pg/mL"
            todo = "ask the lab which unit this is and to re-export in pg/mL or ng/mL"
        qrow(
            well=None,
            row_number=g["row_number"].min(),
            analyte=analyte,
            value_text=unit,
            rule="unit_unknown",
            severity="hold",
            message=f"Plate {plate.plate_id}: {why}, so the results of {n_samples} sample"
            f"{'s' if n_samples != 1 else ''} are held without a concentration; {todo}.",
        )

    # the instrument's concentrations against our calibrations; reported instead when configured
    w, comparisons = _recompute(w, curves, instrument=curve_note is None)
    if assay.reported_value == "recomputed" and curve_note is None:
        w = _report_recomputed(w, curves)

    # 5. in-well limits per analyte: the run's accepted standards, else the plate's standards, else the kit's
    limits = plate_limits(w, plate.plate_id, assay, curves)
    analyte_holds: dict[str, str] = {}
    for r in limits.filter(pl.col("limit_source") == "standards").iter_rows(named=True):
        off = standards_scale_problem(plate.plate_id, r["analyte"], r["uloq_pg_ml"], assay, w)
        if off is None:
            continue
        analyte_holds[r["analyte"]] = "standards_off_scale"
        g = w.filter((pl.col("analyte") == r["analyte"]) & (pl.col("sample_type") == "unknown"))
        qrow(
            analyte=r["analyte"],
            row_number=g["row_number"].min(),
            value_text=fmt_num(r["uloq_pg_ml"]),
            rule="standards_off_scale",
            severity="hold",
            message=off,
        )
    w = w.join(
        limits.select("analyte", "lloq_pg_ml", "uloq_pg_ml", "limit_source"),
        on="analyte",
        how="left",
        maintain_order="left",
    )
    need = pl.col("qualifier").is_in(["<", ">"]) & pl.col("value").is_null()
    limit_in_unit = pl.when(pl.col("qualifier") == "<").then(pl.col("lloq_pg_ml")).otherwise(
        pl.col("uloq_pg_ml")
    ) / pl.col(FACTOR)
    # decided once, before `value` changes: which rows get a limit, which have none to get
    w = w.with_columns(
        (need & limit_in_unit.is_not_null()).fill_null(False).alias(LIMIT_FILLED),
        (need & limit_in_unit.is_null()).fill_null(False).alias("_no_limit"),
    )
    filled = pl.col(LIMIT_FILLED)
    w = (
        w.with_columns(
            value=pl.when(filled).then(limit_in_unit).otherwise(pl.col("value")),
            flags=_with_flag("limit_from_standards", filled & (pl.col("limit_source") == "standards")),
        )
        .with_columns(
            _with_flag("limit_from_kit", filled & (pl.col("limit_source") == "kit")),
            _set_hold("limit_unknown", pl.col("_no_limit")),
        )
        .drop("_no_limit")
    )
    w = _censor_at_accepted_limits(w, assay)
    no_limit = w.filter((pl.col(HOLD) == "limit_unknown") & (pl.col("sample_type") == "unknown"))
    for (analyte,), g in no_limit.group_by("analyte", maintain_order=True):
        qrow(
            well=_wells_text(g["well"].to_list()),
            row_number=g["row_number"].min(),
            analyte=analyte,
            value_text=g["reported_text"].drop_nulls().first(),
            rule="limit_unknown",
            severity="hold",
            message=f"Plate {plate.plate_id}: {g.height} {analyte} value(s) are out of range without a "
            f"limit, and the plate has no standards for {analyte} nor does assay {assay.assay_id} "
            f"configure limits, so their results are held; add limits_pg_ml for {analyte} to assays.yaml "
            "or ask the lab for the LLOQ/ULOQ.",
        )

    # 6. conc_pg_ml: the one place a unit factor and a dilution are applied
    w = w.with_columns(conc_pg_ml=conc_expr()).drop("lloq_pg_ml", "uloq_pg_ml", "limit_source")
    return PreparedPlate(
        plate,
        assay,
        w,
        limits,
        quarantine_frame(q),
        curve_note,
        warnings,
        analyte_holds,
        curves,
        comparisons,
    )


_RID = "_rid"


def _recompute(
    w: pl.DataFrame, curves: dict[str, StandardCurve], *, instrument: bool
) -> tuple[pl.DataFrame, dict[str, InstrumentComparison]]:
    """``recomputed_conc``/``recomputed_diff_pct`` per well (see the module doc, step 5); null where not
    compared (no converged curve, not an unknown/QC, censored, no signal, or concentrations from our own
    fit rather than the instrument: ``instrument`` False)."""
    comparisons: dict[str, InstrumentComparison] = {}
    rows: list[dict[str, Any]] = []
    if instrument and curves:
        indexed = w.with_row_index(_RID)
        converged = [a for a, c in curves.items() if c.fit.converged]
        parts = indexed.filter(pl.col("analyte").is_in(converged)).partition_by(
            "analyte", maintain_order=True, as_dict=True
        )  # each analyte's rows, split in one pass
        for analyte, curve in curves.items():
            if not curve.fit.converged:
                continue
            aw = parts.get((analyte,), indexed.head(0))
            # the row index stands in for the well name, so each disagreement maps back to its row exactly
            cmp = compare_to_instrument(
                aw.with_columns(well=pl.col(_RID).cast(pl.String())),
                curve.fit,
                background=background(aw),
                sample_types=("unknown", "qc"),
            )
            comparisons[analyte] = cmp
            rows += [
                {_RID: int(d.well), "_ours": d.our_conc, "recomputed_diff_pct": d.diff_pct} for d in cmp.wells
            ]
    if not rows:
        return w.with_columns([pl.lit(None, t).alias(c) for c, t in RECOMPUTED_SCHEMA.items()]), comparisons
    found = pl.DataFrame(
        rows, schema={_RID: pl.UInt32(), "_ours": pl.Float64(), "recomputed_diff_pct": pl.Float64()}
    )
    basis = pl.when(pl.col("dilution_applied").fill_null(False)).then(pl.col("dilution").fill_null(1.0))
    out = (
        w.with_row_index(_RID)
        .join(found, on=_RID, how="left", maintain_order="left")
        .with_columns(recomputed_conc=pl.col("_ours") / basis.otherwise(pl.lit(1.0)))
        .drop(_RID, "_ours")
    )
    return out.select([*w.columns, *RECOMPUTED_SCHEMA]), comparisons


def _report_recomputed(w: pl.DataFrame, curves: dict[str, StandardCurve]) -> pl.DataFrame:
    """``reported_value: recomputed``: every unknown/QC well with a signal, of an analyte whose curve
    converged, takes our accepted curve's concentration (in-well, censored at the accepted limits — as a
    signal-only plate) instead of the instrument's; ``reported_text`` keeps what the instrument wrote and
    ``recomputed_conc``/``recomputed_diff_pct`` the comparison. Flag ``recomputed_conc``."""
    usable = {a: c for a, c in curves.items() if c.fit.converged}
    if not usable:
        return w
    target = (
        pl.col("sample_type").is_in(["unknown", "qc"])
        & pl.col("analyte").is_in(list(usable))
        & pl.col("signal").is_not_null()
    ).fill_null(False)
    internal = [c for c in w.columns if c.startswith("_")]
    rid = "_recomputed_row"
    base = w.with_row_index(rid)
    chosen = base.filter(target)
    if chosen.height == 0:
        return w
    canonical = chosen.drop([*internal, rid, *RECOMPUTED_SCHEMA]).with_columns(
        pl.lit(None, pl.Float64()).alias("value"), pl.lit(None, pl.String()).alias("qualifier")
    )
    model = next(iter(usable.values())).fit.model
    read, _ = concentrations_from_signal(
        canonical, unit=None, model=model, accepted=accepted_curves(w, usable)
    )
    read = read.with_columns(_with_flag("recomputed_conc", pl.lit(True)))
    fresh = pl.concat([read, chosen.select(rid, *internal, *RECOMPUTED_SCHEMA)], how="horizontal")
    rest = base.filter(~target)
    return pl.concat([rest, fresh.select(rest.columns)], how="vertical").sort(rid).drop(rid)


def _censor_at_accepted_limits(w: pl.DataFrame, assay: Assay) -> pl.DataFrame:
    """Unknown ``=`` wells beyond the plate's LLOQ/ULOQ (the run's accepted range) become ``<`` LLOQ /
    ``>`` ULOQ, whatever the instrument printed (module doc, step 6). ``w`` carries the joined
    ``lloq_pg_ml``/``uloq_pg_ml``. With the assay's ``report_extrapolated`` (a documented deviation) they
    stay ``=`` with the instrument's number, marked ``extrapolated`` and flagged ``reported_beyond_range``."""
    in_well = (
        pl.col("value")
        * pl.col(FACTOR)
        / pl.when(pl.col("dilution_applied")).then(pl.col("dilution")).otherwise(pl.lit(1.0))
    )
    candidate = (
        (pl.col("sample_type") == "unknown")
        & (pl.col("qualifier") == "=")
        & pl.col("value").is_not_null()
        & (pl.col("value") >= 0)  # a negative concentration is held by validation, not censored
        & pl.col(FACTOR).is_not_null()
        & ~pl.col(LIMIT_FILLED)
    )
    # A value exactly at a limit is in range; a relative tolerance keeps unit round-trips from censoring it.
    below = (candidate & (in_well < pl.col("lloq_pg_ml") * (1 - 1e-9))).fill_null(False)
    above = (candidate & (in_well > pl.col("uloq_pg_ml") * (1 + 1e-9))).fill_null(False)
    w = w.with_columns(below.alias("_below"), above.alias("_above"))
    b, a = pl.col("_below"), pl.col("_above")
    if assay.report_extrapolated:
        return w.with_columns(
            extrapolated=pl.col("extrapolated").fill_null(False) | b | a,
            flags=_with_flag("reported_beyond_range", b | a),
        ).drop("_below", "_above")
    return (
        w.with_columns(
            qualifier=pl.when(b).then(pl.lit("<")).when(a).then(pl.lit(">")).otherwise(pl.col("qualifier")),
            value=pl.when(b)
            .then(pl.col("lloq_pg_ml") / pl.col(FACTOR))
            .when(a)
            .then(pl.col("uloq_pg_ml") / pl.col(FACTOR))
            .otherwise(pl.col("value")),
            extrapolated=pl.col("extrapolated").fill_null(False) | b | a,
            flags=_with_flag("below_accepted_lloq", b),
        )
        .with_columns(
            _with_flag("above_accepted_uloq", a),
            (pl.col(LIMIT_FILLED) | b | a).alias(LIMIT_FILLED),
        )
        .drop("_below", "_above")
    )


def standards_scale_problem(
    plate_id: str, analyte: str, top_pg_ml: float, assay: Assay, wells: pl.DataFrame
) -> str | None:
    """A sentence when the plate's top standard is ≥ 10× away from the kit's configured top standard
    (a unit typed wrong in the instrument protocol), else None. Every result of the analyte is then held:
    its values and its limits are on the wrong scale, censored ones included."""
    kit_top = assay.standards.top_pg_ml.get(analyte)
    if not kit_top or not top_pg_ml:
        return None
    ratio = top_pg_ml / kit_top
    if 0.1 <= ratio <= 10:
        return None
    n = wells.filter((pl.col("analyte") == analyte) & (pl.col("sample_type") == "unknown"))[
        "sample_id"
    ].n_unique()
    unit = str(wells.filter(pl.col("analyte") == analyte)["unit"].drop_nulls().first() or "pg/mL")
    head = (
        f"Plate {plate_id}: the {analyte} standards top out at {fmt_num(top_pg_ml)} pg/mL but the kit's "
        f"series in assays.yaml tops at {fmt_num(kit_top)} pg/mL"
    )
    held = f"so the {analyte} results of {n} sample{'s' if n != 1 else ''} are held"
    if 500 <= 1 / ratio <= 2000:
        return (
            f"{head} (1000× lower) — the plate probably has {analyte} entered in ng/mL under a {unit} "
            f"header, {held}. Check the unit with the lab and re-export."
        )
    if 500 <= ratio <= 2000:
        return (
            f"{head} (1000× higher) — the plate probably has {analyte} entered in pg/mL under a {unit} "
            f"header that means ng/mL, {held}. Check the unit with the lab and re-export."
        )
    return (
        f"{head} ({ratio:.3g}× that), {held}; check the standard concentrations in the instrument protocol "
        "(or the kit in assays.yaml) and re-export."
    )


def conc_expr() -> pl.Expr:
    """value × factor_to_pg_ml(unit) × (1 if dilution_applied else dilution); a limit filled from the
    standards/kit is in-well and always takes the dilution. Null when the unit is unknown or no value."""
    dil = (
        pl.when(pl.col("dilution_applied") & ~pl.col(LIMIT_FILLED).fill_null(False))
        .then(pl.lit(1.0))
        .otherwise(pl.col("dilution"))
    )
    return pl.col("value") * pl.col(FACTOR) * dil


def _standard_range(wells: pl.DataFrame) -> dict[str, tuple[float, float]]:
    """Per analyte, the plate's lowest/highest standard ``expected_conc`` > 0 (in-well pg/mL, known unit)."""
    std = (
        wells.filter(
            (pl.col("sample_type") == "standard")
            & (pl.col("expected_conc") > 0)
            & pl.col("analyte").is_not_null()
            & pl.col(FACTOR).is_not_null()
        )
        .group_by("analyte")
        .agg(
            lloq_pg_ml=(pl.col("expected_conc") * pl.col(FACTOR)).min(),
            uloq_pg_ml=(pl.col("expected_conc") * pl.col(FACTOR)).max(),
        )
    )
    return {r["analyte"]: (r["lloq_pg_ml"], r["uloq_pg_ml"]) for r in std.iter_rows(named=True)}


def _accepted_limits(
    wells: pl.DataFrame, curves: dict[str, StandardCurve] | None
) -> dict[str, tuple[float, float]]:
    """Per analyte, the run's lowest/highest accepted calibrator (in-well pg/mL; the curve is in the unit
    of the standards' ``expected_conc``); analytes without an accepted level or a known unit are left out."""
    out: dict[str, tuple[float, float]] = {}
    wanted = {a for a, c in (curves or {}).items() if c.lloq is not None and c.uloq is not None}
    if not wanted:
        return out
    # the first known unit factor of each analyte's standards, in row order: one pass over the plate
    std = wells.filter(
        pl.col("analyte").is_in(list(wanted))
        & (pl.col("sample_type") == "standard")
        & pl.col("expected_conc").is_not_null()
        & pl.col(FACTOR).is_not_null()
    )
    first: dict[str, float] = {}
    for analyte, factor in zip(std["analyte"].to_list(), std[FACTOR].to_list(), strict=True):
        first.setdefault(analyte, float(factor))
    for analyte, c in (curves or {}).items():
        if analyte in first and c.lloq is not None and c.uloq is not None:
            f = first[analyte]
            out[analyte] = (c.lloq * f, c.uloq * f)
    return out


def plate_limits(
    wells: pl.DataFrame, plate_id: str, assay: Assay, curves: dict[str, StandardCurve] | None = None
) -> pl.DataFrame:
    """In-well LLOQ/ULOQ (pg/mL) per analyte of the plate (module doc, step 6): with ``limits_from:
    standards`` the lowest/highest accepted calibrator of ``curves``, else the lowest/highest standard with
    an expected concentration > 0 (in a known unit), else the assay's kit limits, else null; with
    ``limits_from: kit`` the kit limits first."""
    from_std = {**_standard_range(wells), **_accepted_limits(wells, curves)}
    rows: list[dict[str, Any]] = []
    for analyte in sorted({a for a in wells["analyte"].unique().to_list() if a is not None}):
        kit = assay.kit_limits(analyte)
        if analyte in from_std and not (assay.limits_from == "kit" and kit):
            lo, hi = from_std[analyte]
            rows.append({"analyte": analyte, "lloq_pg_ml": lo, "uloq_pg_ml": hi, "limit_source": "standards"})
            continue
        rows.append(
            {
                "analyte": analyte,
                "lloq_pg_ml": kit[0] if kit else None,
                "uloq_pg_ml": kit[1] if kit else None,
                "limit_source": "kit" if kit else None,
            }
        )
    frame = (
        pl.DataFrame([{"plate_id": plate_id, **r} for r in rows], schema=LIMITS_SCHEMA, orient="row")
        if rows
        else pl.DataFrame(schema=LIMITS_SCHEMA)
    )
    return frame


def accepted_curves(w: pl.DataFrame, curves: dict[str, StandardCurve]) -> dict[str, AcceptedCurve]:
    """Per analyte, the calibration to read signals through: the final fit after masking, censored at the
    accepted LLOQ/ULOQ (when no level was accepted — a run that fails acceptance anyway — at the ends of
    the levels left in the curve)."""
    out: dict[str, AcceptedCurve] = {}
    for analyte, c in curves.items():
        in_curve = [lv.nominal for lv in c.levels if lv.nominal > 0 and not lv.masked]
        lo = c.lloq if c.lloq is not None else min(in_curve, default=math.nan)
        hi = c.uloq if c.uloq is not None else max(in_curve, default=math.nan)
        aw = w.filter(pl.col("analyte") == analyte)
        out[analyte] = AcceptedCurve(c.fit, lo, hi, signal_offset=background(aw))
    return out


def _apply_curve(
    w: pl.DataFrame, unit: str, plate_id: str, assay: Assay, curves: dict[str, StandardCurve]
) -> tuple[pl.DataFrame, str, dict[str, str]]:
    """Concentrations of a signal-only plate through its accepted standard curves (the ones recorded in
    ``curves``; assay/curves.py reads the signals), keeping the internal columns. Returns the wells, a
    curve note for the plate record and, per analyte whose curve could not be fitted, the reason (its
    wells stay NR with the flag ``curve_failed``)."""
    internal = [c for c in w.columns if c.startswith("_")]
    out, fits = concentrations_from_signal(
        w.drop(internal),
        unit=unit,
        model=assay.curve_model,
        weighting=assay.curve_weighting,
        accepted=accepted_curves(w, curves),
    )
    if out.height != w.height:  # the curve contract: same rows, same order
        raise AssertionError(f"plate {plate_id}: the curve returned {out.height} rows for {w.height}")
    out = pl.concat([out, w.select(internal)], how="horizontal").select(w.columns)
    notes, failed = [], {}
    for key, fit in fits.items():
        if fit.converged:
            masked = curves[key].masked if key in curves else ()
            extra = f", {', '.join(masked)} masked" if masked else ""
            notes.append(f"{key} R²={fit.r_squared:.4f} ({fit.n_points} standard levels{extra})")
        else:
            failed[key] = fit.message
            notes.append(f"{key}: no curve ({fit.message})")
    weighting = next(iter(fits.values())).weighting if fits else "1/y2"
    note = (
        f"concentrations from a {weighting}-weighted {assay.curve_model} fitted to the plate's standards: "
        + "; ".join(notes)
    )
    return out, note, failed


def _wells_text(wells: list[str | None], limit: int = 12) -> str | None:
    ws = [x for x in dict.fromkeys(wells) if x]
    if not ws:
        return None
    return ",".join(ws) if len(ws) <= limit else ",".join(ws[:limit]) + f",… ({len(ws)} wells)"


__all__ = [
    "LIMITS_SCHEMA",
    "RECOMPUTED_SCHEMA",
    "PreparedPlate",
    "conc_expr",
    "fmt_num",
    "match_assay",
    "prepare_plate",
]
