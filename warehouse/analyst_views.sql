-- Analyst store (analyst.duckdb): views over one published Parquet snapshot. {root} is replaced by the
-- snapshot's absolute path when the store is built (relative paths would resolve against the analyst's
-- working directory). Nothing here can carry treatment allocation: ingestion never reads it.

-- flags are stored ';'-separated (pipeline/validate.add_flag); a reader's remark may itself hold '; ' (a
-- SoftMax Pro range note), so only a ';' not followed by a space separates two flags.
CREATE MACRO flag_list(s) AS
    list_transform(string_split(replace(nullif(s, ''), '; ', chr(31)), ';'), lambda x: replace(x, chr(31), '; '));

CREATE VIEW result_history AS
SELECT result_id, is_current, changed_at AS valid_from,
       lead(changed_at) OVER (PARTITION BY result_id ORDER BY event_seq) AS valid_to,
       reason, superseded_by, exclusion_id, event_seq
FROM read_parquet('{root}/result_currency.parquet');

COMMENT ON VIEW result_history IS 'Every change of a result''s state, as intervals: is_current from valid_from until valid_to (null = still so). Append-only in the warehouse; what the as-of macro results_as_of(ts) reads.';
COMMENT ON COLUMN result_history.result_id IS 'The result (results_all.result_id) whose state changed.';
COMMENT ON COLUMN result_history.is_current IS 'Whether the result is current (in the results view) during this interval.';
COMMENT ON COLUMN result_history.valid_from IS 'When this state began (UTC): the load, re-assay, exclusion or lifting that decided it.';
COMMENT ON COLUMN result_history.valid_to IS 'When the next state of the same result began (UTC); null while this state holds.';
COMMENT ON COLUMN result_history.reason IS 'Why, in plain words, e.g. current: latest accepted run; re-assay: replaced by plate ... (file ..., qualifier ...); excluded: <reason> (by <user>); incurred-sample reanalysis repeat: evaluated against the original, never replaces it; resolved late: ...';
COMMENT ON COLUMN result_history.superseded_by IS 'The result_id that replaced this one (re-assay rule, or the late-resolved row of an unresolved result); null otherwise.';
COMMENT ON COLUMN result_history.exclusion_id IS 'The exclusion (exclusions.exclusion_id) that keeps the result out during this interval; null otherwise (also after the exclusion is lifted).';
COMMENT ON COLUMN result_history.event_seq IS 'Order of the change in the warehouse (increasing across all results); ties of valid_from are ordered by it.';

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
    flag_list(r.flags) AS flags, r.status, r.hold_reason, r.source_file, r.source_sha256 AS source_file_sha256, r.loaded_at,
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
-- Columns shared with the results view carry its comments (warehouse/data_dictionary.py, INHERIT); those
-- below differ or exist only here.
COMMENT ON COLUMN results_all.participant_id IS 'Participant, from the sample manifest; null while the sample is in no manifest (status unresolved).';
COMMENT ON COLUMN results_all.site_id IS 'Clinical site, from the manifest; null while unresolved.';
COMMENT ON COLUMN results_all.visit IS 'Visit code from the manifest (config/study.yaml); null while unresolved.';
COMMENT ON COLUMN results_all.visitnum IS 'VISITNUM of the visit; null while unresolved.';
COMMENT ON COLUMN results_all.collection_date IS 'Date drawn, from the manifest; null while unresolved.';
COMMENT ON COLUMN results_all.matrix IS 'Sample matrix from the manifest (CSF, SERUM); for an unresolved result its plate''s (plates.matrix), possibly null.';
COMMENT ON COLUMN results_all.current_from IS 'When this result last became current (UTC); null if it never was.';
COMMENT ON COLUMN results_all.status IS 'loaded (passed every rule; current unless superseded, excluded or an ISR repeat), held (a data rule held it: hold_reason), unresolved (sample ID in no manifest yet), run_rejected (its plate x analyte run failed acceptance). Only loaded results are ever current.';
COMMENT ON COLUMN results_all.hold_reason IS 'Why a held or run_rejected result is not used, in plain words; null for loaded and unresolved.';
COMMENT ON COLUMN results_all.current_to IS 'When it stopped being current (UTC); null while current or if it never was.';
COMMENT ON COLUMN results_all.superseded_by IS 'result_id of the result that replaced it (a re-assay, or the late-resolved row of an unresolved result); null otherwise.';
COMMENT ON COLUMN results_all.superseded_reason IS 'Why it is not current, in plain words (the latest result_history.reason); null while current.';
COMMENT ON COLUMN results_all.superseded_at IS 'When superseded_by took its place (UTC); null when not superseded.';
COMMENT ON COLUMN results_all.exclusion_id IS 'The active exclusion (exclusions.exclusion_id) that took it out; null when not excluded.';
COMMENT ON COLUMN results_all.is_current IS 'The result is in the results view now: the one current result of its sample x analyte x assay.';

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
COMMENT ON COLUMN results.conc_pg_ml IS 'Concentration in pg/mL, dilution applied: the replicate mean when qualifier is =, the limit (LLOQ/ULOQ) when < or >, null when NR or WITHHELD. Never imputed.';
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
COMMENT ON COLUMN results.qualifier IS '= in range; < below LLOQ (conc_pg_ml = LLOQ); > above ULOQ (conc_pg_ml = ULOQ); NR not reported (conc_pg_ml null); WITHHELD in the blinded store only (a post-dose value that can reveal the arm: value, limits, CV, texts and flags null).';
COMMENT ON COLUMN results.lloq IS 'Lower limit of quantification of this run for this sample, pg/mL, dilution applied.';
COMMENT ON COLUMN results.uloq IS 'Upper limit of quantification of this run for this sample, pg/mL, dilution applied.';
COMMENT ON COLUMN results.wells IS 'The plate wells the result was averaged from (see the wells view).';
COMMENT ON COLUMN results.source_file_sha256 IS 'SHA-256 of the raw export file (kept byte-for-byte in the raw area).';

