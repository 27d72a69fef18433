-- Writer store (ingest.duckdb): the only DDL of the warehouse. Opened by ingestion alone; analysts read
-- the published Parquet through analyst.duckdb (see analyst_views.sql). Every table is append-only:
-- nothing is updated in place, "current" is derived (21 CFR Part 11 §11.10(e): changes never obscure
-- earlier values).
--
-- GENERATED from the table declarations by `python -m warehouse.ddl --write`: do not edit. Each table is
-- declared once (schemas/table.py says how), beside its Pandera model in schemas/ or in
-- warehouse/tables.py, which lists them all; tests/warehouse/test_ddl.py fails when this file differs.

CREATE TABLE IF NOT EXISTS meta (
    key VARCHAR PRIMARY KEY,
    value VARCHAR NOT NULL
);

CREATE TABLE IF NOT EXISTS ingest_runs (
    run_id VARCHAR PRIMARY KEY,
    started_at TIMESTAMPTZ NOT NULL,
    inbox VARCHAR,
    manifest VARCHAR,
    trigger VARCHAR                     -- cli | nightly | upload | test
);

-- One row per distinct file content ever received (identity = SHA-256 of the bytes).
CREATE TABLE IF NOT EXISTS files (
    source_sha256 VARCHAR PRIMARY KEY,
    source_file VARCHAR NOT NULL,       -- name as received; never used as a path
    size_bytes BIGINT NOT NULL,
    format VARCHAR,                     -- reader that read it; null when none could
    status VARCHAR NOT NULL,            -- loaded | loaded_with_issues | quarantined | companion
    message VARCHAR NOT NULL,           -- the verdict in one plain sentence
    raw_path VARCHAR NOT NULL,          -- raw copy, relative to the warehouse root
    companions VARCHAR,                 -- SHA-256s of companion files read with it (plate maps), ';'-separated
    load_seq BIGINT NOT NULL,           -- order of loading; publish compares it with the last published
    loaded_at TIMESTAMPTZ NOT NULL,
    run_id VARCHAR NOT NULL,
    lab VARCHAR                         -- who sent it (warehouse/ownership.py)
);
ALTER TABLE files ADD COLUMN IF NOT EXISTS lab VARCHAR;  -- issue 15: the lab that sent the file (null: loaded before)

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
    lab VARCHAR,                        -- the lab whose file first loaded the plate owns it
    PRIMARY KEY (source_sha256, plate_id)
);
ALTER TABLE plates ADD COLUMN IF NOT EXISTS lab VARCHAR;  -- issue 15: the lab that sent the file (null: loaded before)

CREATE TABLE IF NOT EXISTS wells (
    source_sha256 VARCHAR NOT NULL,
    source_file VARCHAR NOT NULL,       -- file name as received (never used as a path)
    format VARCHAR NOT NULL,            -- reader that produced the row, e.g. "xponent"
    plate_id VARCHAR NOT NULL,
    well VARCHAR NOT NULL,              -- normalised "A1".."P24"; replicate-average rows list them: "A3,A4"
    row_number BIGINT,                  -- 1-based line (CSV) or row (sheet) where the value was read
    sample_id VARCHAR,                  -- as written (standards/QCs: their name, e.g. "Standard1")
    sample_type VARCHAR NOT NULL,       -- one of SAMPLE_TYPES
    expected_conc DOUBLE,               -- nominal concentration of a standard/QC, in `unit`
    analyte_as_written VARCHAR NOT NULL,
    analyte VARCHAR,                    -- canonical catalogue name; null when not in the catalogue
    signal DOUBLE,                      -- raw signal (MFI, OD, ECL...) when the file has one
    signal_kind VARCHAR,                -- "MFI", "OD450", ...
    reported_text VARCHAR,              -- the concentration cell exactly as written (null: no such cell)
    qualifier VARCHAR NOT NULL,         -- one of QUALIFIERS
    value DOUBLE,                       -- the number as the file reports it, in `unit`; the limit when censored
    extrapolated BOOLEAN NOT NULL,      -- leading "*" (Luminex/Bio-Plex): beyond the standards
    unit VARCHAR,                       -- unit as written in the file, or from assay configuration (see unit_source)
    unit_source VARCHAR,                -- "file" | "config" | null (unknown: the row is held)
    conc_pg_ml DOUBLE,                  -- value converted to pg/mL, dilution applied exactly once
    dilution DOUBLE NOT NULL,           -- sample dilution factor
    dilution_applied BOOLEAN NOT NULL,  -- True when the file's value already includes the dilution
    flags VARCHAR,                      -- reader remarks, ';'-separated (e.g. outlier, low bead count)
    recomputed_conc DOUBLE,             -- in-well, file unit: the signal through our curve (instrument value kept)
    recomputed_diff_pct DOUBLE          -- (ours - instrument) / instrument x 100, on the instrument's basis
);
ALTER TABLE wells ADD COLUMN IF NOT EXISTS recomputed_conc DOUBLE;  -- per-well recomputed concentrations
ALTER TABLE wells ADD COLUMN IF NOT EXISTS recomputed_diff_pct DOUBLE;  -- per-well recomputed concentrations

