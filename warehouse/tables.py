"""Every table of the writer store (``ingest.duckdb``), in the order ``ddl.sql`` creates them.

The tables a processed file yields are declared beside their Pandera models and polars schemas in
``schemas/`` (wells, results, quarantine, unresolved, QC records, manifest samples); the store's own
records (runs, files, plates, currency, exclusions, versions, audit trail) are declared here, since only the
warehouse writes them. ``warehouse/ddl.sql`` is generated from :data:`TABLES` (``python -m warehouse.ddl
--write``); tests/warehouse/test_ddl.py fails when it differs.

To add a table: declare a :class:`~schemas.table.Table` (next to its Pandera model when it has one, or
here), append it to :data:`TABLES`, run ``python -m warehouse.ddl --write`` and commit ``ddl.sql`` with it.
To add a column to an existing table: declare it last with ``added="<the change>"`` (stores created
earlier get it by ``ALTER TABLE ... ADD COLUMN IF NOT EXISTS``).
"""

from __future__ import annotations

import polars as pl

from schemas.manifest import MANIFEST_SAMPLES_TABLE
from schemas.qc import CALIBRATORS_TABLE, CURVES_TABLE, QC_TREND_TABLE, RUN_ACCEPTANCE_TABLE
from schemas.results import QUARANTINE_TABLE, RESULTS_TABLE, UNRESOLVED_TABLE
from schemas.table import UTC_TIMESTAMP, Column, Table
from schemas.wells import WELLS_TABLE

_TEXT = pl.String()
_RUN_ID = Column("run_id", _TEXT, not_null=True)

META = Table(
    "meta",
    (Column("key", _TEXT, not_null=True), Column("value", _TEXT, not_null=True)),
    primary_key=("key",),
)

INGEST_RUNS = Table(
    "ingest_runs",
    (
        Column("run_id", _TEXT, not_null=True),
        Column("started_at", UTC_TIMESTAMP, not_null=True),
        Column("inbox", _TEXT),
        Column("manifest", _TEXT),
        Column("trigger", _TEXT, note="cli | nightly | upload | test"),
    ),
    primary_key=("run_id",),
)

_LAB_ADDED = "issue 15: the lab that sent the file (null: loaded before)"

FILES = Table(
    "files",
    (
        Column("source_sha256", _TEXT, not_null=True),
        Column("source_file", _TEXT, not_null=True, note="name as received; never used as a path"),
        Column("size_bytes", pl.Int64(), not_null=True),
        Column("format", _TEXT, note="reader that read it; null when none could"),
        Column("status", _TEXT, not_null=True, note="loaded | loaded_with_issues | quarantined | companion"),
        Column("message", _TEXT, not_null=True, note="the verdict in one plain sentence"),
        Column("raw_path", _TEXT, not_null=True, note="raw copy, relative to the warehouse root"),
        Column(
            "companions", _TEXT, note="SHA-256s of companion files read with it (plate maps), ';'-separated"
        ),
        Column(
            "load_seq",
            pl.Int64(),
            not_null=True,
            note="order of loading; publish compares it with the last published",
        ),
        Column("loaded_at", UTC_TIMESTAMP, not_null=True),
        _RUN_ID,
        Column("lab", _TEXT, note="who sent it (warehouse/ownership.py)", added=_LAB_ADDED),
    ),
    primary_key=("source_sha256",),
    note="One row per distinct file content ever received (identity = SHA-256 of the bytes).",
)

PLATES = Table(
    "plates",
    (
        Column("source_sha256", _TEXT, not_null=True),
        Column("plate_id", _TEXT, not_null=True),
        Column("assay_id", _TEXT),
        Column("platform", _TEXT),
        Column("matrix", _TEXT),
        Column("protocol", _TEXT),
        Column("instrument", _TEXT),
        Column("acquired_at", _TEXT),
        Column("kit_lot", _TEXT),
        Column("n_wells", pl.Int32(), not_null=True),
        Column("curve_note", _TEXT),
        Column("lab", _TEXT, note="the lab whose file first loaded the plate owns it", added=_LAB_ADDED),
    ),
    primary_key=("source_sha256", "plate_id"),
)

