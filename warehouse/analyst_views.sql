-- Analyst store (analyst.duckdb): views over one published Parquet snapshot. {root} is replaced by the
-- snapshot's absolute path when the store is built (relative paths would resolve against the analyst's
-- working directory). Nothing here can carry treatment allocation: ingestion never reads it.

CREATE VIEW result_history AS
SELECT result_id, is_current, changed_at AS valid_from,
       lead(changed_at) OVER (PARTITION BY result_id ORDER BY event_seq) AS valid_to,
       reason, superseded_by, exclusion_id, event_seq
FROM read_parquet('{root}/result_currency.parquet');

COMMENT ON VIEW result_history IS 'Every change of a result''s state, as intervals: is_current from valid_from until valid_to (null = still so). Append-only in the warehouse; what the as-of macro results_as_of(ts) reads.';

CREATE VIEW results_all AS
WITH state AS (
    SELECT result_id,
           arg_max(is_current, event_seq) AS is_current,
           arg_max(reason, event_seq) AS state_reason,
           arg_max(superseded_by, event_seq) AS superseded_by,
           arg_max(exclusion_id, event_seq) AS exclusion_id,
           arg_max(valid_from, event_seq) AS state_since,
           max(valid_from) FILTER (WHERE is_current) AS current_from
    FROM result_history GROUP BY result_id
)
SELECT
    r.result_id, r.study_id, r.participant_id, r.site_id, r.visit, r.visitnum, r.matrix, r.collection_date,
    r.sample_id, r.sample_condition, r.analyte, r.analyte_class, r.assay_id, r.platform, r.kit_lot,
    r.plate_id, r.conc_pg_ml, r.qualifier, r.lloq_pg_ml AS lloq, r.uloq_pg_ml AS uloq, r.cv_pct,
    r.n_replicates, r.n_wells, r.dilution, r.wells, r.reported_texts, r.unit_as_written, r.extrapolated,
    r.flags, r.status, r.hold_reason, r.source_file, r.source_sha256 AS source_file_sha256, r.loaded_at,
    s.current_from,
    CASE WHEN NOT coalesce(s.is_current, false) AND s.current_from IS NOT NULL THEN s.state_since END AS current_to,
    s.superseded_by,
    CASE WHEN NOT coalesce(s.is_current, false) THEN s.state_reason END AS superseded_reason,
    CASE WHEN s.superseded_by IS NOT NULL THEN s.state_since END AS superseded_at,
    s.exclusion_id,
    coalesce(s.is_current, false) AS is_current
FROM read_parquet('{root}/results_all/*/*.parquet', hive_partitioning = true, hive_types = {'matrix': VARCHAR}) r
LEFT JOIN state s ON s.result_id = r.result_id;

COMMENT ON VIEW results_all IS 'Every result ever loaded (one row per sample x analyte x assay run), including held, unresolved, run-rejected, superseded and excluded ones; is_current marks the rows of the results view. current_from/current_to: when it last became current and when it stopped; superseded_by/superseded_reason: what replaced it (re-assay) or why it is not current; exclusion_id: the exclusion that took it out.';

CREATE VIEW results AS
SELECT * EXCLUDE (current_to, superseded_by, superseded_reason, superseded_at, exclusion_id, is_current, status, hold_reason)
FROM results_all
WHERE is_current;

CREATE MACRO results_as_of(ts) AS TABLE
SELECT r.* EXCLUDE (current_to, superseded_by, superseded_reason, superseded_at, exclusion_id, is_current, status, hold_reason)
    REPLACE (h.valid_from AS current_from)
FROM results_all r
JOIN result_history h ON h.result_id = r.result_id
WHERE h.is_current AND h.valid_from <= CAST(ts AS TIMESTAMPTZ)
  AND (h.valid_to IS NULL OR h.valid_to > CAST(ts AS TIMESTAMPTZ));

COMMENT ON VIEW results IS 'Current results: resolved to participant x visit x matrix x analyte, valid, not superseded. conc_pg_ml is the replicate mean in pg/mL; when qualifier is < or > it is the limit (lloq/uloq, dilution applied), never an imputed value.';
COMMENT ON COLUMN results.qualifier IS '= in range; < below LLOQ (conc_pg_ml = LLOQ); > above ULOQ (conc_pg_ml = ULOQ); NR not reported (conc_pg_ml null).';
COMMENT ON COLUMN results.lloq IS 'Lower limit of quantification of this run for this sample, pg/mL, dilution applied.';
COMMENT ON COLUMN results.uloq IS 'Upper limit of quantification of this run for this sample, pg/mL, dilution applied.';
COMMENT ON COLUMN results.wells IS 'The plate wells the result was averaged from (see the wells view).';
COMMENT ON COLUMN results.source_file_sha256 IS 'SHA-256 of the raw export file (kept byte-for-byte in the raw area).';