CREATE TABLE IF NOT EXISTS results_all (
    result_id VARCHAR PRIMARY KEY,      -- stable: sha256 of source_sha256|plate_id|sample_id|analyte|assay_id (32 hex)
    study_id VARCHAR NOT NULL,
    participant_id VARCHAR,             -- null while unresolved
    site_id VARCHAR,
    visit VARCHAR,                      -- visit code (study.yaml)
    visitnum DOUBLE,
    matrix VARCHAR,
    collection_date DATE,
    sample_id VARCHAR NOT NULL,
    sample_condition VARCHAR,           -- from the manifest, e.g. HEMOLYZED
    analyte VARCHAR NOT NULL,
    analyte_class VARCHAR NOT NULL,
    assay_id VARCHAR NOT NULL,
    platform VARCHAR NOT NULL,
    kit_lot VARCHAR,
    plate_id VARCHAR NOT NULL,
    conc_pg_ml DOUBLE,                  -- replicate mean; the limit (x dilution) when censored; null when NR
    qualifier VARCHAR NOT NULL,         -- = < > NR
    lloq_pg_ml DOUBLE,                  -- quantification limits of this run for this sample (x dilution)
    uloq_pg_ml DOUBLE,
    cv_pct DOUBLE,                      -- replicate CV of the numeric replicates (null with fewer than 2)
    n_replicates INTEGER NOT NULL,      -- replicates that gave a number
    n_wells INTEGER NOT NULL,
    dilution DOUBLE NOT NULL,
    wells VARCHAR NOT NULL,             -- "A3,A4"
    reported_texts VARCHAR,             -- the wells' concentration cells as written, '|'-separated
    unit_as_written VARCHAR,
    extrapolated BOOLEAN NOT NULL,
    flags VARCHAR,                      -- ';'-separated: high_cv, extrapolated, mixed_censoring, ...
    status VARCHAR NOT NULL,            -- RESULT_STATUSES
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
    superseded_by VARCHAR,              -- the result that replaced it (re-assay rule)
    exclusion_id VARCHAR,               -- the exclusion that took it out (or, when lifted, put it back)
    run_id VARCHAR NOT NULL
);

