"""Replicate wells → one result per plate × sample × analyte, with its censoring.

Only unknown-sample wells give results; standards, QCs, blanks and controls stay in the well table.
A well is *usable* when it has a qualifier ``=``/``<``/``>``, a ``conc_pg_ml`` (already in pg/mL in the
sample, dilution applied once by pipeline/prepare) and no hold. ``NR`` wells and held wells are counted in
``n_wells`` but give no number. "Numeric replicates" are the usable ``=`` wells.

Censoring rules (LLOQ/ULOQ below are the run's in-well limits × the sample's dilution):

- all usable replicates ``=`` → ``=``, ``conc_pg_ml`` = their mean;
- all usable replicates ``<`` → ``<``, ``conc_pg_ml`` = the limit (the highest, if they differ);
- all usable replicates ``>`` → ``>``, ``conc_pg_ml`` = the limit (the lowest, if they differ);
- ``<`` mixed with ``=`` → the mean with each censored replicate at its limit; if that mean is below the
  LLOQ the result is ``<`` LLOQ, else ``=`` the mean; flag ``mixed_censoring`` either way;
- ``>`` mixed with ``=`` → likewise against the ULOQ (``>`` ULOQ when the mean is above it);
- ``<`` and ``>`` in one group → ``NR``, held (``conflicting_censoring``): the replicates contradict;
- no usable replicate (all ``NR``, or all held) → ``NR``, ``conc_pg_ml`` null;
- replicates at different dilutions → computed as above, but held (``mixed_dilution``).

``cv_pct`` = sample SD / mean × 100 over the numeric replicates (null with fewer than 2, or a mean of 0);
above ``assay.replicate_cv_max_pct.unknown`` → flag ``high_cv`` and a quarantine *warning* (the result
is still loaded) — only when the group's mean signal is above ``acceptance.replicate_cv_min_mean_signal``
(LabKey: MFI > 100; near background a CV means little) or its wells carry no signal. ``recomputed_conc``
(flag) when the value is our curve's, not the instrument's (``assay.reported_value: recomputed``).
``extrapolated`` (and the flag) when any replicate was. Every well-level hold
(``unit_unknown``, ``limit_unknown``, ``negative_value``) puts its code in ``flags`` and a reason in
``hold_reason``. ``n_replicates`` counts the numeric replicates, ``n_wells`` every well of the group.

``result_id`` = the first 32 hex digits of sha256 of ``source_sha256|plate_id|sample_id|analyte|assay_id``.
"""

from __future__ import annotations

import hashlib

import polars as pl

from pipeline.validate import HOLD, REJECT_RULES, fmt_num, quarantine_frame
from readers.base import PlateInfo
from schemas.config import Assay, Config
from schemas.results import HOLD_TEXT, RESULT_SCHEMA

ROW_NUMBER = "_row_number"  # internal result column: first line of the group's wells (for quarantine rows)


def result_id(source_sha256: str, plate_id: str, sample_id: str, analyte: str, assay_id: str) -> str:
    key = f"{source_sha256}|{plate_id}|{sample_id}|{analyte}|{assay_id}"
    return hashlib.sha256(key.encode("utf-8")).hexdigest()[:32]


def empty_results() -> pl.DataFrame:
    """No results: RESULT_SCHEMA plus the internal ``_row_number``."""
    return pl.DataFrame(schema={**RESULT_SCHEMA, ROW_NUMBER: pl.Int64()})