CREATE VIEW wells AS SELECT * REPLACE (flag_list(flags) AS flags) FROM read_parquet('{root}/wells.parquet');
COMMENT ON VIEW wells IS 'Every value read from every well (standards, QCs, blanks, samples) as the file wrote it and as converted; join to results on source_sha256 + plate_id + sample_id + analyte.';
COMMENT ON COLUMN wells.source_sha256 IS 'SHA-256 of the export file (files.source_sha256; results.source_file_sha256).';
COMMENT ON COLUMN wells.source_file IS 'Name of the export file as received.';
COMMENT ON COLUMN wells.format IS 'The reader that read the file (e.g. xponent, bioplex, msd_workbench, softmax_pro, gen5, ella, platereader_grid).';
COMMENT ON COLUMN wells.plate_id IS 'Plate, as the file names it (plates.plate_id).';
COMMENT ON COLUMN wells.well IS 'Well position A1..P24; a row the instrument averaged over replicates lists them (A3,A4).';
COMMENT ON COLUMN wells.row_number IS '1-based line (text export) or sheet row where the value was read.';
COMMENT ON COLUMN wells.sample_id IS 'Sample ID as written on the plate; for standards and QCs their name (e.g. Standard1, QC-L).';
COMMENT ON COLUMN wells.sample_type IS 'unknown (a study sample), standard, qc, blank or control.';
COMMENT ON COLUMN wells.expected_conc IS 'Nominal concentration of a standard or QC, in the well (no dilution), in unit; null for samples.';
COMMENT ON COLUMN wells.analyte_as_written IS 'The analyte name as the file wrote it (empty when the export names none).';
COMMENT ON COLUMN wells.analyte IS 'Canonical analyte (config/analytes.yaml); null when the name is not in the catalogue (the well gives no result).';
COMMENT ON COLUMN wells.signal IS 'Raw instrument signal (see signal_kind); null when the file holds none.';
COMMENT ON COLUMN wells.signal_kind IS 'What signal is: MFI, FI, ECL, OD450, RFU, RLU... (one row per well x analyte x read).';
COMMENT ON COLUMN wells.reported_text IS 'The concentration cell exactly as the file wrote it (e.g. OOR <, *0.21, ***); null when the file has no concentration cell.';
COMMENT ON COLUMN wells.qualifier IS '= in range; < below / > above the run''s range (value is the limit); NR not reported (value null); WITHHELD in the blinded store (a study sample''s well whose value could reveal the arm: signal and values null).';
COMMENT ON COLUMN wells.value IS 'The in-file number in unit (the limit when censored); as reported, before conversion to pg/mL and, unless dilution_applied, before the dilution.';
COMMENT ON COLUMN wells.extrapolated IS 'The instrument reported a value beyond its standards (a leading * in Luminex exports), or the pipeline censored a reported number at the accepted range.';
COMMENT ON COLUMN wells.unit IS 'Unit of value and expected_conc as written in the file, or from config/assays.yaml (unit_source).';
COMMENT ON COLUMN wells.unit_source IS 'file (the export names the unit) or config (taken from the assay); null: unknown, the well was held.';
COMMENT ON COLUMN wells.conc_pg_ml IS 'value in pg/mL in the sample: value x unit factor x dilution (unless dilution_applied); the limit when censored; null when NR or the unit is unknown.';
COMMENT ON COLUMN wells.dilution IS 'Dilution factor of the sample in the well (1 for standards, QCs, blanks and a sample without one).';
COMMENT ON COLUMN wells.dilution_applied IS 'The file''s value already includes the dilution (e.g. Bio-Plex Obs Conc, Ella), so it is not applied again.';
COMMENT ON COLUMN wells.flags IS 'Remarks on the well, as a list: the reader''s (e.g. low_bead_count, dilution_missing) and the pipeline''s (e.g. below_accepted_lloq, limit_from_standards, recomputed_conc); null when none.';
COMMENT ON COLUMN wells.recomputed_conc IS 'When the instrument reported a concentration: the signal read through our fitted curve, in the well, in unit (the instrument value stays the reported one).';
COMMENT ON COLUMN wells.recomputed_diff_pct IS '(recomputed - instrument) / instrument x 100, on the instrument''s basis; null when not recomputed.';