-- Exclusions are records of their own (LabKey-style), keyed by plate — not by file — so they survive a
-- re-import of the same plate. Lifting one is another record; neither is ever deleted.
CREATE TABLE IF NOT EXISTS exclusions (
    exclusion_id VARCHAR PRIMARY KEY,
    scope VARCHAR NOT NULL,             -- well | sample | analyte_run | run
    plate_id VARCHAR,                   -- null only for a sample excluded on every plate
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
    matched_on VARCHAR NOT NULL,        -- file name | plate ID
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
    rule VARCHAR NOT NULL,              -- short stable code, e.g. plausible_range, unknown_analyte, unreadable_file
    severity VARCHAR NOT NULL,          -- reject (not loaded) | hold (loaded, not current) | warning (loaded, flagged)
    message VARCHAR NOT NULL,           -- one plain sentence for a lab person, ending with what to do
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

-- Assay QC of each run (plate × analyte): the curve results were read through, every calibrator level with
-- its recovery and masking, and each acceptance rule's verdict (ICH M10 defaults, config/assays.yaml).
CREATE TABLE IF NOT EXISTS curves (
    source_sha256 VARCHAR NOT NULL,
    plate_id VARCHAR NOT NULL,
    analyte VARCHAR NOT NULL,
    assay_id VARCHAR,
    kit_lot VARCHAR,
    model VARCHAR,                      -- 4PL | 5PL
    weighting VARCHAR,                  -- none | 1/y | 1/y2
    a DOUBLE,                           -- response at zero concentration
    b DOUBLE,                           -- slope
    c DOUBLE,                           -- inflection (EC50 for the 4PL), in-well concentration
    d DOUBLE,                           -- response at infinite concentration
    g DOUBLE,                           -- 5PL asymmetry (null for the 4PL)
    r_squared DOUBLE,
    converged BOOLEAN,
    fit_message VARCHAR,
    n_levels INTEGER,                   -- non-zero calibrator levels run
    n_accepted INTEGER,                 -- non-zero levels in the final curve and within limits
    masked_levels VARCHAR,              -- in masking order, e.g. "S4;S7"
    lloq_in_well DOUBLE,                -- lowest / highest accepted standard (in-well, pg/mL)
    uloq_in_well DOUBLE,
    max_signal DOUBLE,                  -- mean signal of the top standard (Levey-Jennings metric)
    calibration_passed BOOLEAN,
    concentrations_from VARCHAR,        -- "fitted curve" | "instrument"
    notes VARCHAR,
    residual_rmse DOUBLE,               -- RMS of (mean signal − fitted signal) over the levels in the final fit
    residual_rms_pct DOUBLE,            -- RMS of the same residuals as % of the fitted signal
    ec50 DOUBLE,                        -- concentration at the mid-response (a + d) / 2: c for a 4PL, not for a 5PL
    PRIMARY KEY (source_sha256, plate_id, analyte)
);
ALTER TABLE curves ADD COLUMN IF NOT EXISTS residual_rmse DOUBLE;  -- issue 4: curve residuals
ALTER TABLE curves ADD COLUMN IF NOT EXISTS residual_rms_pct DOUBLE;  -- issue 4: curve residuals
ALTER TABLE curves ADD COLUMN IF NOT EXISTS ec50 DOUBLE;  -- issue 4: curve residuals

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
    fitted_signal DOUBLE,               -- the final curve at the nominal concentration
    residual DOUBLE,                    -- mean signal − fitted signal (masked levels too: how far off they sit)
    residual_pct DOUBLE                 -- residual as % of the fitted signal
);
ALTER TABLE calibrators ADD COLUMN IF NOT EXISTS fitted_signal DOUBLE;  -- issue 4: curve residuals
ALTER TABLE calibrators ADD COLUMN IF NOT EXISTS residual DOUBLE;  -- issue 4: curve residuals
ALTER TABLE calibrators ADD COLUMN IF NOT EXISTS residual_pct DOUBLE;  -- issue 4: curve residuals

CREATE TABLE IF NOT EXISTS run_acceptance (
    source_sha256 VARCHAR NOT NULL,
    plate_id VARCHAR NOT NULL,
    analyte VARCHAR NOT NULL,
    run_accepted BOOLEAN NOT NULL,      -- the verdict for this plate × analyte
    rule VARCHAR NOT NULL,              -- CAL_PASS_FRACTION, CAL_MIN_LEVELS, QC_PASS_FRACTION, QC_LEVEL_PASS_FRACTION, ...
    subject VARCHAR,                    -- e.g. QC-H for a per-level rule
    passed BOOLEAN NOT NULL,
    observed DOUBLE,
    limit_value VARCHAR,
    reason VARCHAR NOT NULL
);

-- issue 4: Levey–Jennings / Westgard judged when each run is loaded (pipeline/trend.py): one row per plate
-- × analyte × series (QC level, EC50, max_signal), against the earlier accepted runs of the kit lot.
CREATE TABLE IF NOT EXISTS qc_trend (
    source_sha256 VARCHAR NOT NULL,
    plate_id VARCHAR NOT NULL,
    analyte VARCHAR NOT NULL,
    assay_id VARCHAR,
    kit_lot VARCHAR,
    series VARCHAR NOT NULL,            -- QC level name (QC-L, QC-M, QC-H), EC50 or max_signal
    value DOUBLE,                       -- pg/mL (QC levels, EC50) or signal units (max_signal)
    unit VARCHAR,
    scale VARCHAR,                      -- linear | log10: the scale the guide set, z and rules are on (log10 for EC50)
    run_accepted BOOLEAN,               -- the run's own acceptance (before any Westgard rejection)
    guide_kind VARCHAR,                 -- run-based | value-based; null: no guide set yet
    guide_mean DOUBLE,
    guide_sd DOUBLE,
    guide_n INTEGER,                    -- runs in a run-based guide set
    z DOUBLE,                           -- (value − guide mean) / guide SD
    n_history INTEGER,                  -- earlier accepted runs of the series the rules looked back on
    rules_violated VARCHAR,             -- ";"-joined Westgard rules, null when none
    action VARCHAR,                     -- warning | reject when a rule fired, else null
    note VARCHAR,                       -- why the value was not judged (no guide set yet …)
    judged_at TIMESTAMPTZ NOT NULL
);