def aggregate(
    wells: pl.DataFrame,
    limits: pl.DataFrame,
    plate: PlateInfo,
    assay: Assay,
    config: Config,
    source_sha256: str,
    analyte_holds: dict[str, str] | None = None,
) -> tuple[pl.DataFrame, pl.DataFrame]:
    """Results (RESULT_SCHEMA + internal ``_row_number``; participant/visit/matrix still null, status
    ``loaded`` until resolve/validate decide) and quarantine rows for one prepared plate.

    ``analyte_holds`` (analyte → hold code) holds every result of an analyte, e.g. when the plate's
    standards are on the wrong scale (the quarantine row for it comes from pipeline/prepare)."""
    if HOLD not in wells.columns:
        wells = wells.with_columns(pl.lit(None, pl.String()).alias(HOLD))
    src = wells["source_file"][0] if wells.height else ""
    q: list[dict[str, object]] = []
    unknown = wells.filter(pl.col("sample_type") == "unknown").with_columns(
        pl.col("sample_id").str.strip_chars()
    )
    no_id = unknown.filter(
        (pl.col("sample_id").is_null() | (pl.col("sample_id") == ""))
        & (pl.col(HOLD).is_null() | ~pl.col(HOLD).is_in(list(REJECT_RULES)))
    )
    for well, g in no_id.group_by("well", maintain_order=True):
        q.append(
            {
                "source_file": src,
                "source_sha256": source_sha256,
                "plate_id": plate.plate_id,
                "well": well[0],
                "row_number": g["row_number"].min(),
                "rule": "missing_sample_id",
                "severity": "reject",
                "message": f"Plate {plate.plate_id} well {well[0]}: a sample well has no sample ID, so "
                f"its {g.height} value(s) are not loaded; fill in the sample ID on the plate map or in the "
                "export and upload the file again.",
            }
        )
    groups = unknown.filter(
        pl.col("sample_id").is_not_null()
        & (pl.col("sample_id") != "")
        & pl.col("analyte").is_not_null()
        & (pl.col(HOLD).is_null() | ~pl.col(HOLD).is_in(list(REJECT_RULES)))
    )
    if groups.height == 0:
        return empty_results(), quarantine_frame(q)

    usable = (
        pl.col(HOLD).is_null()
        & pl.col("qualifier").is_in(["=", "<", ">"])
        & pl.col("conc_pg_ml").is_not_null()
    )
    eq, lt, gt = (usable & (pl.col("qualifier") == s) for s in ("=", "<", ">"))
    conc = pl.col("conc_pg_ml")
    agg = (
        groups.sort("row_number", "well", nulls_last=True, maintain_order=True)
        .group_by("plate_id", "sample_id", "analyte", maintain_order=True)
        .agg(
            n_wells=pl.len().cast(pl.Int32()),
            n_eq=eq.sum().cast(pl.Int32()),
            n_lt=lt.sum().cast(pl.Int32()),
            n_gt=gt.sum().cast(pl.Int32()),
            mean_eq=conc.filter(eq).mean(),
            sd_eq=conc.filter(eq).std(ddof=1),
            mean_usable=conc.filter(usable).mean(),
            lt_limit=conc.filter(lt).max(),
            gt_limit=conc.filter(gt).min(),
            n_dilutions=pl.col("dilution").n_unique(),
            dilutions=pl.col("dilution").unique(maintain_order=True),
            dilution=pl.col("dilution").first(),
            wells=pl.col("well").unique(maintain_order=True).str.join(","),
            texts=pl.col("reported_text").fill_null("").str.join("|"),
            any_text=pl.col("reported_text").is_not_null().any(),
            units=pl.col("unit").drop_nulls().unique(maintain_order=True).str.join("|"),
            extrapolated=pl.col("extrapolated").fill_null(False).any(),
            recomputed=pl.col("flags").fill_null("").str.contains("recomputed_conc").any(),
            mean_signal=pl.col("signal").mean(),
            holds=pl.col(HOLD).drop_nulls().unique(maintain_order=True),
            neg_wells=pl.col("well").filter(pl.col(HOLD) == "negative_value").str.join(","),
            _row_number=pl.col("row_number").min(),
        )
    )
    agg = agg.join(
        limits.select("analyte", "lloq_pg_ml", "uloq_pg_ml"), on="analyte", how="left", maintain_order="left"
    ).with_columns(
        lloq_s=pl.col("lloq_pg_ml") * pl.col("dilution"),
        uloq_s=pl.col("uloq_pg_ml") * pl.col("dilution"),
    )
    n_eq, n_lt, n_gt = pl.col("n_eq"), pl.col("n_lt"), pl.col("n_gt")
    conflict = (n_lt > 0) & (n_gt > 0)
    none_usable = (n_eq + n_lt + n_gt) == 0
    below = (
        (n_eq > 0) & (n_lt > 0) & pl.col("lloq_s").is_not_null() & (pl.col("mean_usable") < pl.col("lloq_s"))
    )
    above = (
        (n_eq > 0) & (n_gt > 0) & pl.col("uloq_s").is_not_null() & (pl.col("mean_usable") > pl.col("uloq_s"))
    )
    qualifier = (
        pl.when(conflict | none_usable)
        .then(pl.lit("NR"))
        .when((n_eq == 0) & (n_lt > 0))
        .then(pl.lit("<"))
        .when((n_eq == 0) & (n_gt > 0))
        .then(pl.lit(">"))
        .when(below)
        .then(pl.lit("<"))
        .when(above)
        .then(pl.lit(">"))
        .otherwise(pl.lit("="))
    )
    value = (
        pl.when(conflict | none_usable)
        .then(pl.lit(None, pl.Float64()))
        .when((n_eq == 0) & (n_lt > 0))
        .then(pl.col("lt_limit"))
        .when((n_eq == 0) & (n_gt > 0))
        .then(pl.col("gt_limit"))
        .when(below)
        .then(pl.col("lloq_s"))
        .when(above)
        .then(pl.col("uloq_s"))
        .when((n_lt > 0) | (n_gt > 0))
        .then(pl.col("mean_usable"))
        .otherwise(pl.col("mean_eq"))
    )
    cv = (
        pl.when((n_eq >= 2) & (pl.col("mean_eq") > 0))
        .then(pl.col("sd_eq") / pl.col("mean_eq") * 100)
        .otherwise(pl.lit(None, pl.Float64()))
    )
    cv_max = assay.replicate_cv_max_pct.unknown
    min_signal = assay.acceptance.replicate_cv_min_mean_signal
    res = agg.with_columns(qualifier=qualifier, conc_pg_ml=value, cv_pct=cv)
    # LabKey's rule: a high CV counts only above a minimum mean signal (near background the CV of a few
    # counts is meaningless); a group whose wells carry no signal is judged on its CV alone
    judged_cv = (
        pl.lit(True)
        if min_signal is None
        else pl.col("mean_signal").is_null() | (pl.col("mean_signal") > min_signal)
    )
    res = res.with_columns(high_cv=((pl.col("cv_pct") > cv_max) & judged_cv).fill_null(False))
    plate_hold = pl.col("analyte").replace_strict(analyte_holds or {}, default=None, return_dtype=pl.String())
    res = res.with_columns(holds=pl.concat_list(pl.col("holds"), plate_hold).list.drop_nulls())
    mixed = (n_eq > 0) & ((n_lt > 0) | (n_gt > 0)) & ~conflict
    flag_parts: list[pl.Expr] = [
        pl.when(pl.col("high_cv")).then(pl.lit("high_cv")),
        pl.when(pl.col("recomputed")).then(pl.lit("recomputed_conc")),
        pl.when(pl.col("extrapolated")).then(pl.lit("extrapolated")),
        pl.when(mixed).then(pl.lit("mixed_censoring")),
        pl.when(conflict).then(pl.lit("conflicting_censoring")),
        pl.when(pl.col("n_dilutions") > 1).then(pl.lit("mixed_dilution")),
    ]
    res = res.with_columns(
        _flags=pl.concat_list(flag_parts).list.concat(pl.col("holds")).list.drop_nulls(),
    )
    res = res.with_columns(
        flags=pl.when(pl.col("_flags").list.len() > 0).then(pl.col("_flags").list.join(";")),
    )
    hold_codes = (
        pl.concat_list(
            pl.when(conflict).then(pl.lit("conflicting_censoring")),
            pl.when(pl.col("n_dilutions") > 1).then(pl.lit("mixed_dilution")),
        )
        .list.concat(pl.col("holds"))
        .list.drop_nulls()
    )
    res = res.with_columns(_hold_codes=hold_codes)

    kit_lot = plate.kit_lot or assay.kit_lot
    classes = {a.name: a.analyte_class for a in config.catalogue.analytes}
    rows = res.to_dicts()
    for r in rows:
        r["result_id"] = result_id(source_sha256, r["plate_id"], r["sample_id"], r["analyte"], assay.assay_id)
        codes: list[str] = r["_hold_codes"]
        reasons = []
        for c in codes:
            text = HOLD_TEXT.get(c, c)
            if c == "negative_value" and r["neg_wells"]:
                text += f" (well {r['neg_wells']})"
            if c == "mixed_dilution":
                text += f" ({', '.join(fmt_num(d) for d in r['dilutions'])})"
            reasons.append(text)
        r["hold_reason"] = "; ".join(reasons) if reasons else None
        r["analyte_class"] = classes.get(r["analyte"])
        r["reported_texts"] = r["texts"] if r["any_text"] else None
        r["unit_as_written"] = r["units"] or None
        r["n_replicates"] = r["n_eq"]
        lo, hi = r["lloq_s"], r["uloq_s"]
        r["lloq_pg_ml"], r["uloq_pg_ml"] = lo, hi
        if r["high_cv"]:
            q.append(_high_cv_row(r, src, source_sha256, cv_max))
        for c in codes:
            if c in ("conflicting_censoring", "mixed_dilution"):
                q.append(_group_hold_row(r, src, source_sha256, c))
    # the per-row fields back onto the aggregate as columns (rebuilding a frame from the dicts would
    # re-infer every column's type, the most expensive step of this function)
    out = res.with_columns(
        pl.Series("result_id", [r["result_id"] for r in rows], dtype=pl.String()),
        pl.Series("hold_reason", [r["hold_reason"] for r in rows], dtype=pl.String()),
        pl.Series("analyte_class", [r["analyte_class"] for r in rows], dtype=pl.String()),
        pl.Series("reported_texts", [r["reported_texts"] for r in rows], dtype=pl.String()),
        pl.Series("unit_as_written", [r["unit_as_written"] for r in rows], dtype=pl.String()),
        pl.col("n_eq").alias("n_replicates"),
        pl.col("lloq_s").alias("lloq_pg_ml"),
        pl.col("uloq_s").alias("uloq_pg_ml"),
    )
    out = out.with_columns(
        study_id=pl.lit(config.study.study_id),
        assay_id=pl.lit(assay.assay_id),
        platform=pl.lit(assay.platform),
        kit_lot=pl.lit(kit_lot, pl.String()),
        status=pl.lit("loaded"),
        source_file=pl.lit(src),
        source_sha256=pl.lit(source_sha256),
    )
    missing = [pl.lit(None, t).alias(c) for c, t in RESULT_SCHEMA.items() if c not in out.columns]
    out = out.with_columns(missing).select(
        [pl.col(c).cast(t) for c, t in RESULT_SCHEMA.items()] + [pl.col(ROW_NUMBER).cast(pl.Int64())]
    )
    return out, quarantine_frame(q)