CREATE VIEW plates AS SELECT * FROM read_parquet('{root}/plates.parquet');
COMMENT ON VIEW plates IS 'One row per plate per file: assay, platform, matrix, instrument, acquisition time.';
COMMENT ON COLUMN plates.source_sha256 IS 'SHA-256 of the file the plate came in (files.source_sha256); with plate_id, the key of a run.';
COMMENT ON COLUMN plates.plate_id IS 'Plate ID as the file names it; a repeat run carries its own (e.g. -RA re-assay, -ISR reanalysis).';
COMMENT ON COLUMN plates.assay_id IS 'Assay matched from the protocol and analytes (config/assays.yaml); null when none matched (the plate was quarantined).';
COMMENT ON COLUMN plates.platform IS 'Platform of the assay (luminex, msd, simoa, ella, plate_reader...).';
COMMENT ON COLUMN plates.matrix IS 'Matrix of most of the plate''s samples, from the manifest; null when none resolved or two matrices tie.';
COMMENT ON COLUMN plates.protocol IS 'Panel, protocol or kit name as the file writes it (what the assay was matched on).';
COMMENT ON COLUMN plates.instrument IS 'Instrument name or serial as the file writes it.';
COMMENT ON COLUMN plates.acquired_at IS 'Acquisition date/time as the file writes it (text: formats vary too much to parse safely).';
COMMENT ON COLUMN plates.kit_lot IS 'Kit lot from the export, else the assay''s configured lot.';
COMMENT ON COLUMN plates.n_wells IS 'Physical wells read on the plate.';
COMMENT ON COLUMN plates.curve_note IS 'Where the concentrations came from: the instrument software, or our fitted curve (model, weighting, R2 and masked levels per analyte).';
COMMENT ON COLUMN plates.lab IS 'The lab whose file first loaded this plate (upload token or delivery source); only that lab may change it. Null for plates loaded before ownership was recorded.';

CREATE VIEW files AS SELECT * EXCLUDE (raw_path) FROM read_parquet('{root}/files.parquet');
COMMENT ON VIEW files IS 'Every distinct file received (by SHA-256) with its verdict.';
COMMENT ON COLUMN files.source_sha256 IS 'SHA-256 of the file''s bytes: its identity (the same bytes under another name are the same file).';
COMMENT ON COLUMN files.source_file IS 'Name as first received (never used as a path).';
COMMENT ON COLUMN files.size_bytes IS 'Size in bytes.';
COMMENT ON COLUMN files.format IS 'The reader that read it (wells.format); null when none could.';
COMMENT ON COLUMN files.status IS 'loaded, loaded_with_issues (some rows held or rejected: see quarantine), quarantined (nothing loaded), or companion (a plate map read with a grid file).';
COMMENT ON COLUMN files.message IS 'The verdict in one plain sentence.';
COMMENT ON COLUMN files.companions IS 'SHA-256s of the companion files (plate maps) read with it, ;-separated; null when none.';
COMMENT ON COLUMN files.load_seq IS 'Order of loading across the warehouse (increasing); the re-assay rule latest compares it.';
COMMENT ON COLUMN files.loaded_at IS 'When the file was loaded (UTC).';
COMMENT ON COLUMN files.run_id IS 'ID of the ingestion run that loaded it (also in quarantine, audit_log reasons).';
COMMENT ON COLUMN files.lab IS 'The lab that delivered it (upload token or configured delivery source); null when not known.';

