"""Analyst views whose shape comes from configuration: the visit schedule and the wide results table.

The static views live in ``analyst_views.sql``; these two cannot, because their rows (visits) and columns
(one per analyte × assay of ``config/assays.yaml``) are study configuration. They are generated here, as
plain SQL text, when the analyst store is built (``warehouse/publish.py``): the schedule before the static
views (``baseline_change`` reads it), ``results_wide`` after them (it reads ``results``).

Column convention of ``results_wide`` (also in the README and in ``COMMENT ON COLUMN``): for each analyte ×
assay a value column named after the analyte (lower case, non-alphanumerics as ``_``: ``NfL`` → ``nfl``,
``IL-1b`` → ``il_1b``; ``__<assay>`` appended when the analyte is measured by more than one assay, since
platforms are never merged: ``vegf_a__lx_ntf``, ``vegf_a__elisa_vegf``), holding the pg/mL value **only
when it is in range** (qualifier ``=``); ``<col>_q`` holds the qualifier (``=``, ``<``, ``>``, ``NR``; null
when not measured) and ``<col>_limit`` the limit when censored (the LLOQ for ``<``, the ULOQ for ``>``). A
censored value is therefore never a number in the value column: averaging it cannot silently treat a limit
as a measurement.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from schemas.config import Config, ConfigError, Study

_ROW_COLUMNS = ("participant_id", "site_id", "visit", "visitnum", "matrix", "collection_date", "n_results")


_SCHEDULE_ABOUT = (
    "The study visit schedule (config/study.yaml): VISITNUM, nominal week, window, dosing, pre-/post-dose "
    "sampling; is_baseline_candidate marks the visits whose value may be the baseline (before the first "
    "dose, study.yaml baseline)."
)
_SCHEDULE_COLUMNS = {
    "visit": "Visit code (results.visit).",
    "visit_name": "Visit name (study.yaml).",
    "visitnum": "VISITNUM: order visits by it.",
    "nominal_week": "Nominal study week of the visit (week 0: the first dose).",
    "window_days": "Allowed window around the nominal day, +/- days.",
    "dosing_visit": "The study treatment is given at this visit.",
    "sampling": "pre-dose (drawn before that visit's dose, or before any dose) or post-dose.",
    "is_first_dose_visit": "The first dosing visit.",
    "is_baseline_candidate": "A value here may be the baseline (before the first dose; study.yaml baseline).",
}
_ROW_COMMENTS = {
    "participant_id": "Participant (one row per participant x visit x matrix).",
    "site_id": "Clinical site.",
    "visit": "Visit code.",
    "visitnum": "VISITNUM of the visit; order by it.",
    "matrix": "Sample matrix (CSF, SERUM).",
    "collection_date": "Date drawn (the earliest, if the row holds samples drawn on different dates).",
    "n_results": "Current results in the row (all analytes and assays).",
}
_WIDE_ABOUT = (
    "Current results, one row per participant x visit x matrix, one column per analyte (x assay when an "
    "analyte is measured by several: platforms are never merged). <col> = pg/mL only when in range; "
    "<col>_q = qualifier; <col>_limit = the LLOQ/ULOQ when censored. Trace a value back through "
    "results (participant_id, visit, matrix, analyte, assay_id) and sample_lineage."
)


@dataclass(frozen=True)
class WideColumn:
    analyte: str
    assay_id: str
    name: str  # the value column; companions are name + "_q" and name + "_limit"


def _ident(text: str) -> str:
    return re.sub(r"_+", "_", re.sub(r"[^a-z0-9]", "_", text.lower())).strip("_")


def _lit(text: str) -> str:
    return "'" + text.replace("'", "''") + "'"


def _quote(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


def _column_comments(view: str, about: dict[str, str]) -> str:
    return "\n".join(f"COMMENT ON COLUMN {view}.{_quote(c)} IS {_lit(t)};" for c, t in about.items())


def wide_columns(config: Config) -> list[WideColumn]:
    """The value columns of results_wide, in catalogue order then assay order."""
    pairs: list[tuple[str, str]] = []
    for analyte in config.catalogue.names:
        for assay in config.assays.assays:
            if analyte in assay.analytes:
                pairs.append((analyte, assay.assay_id))
    n_assays: dict[str, int] = {}
    for analyte, _ in pairs:
        n_assays[analyte] = n_assays.get(analyte, 0) + 1
    cols = []
    for analyte, assay_id in pairs:
        name = _ident(analyte) if n_assays[analyte] == 1 else f"{_ident(analyte)}__{_ident(assay_id)}"
        cols.append(WideColumn(analyte, assay_id, name))
    every = [c for col in cols for c in (col.name, col.name + "_q", col.name + "_limit")] + list(_ROW_COLUMNS)
    clash = sorted({c for c in every if every.count(c) > 1})
    if clash or any(not c.name for c in cols):
        raise ConfigError(
            f"analytes.yaml/assays.yaml: analyte names give clashing results_wide columns {clash}; rename one"
        )
    return cols


def visit_schedule_sql(study: Study) -> str:
    """The ``visit_schedule`` view: the configured visits and which of them may hold a baseline."""
    first = study.first_dose_visit()
    candidates = set(study.baseline_visits())
    rows = ",\n    ".join(
        f"({_lit(v.code)}, {_lit(v.name)}, {v.visitnum!r}::DOUBLE, {v.nominal_week!r}::DOUBLE, "
        f"{v.window_days}, {str(v.dosing_visit).upper()}, {_lit(v.sampling)}, "
        f"{str(v.code == first.code).upper()}, {str(v.code in candidates).upper()})"
        for v in sorted(study.visits, key=lambda v: v.visitnum)
    )
    return f"""CREATE VIEW visit_schedule AS
