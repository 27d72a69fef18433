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
    string_split(nullif(r.flags, ''), ';') AS flags, r.status, r.hold_reason, r.source_file, r.source_sha256 AS source_file_sha256, r.loaded_at,
    s.current_from,
    CASE WHEN NOT coalesce(s.is_current, false) AND s.current_from IS NOT NULL THEN s.state_since END AS current_to,
    s.superseded_by,
    CASE WHEN NOT coalesce(s.is_current, false) THEN s.state_reason END AS superseded_reason,
    CASE WHEN s.superseded_by IS NOT NULL THEN s.state_since END AS superseded_at,
    s.exclusion_id,
    coalesce(s.is_current, false) AS is_current,
    coalesce(v.review_state, 'pending_review') AS review_state, v.review_meaning, v.reviewed_by,
    v.reviewed_by_name, v.reviewed_at, v.signature_id AS review_signature_id
FROM read_parquet('{root}/results_all/*/*.parquet', hive_partitioning = true, hive_types = {'matrix': VARCHAR}) r
LEFT JOIN state s ON s.result_id = r.result_id
LEFT JOIN read_parquet('{root}/run_review.parquet') v
    ON v.source_sha256 = r.source_sha256 AND v.plate_id = r.plate_id AND v.analyte = r.analyte;

COMMENT ON VIEW results_all IS 'Every result ever loaded (one row per sample x analyte x assay run), including held, unresolved, run-rejected, superseded and excluded ones; is_current marks the rows of the results view. current_from/current_to: when it last became current and when it stopped; superseded_by/superseded_reason: what replaced it (re-assay) or why it is not current; exclusion_id: the exclusion that took it out.';

-- results: computed here; a snapshot that holds results_current.parquet (every publish since it was
-- introduced writes it, from exactly this query) is read from that file instead (warehouse/publish.py).
CREATE VIEW results AS
SELECT * EXCLUDE (current_to, superseded_by, superseded_reason, superseded_at, exclusion_id, is_current, status, hold_reason, review_state, review_meaning, reviewed_by, reviewed_by_name, reviewed_at, review_signature_id)
FROM results_all
WHERE is_current;

CREATE MACRO results_as_of(ts) AS TABLE
SELECT r.* EXCLUDE (current_to, superseded_by, superseded_reason, superseded_at, exclusion_id, is_current, status, hold_reason, review_state, review_meaning, reviewed_by, reviewed_by_name, reviewed_at, review_signature_id)
    REPLACE (h.valid_from AS current_from)
FROM results_all r
JOIN result_history h ON h.result_id = r.result_id
WHERE h.is_current AND h.valid_from <= CAST(ts AS TIMESTAMPTZ)
  AND (h.valid_to IS NULL OR h.valid_to > CAST(ts AS TIMESTAMPTZ));

