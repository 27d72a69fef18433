-- Analyst views of the study's samples (issue 20), built by warehouse/sample_views.py after
-- analyst_views.sql. Placeholders (braced names): manifest = the snapshot's manifest_samples.parquet (or
-- an empty relation for an older snapshot); plan = the planned assay x visit x matrix rows of study.yaml
-- assay_plan.
CREATE OR REPLACE VIEW samples AS
SELECT m.sample_id, m.participant_id, m.site_id, m.visit, v.visitnum, m.matrix, m.collection_date,
    m.collection_time, m.aliquot, m.freeze_thaw_count, m.condition, m.shipment_id, m.manifest_file,
    m.recorded_at AS received_at
FROM {manifest} m
LEFT JOIN visit_schedule v ON v.visit = m.visit
QUALIFY row_number() OVER (PARTITION BY m.sample_id ORDER BY m.recorded_at, m.manifest_file, m.manifest_line) = 1;

COMMENT ON VIEW samples IS 'Every sample the biorepository manifests listed (first listing of each sample ID): participant, visit, matrix, collection date and time, aliquot, freeze-thaw count, condition, shipment and the manifest file; received_at = when ingestion first read that manifest. No treatment allocation: manifests hold none.';
COMMENT ON COLUMN samples.sample_id IS 'The specimen ID (what the lab writes on its plate).';
COMMENT ON COLUMN samples.participant_id IS 'Participant the sample was drawn from.';
COMMENT ON COLUMN samples.site_id IS 'Clinical site.';
COMMENT ON COLUMN samples.visit IS 'Visit code (config/study.yaml).';
COMMENT ON COLUMN samples.visitnum IS 'VISITNUM of the visit.';
COMMENT ON COLUMN samples.matrix IS 'Sample matrix (CSF, SERUM).';
COMMENT ON COLUMN samples.collection_date IS 'Date drawn.';
COMMENT ON COLUMN samples.collection_time IS 'Time drawn as written (HH:MM[:SS]); null when not recorded.';
COMMENT ON COLUMN samples.aliquot IS 'Aliquot number or label.';
COMMENT ON COLUMN samples.freeze_thaw_count IS 'Freeze-thaw cycles before shipment.';
COMMENT ON COLUMN samples.manifest_file IS 'The manifest file that first listed the sample.';
COMMENT ON COLUMN samples.condition IS 'Sample condition as the manifest gives it (e.g. HEMOLYZED); null when normal or not recorded.';
COMMENT ON COLUMN samples.shipment_id IS 'The biorepository shipment the sample came in.';
COMMENT ON COLUMN samples.received_at IS 'When ingestion first read a manifest listing the sample (UTC).';