CREATE VIEW quarantine AS SELECT rule, message, severity, * EXCLUDE (rule, message, severity) FROM read_parquet('{root}/quarantine.parquet');
COMMENT ON VIEW quarantine IS 'Every rejected, held or warned row and file, with the rule and a plain-language message.';
COMMENT ON COLUMN quarantine.rule IS 'Short stable code of the rule, e.g. plausible_range, unit_unknown, missing_sample_id, mixed_matrix, high_cv (warning), run_rejected, westgard.';
COMMENT ON COLUMN quarantine.message IS 'What is wrong, in one plain sentence for a lab person, ending with what to do.';
COMMENT ON COLUMN quarantine.severity IS 'reject (not loaded), hold (loaded, never current until resolved), warning (loaded and current, flagged).';
COMMENT ON COLUMN quarantine.source_file IS 'Name of the file concerned.';
COMMENT ON COLUMN quarantine.source_sha256 IS 'SHA-256 of that file (files.source_sha256).';
COMMENT ON COLUMN quarantine.plate_id IS 'Plate concerned; null for a whole-file problem.';
COMMENT ON COLUMN quarantine.well IS 'Well(s) concerned; null when the row is about a plate, an analyte or the file.';
COMMENT ON COLUMN quarantine.row_number IS 'Line or sheet row of the file; null when not about one row.';
COMMENT ON COLUMN quarantine.sample_id IS 'Sample ID as written, when the row is about a sample.';
COMMENT ON COLUMN quarantine.analyte IS 'Analyte concerned (canonical, or as written when unknown).';
COMMENT ON COLUMN quarantine.value_text IS 'The offending value as written (e.g. the concentration cell, the unit); null when none.';
COMMENT ON COLUMN quarantine.created_at IS 'When it was recorded (UTC).';
COMMENT ON COLUMN quarantine.run_id IS 'ID of the ingestion run that recorded it (files.run_id).';

CREATE VIEW unresolved AS
SELECT u.*, NOT EXISTS (
    SELECT 1 FROM results_all r WHERE r.sample_id = u.sample_id AND r.participant_id IS NOT NULL
) AS still_unresolved
FROM read_parquet('{root}/unresolved.parquet') u;
COMMENT ON VIEW unresolved IS 'Samples measured on a plate whose ID was not in any sample manifest at load time; their results are kept in results_all with status unresolved. still_unresolved is false once a manifest lists the sample: each run re-resolves the queue, and the results load then as new rows flagged resolved_late (the unresolved row''s superseded_by names its replacement).';
COMMENT ON COLUMN unresolved.source_file IS 'File whose plate measured the sample.';
COMMENT ON COLUMN unresolved.source_sha256 IS 'SHA-256 of that file (files.source_sha256).';
COMMENT ON COLUMN unresolved.plate_id IS 'Plate that measured the sample.';
COMMENT ON COLUMN unresolved.sample_id IS 'The sample ID as written on the plate, found in no manifest at load time (a typo, or a shipment not received yet).';
COMMENT ON COLUMN unresolved.wells IS 'Its wells on the plate (comma-separated).';
COMMENT ON COLUMN unresolved.n_results IS 'Results (analytes) kept for it in results_all with status unresolved.';
COMMENT ON COLUMN unresolved.reason IS 'Why it could not be resolved and what to do, in plain words (which manifests were checked).';
COMMENT ON COLUMN unresolved.created_at IS 'When it was queued (UTC).';
COMMENT ON COLUMN unresolved.run_id IS 'Ingestion run that queued it.';
COMMENT ON COLUMN unresolved.still_unresolved IS 'true while no manifest lists the sample; false once a later manifest resolved it (its results then have rows flagged resolved_late).';

