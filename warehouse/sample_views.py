"""The study's samples in the analyst stores (issue 20): ``samples`` (the manifests) and ``sample_status``
(what the protocol planned against what came back).

``samples`` is every sample the biorepository's manifests listed (writer table ``manifest_samples``, first
listing of each sample ID): participant, visit, matrix, collection, condition, shipment. Manifests hold no
treatment allocation, and no value, so the view is the same in the blinded and the full store.

``sample_status`` has one row per participant × visit × matrix × planned assay (``study.yaml``
``assay_plan``; participants are those of the manifests): expected, received (a manifest lists the sample),
assayed (a result of the assay exists, in any state), how many of the assay's analytes have a current result,
failed (a run that failed acceptance is all there is for an analyte), missing (an analyte without a current
result), one ``status`` word and the ``reason`` in plain words. It reads ``results_all`` of the store it is
built in, so the blinded store's copy says only what that store holds (a withheld value is still a current
result there, and hold reasons are masked as everywhere else). Generated here because the plan is
configuration; ``biomarkers reconcile`` prints it.
"""

from __future__ import annotations

from importlib import resources
from pathlib import Path

from schemas.config import Config

MANIFEST_FILE = "manifest_samples.parquet"

_EMPTY_MANIFEST = """(SELECT NULL::VARCHAR AS manifest_sha256, NULL::VARCHAR AS sample_id,
    NULL::VARCHAR AS participant_id, NULL::VARCHAR AS site_id, NULL::VARCHAR AS visit,
    NULL::VARCHAR AS matrix,
    NULL::DATE AS collection_date, NULL::VARCHAR AS collection_time, NULL::VARCHAR AS aliquot,
    NULL::INTEGER AS freeze_thaw_count, NULL::VARCHAR AS condition, NULL::VARCHAR AS shipment_id,
    NULL::VARCHAR AS manifest_file, NULL::BIGINT AS manifest_line, NULL::TIMESTAMPTZ AS recorded_at,
    NULL::VARCHAR AS run_id LIMIT 0)"""
"""A snapshot published before manifests were recorded (an older data cut): no samples, same columns."""


def _lit(text: str) -> str:
    return "'" + text.replace("'", "''") + "'"


def plan_rows(config: Config) -> list[tuple[str, str, str, list[str]]]:
    """(assay_id, visit, matrix, analytes) of every planned assay × visit × matrix, in plan order."""
    out: list[tuple[str, str, str, list[str]]] = []
    for plan in config.study.assay_plan:
        assay = config.assays.get(plan.assay_id)
        analytes = list(assay.analytes) if assay is not None else []
        out.extend((plan.assay_id, v, m, analytes) for v, m in plan.planned(config.study))
    return out


def _plan_sql(config: Config) -> str:
    rows = plan_rows(config)
    if not rows:
        return (
            "SELECT NULL::VARCHAR AS assay_id, NULL::VARCHAR AS visit, NULL::VARCHAR AS matrix, "
            "NULL::VARCHAR[] AS analytes LIMIT 0"
        )
    values = ", ".join(
        f"({_lit(a)}, {_lit(v)}, {_lit(m)}, [{', '.join(_lit(x) for x in an)}]::VARCHAR[])"
        for a, v, m, an in rows
    )
    return f"SELECT * FROM (VALUES {values}) AS t(assay_id, visit, matrix, analytes)"


def sample_views_sql(config: Config, root: Path) -> str:
    """``samples`` and ``sample_status`` over the snapshot at ``root`` (after analyst_views.sql, which
    defines results_all and visit_schedule)."""
    src = root / MANIFEST_FILE
    manifest = f"read_parquet({_lit(str(src))})" if src.exists() else _EMPTY_MANIFEST
    template = resources.files("warehouse").joinpath("sample_views.sql").read_text(encoding="utf-8")
    isr = config.study.isr
    return (
        template.replace("{manifest}", manifest)
        .replace("{plan}", _plan_sql(config))
        .replace("{isr_pattern}", _lit(isr.plate_id_pattern))
        .replace("{isr_fraction}", repr(float(isr.fraction)))
        .replace("{isr_prefer}", _lit(isr.prefer))
        .replace("{isr_max_pct}", repr(float(isr.max_pct_difference)))
        .replace("{isr_min_pass}", repr(float(isr.min_pass_fraction)))
    )