CREATE OR REPLACE VIEW sample_status AS
WITH plan AS ({plan}),
people AS (SELECT participant_id, min(site_id) AS site_id FROM samples GROUP BY participant_id),
got AS (
    SELECT participant_id, visit, matrix, string_agg(sample_id, ',' ORDER BY sample_id) AS sample_id,
        min(shipment_id) AS shipment_id, min(collection_date) AS collection_date
    FROM samples GROUP BY participant_id, visit, matrix
),
per_analyte AS (
    SELECT s.participant_id, s.visit, s.matrix, r.assay_id, r.analyte,
        bool_or(r.is_current) AS has_current,
        bool_or(r.status = 'run_rejected') AS any_failed,
        bool_or(r.status = 'held') AS any_held,
        bool_or(r.exclusion_id IS NOT NULL) AS any_excluded,
        min(r.hold_reason) FILTER (WHERE r.status = 'run_rejected') AS failed_reason,
        min(r.hold_reason) FILTER (WHERE r.status = 'held') AS held_reason,
        min(r.superseded_reason) FILTER (WHERE r.exclusion_id IS NOT NULL) AS excluded_reason
    FROM samples s
    JOIN results_all r ON r.sample_id = s.sample_id
    WHERE r.status <> 'unresolved'
    GROUP BY ALL
),
per_assay AS (
    SELECT participant_id, visit, matrix, assay_id,
        count(*) AS n_assayed,
        list(analyte ORDER BY analyte) FILTER (WHERE has_current) AS current_analytes,
        count(*) FILTER (WHERE NOT has_current AND any_failed) AS n_failed,
        count(*) FILTER (WHERE NOT has_current AND NOT any_failed AND any_excluded) AS n_excluded,
        count(*) FILTER (WHERE NOT has_current AND NOT any_failed AND NOT any_excluded AND any_held) AS n_held,
        min(failed_reason) FILTER (WHERE NOT has_current) AS failed_reason,
        min(excluded_reason) FILTER (WHERE NOT has_current) AS excluded_reason,
        min(held_reason) FILTER (WHERE NOT has_current) AS held_reason
    FROM per_analyte GROUP BY ALL
),
grid AS (
    SELECT p.participant_id, p.site_id, pl.visit, pl.matrix, pl.assay_id, pl.analytes,
        g.sample_id, g.shipment_id, g.collection_date,
        coalesce(a.n_assayed, 0) AS n_assayed,
        len(list_filter(pl.analytes, lambda x: list_contains(coalesce(a.current_analytes, []), x))) AS n_current,
        list_filter(pl.analytes, lambda x: NOT list_contains(coalesce(a.current_analytes, []), x)) AS missing_analytes,
        coalesce(a.n_failed, 0) AS n_failed, coalesce(a.n_held, 0) AS n_held,
        coalesce(a.n_excluded, 0) AS n_excluded, a.failed_reason, a.held_reason, a.excluded_reason
    FROM people p
    CROSS JOIN plan pl
    LEFT JOIN got g ON g.participant_id = p.participant_id AND g.visit = pl.visit AND g.matrix = pl.matrix
    LEFT JOIN per_assay a ON a.participant_id = p.participant_id AND a.visit = pl.visit
        AND a.matrix = pl.matrix AND a.assay_id = pl.assay_id
)
SELECT g.participant_id, g.site_id, g.visit, v.visitnum, g.matrix, g.assay_id, g.sample_id, g.shipment_id,
    g.collection_date,
    true AS expected,
    g.sample_id IS NOT NULL AS received,
    g.n_assayed > 0 AS assayed,
    len(g.analytes) AS n_analytes,
    g.n_current,
    g.n_current = len(g.analytes) AS current_result,
    g.n_failed > 0 AS failed,
    g.n_current < len(g.analytes) AS missing,
    g.missing_analytes,
    CASE
        WHEN g.n_current = len(g.analytes) THEN 'complete'
        WHEN g.sample_id IS NULL THEN 'not received'
        WHEN g.n_assayed = 0 THEN 'not assayed'
        WHEN g.n_current > 0 THEN 'partial'
        WHEN g.n_failed > 0 THEN 'failed'
        WHEN g.n_excluded > 0 THEN 'excluded'
        WHEN g.n_held > 0 THEN 'held'
        ELSE 'no current result'
    END AS status,
    CASE
        WHEN g.n_current = len(g.analytes) THEN NULL
        WHEN g.sample_id IS NULL THEN 'no ' || g.matrix || ' sample of this participant at ' || g.visit
            || ' is in any manifest received'
        WHEN g.n_assayed = 0 THEN 'sample ' || g.sample_id || ' received (shipment '
            || coalesce(g.shipment_id, '?') || ') but no ' || g.assay_id || ' plate has measured it'
        ELSE concat_ws('; ',
            CASE WHEN g.n_current > 0 THEN g.n_current || ' of ' || len(g.analytes) || ' analytes current, none for '
                || array_to_string(g.missing_analytes, ', ') END,
            CASE WHEN g.n_failed > 0 THEN CASE WHEN g.failed_reason ILIKE 'run failed acceptance%'
                THEN g.failed_reason ELSE 'run failed acceptance: ' || g.failed_reason END END,
            CASE WHEN g.n_excluded > 0 THEN g.excluded_reason END,
            CASE WHEN g.n_held > 0 THEN 'held: ' || g.held_reason END,
            CASE WHEN g.n_current + g.n_failed + g.n_excluded + g.n_held = 0
                THEN 'measured but no result was kept (see results_all and quarantine)' END)
    END AS reason
FROM grid g
LEFT JOIN visit_schedule v ON v.visit = g.visit;

