-- Writer store (ingest.duckdb): the only DDL of the warehouse. Opened by ingestion alone; analysts read
-- the published Parquet through analyst.duckdb (see analyst_views.sql). Every table is append-only:
-- nothing is updated in place, "current" is derived (21 CFR Part 11 §11.10(e): changes never obscure
-- earlier values).

CREATE TABLE IF NOT EXISTS meta (
    key VARCHAR PRIMARY KEY,
    value VARCHAR NOT NULL
);

CREATE TABLE IF NOT EXISTS ingest_runs (
    run_id VARCHAR PRIMARY KEY,
    started_at TIMESTAMPTZ NOT NULL,
    inbox VARCHAR,
    manifest VARCHAR,
    trigger VARCHAR              -- cli | nightly | upload | test
);

-- One row per distinct file content ever received (identity = SHA-256 of the bytes).
CREATE TABLE IF NOT EXISTS files (
    source_sha256 VARCHAR PRIMARY KEY,
    source_file VARCHAR NOT NULL,        -- name as received; never used as a path
    size_bytes BIGINT NOT NULL,
    format VARCHAR,                      -- reader that read it; null when none could
    status VARCHAR NOT NULL,             -- loaded | loaded_with_issues | quarantined | companion
    message VARCHAR NOT NULL,            -- the verdict in one plain sentence
    raw_path VARCHAR NOT NULL,           -- raw copy, relative to the warehouse root
    companions VARCHAR,                  -- SHA-256s of companion files read with it (plate maps), ';'-separated
    load_seq BIGINT NOT NULL,            -- order of loading; publish compares it with the last published
    loaded_at TIMESTAMPTZ NOT NULL,
    run_id VARCHAR NOT NULL
);

CREATE TABLE IF NOT EXISTS plates (
    source_sha256 VARCHAR NOT NULL,
    plate_id VARCHAR NOT NULL,
    assay_id VARCHAR,
    platform VARCHAR,
    matrix VARCHAR,
    protocol VARCHAR,
    instrument VARCHAR,
    acquired_at VARCHAR,
    kit_lot VARCHAR,
    n_wells INTEGER NOT NULL,
    curve_note VARCHAR,
    PRIMARY KEY (source_sha256, plate_id)
);

CREATE TABLE IF NOT EXISTS wells (
    source_sha256 VARCHAR NOT NULL,
    source_file VARCHAR NOT NULL,
    format VARCHAR NOT NULL,
    plate_id VARCHAR NOT NULL,
    well VARCHAR NOT NULL,
    row_number BIGINT,
    sample_id VARCHAR,
    sample_type VARCHAR NOT NULL,
    expected_conc DOUBLE,
    analyte_as_written VARCHAR NOT NULL,
    analyte VARCHAR,
    signal DOUBLE,
    signal_kind VARCHAR,
    reported_text VARCHAR,
    qualifier VARCHAR NOT NULL,
    value DOUBLE,
    extrapolated BOOLEAN NOT NULL,
    unit VARCHAR,
    unit_source VARCHAR,
    conc_pg_ml DOUBLE,
    dilution DOUBLE NOT NULL,
    dilution_applied BOOLEAN NOT NULL,
    flags VARCHAR,
    recomputed_conc DOUBLE,        -- in-well, file unit: the signal through our curve (instrument value kept)
    recomputed_diff_pct DOUBLE     -- (ours - instrument) / instrument x 100, on the instrument's basis
);