COMMENT ON VIEW results IS 'Current results: resolved to participant x visit x matrix x analyte, valid, not superseded. conc_pg_ml is the replicate mean in pg/mL; when qualifier is < or > it is the limit (lloq/uloq, dilution applied), never an imputed value.';
COMMENT ON COLUMN results.result_id IS 'Stable ID of this result: the first 32 hex digits of SHA-256(source_sha256|plate_id|sample_id|analyte|assay_id); a late-resolved result gets an ID derived from its unresolved row.';
COMMENT ON COLUMN results.study_id IS 'Study identifier (config/study.yaml), e.g. BCT-002-US.';
COMMENT ON COLUMN results.participant_id IS 'Participant, from the sample manifest (labs hold only sample IDs).';
COMMENT ON COLUMN results.site_id IS 'Clinical site of the participant, from the sample manifest.';
COMMENT ON COLUMN results.visit IS 'Visit code from the sample manifest (config/study.yaml visits, e.g. W04).';
COMMENT ON COLUMN results.visitnum IS 'VISITNUM of the visit (config/study.yaml); order visits by it, never by load order.';
COMMENT ON COLUMN results.matrix IS 'Sample matrix from the manifest (CSF, SERUM).';
COMMENT ON COLUMN results.collection_date IS 'Date the sample was drawn, from the manifest.';
COMMENT ON COLUMN results.sample_id IS 'The specimen ID as the lab wrote it on the plate (SDTM LBREFID).';
COMMENT ON COLUMN results.sample_condition IS 'Sample condition from the manifest (e.g. HEMOLYZED); null when normal or not recorded.';
COMMENT ON COLUMN results.analyte IS 'Canonical analyte name (config/analytes.yaml), whatever the lab wrote.';
COMMENT ON COLUMN results.analyte_class IS 'Analyte class (neurotrophic, inflammatory, cytokine, neurodegeneration).';
COMMENT ON COLUMN results.assay_id IS 'Assay/kit that measured it (config/assays.yaml); results of different assays are never merged.';
COMMENT ON COLUMN results.platform IS 'Measurement platform (luminex, msd, simoa, ella, plate_reader...).';
COMMENT ON COLUMN results.kit_lot IS 'Kit lot of the run (from the export, else configured).';
COMMENT ON COLUMN results.plate_id IS 'Plate the result comes from, as the file names it.';
COMMENT ON COLUMN results.conc_pg_ml IS 'Concentration in pg/mL, dilution applied: the replicate mean when qualifier is =, the limit (LLOQ/ULOQ) when < or >, null when NR. Never imputed.';
COMMENT ON COLUMN results.cv_pct IS 'Replicate CV in percent of the numeric replicates (null with fewer than 2).';
COMMENT ON COLUMN results.n_replicates IS 'Replicates that gave a number.';
COMMENT ON COLUMN results.n_wells IS 'Wells the sample was measured in for this analyte.';
COMMENT ON COLUMN results.dilution IS 'Dilution factor the sample was run at (applied once to conc_pg_ml and the limits).';
COMMENT ON COLUMN results.reported_texts IS 'The wells'' concentration cells as the file wrote them, |-separated (e.g. <3.2|4.1).';
COMMENT ON COLUMN results.unit_as_written IS 'The concentration unit as the file wrote it, before conversion to pg/mL.';
COMMENT ON COLUMN results.extrapolated IS 'The instrument''s value lies beyond the curve''s range and was reported as such (report_extrapolated in assays.yaml); false when censored at the limits.';
COMMENT ON COLUMN results.flags IS 'Warnings on the result, as a list (e.g. [high_cv, westgard, resolved_late]); null when none. Test with list_contains(flags, ''high_cv'').';
COMMENT ON COLUMN results.source_file IS 'Name of the export file as received (never used as a path).';
COMMENT ON COLUMN results.loaded_at IS 'When the file was loaded (UTC); for a late-resolved result, when its manifest resolved it.';
COMMENT ON COLUMN results.current_from IS 'When this result last became current (UTC); what results_as_of(ts) compares with.';
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

CREATE VIEW quarantine AS SELECT rule, message, severity, * EXCLUDE (rule, message, severity) FROM read_parquet('{root}/quarantine.parquet');
COMMENT ON VIEW quarantine IS 'Every rejected, held or warned row and file, with the rule and a plain-language message.';

CREATE VIEW unresolved AS
SELECT u.*, NOT EXISTS (
    SELECT 1 FROM results_all r WHERE r.sample_id = u.sample_id AND r.participant_id IS NOT NULL
) AS still_unresolved
FROM read_parquet('{root}/unresolved.parquet') u;
COMMENT ON VIEW unresolved IS 'Samples measured on a plate whose ID was not in any sample manifest at load time; their results are kept in results_all with status unresolved. still_unresolved is false once a manifest lists the sample: each run re-resolves the queue, and the results load then as new rows flagged resolved_late (the unresolved row''s superseded_by names its replacement).';

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

-- ---------------------------------------------------------------------------------------------------------
-- Analysis-ready shapes (issue 8). Built on results / results_all, never on the snapshot directly, so that
-- what "current" means is decided in one place. visit_schedule (before this file) and results_wide (after
-- it) are generated from configuration by warehouse/analyst_sql.py.