COMMENT ON VIEW sample_status IS 'Completeness against the assay plan (study.yaml assay_plan): one row per participant (of the manifests) x visit x matrix x planned assay. received: a manifest lists the sample; assayed: a result of the assay exists in any state; n_current of n_analytes have a current result; failed: a run that failed acceptance is all there is for an analyte; missing: an analyte has no current result; status (complete, not received, not assayed, partial, failed, excluded, held, no current result) and reason in plain words. biomarkers reconcile prints it.';
COMMENT ON COLUMN sample_status.participant_id IS 'Participant (every participant of the manifests is expected at every planned visit).';
COMMENT ON COLUMN sample_status.site_id IS 'Clinical site.';
COMMENT ON COLUMN sample_status.visit IS 'Planned visit.';
COMMENT ON COLUMN sample_status.visitnum IS 'VISITNUM of the visit.';
COMMENT ON COLUMN sample_status.matrix IS 'Planned matrix.';
COMMENT ON COLUMN sample_status.assay_id IS 'Planned assay (study.yaml assay_plan).';
COMMENT ON COLUMN sample_status.sample_id IS 'The sample(s) the manifests list for this participant, visit and matrix (comma-separated); null when none.';
COMMENT ON COLUMN sample_status.shipment_id IS 'Shipment of the sample.';
COMMENT ON COLUMN sample_status.collection_date IS 'Date the sample was drawn.';
COMMENT ON COLUMN sample_status.n_analytes IS 'Analytes the assay measures (config/assays.yaml).';
COMMENT ON COLUMN sample_status.n_current IS 'Of them, how many have a current result.';
COMMENT ON COLUMN sample_status.missing_analytes IS 'Analytes of the assay without a current result.';
COMMENT ON COLUMN sample_status.status IS 'complete, not received, not assayed, partial, failed, excluded, held, or no current result.';
COMMENT ON COLUMN sample_status.reason IS 'Why a result is missing, in plain words; null when complete.';
COMMENT ON COLUMN sample_status.expected IS 'Planned by the protocol (study.yaml assay_plan); always true here, kept so a union with unplanned measurements stays explicit.';
COMMENT ON COLUMN sample_status.received IS 'A manifest lists a sample of this participant, visit and matrix.';
COMMENT ON COLUMN sample_status.assayed IS 'At least one result of the assay exists for the sample, in any state (current, held, failed, excluded, superseded).';
COMMENT ON COLUMN sample_status.current_result IS 'Every analyte of the assay has a current result (results view).';
COMMENT ON COLUMN sample_status.failed IS 'For some analyte the only results are from runs that failed acceptance.';
COMMENT ON COLUMN sample_status.missing IS 'Some analyte of the assay has no current result; missing_analytes lists them, reason says why.';

CREATE OR REPLACE VIEW isr_pairs AS
SELECT rep.result_id AS repeat_result_id, o.result_id AS original_result_id, rep.sample_id,
    o.participant_id, o.visit, o.matrix, rep.analyte, rep.assay_id,
    rep.plate_id AS repeat_plate_id, rep.source_file AS repeat_file, rep.source_file_sha256 AS repeat_sha256,
    o.plate_id AS original_plate_id,
    o.conc_pg_ml AS original_pg_ml, o.qualifier AS original_qualifier,
    rep.conc_pg_ml AS repeat_pg_ml, rep.qualifier AS repeat_qualifier,
    CASE WHEN o.qualifier = '=' AND rep.qualifier = '=' AND o.conc_pg_ml + rep.conc_pg_ml > 0
        THEN 100 * (rep.conc_pg_ml - o.conc_pg_ml) / ((rep.conc_pg_ml + o.conc_pg_ml) / 2) END AS pct_difference,
    CASE WHEN o.qualifier = '=' AND rep.qualifier = '=' AND o.conc_pg_ml + rep.conc_pg_ml > 0
        THEN abs(100 * (rep.conc_pg_ml - o.conc_pg_ml) / ((rep.conc_pg_ml + o.conc_pg_ml) / 2)) <= {isr_max_pct}
        END AS within_limit
FROM results_all rep
JOIN results_all o ON o.sample_id = rep.sample_id AND o.analyte = rep.analyte AND o.assay_id = rep.assay_id
    AND o.is_current
WHERE regexp_matches(rep.plate_id, {isr_pattern}) AND rep.status = 'loaded';