SELECT * FROM (VALUES
    {rows}
) t(visit, visit_name, visitnum, nominal_week, window_days, dosing_visit, sampling, is_first_dose_visit,
    is_baseline_candidate);
COMMENT ON VIEW visit_schedule IS {_lit(_SCHEDULE_ABOUT)};
{_column_comments("visit_schedule", _SCHEDULE_COLUMNS)}
"""


def results_wide_sql(config: Config, materialized: str | None = None) -> str:
    """The ``results_wide`` view and its column comments (see the module docstring for the convention).

    ``materialized``: a Parquet file written from this very view at publish (warehouse/publish.py); the
    view then reads it, so the analysts' pivot is a scan, not a group-by over every current result."""
    cols = wide_columns(config)
    select = []
    comments = []
    for c in cols:
        cond = f"analyte = {_lit(c.analyte)} AND assay_id = {_lit(c.assay_id)}"
        select += [
            f"max(conc_pg_ml) FILTER (WHERE {cond} AND qualifier = '=') AS {_quote(c.name)}",
            f"max(qualifier) FILTER (WHERE {cond}) AS {_quote(c.name + '_q')}",
            f"max(conc_pg_ml) FILTER (WHERE {cond} AND qualifier IN ('<', '>')) "
            f"AS {_quote(c.name + '_limit')}",
        ]
        what = f"{c.analyte} by {c.assay_id}"
        for suffix, about in (
            ("", "pg/mL, only when in range (qualifier =); null when censored, NR or not measured"),
            ("_q", "qualifier = < > NR; null when not measured"),
            ("_limit", "the limit when censored (LLOQ for <, ULOQ for >), pg/mL, dilution applied"),
        ):
            comments.append(
                f"COMMENT ON COLUMN results_wide.{_quote(c.name + suffix)} IS {_lit(f'{what}: {about}')};"
            )
    comments.append(_column_comments("results_wide", _ROW_COMMENTS))
    body = ",\n    ".join(select)
    query = f"""SELECT participant_id, any_value(site_id) AS site_id, visit, visitnum, matrix,
    min(collection_date) AS collection_date, count(*) AS n_results,
    {body}
FROM results
WHERE participant_id IS NOT NULL AND visit IS NOT NULL
GROUP BY participant_id, visit, visitnum, matrix
ORDER BY participant_id, visitnum, matrix"""
    if materialized is not None:
        query = f"SELECT * FROM read_parquet({_lit(materialized)})"
    return f"""CREATE VIEW results_wide AS
{query};
COMMENT ON VIEW results_wide IS {_lit(_WIDE_ABOUT)};
{chr(10).join(comments)}
"""
