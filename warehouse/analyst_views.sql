-- Analyst store (analyst.duckdb): views over one published Parquet snapshot. {root} is replaced by the
-- snapshot's absolute path when the store is built (relative paths would resolve against the analyst's
-- working directory). Nothing here can carry treatment allocation: ingestion never reads it.

CREATE VIEW results_all AS
SELECT
    r.result_id, r.study_id, r.participant_id, r.site_id, r.visit, r.visitnum, r.matrix, r.collection_date,
    r.sample_id, r.sample_condition, r.analyte, r.analyte_class, r.assay_id, r.platform, r.kit_lot,
    r.plate_id, r.conc_pg_ml, r.qualifier, r.lloq_pg_ml AS lloq, r.uloq_pg_ml AS uloq, r.cv_pct,
    r.n_replicates, r.n_wells, r.dilution, r.wells, r.reported_texts, r.unit_as_written, r.extrapolated,
    r.flags, r.status, r.hold_reason, r.source_file, r.source_sha256 AS source_file_sha256, r.loaded_at,
    s.superseded_by, s.reason AS superseded_reason, s.superseded_at,
    (r.status = 'loaded' AND s.result_id IS NULL) AS is_current
FROM read_parquet('{root}/results_all/*/*.parquet', hive_partitioning = true, hive_types = {'matrix': VARCHAR}) r
LEFT JOIN read_parquet('{root}/supersessions.parquet') s ON s.result_id = r.result_id;

COMMENT ON VIEW results_all IS 'Every result ever loaded (one row per sample x analyte x assay run), including held, unresolved and superseded ones; is_current marks the rows of the results view.';

CREATE VIEW results AS
SELECT * EXCLUDE (superseded_by, superseded_reason, superseded_at, is_current, status, hold_reason)
FROM results_all
WHERE is_current;

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

-- issue 4: Levey–Jennings trending judged at load time.
CREATE VIEW qc_trend AS SELECT * FROM read_parquet('{root}/qc_trend.parquet');
COMMENT ON VIEW qc_trend IS 'Levey-Jennings / Westgard judgement of each run metric when its plate was loaded: per plate x analyte x series (QC level concentration in pg/mL, EC50 = concentration at the curve mid-response, parameter c of a 4PL, max_signal = top calibrator mean signal), the value, the guide set (run-based: first N earlier accepted runs of the kit lot; or configured), z, the Westgard rules violated and the action (warning: results flagged westgard; reject: run failed acceptance).';