COMMENT ON VIEW isr_pairs IS 'Incurred-sample reanalysis (ICH M10 4.3): each repeat (a result of an accepted run on a plate whose ID matches study.yaml isr.plate_id_pattern) beside the current original of the same sample x analyte x assay, which it never replaces. pct_difference = 100 x (repeat - original) / mean of the two; within_limit when its absolute value is at most isr.max_pct_difference (30 %). A pair with a censored value is not evaluable (null).';
COMMENT ON COLUMN isr_pairs.pct_difference IS '100 x (repeat - original) / ((repeat + original) / 2); null when either value is censored or not reported.';
COMMENT ON COLUMN isr_pairs.within_limit IS 'abs(pct_difference) <= study.yaml isr.max_pct_difference; null when not evaluable.';
COMMENT ON COLUMN isr_pairs.repeat_result_id IS 'The repeat (results_all.result_id; never current).';
COMMENT ON COLUMN isr_pairs.original_result_id IS 'The current original it is compared with (results.result_id), unchanged by the repeat.';
COMMENT ON COLUMN isr_pairs.sample_id IS 'The specimen reanalysed.';
COMMENT ON COLUMN isr_pairs.participant_id IS 'Participant of the sample.';
COMMENT ON COLUMN isr_pairs.visit IS 'Visit of the sample.';
COMMENT ON COLUMN isr_pairs.matrix IS 'Matrix of the sample.';
COMMENT ON COLUMN isr_pairs.analyte IS 'Analyte: each analyte of a multiplex repeat is its own pair.';
COMMENT ON COLUMN isr_pairs.assay_id IS 'Assay of both runs (a repeat is only compared within its assay).';
COMMENT ON COLUMN isr_pairs.repeat_plate_id IS 'Plate of the repeat (its ID matches isr.plate_id_pattern); with repeat_sha256, the repeat run of isr_runs.';
COMMENT ON COLUMN isr_pairs.repeat_file IS 'File of the repeat plate.';
COMMENT ON COLUMN isr_pairs.repeat_sha256 IS 'SHA-256 of that file.';
COMMENT ON COLUMN isr_pairs.original_plate_id IS 'Plate of the original result.';
COMMENT ON COLUMN isr_pairs.original_pg_ml IS 'Original value, pg/mL, dilution applied (the limit when original_qualifier is < or >).';
COMMENT ON COLUMN isr_pairs.original_qualifier IS 'Qualifier of the original (=, <, >, NR).';
COMMENT ON COLUMN isr_pairs.repeat_pg_ml IS 'Repeat value, pg/mL, dilution applied (the limit when repeat_qualifier is < or >).';
COMMENT ON COLUMN isr_pairs.repeat_qualifier IS 'Qualifier of the repeat (=, <, >, NR).';

CREATE OR REPLACE VIEW isr_runs AS
SELECT repeat_sha256, repeat_file, repeat_plate_id, assay_id,
    string_agg(DISTINCT analyte, ', ' ORDER BY analyte) AS analytes,
    count(*) AS n_repeats,
    count(within_limit) AS n_evaluable,
    count(*) FILTER (WHERE within_limit) AS n_within,
    round(100.0 * count(*) FILTER (WHERE within_limit) / nullif(count(within_limit), 0), 1) AS pct_within,
    count(within_limit) > 0
        AND count(*) FILTER (WHERE within_limit) >= {isr_min_pass} * count(within_limit) - 1e-9 AS passed,
    CASE
        WHEN count(within_limit) = 0 THEN 'no evaluable pair (every repeat or original censored)'
        WHEN count(*) FILTER (WHERE within_limit) >= {isr_min_pass} * count(within_limit) - 1e-9
            THEN 'passed: ' || count(*) FILTER (WHERE within_limit) || ' of ' || count(within_limit)
                || ' repeats within ' || {isr_max_pct} || ' % of the mean'
        ELSE 'failed: only ' || count(*) FILTER (WHERE within_limit) || ' of ' || count(within_limit)
            || ' repeats within ' || {isr_max_pct} || ' % of the mean (needs ' || round(100 * {isr_min_pass}, 1)
            || ' %)'
    END AS verdict
FROM isr_pairs
GROUP BY ALL;