CREATE VIEW baseline_change AS
WITH baseline AS (
    SELECT r.participant_id, r.matrix, r.analyte, r.assay_id, r.result_id AS baseline_result_id,
        r.visit AS baseline_visit, r.visitnum AS baseline_visitnum, r.conc_pg_ml AS baseline_pg_ml,
        r.qualifier AS baseline_qualifier
    FROM results r
    JOIN visit_schedule v ON v.visit = r.visit AND v.is_baseline_candidate
    WHERE r.participant_id IS NOT NULL AND r.qualifier <> 'NR' AND r.conc_pg_ml IS NOT NULL
    QUALIFY row_number() OVER (
        PARTITION BY r.participant_id, r.matrix, r.analyte, r.assay_id
        ORDER BY r.visitnum DESC, r.collection_date DESC NULLS LAST, r.result_id
    ) = 1
),
paired AS (
    SELECT r.result_id, r.participant_id, r.site_id, r.matrix, r.analyte, r.assay_id, r.visit, r.visitnum,
        r.collection_date, r.conc_pg_ml AS value_pg_ml, r.qualifier, r.lloq, r.uloq,
        b.baseline_result_id, b.baseline_visit, b.baseline_visitnum, b.baseline_pg_ml, b.baseline_qualifier,
        coalesce(r.result_id = b.baseline_result_id, false) AS is_baseline,
        CASE
            WHEN b.baseline_result_id IS NULL THEN 'none'
            WHEN r.result_id = b.baseline_result_id OR r.visitnum <= b.baseline_visitnum THEN 'none'
            WHEN r.qualifier = 'NR' OR r.conc_pg_ml IS NULL THEN 'none'
            ELSE 'pair'
        END AS has_pair,
        -- which way the true change may lie from the computed one: a value below its LLOQ could be lower
        -- (-1), above its ULOQ higher (+1); for the baseline the other way round.
        CASE r.qualifier WHEN '<' THEN -1 WHEN '>' THEN 1 ELSE 0 END AS value_dir,
        CASE b.baseline_qualifier WHEN '<' THEN 1 WHEN '>' THEN -1 ELSE 0 END AS baseline_dir
    FROM results r
    LEFT JOIN baseline b USING (participant_id, matrix, analyte, assay_id)
    WHERE r.participant_id IS NOT NULL AND r.visit IS NOT NULL
),
classified AS (
    SELECT *,
        CASE
            WHEN has_pair = 'none' THEN NULL
            WHEN value_dir = 0 AND baseline_dir = 0 THEN '='
            WHEN value_dir * baseline_dir < 0 THEN NULL
            WHEN value_dir + baseline_dir < 0 THEN '<'
            ELSE '>'
        END AS change_qualifier,
        CASE
            WHEN baseline_result_id IS NULL THEN 'no baseline value'
            WHEN is_baseline THEN 'baseline record'
            WHEN visitnum <= baseline_visitnum THEN 'on or before the baseline visit'
            WHEN qualifier = 'NR' OR value_pg_ml IS NULL THEN 'value not reported'
            WHEN value_dir = 0 AND baseline_dir = 0 THEN 'exact: both values in range'
            WHEN value_dir * baseline_dir < 0 THEN 'censored both ways: the change cannot be bounded'
            WHEN value_dir + baseline_dir < 0 THEN 'censored: the true change is below the *_bound values'
            ELSE 'censored: the true change is above the *_bound values'
        END AS change_note
    FROM paired
)
SELECT result_id, participant_id, site_id, matrix, analyte, assay_id, visit, visitnum, collection_date,
    value_pg_ml, qualifier, lloq, uloq, is_baseline,
    baseline_visit, baseline_pg_ml, baseline_qualifier, baseline_result_id,
    CASE WHEN change_qualifier = '=' THEN value_pg_ml - baseline_pg_ml END AS chg,
    CASE WHEN change_qualifier = '=' AND baseline_pg_ml > 0
        THEN 100 * (value_pg_ml - baseline_pg_ml) / baseline_pg_ml END AS pchg,
    CASE WHEN change_qualifier = '=' AND baseline_pg_ml > 0 AND value_pg_ml > 0
        THEN log2(value_pg_ml / baseline_pg_ml) END AS log2_ratio,
    change_qualifier,
    CASE WHEN change_qualifier IN ('<', '>') THEN value_pg_ml - baseline_pg_ml END AS chg_bound,
    CASE WHEN change_qualifier IN ('<', '>') AND baseline_pg_ml > 0
        THEN 100 * (value_pg_ml - baseline_pg_ml) / baseline_pg_ml END AS pchg_bound,
    CASE WHEN change_qualifier IN ('<', '>') AND baseline_pg_ml > 0 AND value_pg_ml > 0
        THEN log2(value_pg_ml / baseline_pg_ml) END AS log2_ratio_bound,
    change_note