RESULT_CURRENCY = Table(
    "result_currency",
    (
        Column("event_seq", pl.Int64(), not_null=True),
        Column("result_id", _TEXT, not_null=True),
        Column("is_current", pl.Boolean(), not_null=True),
        Column("changed_at", UTC_TIMESTAMP, not_null=True),
        Column("reason", _TEXT, not_null=True),
        Column("superseded_by", _TEXT, note="the result that replaced it (re-assay rule)"),
        Column("exclusion_id", _TEXT, note="the exclusion that took it out (or, when lifted, put it back)"),
        _RUN_ID,
    ),
    primary_key=("event_seq",),
    note="When each result became current and when it stopped (re-assay, exclusion, exclusion lifted): one "
    "row per change of state, never updated. The latest row of a result is its state now; consecutive rows "
    "give the intervals that as-of queries read. A loaded result that never became current (a better "
    "re-assay already current, or excluded) still gets a row saying why.",
)

EXCLUSIONS = Table(
    "exclusions",
    (
        Column("exclusion_id", _TEXT, not_null=True),
        Column("scope", _TEXT, not_null=True, note="well | sample | analyte_run | run"),
        Column("plate_id", _TEXT, note="null only for a sample excluded on every plate"),
        Column("well", _TEXT),
        Column("sample_id", _TEXT),
        Column("analyte", _TEXT),
        Column("reason", _TEXT, not_null=True),
        Column("created_by", _TEXT, not_null=True),
        Column("created_at", UTC_TIMESTAMP, not_null=True),
    ),
    primary_key=("exclusion_id",),
    note="Exclusions are records of their own (LabKey-style), keyed by plate — not by file — so they "
    "survive a re-import of the same plate. Lifting one is another record; neither is ever deleted.",
)

EXCLUSION_LIFTS = Table(
    "exclusion_lifts",
    (
        Column("exclusion_id", _TEXT, not_null=True),
        Column("reason", _TEXT, not_null=True),
        Column("lifted_by", _TEXT, not_null=True),
        Column("lifted_at", UTC_TIMESTAMP, not_null=True),
    ),
    primary_key=("exclusion_id",),
)

FILE_VERSIONS = Table(
    "file_versions",
    (
        Column("source_sha256", _TEXT, not_null=True),
        Column("previous_sha256", _TEXT, not_null=True),
        Column("matched_on", _TEXT, not_null=True, note="file name | plate ID"),
        Column("matched_value", _TEXT, not_null=True),
        Column("version_no", pl.Int32(), not_null=True),
        Column("recorded_at", UTC_TIMESTAMP, not_null=True),
    ),
    primary_key=("source_sha256", "previous_sha256", "matched_on", "matched_value"),
    note="A different file with the name of an earlier one, or carrying a plate ID already loaded, is a new "
    "version: recorded here (and in the audit trail), never an overwrite.",
)

AUDIT_LOG = Table(
    "audit_log",
    (
        Column("seq", pl.Int64(), not_null=True),
        Column("logged_at", UTC_TIMESTAMP, not_null=True),
        Column("actor", _TEXT, not_null=True),
        Column("event", _TEXT, not_null=True),
        Column("entity", _TEXT, not_null=True),
        Column("entity_id", _TEXT),
        Column("source_sha256", _TEXT),
        Column("plate_id", _TEXT),
        Column("sample_id", _TEXT),
        Column("participant_id", _TEXT),
        Column("old_value", _TEXT),
        Column("new_value", _TEXT),
        Column("reason", _TEXT),
        Column("prev_hash", _TEXT, not_null=True),
        Column("entry_hash", _TEXT, not_null=True),
    ),
    primary_key=("seq",),
    note="The audit trail (21 CFR Part 11 §11.10(e)): append-only, each entry chained to the previous one "
    "by SHA-256, so `biomarkers audit verify` detects an edited, deleted or reordered entry.",
)