CREATE TABLE IF NOT EXISTS results_all (
    result_id VARCHAR PRIMARY KEY,
    study_id VARCHAR NOT NULL,
    participant_id VARCHAR,
    site_id VARCHAR,
    visit VARCHAR,
    visitnum DOUBLE,
    matrix VARCHAR,
    collection_date DATE,
    sample_id VARCHAR NOT NULL,
    sample_condition VARCHAR,
    analyte VARCHAR NOT NULL,
    analyte_class VARCHAR NOT NULL,
    assay_id VARCHAR NOT NULL,
    platform VARCHAR NOT NULL,
    kit_lot VARCHAR,
    plate_id VARCHAR NOT NULL,
    conc_pg_ml DOUBLE,
    qualifier VARCHAR NOT NULL,
    lloq_pg_ml DOUBLE,
    uloq_pg_ml DOUBLE,
    cv_pct DOUBLE,
    n_replicates INTEGER NOT NULL,
    n_wells INTEGER NOT NULL,
    dilution DOUBLE NOT NULL,
    wells VARCHAR NOT NULL,
    reported_texts VARCHAR,
    unit_as_written VARCHAR,
    extrapolated BOOLEAN NOT NULL,
    flags VARCHAR,
    status VARCHAR NOT NULL,             -- loaded | held | unresolved
    hold_reason VARCHAR,
    source_file VARCHAR NOT NULL,
    source_sha256 VARCHAR NOT NULL,
    loaded_at TIMESTAMPTZ NOT NULL,
    run_id VARCHAR NOT NULL
);

-- When each result became current and when it stopped (re-assay, exclusion, exclusion lifted): one row per
-- change of state, never updated. The latest row of a result is its state now; consecutive rows give the
-- intervals that as-of queries read. A loaded result that never became current (a better re-assay already
-- current, or excluded) still gets a row saying why.
CREATE TABLE IF NOT EXISTS result_currency (
    event_seq BIGINT PRIMARY KEY,
    result_id VARCHAR NOT NULL,
    is_current BOOLEAN NOT NULL,
    changed_at TIMESTAMPTZ NOT NULL,
    reason VARCHAR NOT NULL,
    superseded_by VARCHAR,               -- the result that replaced it (re-assay rule)
    exclusion_id VARCHAR,                -- the exclusion that took it out (or, when lifted, put it back)
    run_id VARCHAR NOT NULL
);

-- Exclusions are records of their own (LabKey-style), keyed by plate — not by file — so they survive a
-- re-import of the same plate. Lifting one is another record; neither is ever deleted.
CREATE TABLE IF NOT EXISTS exclusions (
    exclusion_id VARCHAR PRIMARY KEY,
    scope VARCHAR NOT NULL,              -- well | sample | analyte_run | run
    plate_id VARCHAR,                    -- null only for a sample excluded on every plate
    well VARCHAR,
    sample_id VARCHAR,
    analyte VARCHAR,
    reason VARCHAR NOT NULL,
    created_by VARCHAR NOT NULL,
    created_at TIMESTAMPTZ NOT NULL
);

CREATE TABLE IF NOT EXISTS exclusion_lifts (
    exclusion_id VARCHAR PRIMARY KEY,
    reason VARCHAR NOT NULL,
    lifted_by VARCHAR NOT NULL,
    lifted_at TIMESTAMPTZ NOT NULL
);

-- A different file with the name of an earlier one, or carrying a plate ID already loaded, is a new
-- version: recorded here (and in the audit trail), never an overwrite.
CREATE TABLE IF NOT EXISTS file_versions (
    source_sha256 VARCHAR NOT NULL,
    previous_sha256 VARCHAR NOT NULL,
    matched_on VARCHAR NOT NULL,         -- file name | plate ID
    matched_value VARCHAR NOT NULL,
    version_no INTEGER NOT NULL,
    recorded_at TIMESTAMPTZ NOT NULL,
    PRIMARY KEY (source_sha256, previous_sha256, matched_on, matched_value)
);

