"""The run metrics of earlier runs, read from the writer store for Levey–Jennings trending at load
(pipeline/trend.py): QC level concentrations, EC50 and max signal per plate × analyte, with the run's
acceptance and its load order. Read before the file's transaction, from the same connection."""

from __future__ import annotations

import duckdb
import polars as pl

from pipeline.trend import HISTORY_SCHEMA

_SQL = """
WITH runs AS (
    SELECT p.source_sha256, p.plate_id, p.assay_id, coalesce(p.kit_lot, '') AS kit_lot, f.load_seq
    FROM plates p JOIN files f USING (source_sha256)
    WHERE p.assay_id IN (SELECT unnest(?::VARCHAR[]))
),
verdict AS (
    SELECT source_sha256, plate_id, analyte, bool_and(run_accepted) AS accepted
    FROM run_acceptance GROUP BY ALL
),
metrics AS (
    SELECT source_sha256, plate_id, analyte, sample_id AS metric, avg(conc_pg_ml) AS value
    FROM wells
    WHERE sample_type = 'qc' AND qualifier = '=' AND conc_pg_ml IS NOT NULL AND sample_id IS NOT NULL
      AND analyte IN (SELECT unnest(?::VARCHAR[]))
    GROUP BY ALL
    UNION ALL
    SELECT source_sha256, plate_id, analyte, 'EC50', ec50 FROM curves WHERE converged AND ec50 IS NOT NULL
    UNION ALL
    SELECT source_sha256, plate_id, analyte, 'max_signal', max_signal FROM curves WHERE max_signal IS NOT NULL
)
SELECT r.assay_id, m.analyte, r.kit_lot, m.metric, m.source_sha256 || ':' || m.plate_id AS run_id,
       r.load_seq AS run_order, m.value, coalesce(v.accepted, true) AS accepted
FROM metrics m
JOIN runs r USING (source_sha256, plate_id)
LEFT JOIN verdict v USING (source_sha256, plate_id, analyte)
WHERE isfinite(m.value)
ORDER BY run_order, run_id, m.analyte, m.metric
"""


def prior_run_metrics(
    con: duckdb.DuckDBPyConnection, assay_ids: list[str], analytes: list[str]
) -> pl.DataFrame:
    """Every stored run metric of ``assay_ids`` × ``analytes`` (:data:`pipeline.trend.HISTORY_SCHEMA`);
    accepted and rejected runs alike — the trend judgement keeps only the accepted ones."""
    if not assay_ids or not analytes:
        return pl.DataFrame(schema=HISTORY_SCHEMA)
    got = con.sql(_SQL, params=[assay_ids, analytes]).pl()
    return got.select(list(HISTORY_SCHEMA)).cast(HISTORY_SCHEMA)
