"""The configurable blinded view: post-dose values that can themselves reveal the arm are withheld.

Ingestion never reads the allocation list, so no table of the analyst store carries treatment
assignment. The values can still hint at it: on MSC-NTF, post-dose CSF VEGF rose ~4.7-fold over placebo at
week 20 and NfL fell (domain.md §1), so someone looking at post-dose CSF neurotrophic factors can guess a
participant's arm. ``results_blinded`` shows every result but withholds, for the matrix × analytes listed
in study.yaml (``blinding.withhold_post_dose``) at post-dose visits, the value and everything derived from
it (qualifier, limits, CV, instrument texts, flags). Pre-dose values stay visible.
"""

from __future__ import annotations

from schemas.config import Config


def _lit(text: str) -> str:
    return "'" + text.replace("'", "''") + "'"


def withheld_condition(config: Config) -> str:
    """A SQL predicate over the results view: true where a value is withheld."""
    post = [v.code for v in config.study.visits if v.sampling == "post-dose"]
    terms = []
    for g in config.study.blinding.withhold_post_dose:
        analytes = ", ".join(_lit(a) for a in g.analytes)
        terms.append(f"(matrix = {_lit(g.matrix)} AND analyte IN ({analytes}))")
    if not post or not terms:
        return "false"
    visits = ", ".join(_lit(v) for v in post)
    return f"(visit IN ({visits}) AND ({' OR '.join(terms)}))"


def blinded_view_sql(config: Config) -> str:
    cond = withheld_condition(config)
    return f"""
CREATE OR REPLACE VIEW results_blinded AS
SELECT * REPLACE (
        CASE WHEN {cond} THEN NULL ELSE conc_pg_ml END AS conc_pg_ml,
        CASE WHEN {cond} THEN 'WITHHELD' ELSE qualifier END AS qualifier,
        CASE WHEN {cond} THEN NULL ELSE lloq END AS lloq,
        CASE WHEN {cond} THEN NULL ELSE uloq END AS uloq,
        CASE WHEN {cond} THEN NULL ELSE cv_pct END AS cv_pct,
        CASE WHEN {cond} THEN NULL ELSE reported_texts END AS reported_texts,
        CASE WHEN {cond} THEN NULL ELSE flags END AS flags,
        CASE WHEN {cond} THEN NULL ELSE extrapolated END AS extrapolated
    ),
    CASE WHEN {cond} THEN 'post-dose value that can reveal the arm (study.yaml blinding.withhold_post_dose)'
    END AS withheld_reason
FROM results;
COMMENT ON VIEW results_blinded IS 'The results view with post-dose values that can reveal the treatment arm
withheld (qualifier WITHHELD, value and derived columns null, withheld_reason says why); which ones is
configured in study.yaml blinding.withhold_post_dose.';
"""