CREATE VIEW curves AS SELECT * FROM read_parquet('{root}/curves.parquet');
COMMENT ON VIEW curves IS 'The standard curve of each plate x analyte: model, weighting, parameters, R2, masked calibrators, LLOQ/ULOQ (in-well), whether concentrations came from this fit or from the instrument.';
COMMENT ON COLUMN curves.source_sha256 IS 'SHA-256 of the file (files.source_sha256); source_sha256 + plate_id + analyte is the key of a run.';
COMMENT ON COLUMN curves.plate_id IS 'Plate (plates.plate_id).';
COMMENT ON COLUMN curves.analyte IS 'Canonical analyte.';
COMMENT ON COLUMN curves.assay_id IS 'Assay of the plate.';
COMMENT ON COLUMN curves.kit_lot IS 'Kit lot of the run.';
COMMENT ON COLUMN curves.model IS 'Curve model fitted: 4PL or 5PL (config/assays.yaml curve_model).';
COMMENT ON COLUMN curves.weighting IS 'Weighting of the fit: none, 1/y or 1/y2.';
COMMENT ON COLUMN curves.a IS 'Response (signal) at zero concentration.';
COMMENT ON COLUMN curves.b IS 'Slope (Hill) parameter.';
COMMENT ON COLUMN curves.c IS 'Inflection concentration (the EC50 for a 4PL), in the well, in the standards'' unit (wells.unit).';
COMMENT ON COLUMN curves.d IS 'Response (signal) at infinite concentration.';
COMMENT ON COLUMN curves.g IS '5PL asymmetry; null for a 4PL.';
COMMENT ON COLUMN curves.r_squared IS 'R2 of the fit over the level means in the final curve.';
COMMENT ON COLUMN curves.converged IS 'The optimiser converged; false: no curve, the run fails acceptance.';
COMMENT ON COLUMN curves.fit_message IS 'The optimiser''s message (why it did not converge).';
COMMENT ON COLUMN curves.n_levels IS 'Non-zero calibrator levels run on the plate.';
COMMENT ON COLUMN curves.n_accepted IS 'Non-zero levels in the final curve and within their recovery limits.';
COMMENT ON COLUMN curves.masked_levels IS 'Levels masked out of the fit, in masking order, ;-separated (e.g. S4;S7); null when none (calibrators.mask_reason says why).';
COMMENT ON COLUMN curves.lloq_in_well IS 'LLOQ of the run: the lowest accepted non-zero calibrator, in the well (no dilution), in the standards'' unit (wells.unit; pg/mL in almost every export).';
COMMENT ON COLUMN curves.uloq_in_well IS 'ULOQ of the run: the highest accepted calibrator, in the well, in the standards'' unit.';
COMMENT ON COLUMN curves.max_signal IS 'Mean signal of the top calibrator (a Levey-Jennings metric, qc_trend series max_signal).';
COMMENT ON COLUMN curves.calibration_passed IS 'The calibration passed ICH M10: converged, enough non-zero levels within limits (config/assays.yaml acceptance.calibrators).';
COMMENT ON COLUMN curves.concentrations_from IS 'fitted curve (the results were read through this fit: signal-only exports) or instrument (the instrument''s values are reported; this fit is the check).';
COMMENT ON COLUMN curves.notes IS 'Masking steps and failure reasons in plain words; null when none.';
COMMENT ON COLUMN curves.residual_rmse IS 'RMS of (mean signal - fitted signal) over the levels in the final fit, signal units.';
COMMENT ON COLUMN curves.residual_rms_pct IS 'RMS of the same residuals as % of the fitted signal.';
COMMENT ON COLUMN curves.ec50 IS 'Concentration at the mid-response (a + d) / 2, in the well, standards'' unit: c for a 4PL, not for a 5PL; null when not converged (qc_trend series EC50).';

CREATE VIEW calibrators AS SELECT * FROM read_parquet('{root}/calibrators.parquet');
COMMENT ON VIEW calibrators IS 'Every calibrator level of every curve: nominal, mean signal, back-calculated concentration, % recovery, limit, masked and why.';
COMMENT ON COLUMN calibrators.source_sha256 IS 'SHA-256 of the file; with plate_id and analyte joins to curves.';
COMMENT ON COLUMN calibrators.plate_id IS 'Plate.';
COMMENT ON COLUMN calibrators.analyte IS 'Canonical analyte.';
COMMENT ON COLUMN calibrators.level IS 'Level name: the standard''s sample ID when it tells the levels apart, else S1..Sn from the highest concentration down.';
COMMENT ON COLUMN calibrators.nominal IS 'Nominal concentration of the level, in the well, in the standards'' unit (wells.unit).';
COMMENT ON COLUMN calibrators.n_wells IS 'Wells of the level on the plate.';
COMMENT ON COLUMN calibrators.mean_signal IS 'Mean signal of the level''s wells (what is fitted: one point per level).';
COMMENT ON COLUMN calibrators.cv_pct IS 'CV of the level''s well signals, %.';
COMMENT ON COLUMN calibrators.back_calc IS 'The mean signal read back through the final curve, same unit as nominal; null when outside the curve.';
COMMENT ON COLUMN calibrators.recovery_pct IS 'back_calc / nominal x 100.';
COMMENT ON COLUMN calibrators.limit_pct IS 'Allowed deviation of recovery from 100, in percentage points: 20, or 25 at the lowest and highest level still in the curve (ICH M10).';
COMMENT ON COLUMN calibrators.within_limits IS 'abs(recovery_pct - 100) <= limit_pct; null for a zero level (never judged).';
COMMENT ON COLUMN calibrators.masked IS 'The level was masked out of the fit (one level at a time, the most deviant first).';
COMMENT ON COLUMN calibrators.mask_reason IS 'Why it was masked, in plain words; null when kept.';
COMMENT ON COLUMN calibrators.fitted_signal IS 'The final curve''s signal at the nominal concentration; null when the curve did not converge.';
COMMENT ON COLUMN calibrators.residual IS 'mean_signal - fitted_signal (masked levels too: how far off they sit).';
COMMENT ON COLUMN calibrators.residual_pct IS 'residual as % of fitted_signal.';

