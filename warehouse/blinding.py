"""What the blinded analyst store withholds: post-dose values that can themselves reveal the arm.

Ingestion never reads the allocation list, so no table carries treatment assignment. The values can still
hint at it: on MSC-NTF, post-dose CSF VEGF rose ~4.7-fold over placebo at week 20 and NfL fell
(domain.md §1), so someone looking at post-dose CSF neurotrophic factors can guess a participant's arm —
from week 2 on, and at the week-8 and week-16 draws too: those are taken before the second and third dose
but eight and sixteen weeks after the first, and the treatment effect is already there.

So a value of a matrix x analyte listed in study.yaml (``blinding.withhold_post_dose``) is withheld at
every visit except those on or before the first-dose visit (and at a visit we cannot place: unknown or
missing visit, unknown matrix). Withholding is physical: publish writes the blinded snapshot from the
SELECTs below (warehouse/publish.py), so the blinded store's tables and the Parquet files behind them do
not hold the value, nor anything it could be recomputed from (the wells' signals and instrument texts, the
replicate CV, the limits, the messages and currency reasons that quote it). The full store, in its own
folder, keeps everything. Calibrators, curves, QC trends and run acceptance describe the run, not a
participant's sample: without the sample's signal they give nothing back, and they stay.
"""

from __future__ import annotations

from collections.abc import Sequence

from schemas.config import Config, ConfigError

WITHHELD_REASON = "post-dose value that can reveal the arm (study.yaml blinding.withhold_post_dose)"


def _lit(text: str) -> str:
    return "'" + text.replace("'", "''") + "'"


def visible_visits(config: Config) -> list[str]:
    """Visits whose values are never withheld: on or before the first dose (by VISITNUM)."""
    try:
        first = config.study.first_dose_visit()
    except ConfigError:
        return []  # no dosing visit configured: nothing can be placed before the first dose
    return [v.code for v in config.study.visits if v.visitnum <= first.visitnum]


def withheld_analytes(config: Config) -> list[str]:
    """Every analyte withheld in some matrix (for rows whose matrix is unknown)."""
    return sorted({a for g in config.study.blinding.withhold_post_dose for a in g.analytes})


def withheld_condition(config: Config, alias: str = "") -> str:
    """A SQL predicate over a results row (matrix, analyte, visit): true where its value is withheld.

    ``alias``: the table alias to qualify the columns with (``r`` → ``r.matrix``)."""
    p = f"{alias}." if alias else ""
    groups = config.study.blinding.withhold_post_dose
    if not groups:
        return "false"
    terms = []
    for g in groups:
        analytes = ", ".join(_lit(a) for a in g.analytes)
        terms.append(f"(({p}matrix = {_lit(g.matrix)} OR {p}matrix IS NULL) AND {p}analyte IN ({analytes}))")
    visible = visible_visits(config)
    seen = f"coalesce({p}visit IN ({', '.join(_lit(v) for v in visible)}), false)" if visible else "false"
    return f"(NOT {seen} AND ({' OR '.join(terms)}))"


# The cells a withheld result loses: (column in results_all, what the blinded copy holds instead). The
# `results` view renames the limits (RESULT_VIEW_NAMES); results_blinded and the blinded results_all are
# both written from this one list, so what is withheld cannot differ between them.
Mask = Sequence[tuple[str, str]]  # (column, what a withheld cell holds instead)
RESULT_MASK: Mask = (
    ("conc_pg_ml", "NULL"),
    ("qualifier", "'WITHHELD'"),
    ("lloq_pg_ml", "NULL"),
    ("uloq_pg_ml", "NULL"),
    ("cv_pct", "NULL"),
    ("reported_texts", "NULL"),
    ("extrapolated", "NULL"),
    ("flags", "NULL"),
)
RESULT_VIEW_NAMES = {"lloq_pg_ml": "lloq", "uloq_pg_ml": "uloq"}
# A study sample's well whose value is withheld: its signal and everything computed from it.
WELL_MASK: Mask = (
    ("qualifier", "'WITHHELD'"),
    *(
        (col, "NULL")
        for col in (
            "signal",
            "reported_text",
            "value",
            "extrapolated",
            "conc_pg_ml",
            "flags",
            "recomputed_conc",
            "recomputed_diff_pct",
        )
    ),
)


def masked(cond: str, mask: Mask) -> str:
    """``CASE WHEN cond THEN <replacement> ELSE col END AS col`` for each (column, replacement): the body
    of a ``SELECT * REPLACE (...)``."""
    return ",\n    ".join(f"CASE WHEN {cond} THEN {repl} ELSE {col} END AS {col}" for col, repl in mask)


