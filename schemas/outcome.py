"""What processing one file yields: the contract between the pipeline, the warehouse and the faces (flow, CLI,
upload). On the ground floor (issue 17) because the warehouse stores it and the pipeline makes it."""

from __future__ import annotations

from dataclasses import dataclass, field

import polars as pl

FILE_STATUSES = ("loaded", "loaded_with_issues", "quarantined", "companion")
"""``loaded``: every row accepted; ``loaded_with_issues``: loaded, some rows held/rejected/unresolved;
``quarantined``: nothing could be loaded (unreadable, unknown format or assay) — the reason says why;
``companion``: a file read only together with another (a plate map)."""


@dataclass(frozen=True)
class PlateRecord:
    plate_id: str
    assay_id: str | None
    platform: str | None
    matrix: str | None
    protocol: str | None
    instrument: str | None
    acquired_at: str | None
    kit_lot: str | None
    n_wells: int
    curve_note: str | None = None  # how concentrations were obtained (instrument / fitted 4PL / ...)


@dataclass
class FileOutcome:
    source_file: str
    source_sha256: str
    size_bytes: int
    format: str | None  # reader name; None when no reader recognised the file
    status: str  # FILE_STATUSES
    message: str  # one plain sentence summarising the verdict
    details: str | None = None  # a refusal's particulars: each format tried and why it declined
    plates: list[PlateRecord] = field(default_factory=list)
    wells: pl.DataFrame | None = None  # schemas.wells.WELL_SCHEMA (+ source_sha256)
    results: pl.DataFrame | None = None  # schemas.results.RESULT_SCHEMA
    quarantine: pl.DataFrame | None = None  # schemas.results.QUARANTINE_SCHEMA
    unresolved: pl.DataFrame | None = None  # schemas.results.UNRESOLVED_SCHEMA
    curves: pl.DataFrame | None = None  # schemas.qc.CURVE_SCHEMA: one row per plate × analyte
    calibrators: pl.DataFrame | None = None  # schemas.qc.CALIBRATOR_SCHEMA
    acceptance: pl.DataFrame | None = None  # schemas.qc.ACCEPTANCE_SCHEMA
    qc_trend: pl.DataFrame | None = None  # schemas.qc.TREND_SCHEMA: Westgard at load (pipeline/intake)
    companions: list[str] = field(default_factory=list)  # sibling file names used (plate maps)
    warnings: list[str] = field(default_factory=list)