CREATE VIEW run_acceptance AS SELECT * FROM read_parquet('{root}/run_acceptance.parquet');
COMMENT ON VIEW run_acceptance IS 'Each acceptance rule of each plate x analyte run (ICH M10 defaults): passed or not, observed vs limit, and the reason in plain words. A run that fails keeps its results in results_all (status run_rejected), never current.';
COMMENT ON COLUMN run_acceptance.source_sha256 IS 'SHA-256 of the file; with plate_id and analyte, the run (curves, calibrators).';
COMMENT ON COLUMN run_acceptance.plate_id IS 'Plate.';
COMMENT ON COLUMN run_acceptance.analyte IS 'Canonical analyte: each analyte of a multiplex plate is its own run.';
COMMENT ON COLUMN run_acceptance.run_accepted IS 'The verdict for the run (same on each of its rows): every rule passed and the curve converged.';
COMMENT ON COLUMN run_acceptance.rule IS 'CAL_PASS_FRACTION, CAL_MIN_LEVELS, QC_PASS_FRACTION, QC_LEVEL_PASS_FRACTION or WESTGARD (a Westgard rule with action reject).';
COMMENT ON COLUMN run_acceptance.subject IS 'What a per-item rule looked at (the QC level, e.g. QC-H); null for whole-run rules.';
COMMENT ON COLUMN run_acceptance.passed IS 'This rule passed.';
COMMENT ON COLUMN run_acceptance.observed IS 'What was observed, in the rule''s unit: a proportion 0-1 for *_PASS_FRACTION, a count for CAL_MIN_LEVELS; null when there was nothing to judge.';
COMMENT ON COLUMN run_acceptance.limit_value IS 'The rule''s limit in the same unit (as text); null for WESTGARD.';
COMMENT ON COLUMN run_acceptance.reason IS 'The verdict of the rule in plain words.';

CREATE VIEW exclusions AS
SELECT e.*, l.reason AS lift_reason, l.lifted_by, l.lifted_at, l.exclusion_id IS NULL AS active
FROM read_parquet('{root}/exclusions.parquet') e
LEFT JOIN read_parquet('{root}/exclusion_lifts.parquet') l USING (exclusion_id);
COMMENT ON VIEW exclusions IS 'Exclusions (a well, a sample, an analyte in a run, a whole run) with who, when and why, and their lifting; keyed by plate so they survive a re-import of the plate. Excluded results are never current.';
COMMENT ON COLUMN exclusions.exclusion_id IS 'ID of the exclusion (results_all.exclusion_id, result_history.exclusion_id).';
COMMENT ON COLUMN exclusions.scope IS 'well, sample (on a plate, or on every plate when plate_id is null), analyte_run (one analyte of a plate) or run (a whole plate).';
COMMENT ON COLUMN exclusions.plate_id IS 'Plate it applies to; null only for a sample excluded on every plate.';
COMMENT ON COLUMN exclusions.well IS 'Well, for scope well.';
COMMENT ON COLUMN exclusions.sample_id IS 'Sample, for scope sample (and well).';
COMMENT ON COLUMN exclusions.analyte IS 'Analyte it is limited to; null: every analyte.';
COMMENT ON COLUMN exclusions.reason IS 'Why, as the person wrote it (required).';
COMMENT ON COLUMN exclusions.created_by IS 'Who excluded.';
COMMENT ON COLUMN exclusions.created_at IS 'When (UTC).';
COMMENT ON COLUMN exclusions.lift_reason IS 'Why it was lifted; null while active.';
COMMENT ON COLUMN exclusions.lifted_by IS 'Who lifted it; null while active.';
COMMENT ON COLUMN exclusions.lifted_at IS 'When it was lifted (UTC); null while active.';
COMMENT ON COLUMN exclusions.active IS 'Not lifted: the results it matches are not current.';

CREATE VIEW file_versions AS SELECT * FROM read_parquet('{root}/file_versions.parquet');
COMMENT ON VIEW file_versions IS 'A file received with the name of an earlier file, or carrying a plate ID already loaded: its version number and the file it follows (both kept).';
COMMENT ON COLUMN file_versions.source_sha256 IS 'The newer file (files.source_sha256).';
COMMENT ON COLUMN file_versions.previous_sha256 IS 'The latest earlier file it matched.';
COMMENT ON COLUMN file_versions.matched_on IS 'file name or plate ID: what the two share.';
COMMENT ON COLUMN file_versions.matched_value IS 'The shared name or plate ID.';
COMMENT ON COLUMN file_versions.version_no IS '2 for the first file after the original, and so on.';
COMMENT ON COLUMN file_versions.recorded_at IS 'When the newer file was loaded (UTC).';