def _where(r: dict[str, object], src: str, sha: str) -> dict[str, object]:
    return {
        "source_file": src,
        "source_sha256": sha,
        "plate_id": r["plate_id"],
        "well": r["wells"],
        "row_number": r[ROW_NUMBER],
        "sample_id": r["sample_id"],
        "analyte": r["analyte"],
        "value_text": r["texts"] if r["any_text"] else None,
    }


def _high_cv_row(r: dict[str, object], src: str, sha: str, cv_max: float) -> dict[str, object]:
    return {
        **_where(r, src, sha),
        "rule": "high_cv",
        "severity": "warning",
        "message": f"Plate {r['plate_id']} sample {r['sample_id']} {r['analyte']}: the replicate CV is "
        f"{r['cv_pct']:.1f}% (wells {r['wells']}), above the assay's limit of {fmt_num(cv_max)}%; the result "
        "is loaded and flagged — review the wells and re-assay the sample if needed.",
    }


def _group_hold_row(r: dict[str, object], src: str, sha: str, code: str) -> dict[str, object]:
    if code == "conflicting_censoring":
        why = "some replicates are below the quantifiable range and others above it, so no value is reported"
        todo = "check the wells and re-assay the sample"
    else:
        dils = r["dilutions"]
        assert isinstance(dils, list)
        why = (
            f"the replicates were run at different dilutions ({', '.join(fmt_num(d) for d in dils)}) and are "
            "not averaged as one result"
        )
        todo = "check the dilutions on the plate map (or in the export) and re-send the file"
    return {
        **_where(r, src, sha),
        "rule": code,
        "severity": "hold",
        "message": f"Plate {r['plate_id']} sample {r['sample_id']} {r['analyte']} (wells {r['wells']}): "
        f"{why}; the result is held — {todo}.",
    }