MANIFESTS = Table(
    "manifests",
    (
        Column("source_sha256", _TEXT, not_null=True),
        Column("source_file", _TEXT, not_null=True),
        Column("n_samples", pl.Int32(), not_null=True),
        Column("received_at", UTC_TIMESTAMP, not_null=True),
        _RUN_ID,
    ),
    primary_key=("source_sha256",),
    note="Sample manifests received (biorepository shipments), by content.",
)

REVIEWERS = Table(
    "reviewers",
    (
        Column("reviewer", _TEXT, not_null=True, note="account name, typed at each signing"),
        Column("version", pl.Int32(), not_null=True, note="1 when added; every change appends the next"),
        Column("full_name", _TEXT, not_null=True, note="printed with each signature (§11.50)"),
        Column("lab", _TEXT, note="lab the reviewer works for (two-person rule); null: none"),
        Column("kdf", _TEXT, not_null=True, note="scrypt"),
        Column("kdf_params", _TEXT, not_null=True, note="e.g. n=16384,r=8,p=1,dklen=32"),
        Column("salt", _TEXT, not_null=True, note="hex"),
        Column(
            "secret_hash", _TEXT, not_null=True, note="hex of the KDF output (the password is never stored)"
        ),
        Column("active", pl.Boolean(), not_null=True),
        Column("changed_by", _TEXT, not_null=True),
        Column("changed_at", UTC_TIMESTAMP, not_null=True),
    ),
    primary_key=("reviewer", "version"),
    note="Issue 21 (review and release, 21 CFR Part 11): reviewer accounts, separate from the labs' upload "
    "tokens, append-only (a new password or a deactivation is a new version; the latest is in force). The "
    "secret is kept only as the output of a salted standard KDF (hashlib.scrypt; warehouse/reviewers.py).",
)

RUN_SIGNATURES = Table(
    "run_signatures",
    (
        Column("signature_id", _TEXT, not_null=True, note="SIG-000001, in signing order"),
        Column("source_sha256", _TEXT, not_null=True),
        Column("plate_id", _TEXT, not_null=True),
        Column("analyte", _TEXT, not_null=True),
        Column("meaning", _TEXT, not_null=True, note="reviewed | approved | rejected"),
        Column("reason", _TEXT, note="mandatory for rejected"),
        Column("signer", _TEXT, not_null=True, note="reviewer account"),
        Column("signer_name", _TEXT, not_null=True, note="its full name at signing"),
        Column("signer_lab", _TEXT),
        Column("signed_at", UTC_TIMESTAMP, not_null=True),
        Column("n_results", pl.Int32(), not_null=True),
        Column("result_set_sha256", _TEXT, not_null=True),
        Column("binding_sha256", _TEXT, not_null=True),
    ),
    primary_key=("signature_id",),
    note="One row per signature on a run (file x plate x analyte), append-only: its meaning, the signer, the "
    "UTC time and the run content it was given on (the file's SHA-256 and the SHA-256 of the run's result "
    "set), all bound by binding_sha256, which the signature's audit entry repeats (§11.70: it cannot be "
    "copied to another run, and a later change of the run voids it; warehouse/review.py).",
)

TABLES: tuple[Table, ...] = (
    META,
    INGEST_RUNS,
    FILES,
    PLATES,
    WELLS_TABLE,
    RESULTS_TABLE,
    RESULT_CURRENCY,
    EXCLUSIONS,
    EXCLUSION_LIFTS,
    FILE_VERSIONS,
    AUDIT_LOG,
    QUARANTINE_TABLE,
    UNRESOLVED_TABLE,
    MANIFESTS,
    CURVES_TABLE,
    CALIBRATORS_TABLE,
    RUN_ACCEPTANCE_TABLE,
    QC_TREND_TABLE,
    MANIFEST_SAMPLES_TABLE,
    REVIEWERS,
    RUN_SIGNATURES,
)
"""The store's tables in creation order (append new ones: the order is that of ``ddl.sql``)."""