-- The audit trail (21 CFR Part 11 §11.10(e)): append-only, each entry chained to the previous one by
-- SHA-256, so `biomarkers audit verify` detects an edited, deleted or reordered entry.
CREATE TABLE IF NOT EXISTS audit_log (
    seq BIGINT PRIMARY KEY,
    logged_at TIMESTAMPTZ NOT NULL,
    actor VARCHAR NOT NULL,
    event VARCHAR NOT NULL,
    entity VARCHAR NOT NULL,
    entity_id VARCHAR,
    source_sha256 VARCHAR,
    plate_id VARCHAR,
    sample_id VARCHAR,
    participant_id VARCHAR,
    old_value VARCHAR,
    new_value VARCHAR,
    reason VARCHAR,
    prev_hash VARCHAR NOT NULL,
    entry_hash VARCHAR NOT NULL
);

CREATE TABLE IF NOT EXISTS quarantine (
    source_file VARCHAR NOT NULL,
    source_sha256 VARCHAR NOT NULL,
    plate_id VARCHAR,
    well VARCHAR,
    row_number BIGINT,
    sample_id VARCHAR,
    analyte VARCHAR,
    value_text VARCHAR,
    rule VARCHAR NOT NULL,
    severity VARCHAR NOT NULL,           -- reject | hold | warning
    message VARCHAR NOT NULL,
    created_at TIMESTAMPTZ NOT NULL,
    run_id VARCHAR NOT NULL
);

CREATE TABLE IF NOT EXISTS unresolved (
    source_file VARCHAR NOT NULL,
    source_sha256 VARCHAR NOT NULL,
    plate_id VARCHAR NOT NULL,
    sample_id VARCHAR NOT NULL,
    wells VARCHAR,
    n_results INTEGER NOT NULL,
    reason VARCHAR NOT NULL,
    created_at TIMESTAMPTZ NOT NULL,
    run_id VARCHAR NOT NULL
);

-- Sample manifests received (biorepository shipments), by content.
CREATE TABLE IF NOT EXISTS manifests (
    source_sha256 VARCHAR PRIMARY KEY,
    source_file VARCHAR NOT NULL,
    n_samples INTEGER NOT NULL,
    received_at TIMESTAMPTZ NOT NULL,
    run_id VARCHAR NOT NULL
);

-- Assay QC of each run (plate × analyte): the curve results were read through, every calibrator level
-- with its recovery and masking, and each acceptance rule's verdict (ICH M10 defaults, config/assays.yaml).
CREATE TABLE IF NOT EXISTS curves (
    source_sha256 VARCHAR NOT NULL,
    plate_id VARCHAR NOT NULL,
    analyte VARCHAR NOT NULL,
    assay_id VARCHAR,
    kit_lot VARCHAR,
    model VARCHAR,
    weighting VARCHAR,
    a DOUBLE,
    b DOUBLE,
    c DOUBLE,
    d DOUBLE,
    g DOUBLE,
    r_squared DOUBLE,
    converged BOOLEAN,
    fit_message VARCHAR,
    n_levels INTEGER,
    n_accepted INTEGER,
    masked_levels VARCHAR,
    lloq_in_well DOUBLE,
    uloq_in_well DOUBLE,
    max_signal DOUBLE,
    calibration_passed BOOLEAN,
    concentrations_from VARCHAR,
    notes VARCHAR,
    residual_rmse DOUBLE,
    residual_rms_pct DOUBLE,
    ec50 DOUBLE,
    PRIMARY KEY (source_sha256, plate_id, analyte)
);

CREATE TABLE IF NOT EXISTS calibrators (
    source_sha256 VARCHAR NOT NULL,
    plate_id VARCHAR NOT NULL,
    analyte VARCHAR NOT NULL,
    level VARCHAR NOT NULL,
    nominal DOUBLE,
    n_wells INTEGER,
    mean_signal DOUBLE,
    cv_pct DOUBLE,
    back_calc DOUBLE,
    recovery_pct DOUBLE,
    limit_pct DOUBLE,
    within_limits BOOLEAN,
    masked BOOLEAN,
    mask_reason VARCHAR,
    fitted_signal DOUBLE,
    residual DOUBLE,
    residual_pct DOUBLE
);