COMMENT ON VIEW isr_runs IS 'Incurred-sample reanalysis verdict per repeat run (plate x assay; every analyte of a multiplex run counts): repeats, evaluable pairs, how many within the limit, passed when at least study.yaml isr.min_pass_fraction (2/3, ICH M10 for ligand-binding assays) of the evaluable pairs are.';
COMMENT ON COLUMN isr_runs.passed IS 'At least min_pass_fraction of the evaluable repeats lie within max_pct_difference of the mean of original and repeat.';
COMMENT ON COLUMN isr_runs.repeat_sha256 IS 'SHA-256 of the repeat file; with repeat_plate_id and assay_id, the repeat run (isr_pairs).';
COMMENT ON COLUMN isr_runs.repeat_file IS 'File of the repeat plate.';
COMMENT ON COLUMN isr_runs.repeat_plate_id IS 'Plate of the repeat run.';
COMMENT ON COLUMN isr_runs.assay_id IS 'Assay of the run.';
COMMENT ON COLUMN isr_runs.analytes IS 'Analytes repeated on it, comma-separated.';
COMMENT ON COLUMN isr_runs.n_repeats IS 'Repeat x original pairs (sample x analyte).';
COMMENT ON COLUMN isr_runs.n_evaluable IS 'Pairs with both values in range (=); censored or NR pairs are not evaluable.';
COMMENT ON COLUMN isr_runs.n_within IS 'Evaluable pairs within max_pct_difference of their mean.';
COMMENT ON COLUMN isr_runs.pct_within IS '100 x n_within / n_evaluable, one decimal; null when nothing is evaluable.';
COMMENT ON COLUMN isr_runs.verdict IS 'passed/failed with the counts, or why there is no verdict, in plain words (biomarkers isr prints it).';

CREATE OR REPLACE VIEW reassay_candidates AS
WITH state AS (
    SELECT sample_id, analyte, assay_id, bool_or(is_current) AS has_current
    FROM results_all WHERE status <> 'unresolved' GROUP BY ALL
),
-- ISR selection (study.yaml isr): the samples of each assay with an in-range current result; near_cmax
-- ranks each participant's samples by concentration per matrix x analyte (1 = that participant's highest)
-- and a sample counts by its best rank over the assay's analytes; the pick is the first ceil(fraction x n)
-- by (rank, md5(sample_id)) — random: by md5(sample_id) alone. Deterministic: same data, same picks.
isr_ranked AS (
    SELECT sample_id, assay_id,
        rank() OVER (PARTITION BY participant_id, matrix, analyte, assay_id ORDER BY conc_pg_ml DESC) AS cmax_rank
    FROM results_all WHERE is_current AND qualifier = '='
),
isr_pool AS (
    SELECT sample_id, assay_id, cmax_rank,
        row_number() OVER (PARTITION BY assay_id
            ORDER BY CASE WHEN {isr_prefer} = 'near_cmax' THEN cmax_rank ELSE 1 END, md5(sample_id), sample_id) AS rn,
        count(*) OVER (PARTITION BY assay_id) AS n
    FROM (SELECT sample_id, assay_id, min(cmax_rank) AS cmax_rank FROM isr_ranked GROUP BY ALL)
),
isr_picks AS (
    SELECT p.sample_id, p.assay_id, p.cmax_rank FROM isr_pool p
    WHERE p.rn <= ceil({isr_fraction} * p.n)
      AND NOT EXISTS (SELECT 1 FROM results_all r WHERE r.sample_id = p.sample_id
            AND r.assay_id = p.assay_id AND regexp_matches(r.plate_id, {isr_pattern}))
),
items AS (
    -- a current result above the ULOQ: re-run at a higher dilution (next 10-fold step)
    SELECT r.*, 'above_uloq' AS reason, 1 AS priority,
        r.dilution * 10 AS suggested_dilution,
        'above ULOQ ' || coalesce(CAST(round(r.uloq, 1) AS VARCHAR), '?') || ' pg/mL at dilution '
            || CAST(r.dilution AS VARCHAR) AS detail
    FROM results_all r WHERE r.is_current AND r.qualifier = '>'
    UNION ALL
    -- only failed runs measured it: re-run at the same dilution
    SELECT r.*, 'run_failed', 2, r.dilution, coalesce(r.hold_reason, 'the run failed acceptance')
    FROM results_all r JOIN state s USING (sample_id, analyte, assay_id)
    WHERE r.status = 'run_rejected' AND NOT s.has_current
    UNION ALL
    -- excluded (a well, the sample, the run) with nothing current in its place
    SELECT r.*, 'excluded', 3, r.dilution, coalesce(r.superseded_reason, 'excluded')
    FROM results_all r JOIN state s USING (sample_id, analyte, assay_id)
    WHERE r.exclusion_id IS NOT NULL AND NOT s.has_current
    UNION ALL
    -- a current result whose replicates disagree beyond the assay's CV limit
    SELECT r.*, 'high_cv', 4, r.dilution,
        'replicate CV ' || coalesce(CAST(round(r.cv_pct, 1) AS VARCHAR), '?') || ' %'
    FROM results_all r
    WHERE r.is_current AND coalesce(list_contains(r.flags, 'high_cv'), false)
    UNION ALL
    -- incurred-sample reanalysis picks (study.yaml isr): a stable fraction of each assay's samples with an
    -- in-range current result, not yet repeated on an ISR plate
    SELECT r.*, 'isr', 5, r.dilution, 'incurred-sample reanalysis pick (study.yaml isr; rank '
        || k.cmax_rank || ' of the participant''s concentrations): run it on a plate whose ID matches '
        || {isr_pattern}
    FROM results_all r
    JOIN isr_picks k USING (sample_id, assay_id)
    WHERE r.is_current AND r.qualifier = '='
)
SELECT p.lab, i.sample_id, i.participant_id, i.visit, i.matrix, i.assay_id, i.reason,
    string_agg(DISTINCT i.analyte, ', ' ORDER BY i.analyte) AS analytes,
    max(i.dilution) AS dilution, max(i.suggested_dilution) AS suggested_dilution,
    string_agg(DISTINCT i.analyte || ': ' || i.detail, '; ' ORDER BY i.analyte || ': ' || i.detail) AS detail,
    i.plate_id, i.source_file, i.source_file_sha256, min(i.priority) AS priority,
    list(i.result_id ORDER BY i.analyte) AS result_ids