CREATE VIEW audit_log AS SELECT * FROM read_parquet('{root}/audit_log.parquet');
COMMENT ON VIEW audit_log IS 'The audit trail as of this snapshot: who, when (UTC), what, old and new value, why; hash-chained (biomarkers audit verify checks the writer''s copy).';
COMMENT ON COLUMN audit_log.seq IS 'Position in the chain (1, 2, ...).';
COMMENT ON COLUMN audit_log.logged_at IS 'When (UTC).';
COMMENT ON COLUMN audit_log.actor IS 'Who: the user or service account that ran the command or the ingestion.';
COMMENT ON COLUMN audit_log.event IS 'What happened, a past-tense verb: received, loaded, quarantined, new_version, superseded, reinstated, excluded, exclusion_lifted, exclusion_lost, isr_repeat, manifest_received, resolved_late, config_changed, snapshot_created, unblinded_store_created...';
COMMENT ON COLUMN audit_log.entity IS 'What kind of thing: file, result, sample, manifest, exclusion, config, datacut, unblinded_store...';
COMMENT ON COLUMN audit_log.entity_id IS 'Its ID (file name, result_id, exclusion_id, ...).';
COMMENT ON COLUMN audit_log.source_sha256 IS 'File concerned, when any.';
COMMENT ON COLUMN audit_log.plate_id IS 'Plate concerned, when any.';
COMMENT ON COLUMN audit_log.sample_id IS 'Sample concerned, when any.';
COMMENT ON COLUMN audit_log.participant_id IS 'Participant concerned, when any.';
COMMENT ON COLUMN audit_log.old_value IS 'State before (e.g. current).';
COMMENT ON COLUMN audit_log.new_value IS 'State after (e.g. superseded by <result_id>).';
COMMENT ON COLUMN audit_log.reason IS 'Why, in plain words.';
COMMENT ON COLUMN audit_log.prev_hash IS 'entry_hash of the previous entry (64 zeros for the first).';
COMMENT ON COLUMN audit_log.entry_hash IS 'SHA-256 over this entry''s fields and prev_hash: editing, deleting or reordering an entry breaks the chain.';