CREATE VIEW wells AS SELECT * FROM read_parquet('{root}/wells.parquet');
COMMENT ON VIEW wells IS 'Every value read from every well (standards, QCs, blanks, samples) as the file wrote it and as converted; join to results on source_sha256 + plate_id + sample_id + analyte.';

CREATE VIEW plates AS SELECT * FROM read_parquet('{root}/plates.parquet');
COMMENT ON VIEW plates IS 'One row per plate per file: assay, platform, matrix, instrument, acquisition time.';

CREATE VIEW files AS SELECT * EXCLUDE (raw_path) FROM read_parquet('{root}/files.parquet');
COMMENT ON VIEW files IS 'Every distinct file received (by SHA-256) with its verdict.';

CREATE VIEW quarantine AS SELECT * FROM read_parquet('{root}/quarantine.parquet');
COMMENT ON VIEW quarantine IS 'Every rejected, held or warned row and file, with the rule and a plain-language message.';

CREATE VIEW unresolved AS
SELECT u.*, NOT EXISTS (
    SELECT 1 FROM results r WHERE r.sample_id = u.sample_id
) AS still_unresolved
FROM read_parquet('{root}/unresolved.parquet') u;
COMMENT ON VIEW unresolved IS 'Samples measured on a plate whose ID was not in any sample manifest at load time; their results are kept in results_all with status unresolved.';

CREATE VIEW curves AS SELECT * FROM read_parquet('{root}/curves.parquet');
COMMENT ON VIEW curves IS 'The standard curve of each plate x analyte: model, weighting, parameters, R2, masked calibrators, LLOQ/ULOQ (in-well), whether concentrations came from this fit or from the instrument.';

CREATE VIEW calibrators AS SELECT * FROM read_parquet('{root}/calibrators.parquet');
COMMENT ON VIEW calibrators IS 'Every calibrator level of every curve: nominal, mean signal, back-calculated concentration, % recovery, limit, masked and why.';

CREATE VIEW run_acceptance AS SELECT * FROM read_parquet('{root}/run_acceptance.parquet');
COMMENT ON VIEW run_acceptance IS 'Each acceptance rule of each plate x analyte run (ICH M10 defaults): passed or not, observed vs limit, and the reason in plain words. A run that fails keeps its results in results_all (status run_rejected), never current.';

CREATE VIEW exclusions AS
SELECT e.*, l.reason AS lift_reason, l.lifted_by, l.lifted_at, l.exclusion_id IS NULL AS active
FROM read_parquet('{root}/exclusions.parquet') e
LEFT JOIN read_parquet('{root}/exclusion_lifts.parquet') l USING (exclusion_id);
COMMENT ON VIEW exclusions IS 'Exclusions (a well, a sample, an analyte in a run, a whole run) with who, when and why, and their lifting; keyed by plate so they survive a re-import of the plate. Excluded results are never current.';

CREATE VIEW file_versions AS SELECT * FROM read_parquet('{root}/file_versions.parquet');
COMMENT ON VIEW file_versions IS 'A file received with the name of an earlier file, or carrying a plate ID already loaded: its version number and the file it follows (both kept).';

CREATE VIEW audit_log AS SELECT * FROM read_parquet('{root}/audit_log.parquet');
COMMENT ON VIEW audit_log IS 'The audit trail as of this snapshot: who, when (UTC), what, old and new value, why; hash-chained (biomarkers audit verify checks the writer''s copy).';

CREATE VIEW qc_trend AS SELECT * FROM read_parquet('{root}/qc_trend.parquet');
COMMENT ON VIEW qc_trend IS 'Levey-Jennings / Westgard judgement of each run metric when its plate was loaded: per plate x analyte x series (QC level concentration in pg/mL, EC50 = concentration at the curve mid-response, parameter c of a 4PL, max_signal = top calibrator mean signal), the value, the guide set (run-based: first N earlier accepted runs of the kit lot; or configured), z, the Westgard rules violated and the action (warning: results flagged westgard; reject: run failed acceptance).';