CREATE TABLE IF NOT EXISTS run_acceptance (
    source_sha256 VARCHAR NOT NULL,
    plate_id VARCHAR NOT NULL,
    analyte VARCHAR NOT NULL,
    run_accepted BOOLEAN NOT NULL,
    rule VARCHAR NOT NULL,
    subject VARCHAR,
    passed BOOLEAN NOT NULL,
    observed DOUBLE,
    limit_value VARCHAR,
    reason VARCHAR NOT NULL
);

-- Migrations of stores created by earlier versions (idempotent).
ALTER TABLE wells ADD COLUMN IF NOT EXISTS recomputed_conc DOUBLE;
ALTER TABLE wells ADD COLUMN IF NOT EXISTS recomputed_diff_pct DOUBLE;
-- issue 4: curve residuals per calibrator level and per curve
ALTER TABLE curves ADD COLUMN IF NOT EXISTS residual_rmse DOUBLE;
ALTER TABLE curves ADD COLUMN IF NOT EXISTS residual_rms_pct DOUBLE;
ALTER TABLE curves ADD COLUMN IF NOT EXISTS ec50 DOUBLE;
ALTER TABLE calibrators ADD COLUMN IF NOT EXISTS fitted_signal DOUBLE;
ALTER TABLE calibrators ADD COLUMN IF NOT EXISTS residual DOUBLE;
ALTER TABLE calibrators ADD COLUMN IF NOT EXISTS residual_pct DOUBLE;

-- issue 4: Levey–Jennings / Westgard judged when each run is loaded (pipeline/trend.py): one row per
-- plate × analyte × series (QC level, EC50, max_signal), against the earlier accepted runs of the kit lot.
CREATE TABLE IF NOT EXISTS qc_trend (
    source_sha256 VARCHAR NOT NULL,
    plate_id VARCHAR NOT NULL,
    analyte VARCHAR NOT NULL,
    assay_id VARCHAR,
    kit_lot VARCHAR,
    series VARCHAR NOT NULL,
    value DOUBLE,
    unit VARCHAR,
    scale VARCHAR,                       -- linear | log10 (EC50): the scale of guide_mean, guide_sd and z
    run_accepted BOOLEAN,
    guide_kind VARCHAR,
    guide_mean DOUBLE,
    guide_sd DOUBLE,
    guide_n INTEGER,
    z DOUBLE,
    n_history INTEGER,
    rules_violated VARCHAR,
    action VARCHAR,
    note VARCHAR,
    judged_at TIMESTAMPTZ NOT NULL
);

-- issue 15: who sent each file (the upload token's lab, or the lab its delivery source is configured for);
-- a plate belongs to the lab whose file first loaded it (warehouse/ownership.py). Null: loaded before.
ALTER TABLE files ADD COLUMN IF NOT EXISTS lab VARCHAR;
ALTER TABLE plates ADD COLUMN IF NOT EXISTS lab VARCHAR;

-- issue 20: the samples of every manifest received (biorepository shipments), one row per manifest file ×
-- sample, never updated: the analyst store's `samples` view is the latest listing of each sample, and late
-- resolution (warehouse/late_resolution.py) reads the queue against it. No allocation: manifests hold none.
CREATE TABLE IF NOT EXISTS manifest_samples (
    manifest_sha256 VARCHAR NOT NULL,
    sample_id VARCHAR NOT NULL,
    participant_id VARCHAR NOT NULL,
    site_id VARCHAR,
    visit VARCHAR NOT NULL,
    matrix VARCHAR NOT NULL,
    collection_date DATE,
    collection_time VARCHAR,
    aliquot VARCHAR,
    freeze_thaw_count INTEGER,
    condition VARCHAR,
    shipment_id VARCHAR,
    manifest_file VARCHAR NOT NULL,
    manifest_line BIGINT,
    recorded_at TIMESTAMPTZ NOT NULL,
    run_id VARCHAR NOT NULL,
    PRIMARY KEY (manifest_sha256, sample_id)
);