FROM classified;

COMMENT ON VIEW baseline_change IS 'Change from baseline per current result (participant x matrix x analyte x assay x visit). Baseline = the last non-missing value at a visit before the first dose (visit_schedule.is_baseline_candidate, config/study.yaml baseline), ordered by VISITNUM, never by load order. chg/pchg/log2_ratio only when both values are in range; a change involving a censored value has change_qualifier < or > and its bound in *_bound, or no number at all when it cannot be bounded.';
COMMENT ON COLUMN baseline_change.is_baseline IS 'This result is the baseline (ADaM ABLFL = Y).';
COMMENT ON COLUMN baseline_change.baseline_pg_ml IS 'The baseline value, pg/mL (the limit when baseline_qualifier is < or >).';
COMMENT ON COLUMN baseline_change.chg IS 'value - baseline, pg/mL; only when both are in range (change_qualifier =).';
COMMENT ON COLUMN baseline_change.pchg IS '100 x (value - baseline) / baseline; only when both are in range and baseline > 0.';
COMMENT ON COLUMN baseline_change.log2_ratio IS 'log2(value / baseline); only when both are in range and both > 0.';
COMMENT ON COLUMN baseline_change.change_qualifier IS '= exact; < the true change is below chg_bound; > above it; null: no pair, or censored both ways (cannot be bounded).';
COMMENT ON COLUMN baseline_change.chg_bound IS 'When a value or the baseline is censored: limit-based change, a bound in the direction of change_qualifier; never an estimate.';
COMMENT ON COLUMN baseline_change.change_note IS 'Why there is or is not a change, in plain words.';

CREATE VIEW censoring_summary AS
SELECT analyte, matrix, visit, visitnum, assay_id,
    count(*) AS n_results,
    count(*) FILTER (WHERE qualifier = '=') AS n_in_range,
    count(*) FILTER (WHERE qualifier = '<') AS n_below_lloq,
    count(*) FILTER (WHERE qualifier = '>') AS n_above_uloq,
    count(*) FILTER (WHERE qualifier = 'NR') AS n_not_reported,
    round(100.0 * count(*) FILTER (WHERE qualifier IN ('<', '>')) / count(*), 1) AS pct_censored,
    min(lloq) AS lloq_min, max(lloq) AS lloq_max
FROM results
WHERE participant_id IS NOT NULL AND visit IS NOT NULL
GROUP BY analyte, matrix, visit, visitnum, assay_id;

COMMENT ON VIEW censoring_summary IS 'Current results per analyte x matrix x visit x assay: how many are in range (=), below LLOQ (<), above ULOQ (>) and not reported (NR); lloq_min/max show how the limit varies across runs and dilutions.';