CREATE VIEW qc_trend AS SELECT * FROM read_parquet('{root}/qc_trend.parquet');
COMMENT ON VIEW qc_trend IS 'Levey-Jennings / Westgard judgement of each run metric when its plate was loaded: per plate x analyte x series (QC level concentration in pg/mL, EC50 = concentration at the curve mid-response, parameter c of a 4PL, max_signal = top calibrator mean signal), the value, the guide set (run-based: first N earlier accepted runs of the kit lot; or configured), z, the Westgard rules violated and the action (warning: results flagged westgard; reject: run failed acceptance).';
COMMENT ON COLUMN qc_trend.source_sha256 IS 'SHA-256 of the file; with plate_id and analyte, the run.';
COMMENT ON COLUMN qc_trend.plate_id IS 'Plate.';
COMMENT ON COLUMN qc_trend.analyte IS 'Canonical analyte.';
COMMENT ON COLUMN qc_trend.assay_id IS 'Assay.';
COMMENT ON COLUMN qc_trend.kit_lot IS 'Kit lot: runs are judged against earlier runs of the same assay x analyte x kit lot.';
COMMENT ON COLUMN qc_trend.series IS 'The metric: a QC level (QC-L, QC-M, QC-H), EC50 or max_signal.';
COMMENT ON COLUMN qc_trend.value IS 'The run''s value: QC level mean of its in-range wells (pg/mL as reported), EC50 (in-well, standards'' unit), max_signal (signal units).';
COMMENT ON COLUMN qc_trend.unit IS 'Unit of value.';
COMMENT ON COLUMN qc_trend.scale IS 'linear, or log10 (EC50): the scale of guide_mean, guide_sd and z.';
COMMENT ON COLUMN qc_trend.run_accepted IS 'The run''s own acceptance before any Westgard rejection.';
COMMENT ON COLUMN qc_trend.guide_kind IS 'run-based (the first N earlier accepted runs of the kit lot) or value-based (configured); null: no guide set yet.';
COMMENT ON COLUMN qc_trend.guide_mean IS 'Guide-set mean, on scale.';
COMMENT ON COLUMN qc_trend.guide_sd IS 'Guide-set SD, on scale.';
COMMENT ON COLUMN qc_trend.guide_n IS 'Runs in a run-based guide set.';
COMMENT ON COLUMN qc_trend.z IS '(value - guide_mean) / guide_sd, on scale.';
COMMENT ON COLUMN qc_trend.n_history IS 'Earlier accepted runs of the series the Westgard rules looked back on.';
COMMENT ON COLUMN qc_trend.rules_violated IS 'Westgard rules violated, ;-separated (e.g. 1-3s;2-2s); null when none.';
COMMENT ON COLUMN qc_trend.action IS 'warning (results flagged westgard) or reject (the run failed acceptance) when a rule fired; else null.';
COMMENT ON COLUMN qc_trend.note IS 'Why the value was not judged (e.g. no guide set yet); null when judged.';
COMMENT ON COLUMN qc_trend.judged_at IS 'When the run was judged, at load (UTC).';

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
COMMENT ON COLUMN baseline_change.qualifier IS 'Qualifier of value_pg_ml: = in range; < below the LLOQ (value_pg_ml = LLOQ); > above the ULOQ (= ULOQ); NR not reported.';
COMMENT ON COLUMN baseline_change.value_pg_ml IS 'The result''s value, pg/mL (results.conc_pg_ml: the limit when qualifier is < or >).';
COMMENT ON COLUMN baseline_change.baseline_visit IS 'Visit of the baseline value; null when the participant has none for this matrix x analyte x assay.';
COMMENT ON COLUMN baseline_change.baseline_qualifier IS 'Qualifier of the baseline value (=, <, >).';
COMMENT ON COLUMN baseline_change.baseline_result_id IS 'results.result_id of the baseline value.';
COMMENT ON COLUMN baseline_change.pchg_bound IS 'Percent-change bound when a value is censored (see chg_bound); only when baseline > 0.';
COMMENT ON COLUMN baseline_change.log2_ratio_bound IS 'log2-ratio bound when a value is censored (see chg_bound); only when both > 0.';

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
COMMENT ON COLUMN censoring_summary.n_results IS 'Current results (participant and visit known).';
COMMENT ON COLUMN censoring_summary.n_in_range IS 'Of them, qualifier = (a measured value).';
COMMENT ON COLUMN censoring_summary.n_below_lloq IS 'Of them, qualifier < (below the LLOQ; conc_pg_ml holds the LLOQ).';
COMMENT ON COLUMN censoring_summary.n_above_uloq IS 'Of them, qualifier > (above the ULOQ; conc_pg_ml holds the ULOQ).';
COMMENT ON COLUMN censoring_summary.n_not_reported IS 'Of them, qualifier NR (no value).';
COMMENT ON COLUMN censoring_summary.pct_censored IS '100 x (n_below_lloq + n_above_uloq) / n_results, one decimal.';
COMMENT ON COLUMN censoring_summary.lloq_min IS 'Lowest LLOQ among these results, pg/mL, dilution applied.';
COMMENT ON COLUMN censoring_summary.lloq_max IS 'Highest LLOQ among these results, pg/mL, dilution applied.';

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
-- Columns taken unchanged from results_all, wells, plates and curves carry their comments (INHERIT).
COMMENT ON COLUMN sample_lineage.result_pg_ml IS 'The result''s value, pg/mL (results_all.conc_pg_ml: the limit when censored).';
COMMENT ON COLUMN sample_lineage.result_qualifier IS 'The result''s qualifier (=, <, >, NR).';
COMMENT ON COLUMN sample_lineage.well_qualifier IS 'The well''s qualifier (wells.qualifier).';
COMMENT ON COLUMN sample_lineage.well_value IS 'The well''s number as the file reports it, in well_unit (wells.value).';
COMMENT ON COLUMN sample_lineage.well_unit IS 'Unit of well_value (wells.unit).';
COMMENT ON COLUMN sample_lineage.well_pg_ml IS 'The well''s value in pg/mL in the sample, dilution applied once (wells.conc_pg_ml); the result is the mean of its wells'' values.';
COMMENT ON COLUMN sample_lineage.well_dilution IS 'Dilution of the sample in this well (wells.dilution).';
COMMENT ON COLUMN sample_lineage.well_flags IS 'The well''s remarks, as a list (wells.flags).';
COMMENT ON COLUMN sample_lineage.file_row IS 'Line or sheet row of the file the well was read from (wells.row_number).';
COMMENT ON COLUMN sample_lineage.plate_kit_lot IS 'Kit lot of the plate (plates.kit_lot).';
COMMENT ON COLUMN sample_lineage.curve_model IS 'Model of the plate x analyte standard curve (curves.model); null without calibrators.';
COMMENT ON COLUMN sample_lineage.run_failures IS 'The acceptance rules the run failed, in plain words, ;-separated; null when none.';
COMMENT ON COLUMN sample_lineage.file_format IS 'Reader that read the file (files.format).';
COMMENT ON COLUMN sample_lineage.file_status IS 'The file''s verdict (files.status).';
COMMENT ON COLUMN sample_lineage.file_loaded_at IS 'When the file was loaded (UTC).';

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