FROM items i
LEFT JOIN plates p ON p.source_sha256 = i.source_file_sha256 AND p.plate_id = i.plate_id
GROUP BY p.lab, i.sample_id, i.participant_id, i.visit, i.matrix, i.assay_id, i.reason, i.plate_id,
    i.source_file, i.source_file_sha256;

COMMENT ON VIEW reassay_candidates IS 'Samples a lab should run again, one row per sample x assay x reason x plate: above_uloq (a current result above the ULOQ; suggested_dilution = the next 10-fold step), run_failed (only runs that failed acceptance measured the analyte), excluded (excluded, nothing current in its place), high_cv (a current result flagged high_cv), isr (an incurred-sample reanalysis pick, study.yaml isr). An item closes by itself when the repeat is loaded and becomes current (results_all.superseded_by shows what replaced what). In the blinded store, withheld values (qualifier WITHHELD, flags null) are never listed: biomarkers worklist reads the full store.';
COMMENT ON COLUMN reassay_candidates.sample_id IS 'The specimen ID to run again.';
COMMENT ON COLUMN reassay_candidates.participant_id IS 'Participant (never in the worklist CSV a lab gets).';
COMMENT ON COLUMN reassay_candidates.visit IS 'Visit (never in the worklist CSV).';
COMMENT ON COLUMN reassay_candidates.matrix IS 'Sample matrix.';
COMMENT ON COLUMN reassay_candidates.assay_id IS 'Assay to run it on.';
COMMENT ON COLUMN reassay_candidates.reason IS 'above_uloq, run_failed, excluded, high_cv or isr.';
COMMENT ON COLUMN reassay_candidates.analytes IS 'Analytes concerned, comma-separated.';
COMMENT ON COLUMN reassay_candidates.dilution IS 'Dilution the sample was run at.';
COMMENT ON COLUMN reassay_candidates.detail IS 'Per analyte: the limit, the failed rule, the exclusion or the CV.';
COMMENT ON COLUMN reassay_candidates.plate_id IS 'Plate that measured it.';
COMMENT ON COLUMN reassay_candidates.source_file IS 'File of that plate.';
COMMENT ON COLUMN reassay_candidates.source_file_sha256 IS 'SHA-256 of that file.';
COMMENT ON COLUMN reassay_candidates.lab IS 'The lab whose plate measured it (plates.lab; null for plates loaded before ownership was recorded).';
COMMENT ON COLUMN reassay_candidates.suggested_dilution IS 'Dilution factor to run the repeat at: 10 x the current one above the ULOQ, else the same.';
COMMENT ON COLUMN reassay_candidates.priority IS '1 above ULOQ, 2 failed run, 3 excluded, 4 high replicate CV, 5 ISR pick.';
COMMENT ON COLUMN reassay_candidates.result_ids IS 'The results (results_all.result_id) the item is about.';