_WITHHELD_ABOUT = "Why the value is withheld (study.yaml blinding.withhold_post_dose); null when shown."
_QUALIFIER_ABOUT = (
    "As in results (= < > NR), or WITHHELD: the value, its limits and what derives from them are null."
)


def blinded_view_sql(config: Config) -> str:
    """``results_blinded``: the results view with a withheld_reason column. In the blinded store the
    withheld values are already absent from the files (the view only names why); in the full store it
    shows what the blinded analysts see."""
    cond = withheld_condition(config)
    view_mask = [(RESULT_VIEW_NAMES.get(col, col), repl) for col, repl in RESULT_MASK]
    return f"""
CREATE OR REPLACE VIEW results_blinded AS
SELECT * REPLACE (
    {masked(cond, view_mask)}
    ),
    CASE WHEN {cond} THEN {_lit(WITHHELD_REASON)} END AS withheld_reason
FROM results;
COMMENT ON VIEW results_blinded IS 'The results view with post-dose values that can reveal the treatment arm
withheld (qualifier WITHHELD, value and derived columns null, withheld_reason says why); which ones is
configured in study.yaml blinding.withhold_post_dose. In the blinded store (analyst/analyst.duckdb) the
withheld values are absent from every table and file; the full store (full/full.duckdb) holds them.';
COMMENT ON COLUMN results_blinded.withheld_reason IS {_lit(_WITHHELD_ABOUT)};
COMMENT ON COLUMN results_blinded.qualifier IS {_lit(_QUALIFIER_ABOUT)};
"""


def blinded_selects(config: Config) -> dict[str, str]:
    """For each writer-store table that can hold a withheld value, the SELECT that writes its blinded copy
    (same columns, same rows; withheld cells null, or WITHHELD for a qualifier and a placeholder for a
    text). Tables not listed are copied as they are."""
    c = withheld_condition(config)
    cr = withheld_condition(config, "r")
    analytes = ", ".join(_lit(a) for a in withheld_analytes(config)) or "NULL"
    why = _lit(f"withheld: {WITHHELD_REASON}")
    visible_same = (
        "EXISTS (SELECT 1 FROM results_all r WHERE r.source_sha256 = {t}.source_sha256 "
        "AND r.plate_id = {t}.plate_id AND r.analyte = {t}.analyte AND r.sample_id = {t}.sample_id "
        f"AND NOT {cr})"
    )
    # a study sample's well whose analyte may be withheld, unless a visible result shows where it belongs
    well_hidden = (
        f"(w.sample_type = 'unknown' AND (w.analyte IS NULL OR w.analyte IN ({analytes})) "
        f"AND NOT {visible_same.format(t='w')})"
    )
    q_hidden = (
        f"(q.sample_id IS NOT NULL AND ("
        f"(q.analyte IN ({analytes}) AND NOT {visible_same.format(t='q')}) "
        f"OR (q.analyte IS NULL AND (EXISTS (SELECT 1 FROM results_all r WHERE r.source_sha256 = "
        f"q.source_sha256 AND r.sample_id = q.sample_id AND {cr}) OR NOT EXISTS (SELECT 1 FROM results_all r "
        f"WHERE r.source_sha256 = q.source_sha256 AND r.sample_id = q.sample_id)))))"
    )
    hidden_ids = f"(SELECT result_id FROM results_all WHERE {c})"
    reason = r"regexp_replace(reason, 'qualifier [^)]*', 'qualifier withheld', 'g')"
    hold_reason = ("hold_reason", f"CASE WHEN hold_reason IS NOT NULL THEN {why} END")
    quarantine = [
        ("value_text", "NULL"),
        ("message", f"'rule ' || rule || ' on a sample whose values are ' || {why}"),
    ]
    return {
        "results_all": _replace("results_all", c, [*RESULT_MASK, hold_reason]),
        "wells": _replace("wells w", well_hidden, WELL_MASK),
        "quarantine": _replace("quarantine q", q_hidden, quarantine),
        "result_currency": _replace("result_currency", f"result_id IN {hidden_ids}", [("reason", reason)]),
        "audit_log": _replace(
            "audit_log", f"entity = 'result' AND entity_id IN {hidden_ids}", [("reason", reason)]
        ),
    }


def _replace(table: str, cond: str, mask: Mask) -> str:
    """The blinded copy of ``table``: every column as it is, the masked ones replaced where ``cond``."""
    return f"SELECT * REPLACE (\n    {masked(cond, mask)}\n) FROM {table}"
