"""Validation of the well table and the results: Pandera for structure, polars for rules needing config.

Nothing is dropped silently. Every failure becomes one row of ``schemas.results.QUARANTINE_SCHEMA`` with a
plain sentence ending in what to do, and a severity:

- ``reject``: the row is not loaded (a well that breaks the well-table rules, a result that breaks the
  result rules, an analyte outside the catalogue);
- ``hold``: loaded with status ``held`` and a ``hold_reason`` (a value outside the plausible range, a
  negative concentration, no usable unit), waiting for review;
- ``warning``: loaded and flagged (high replicate CV).

Pandera failures are mapped back to rows through ``failure_cases["index"]`` (the row position); a failure
with a null index is a whole-table problem (a missing column, a wrong dtype) and quarantines the file.
Values are cleaned and typed in polars before validation; validation never coerces and never drops rows.
Frames go through schemas/quick_check.py first (the same rules in one pass); Pandera itself runs on the
frames that do not pass it, and names the failures.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import pandera.polars as pa
import polars as pl

from schemas.config import Config
from schemas.quick_check import passes
from schemas.results import QUARANTINE_SCHEMA, RESULT_SCHEMA, ResultModel
from schemas.wells import WELL_COLUMNS, WellModel

HOLD = "_hold"
"""Internal well column: the rule code that keeps a well out of the results (null: the well is usable)."""

REJECT_RULES = frozenset({"unknown_analyte", "analyte_not_in_assay", "well_schema", "missing_sample_id"})
"""Well-level rules whose wells give no result at all (other hold codes give a held result)."""

_CHECK_TEXT = {
    "well": "is not a plate position (A1–P24)",
    "sample_type": "is not a known sample type (unknown, standard, qc, blank, control)",
    "qualifier": "is not a known qualifier (=, <, >, NR)",
    "dilution": "is not a dilution factor above 0",
    "row_number": "is not a line number",
    "plate_id": "is empty",
}


def quarantine_frame(rows: list[dict[str, object]]) -> pl.DataFrame:
    """Quarantine rows (dicts with any subset of QUARANTINE_SCHEMA keys) as a typed frame."""
    if not rows:
        return pl.DataFrame(schema=QUARANTINE_SCHEMA)
    return pl.DataFrame(
        [{k: r.get(k) for k in QUARANTINE_SCHEMA} for r in rows], schema=QUARANTINE_SCHEMA, orient="row"
    )


def fmt_num(v: float | None) -> str:
    """A concentration for a sentence: thousands separators, about 6 significant digits, no exponent
    above 1 (28.1, 28,100, 5,000,000, 0.105)."""
    if v is None:
        return "(none)"
    if v == 0:
        return "0"
    if abs(v) < 1:
        return f"{v:.3g}"
    decimals = max(0, 5 - math.floor(math.log10(abs(v))))
    text = f"{v:,.{decimals}f}"
    return text.rstrip("0").rstrip(".") if "." in text else text


def add_flag(flags: pl.Expr, flag: str | pl.Expr, when: pl.Expr) -> pl.Expr:
    """``flags`` (';'-separated or null) with ``flag`` appended where ``when`` holds."""
    new = pl.lit(flag) if isinstance(flag, str) else flag
    appended = (
        pl.when(flags.is_null() | (flags == "")).then(new).otherwise(pl.concat_str([flags, pl.lit(";"), new]))
    )
    return pl.when(when).then(appended).otherwise(flags)


def add_reason(reasons: pl.Expr, reason: str | pl.Expr, when: pl.Expr) -> pl.Expr:
    """``hold_reason`` with ``reason`` appended ('; '-separated) where ``when`` holds."""
    new = pl.lit(reason) if isinstance(reason, str) else reason
    appended = pl.when(reasons.is_null()).then(new).otherwise(pl.concat_str([reasons, pl.lit("; "), new]))
    return pl.when(when).then(appended).otherwise(reasons)


# --------------------------------------------------------------------------------------------------- wells


@dataclass(frozen=True)
class WellCheck:
    wells: pl.DataFrame  # the input with HOLD set on failing rows ("well_schema", "negative_value")
    quarantine: pl.DataFrame
    whole_file: str | None = None  # set when the table itself is unusable (null-index failure)


def check_wells(wells: pl.DataFrame, source_sha256: str) -> WellCheck:
    """Structural rules (schemas.wells.WellModel) and the non-negative rule over a prepared well table.

    ``wells`` carries the canonical columns (plus any internal ``_`` columns, ignored here). Rows failing
    WellModel get HOLD ``well_schema`` (rejected: not loaded); a negative value gets HOLD
    ``negative_value`` (its result is held)."""
    if HOLD not in wells.columns:
        wells = wells.with_columns(pl.lit(None, pl.String()).alias(HOLD))
    rows: list[dict[str, object]] = []
    whole: str | None = None
    bad_idx: dict[int, list[str]] = {}
    try:
        table = wells.select(WELL_COLUMNS)
        if not passes(WellModel, table):  # the one-pass fast path; Pandera names the failures
            WellModel.validate(table, lazy=True)
    except pa.errors.SchemaErrors as exc:
        for r in exc.failure_cases.iter_rows(named=True):
            if r["index"] is None:
                whole = f"the well table fails {r['check']} on {r['column']}"
                continue
            col = str(r["column"])
            what = _CHECK_TEXT.get(col, f"fails the rule {r['check']}")
            shown = "empty" if r["failure_case"] is None else repr(str(r["failure_case"]))
            bad_idx.setdefault(int(r["index"]), []).append(f"{col} {shown} {what}")
    if whole is not None:
        src = wells["source_file"][0] if wells.height else None
        rows.append(
            {
                "source_file": src,
                "source_sha256": source_sha256,
                "rule": "well_schema",
                "severity": "reject",
                "message": f"The reader produced an unusable well table ({whole}); this is a pipeline "
                "defect — tell the data team, who will fix the reader and re-run the file.",
            }
        )
        return WellCheck(wells, quarantine_frame(rows), whole_file=whole)
    if bad_idx:
        mask = pl.Series([i in bad_idx for i in range(wells.height)])
        wells = wells.with_columns(
            pl.when(mask).then(pl.lit("well_schema")).otherwise(pl.col(HOLD)).alias(HOLD)
        )
        for i, problems in sorted(bad_idx.items()):
            w = wells.row(i, named=True)
            rows.append(
                _well_row(
                    w,
                    source_sha256,
                    "well_schema",
                    "reject",
                    f"Plate {w['plate_id']} {_where(w)}: {'; '.join(problems)}, so this value is not loaded; "
                    "correct the export (or the plate map) and upload it again.",
                )
            )
    negative = (pl.col("value") < 0) & pl.col(HOLD).is_null()
    neg = wells.filter(negative)
    for w in neg.iter_rows(named=True):
        rows.append(
            _well_row(
                w,
                source_sha256,
                "negative_value",
                "hold",
                f"Plate {w['plate_id']} well {w['well']}: {w['analyte'] or w['analyte_as_written']} is "
                f"reported as {_value_with_unit(w)}, a negative concentration, so the result of sample "
                f"{w['sample_id']} is held; ask the lab whether the well is below range and should be "
                "re-exported as such.",
            )
        )
    if neg.height:
        wells = wells.with_columns(
            pl.when(negative).then(pl.lit("negative_value")).otherwise(pl.col(HOLD)).alias(HOLD)
        )
    wells, inf_rows = _hold_non_finite(wells, source_sha256)
    return WellCheck(wells, quarantine_frame(rows + inf_rows))


_NON_FINITE_HINT = r"(?i)inf|\de\+?\d{3}"  # cheap pre-filter; non_finite_text() decides


def non_finite_text(text: str | None) -> bool:
    """``Infinity``, ``-inf``, ``1e309`` (a number too large for a float): text that is a number to a
    reader but no concentration. ``NaN`` is not one of them — instruments print it for "below the curve",
    and readers turn it into NR with that reason."""
    if not text:
        return False
    t = text.strip().lstrip("*<>=~").strip().replace(",", "")
    try:
        v = float(t)
    except ValueError:
        return False
    return math.isinf(v)


def _hold_non_finite(wells: pl.DataFrame, sha: str) -> tuple[pl.DataFrame, list[dict[str, object]]]:
    """A well whose value is infinite or overflows (``Infinity``, ``-inf``, ``1e309``) was read as "not
    reported" (or as an infinite number): it would vanish from the replicate mean. It is held, naming
    the value, so the result is held too (issue 14: every value lands or is accounted for)."""
    maybe = pl.col(HOLD).is_null() & (
        pl.col("value").is_infinite().fill_null(False)
        | pl.col("reported_text").str.contains(_NON_FINITE_HINT).fill_null(False)
    )
    cand = wells.with_row_index("_nf_row").filter(maybe)
    if cand.height == 0:
        return wells, []
    rows: list[dict[str, object]] = []
    hit: list[int] = []
    for w in cand.iter_rows(named=True):
        v = w["value"]
        if not (isinstance(v, float) and math.isinf(v)) and not non_finite_text(w["reported_text"]):
            continue
        hit.append(w["_nf_row"])
        shown = w["reported_text"] if w["reported_text"] else str(v)
        rows.append(
            _well_row(
                w,
                sha,
                "non_finite_value",
                "hold",
                f"Plate {w['plate_id']} {_where(w)}: {w['analyte'] or w['analyte_as_written']} is "
                f"reported as {shown!r}, which is not a finite concentration (infinite, or too large for "
                f"a number), so the result of sample {w['sample_id']} is held; ask the lab to check the "
                "well and re-export the plate.",
            )
        )
    if not hit:
        return wells, []
    mask = pl.int_range(pl.len()).is_in(hit)
    wells = wells.with_columns(
        pl.when(mask).then(pl.lit("non_finite_value")).otherwise(pl.col(HOLD)).alias(HOLD),
        pl.when(mask & pl.col("value").is_infinite().fill_null(False))
        .then(pl.lit(None, pl.Float64()))
        .otherwise(pl.col("value"))
        .alias("value"),
    )
    return wells, rows


def _where(w: dict[str, object]) -> str:
    parts = [
        f"well {w['well']}" if w.get("well") else None,
        f"line {w['row_number']}" if w.get("row_number") else None,
    ]
    return ", ".join(p for p in parts if p) or "(unknown position)"


def _well_row(w: dict[str, object], sha: str, rule: str, severity: str, message: str) -> dict[str, object]:
    return {
        "source_file": w.get("source_file"),
        "source_sha256": sha,
        "plate_id": w.get("plate_id"),
        "well": w.get("well"),
        "row_number": w.get("row_number"),
        "sample_id": w.get("sample_id"),
        "analyte": w.get("analyte") or w.get("analyte_as_written"),
        "value_text": w.get("reported_text")
        if w.get("reported_text") is not None
        else _num_text(w.get("value")),
        "rule": rule,
        "severity": severity,
        "message": message,
    }


def _value_with_unit(w: dict[str, object]) -> str:
    text = w.get("reported_text") or fmt_num(w.get("value"))  # type: ignore[arg-type]
    return f"{text} {w['unit']}" if w.get("unit") else str(text)


def _num_text(v: object) -> str | None:
    return None if v is None else str(v)


# ------------------------------------------------------------------------------------------------- results


def plausibility_message(
    matrix_label: str,
    analyte: str,
    conc: float,
    lo: float | None,
    hi: float | None,
    unit_as_written: str | None,
) -> str:
    """The sentence for a result outside its plausible range, saying so when ×1000 or ÷1000 would fit."""
    rng = _range_text(lo, hi)
    below = lo is not None and conc < lo
    head = f"{matrix_label} {analyte} {fmt_num(conc)} pg/mL is"
    if below and _inside(conc * 1000, lo, hi):
        bigger, header = _unit_pair(unit_as_written, up=True)
        return (
            f"{head} far below the plausible range {rng} for {matrix_label}; ×1000 it would be "
            f"{fmt_num(conc * 1000)} — the file probably reports {bigger} under a {header} "
            "header. Check the unit with the lab and re-export."
        )
    if not below and _inside(conc / 1000, lo, hi):
        smaller, header = _unit_pair(unit_as_written, up=False)
        return (
            f"{head} far above the plausible range {rng} for {matrix_label}; ÷1000 it would be "
            f"{fmt_num(conc / 1000)} — the file probably reports {smaller} under a {header} "
            "header. Check the unit with the lab and re-export."
        )
    side = "below" if below else "above"
    return (
        f"{head} {side} the plausible range {rng} for {matrix_label}. Check the value and the sample with "
        "the lab; if it is right, release the hold."
    )


_UNIT_LADDER = ["fg/mL", "pg/mL", "ng/mL", "µg/mL", "mg/mL"]


def _unit_pair(unit_as_written: str | None, *, up: bool) -> tuple[str, str]:
    from readers.units import normalise_unit

    header = unit_as_written or "pg/mL"
    keys = [normalise_unit(u) for u in _UNIT_LADDER]
    key = normalise_unit(header)
    if key in keys:
        i = keys.index(key)
        j = i + 1 if up else i - 1
        if 0 <= j < len(_UNIT_LADDER):
            return _UNIT_LADDER[j], header
    return ("values 1000× larger" if up else "values 1000× smaller"), header


def _inside(v: float, lo: float | None, hi: float | None) -> bool:
    return (lo is None or v >= lo) and (hi is None or v <= hi)


def _range_text(lo: float | None, hi: float | None) -> str:
    if lo is not None and hi is not None:
        return f"{fmt_num(lo)}–{fmt_num(hi)} pg/mL"
    if lo is not None:
        return f"of at least {fmt_num(lo)} pg/mL"
    return f"of up to {fmt_num(hi)} pg/mL"


def matrix_label(config: Config, code: str) -> str:
    """How a sentence names a matrix: 'serum' for Serum, 'CSF' for Cerebrospinal fluid (multi-word names
    use their code)."""
    m = next((m for m in config.study.matrices if m.code == code), None)
    if m is None:
        return code
    return m.name.lower() if len(m.name.split()) == 1 else m.code


def check_results(results: pl.DataFrame, config: Config) -> tuple[pl.DataFrame, pl.DataFrame]:
    """Data rules that need configuration, on aggregated results (before status is set).

    - plausible range per analyte × matrix (analytes.yaml), inclusive at both ends, for ``=`` results
      only (a censored result is not range-checked on its limit) → ``hold_reason`` + flag
      ``plausible_range`` + a quarantine row (hold);
    - analyte in the catalogue and a converted concentration for every ``=``/``<``/``>`` result; a negative
      concentration → reject (these are defects upstream: prepare/replicates should never produce them).
    """
    rows: list[dict[str, object]] = []
    lo_map: dict[tuple[str, str], float | None] = {}
    hi_map: dict[tuple[str, str], float | None] = {}
    for an in config.catalogue.analytes:
        for mx, (lo, hi) in an.plausible_pg_ml.items():
            lo_map[(an.name, mx)] = lo
            hi_map[(an.name, mx)] = hi
    out_idx: list[int] = []
    reasons: list[str | None] = [None] * results.height
    for i, r in enumerate(results.iter_rows(named=True)):
        if r["qualifier"] != "=" or r["conc_pg_ml"] is None or r["matrix"] is None:
            continue
        key = (r["analyte"], r["matrix"])
        if key not in lo_map:
            continue
        lo, hi = lo_map[key], hi_map[key]
        conc = float(r["conc_pg_ml"])
        if _inside(conc, lo, hi):
            continue
        out_idx.append(i)
        msg = plausibility_message(
            matrix_label(config, r["matrix"]), r["analyte"], conc, lo, hi, r["unit_as_written"]
        )
        reasons[i] = msg
        rows.append(
            {
                **_result_where(r),
                "value_text": fmt_num(conc),
                "rule": "plausible_range",
                "severity": "hold",
                "message": f"Plate {r['plate_id']} sample {r['sample_id']}: {msg}",
            }
        )
    if out_idx:
        mask = pl.Series([False] * results.height)
        mask[out_idx] = True
        reason_s = pl.Series("_r", reasons, dtype=pl.String())
        results = results.with_columns(
            add_flag(pl.col("flags"), "plausible_range", pl.lit(mask)).alias("flags"),
            add_reason(pl.col("hold_reason"), pl.lit(reason_s), pl.lit(mask)).alias("hold_reason"),
        )
    results, id_rows = _hold_unexportable_ids(results)
    rows += id_rows
    known = set(config.catalogue.names)
    bad = results.with_row_index("_i").filter(
        ~pl.col("analyte").is_in(list(known))
        | (pl.col("conc_pg_ml") < 0)
        | (pl.col("qualifier").is_in(["=", "<", ">"]) & pl.col("conc_pg_ml").is_null())
    )
    if bad.height:
        for r in bad.iter_rows(named=True):
            rows.append(
                {
                    **_result_where(r),
                    "value_text": r["reported_texts"],
                    "rule": "result_rule",
                    "severity": "reject",
                    "message": f"Plate {r['plate_id']} sample {r['sample_id']} {r['analyte']}: the result "
                    f"has an unknown analyte, a negative or a missing concentration ({r['qualifier']} "
                    f"{fmt_num(r['conc_pg_ml'])}), so it is not loaded; this is a pipeline defect — tell the "
                    "data team.",
                }
            )
        results = results.filter(~pl.Series(range(results.height)).is_in(bad["_i"].to_list()))
    return results, quarantine_frame(rows)


SDTM_MAX_CHARS = 200  # SAS transport v5: at most 200 bytes per character value, ASCII only
_ID_FIELDS = {"sample_id": "sample ID", "participant_id": "participant ID", "sample_condition": "condition"}


def id_problem(value: str) -> str | None:
    """Why an identifier cannot go into the SDTM export (SAS transport v5), or None. Checked at ingest so
    one bad ID holds its result with the rule, instead of blocking the whole export later (issue 14)."""
    if any(ord(ch) < 32 or ord(ch) == 127 for ch in value):
        return "contains a control character (tab, line break...)"
    if not value.isascii():
        return "contains non-ASCII characters (SAS transport v5 accepts ASCII only)"
    if len(value) > SDTM_MAX_CHARS:
        return f"is {len(value)} characters long (SAS transport v5 allows {SDTM_MAX_CHARS})"
    return None


def _hold_unexportable_ids(results: pl.DataFrame) -> tuple[pl.DataFrame, list[dict[str, object]]]:
    fields = [f for f in _ID_FIELDS if f in results.columns]
    if not fields or results.height == 0:
        return results, []
    rows: list[dict[str, object]] = []
    reasons: list[str | None] = [None] * results.height
    for i, r in enumerate(
        results.select(*fields, *(c for c in _RESULT_WHERE if c in results.columns)).iter_rows(named=True)
    ):
        problems = []
        for f in fields:
            v = r[f]
            why = id_problem(v) if isinstance(v, str) else None
            if why:
                problems.append(f"the {_ID_FIELDS[f]} {_shown_id(v)} {why}")
        if not problems:
            continue
        reasons[i] = "an identifier cannot go into the SDTM export: " + "; ".join(problems)
        rows.append(
            {
                **_result_where(r),
                "value_text": _shown_id(str(r.get("sample_id") or "")),
                "rule": "id_not_exportable",
                "severity": "hold",
                "message": f"Plate {_shown_id(str(r.get('plate_id') or ''))}: {'; '.join(problems)}, so "
                "the result is held; correct the ID in the export or the sample manifest (ASCII, at most "
                f"{SDTM_MAX_CHARS} characters, no control characters) and upload it again.",
            }
        )
    if not rows:
        return results, []
    mask = pl.Series([x is not None for x in reasons])
    reason_s = pl.Series("_r", reasons, dtype=pl.String())
    results = results.with_columns(
        add_flag(pl.col("flags"), "id_not_exportable", pl.lit(mask)).alias("flags"),
        add_reason(pl.col("hold_reason"), pl.lit(reason_s), pl.lit(mask)).alias("hold_reason"),
    )
    return results, rows


def _shown_id(v: str) -> str:
    """An ID as a message can show it: escaped, and cut when very long."""
    text = ascii(v)
    return text if len(text) <= 60 else f"{text[:57]}...' ({len(v)} characters)"


_RESULT_WHERE = ("source_file", "source_sha256", "plate_id", "wells", "_row_number", "analyte")


def _result_where(r: dict[str, object]) -> dict[str, object]:
    return {
        "source_file": r.get("source_file"),
        "source_sha256": r.get("source_sha256"),
        "plate_id": r.get("plate_id"),
        "well": r.get("wells"),
        "row_number": r.get("_row_number"),
        "sample_id": r.get("sample_id"),
        "analyte": r.get("analyte"),
    }


def set_status(results: pl.DataFrame) -> pl.DataFrame:
    """``unresolved`` when the sample is not in the manifest, else ``held`` when a rule holds it, else
    ``loaded``. (An unresolved result may carry a hold_reason too: it stays on hold once it resolves.)"""
    return results.with_columns(
        status=pl.when(pl.col("participant_id").is_null())
        .then(pl.lit("unresolved"))
        .when(pl.col("hold_reason").is_not_null())
        .then(pl.lit("held"))
        .otherwise(pl.lit("loaded"))
    )


def validate_results(results: pl.DataFrame) -> tuple[pl.DataFrame, pl.DataFrame]:
    """Pandera ``ResultModel`` over the result rows; failing rows are removed and reported (reject).

    ``results`` may carry internal ``_`` columns (kept on the rows that pass)."""
    rows: list[dict[str, object]] = []
    try:
        table = results.select([c for c in RESULT_SCHEMA if c in results.columns])
        if not passes(ResultModel, table):  # the one-pass fast path; Pandera names the failures
            ResultModel.validate(table, lazy=True)
    except pa.errors.SchemaErrors as exc:
        fc = exc.failure_cases
        if fc["index"].null_count():
            first = fc.filter(pl.col("index").is_null()).row(0, named=True)
            src = results["source_file"][0] if results.height else None
            sha = results["source_sha256"][0] if results.height else None
            rows.append(
                {
                    "source_file": src,
                    "source_sha256": sha,
                    "rule": "result_schema",
                    "severity": "reject",
                    "message": f"The results of this file fail {first['check']} on {first['column']}, so "
                    "none is loaded; this is a pipeline defect — tell the data team, who will fix it and "
                    "re-run the file.",
                }
            )
            return results.clear(), quarantine_frame(rows)
        by_row: dict[int, list[str]] = {}
        for r in fc.iter_rows(named=True):
            by_row.setdefault(int(r["index"]), []).append(f"{r['column']}: {r['check']}")
        for i, problems in sorted(by_row.items()):
            r = results.row(i, named=True)
            rows.append(
                {
                    **_result_where(r),
                    "value_text": r["reported_texts"],
                    "rule": "result_schema",
                    "severity": "reject",
                    "message": f"Plate {r['plate_id']} sample {r['sample_id']} {r['analyte']}: the result "
                    f"breaks the result rules ({'; '.join(problems)}), so it is not loaded; this is a "
                    "pipeline defect — tell the data team.",
                }
            )
        keep = pl.Series([i not in by_row for i in range(results.height)])
        results = results.filter(keep)
    return results, quarantine_frame(rows)