CREATE VIEW sample_lineage AS
WITH acceptance AS (
    SELECT source_sha256, plate_id, analyte, bool_and(run_accepted) AS run_accepted,
        string_agg(reason, '; ' ORDER BY rule, subject) FILTER (WHERE NOT passed) AS run_failures
    FROM run_acceptance
    GROUP BY source_sha256, plate_id, analyte
)
SELECT r.result_id, r.is_current, r.status, r.participant_id, r.visit, r.matrix, r.sample_id, r.analyte,
    r.assay_id, r.conc_pg_ml AS result_pg_ml, r.qualifier AS result_qualifier,
    w.well, w.sample_type, w.signal, w.signal_kind, w.reported_text, w.qualifier AS well_qualifier,
    w.value AS well_value, w.unit AS well_unit, w.conc_pg_ml AS well_pg_ml, w.dilution AS well_dilution,
    w.flags AS well_flags, w.row_number AS file_row,
    r.plate_id, p.instrument, p.acquired_at, p.kit_lot AS plate_kit_lot, p.protocol,
    c.model AS curve_model, c.concentrations_from, a.run_accepted, a.run_failures,
    f.source_file, r.source_file_sha256, f.format AS file_format, f.status AS file_status,
    f.loaded_at AS file_loaded_at,
    'raw/' || substr(r.source_file_sha256, 1, 2) || '/' || r.source_file_sha256 AS raw_file
FROM results_all r
LEFT JOIN wells w
    ON w.source_sha256 = r.source_file_sha256 AND w.plate_id = r.plate_id AND w.analyte = r.analyte
    AND list_contains(list_transform(string_split(r.wells, ','), lambda x: trim(x)), w.well)
LEFT JOIN plates p ON p.source_sha256 = r.source_file_sha256 AND p.plate_id = r.plate_id
LEFT JOIN curves c
    ON c.source_sha256 = r.source_file_sha256 AND c.plate_id = r.plate_id AND c.analyte = r.analyte
LEFT JOIN acceptance a
    ON a.source_sha256 = r.source_file_sha256 AND a.plate_id = r.plate_id AND a.analyte = r.analyte
LEFT JOIN files f ON f.source_sha256 = r.source_file_sha256;

COMMENT ON VIEW sample_lineage IS 'From every result (results_all: current or not) to each well it was averaged from, the plate, the run acceptance verdict, the curve, and the file with its SHA-256 (raw_file: the byte-for-byte copy under the warehouse folder). One row per result x well.';
COMMENT ON COLUMN sample_lineage.run_accepted IS 'The plate x analyte run passed every acceptance rule (null: no rule applied, e.g. no calibrators).';
COMMENT ON COLUMN sample_lineage.raw_file IS 'Path of the raw export, relative to the warehouse folder, named by its SHA-256.';

-- ---------------------------------------------------------------------------------------------------------
-- Review and release (issue 21, warehouse/review.py). run_review is computed in the writer store at publish
-- (the signature checks need the unmasked results); a snapshot published before it reads as empty.

CREATE VIEW run_review AS SELECT * FROM read_parquet('{root}/run_review.parquet');
COMMENT ON VIEW run_review IS 'Each run (file x plate x analyte) with its review state: pending_review, reviewed, approved or rejected (the latest valid approved/rejected signature decides), and the last valid signature''s meaning, signer, name, UTC time and reason. With study.yaml review.release on_approval only approved runs reach results; a rejected run is never current. Signatures void by a later change of the run count in n_void_signatures.';
COMMENT ON COLUMN run_review.source_sha256 IS 'SHA-256 of the run''s file (what every signature on it is bound to).';
COMMENT ON COLUMN run_review.plate_id IS 'Plate of the run, as the file names it.';
COMMENT ON COLUMN run_review.analyte IS 'Analyte of the run (one run = one plate x analyte of one file).';
COMMENT ON COLUMN run_review.source_file IS 'Name of the export file as received.';
COMMENT ON COLUMN run_review.uploaded_by_lab IS 'The lab that sent the file (two-person rule: none of its reviewers may sign the run).';
COMMENT ON COLUMN run_review.n_results IS 'Results of the run (rows of results_all, whatever their status).';
COMMENT ON COLUMN run_review.result_set_sha256 IS 'SHA-256 of the run''s results now, computed for signed runs (null when unsigned); a signature whose recorded hash differs is void.';
COMMENT ON COLUMN run_review.review_state IS 'pending_review (no valid signature), reviewed (only reviewed signatures), approved or rejected.';
COMMENT ON COLUMN run_review.review_meaning IS 'Meaning of the last valid signature: reviewed, approved or rejected.';
COMMENT ON COLUMN run_review.reviewed_by IS 'Reviewer account of the last valid signature.';
COMMENT ON COLUMN run_review.reviewed_by_name IS 'Full name of the signer of the last valid signature (21 CFR 11.50).';
COMMENT ON COLUMN run_review.reviewed_at IS 'When the last valid signature was given (UTC).';
COMMENT ON COLUMN run_review.review_reason IS 'The reason given with the last valid signature (mandatory for rejected).';
COMMENT ON COLUMN run_review.signature_id IS 'ID of the last valid signature (run_signatures, audit_log entity_id).';
COMMENT ON COLUMN run_review.n_signatures IS 'Valid signatures on the run.';
COMMENT ON COLUMN run_review.n_void_signatures IS 'Signatures on the run that no longer hold (the run changed after signing, or the signature was altered): biomarkers audit verify reports them.';