-- issue 20: the samples of every manifest received (biorepository shipments), one row per manifest file ×
-- sample, never updated: the analyst store's `samples` view is the latest listing of each sample, and late
-- resolution (warehouse/late_resolution.py) reads the queue against it. No allocation: manifests hold
-- none.
CREATE TABLE IF NOT EXISTS manifest_samples (
    manifest_sha256 VARCHAR NOT NULL,
    sample_id VARCHAR NOT NULL,
    participant_id VARCHAR NOT NULL,
    site_id VARCHAR,
    visit VARCHAR NOT NULL,             -- visit code (study.yaml)
    matrix VARCHAR NOT NULL,            -- matrix code (study.yaml)
    collection_date DATE,
    collection_time VARCHAR,            -- "HH:MM" or "HH:MM:SS" as written; null when not recorded
    aliquot VARCHAR,
    freeze_thaw_count INTEGER,
    condition VARCHAR,                  -- e.g. HEMOLYZED, BLOOD CONTAMINATED; null when normal/not recorded
    shipment_id VARCHAR,
    manifest_file VARCHAR NOT NULL,     -- file name the row came from
    manifest_line BIGINT,               -- 1-based line in that file (header = line 1)
    recorded_at TIMESTAMPTZ NOT NULL,
    run_id VARCHAR NOT NULL,
    PRIMARY KEY (manifest_sha256, sample_id)
);

-- Issue 21 (review and release, 21 CFR Part 11): reviewer accounts, separate from the labs' upload tokens,
-- append-only (a new password or a deactivation is a new version; the latest is in force). The secret is
-- kept only as the output of a salted standard KDF (hashlib.scrypt; warehouse/reviewers.py).
CREATE TABLE IF NOT EXISTS reviewers (
    reviewer VARCHAR NOT NULL,          -- account name, typed at each signing
    version INTEGER NOT NULL,           -- 1 when added; every change appends the next
    full_name VARCHAR NOT NULL,         -- printed with each signature (§11.50)
    lab VARCHAR,                        -- lab the reviewer works for (two-person rule); null: none
    kdf VARCHAR NOT NULL,               -- scrypt
    kdf_params VARCHAR NOT NULL,        -- e.g. n=16384,r=8,p=1,dklen=32
    salt VARCHAR NOT NULL,              -- hex
    secret_hash VARCHAR NOT NULL,       -- hex of the KDF output (the password is never stored)
    active BOOLEAN NOT NULL,
    changed_by VARCHAR NOT NULL,
    changed_at TIMESTAMPTZ NOT NULL,
    PRIMARY KEY (reviewer, version)
);

-- One row per signature on a run (file x plate x analyte), append-only: its meaning, the signer, the UTC
-- time and the run content it was given on (the file's SHA-256 and the SHA-256 of the run's result set),
-- all bound by binding_sha256, which the signature's audit entry repeats (§11.70: it cannot be copied to
-- another run, and a later change of the run voids it; warehouse/review.py).
CREATE TABLE IF NOT EXISTS run_signatures (
    signature_id VARCHAR PRIMARY KEY,   -- SIG-000001, in signing order
    source_sha256 VARCHAR NOT NULL,
    plate_id VARCHAR NOT NULL,
    analyte VARCHAR NOT NULL,
    meaning VARCHAR NOT NULL,           -- reviewed | approved | rejected
    reason VARCHAR,                     -- mandatory for rejected
    signer VARCHAR NOT NULL,            -- reviewer account
    signer_name VARCHAR NOT NULL,       -- its full name at signing
    signer_lab VARCHAR,
    signed_at TIMESTAMPTZ NOT NULL,
    n_results INTEGER NOT NULL,
    result_set_sha256 VARCHAR NOT NULL,
    binding_sha256 VARCHAR NOT NULL
);