CREATE VIEW run_signatures AS SELECT * FROM read_parquet('{root}/run_signatures.parquet');
COMMENT ON VIEW run_signatures IS 'Every electronic signature on a run, append-only: meaning (reviewed, approved, rejected), reason, signer account, full name and lab, UTC time, and the content it binds (file SHA-256, result-set SHA-256, binding hash repeated in the audit trail).';
COMMENT ON COLUMN run_signatures.signature_id IS 'ID of the signature (SIG-000001...), in signing order; the audit_log entry of event signed has it as entity_id.';
COMMENT ON COLUMN run_signatures.source_sha256 IS 'SHA-256 of the file of the signed run (the file content the signature is bound to).';
COMMENT ON COLUMN run_signatures.plate_id IS 'Plate of the signed run.';
COMMENT ON COLUMN run_signatures.analyte IS 'Analyte of the signed run.';
COMMENT ON COLUMN run_signatures.meaning IS 'What the signature means: reviewed, approved (released under review.release on_approval) or rejected (never current).';
COMMENT ON COLUMN run_signatures.reason IS 'The signer''s reason (mandatory for rejected).';
COMMENT ON COLUMN run_signatures.signer IS 'Reviewer account that signed (biomarkers reviewer add), after typing its password again.';
COMMENT ON COLUMN run_signatures.signer_name IS 'Full name of the signer at signing (21 CFR 11.50).';
COMMENT ON COLUMN run_signatures.signer_lab IS 'Lab the signer works for (two-person rule); null: none.';
COMMENT ON COLUMN run_signatures.signed_at IS 'When the signature was given (UTC).';
COMMENT ON COLUMN run_signatures.n_results IS 'Distinct results of the run when signed, as measured (what result_set_sha256 covers).';
COMMENT ON COLUMN run_signatures.result_set_sha256 IS 'SHA-256 of the run''s results when signed; differs from run_review.result_set_sha256 once the run changed (the signature is then void).';
COMMENT ON COLUMN run_signatures.binding_sha256 IS 'SHA-256 binding the signature ID, the run, the meaning, reason, signer, time and content hashes together; repeated in its audit entry (21 CFR 11.70).';

COMMENT ON COLUMN results_all.review_state IS 'Review state of the result''s run (run_review): pending_review, reviewed, approved or rejected.';
COMMENT ON COLUMN results_all.review_meaning IS 'Meaning of the last valid signature on the run (reviewed, approved, rejected); null when unsigned.';
COMMENT ON COLUMN results_all.reviewed_by IS 'Reviewer account that gave the last valid signature on the run.';
COMMENT ON COLUMN results_all.reviewed_by_name IS 'Full name of that reviewer (the signature''s manifestation, 21 CFR 11.50).';
COMMENT ON COLUMN results_all.reviewed_at IS 'When the last valid signature on the run was given (UTC).';
COMMENT ON COLUMN results_all.review_signature_id IS 'The signature (run_signatures.signature_id) these review columns come from.';
