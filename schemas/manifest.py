"""The sample manifest: the biorepository's list of sample ID → participant, visit, matrix, collection.

Labs hold only sample IDs (domain.md §2); participant and visit come from here. The CSV columns are
:data:`MANIFEST_COLUMNS`; :data:`MANIFEST_SCHEMA` is the typed table the pipeline keeps (plus where each row
came from). Rules that need the study configuration (known visit codes, matrices, sites) are checked in
``pipeline/manifest.py``; this model holds the structural ones.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import NamedTuple

import pandera.polars as pa
import polars as pl

from schemas.table import UTC_TIMESTAMP, Column, Table, model_columns, polars_schema

MANIFEST_COLUMNS = (
    "sample_id",
    "participant_id",
    "site_id",
    "visit",
    "matrix",
    "collection_date",
    "collection_time",
    "aliquot",
    "freeze_thaw_count",
    "condition",
    "shipment_id",
)
"""Columns a manifest CSV must have (header names are matched case-insensitively, spaces as ``_``)."""

CONTENT_COLUMNS = tuple(c for c in MANIFEST_COLUMNS if c not in ("sample_id", "shipment_id"))
"""What must agree when one sample ID is listed twice (in two shipments, or twice in one)."""


class ManifestModel(pa.DataFrameModel):
    """Structural rules of a typed manifest row (before sample IDs are checked for uniqueness).

    Its fields are the typed manifest's columns, dtypes and order (:data:`MANIFEST_SCHEMA`) and, with
    where each listing came from, the store's ``manifest_samples`` (:data:`MANIFEST_SAMPLES_TABLE`)."""

    sample_id: str = pa.Field(nullable=False, str_length={"min_value": 1})
    participant_id: str = pa.Field(nullable=False, str_length={"min_value": 1})
    site_id: str = pa.Field(nullable=False, str_length={"min_value": 1})
    visit: str = pa.Field(nullable=False, description="visit code (study.yaml)")
    matrix: str = pa.Field(nullable=False, description="matrix code (study.yaml)")
    collection_date: pl.Date = pa.Field(nullable=False)
    collection_time: str = pa.Field(
        nullable=True,
        str_matches=r"^([01]?[0-9]|2[0-3]):[0-5][0-9](:[0-5][0-9])?$",
        description='"HH:MM" or "HH:MM:SS" as written; null when not recorded',
    )
    aliquot: str = pa.Field(nullable=True)
    freeze_thaw_count: pl.Int32 = pa.Field(nullable=True, ge=0)
    condition: str = pa.Field(
        nullable=True, description="e.g. HEMOLYZED, BLOOD CONTAMINATED; null when normal/not recorded"
    )
    shipment_id: str = pa.Field(nullable=True)
    manifest_file: str = pa.Field(nullable=False, description="file name the row came from")
    manifest_line: int = pa.Field(
        nullable=False, ge=1, description="1-based line in that file (header = line 1)"
    )

    class Config:
        strict = True
        ordered = True


MANIFEST_SCHEMA: dict[str, pl.DataType] = polars_schema(model_columns(ManifestModel))
"""The typed manifest the pipeline keeps (polars dtypes, in order): :class:`ManifestModel`'s fields."""

MANIFEST_SAMPLES_TABLE = Table(
    "manifest_samples",
    (
        Column("manifest_sha256", pl.String(), not_null=True),
        # The store has accepted a null site, collection date and line since the table was created
        # (issue 20); the model requires them, so no new row lacks them.
        *model_columns(ManifestModel, nullable_in_store=("site_id", "collection_date", "manifest_line")),
        Column("recorded_at", UTC_TIMESTAMP, not_null=True),
        Column("run_id", pl.String(), not_null=True),
    ),
    primary_key=("manifest_sha256", "sample_id"),
    note="issue 20: the samples of every manifest received (biorepository shipments), one row per manifest "
    "file × sample, never updated: the analyst store's `samples` view is the latest listing of each sample, "
    "and late resolution (warehouse/late_resolution.py) reads the queue against it. No allocation: "
    "manifests hold none.",
)


# The manifest as read (pipeline/manifest.py reads and checks it; warehouse/late_resolution.py records it):
# here, below both, since issue 17.
class ManifestSource(NamedTuple):
    """One manifest file read: unpacks as ``name, sha256, n_rows``."""

    name: str  # file name
    sha256: str
    n_rows: int  # data rows in the file


@dataclass(frozen=True)
class Manifest:
    """Every known sample, one row per ``sample_id`` (schemas.manifest.MANIFEST_SCHEMA), and the files
    it was built from with their SHA-256."""

    samples: pl.DataFrame
    sources: tuple[ManifestSource, ...] = field(default_factory=tuple)
    location: Path | None = None  # the manifest file or folder it was read from (where a manifest belongs)

    @classmethod
    def empty(cls) -> Manifest:
        return cls(pl.DataFrame(schema=MANIFEST_SCHEMA), ())

    @property
    def files(self) -> list[tuple[str, str]]:
        """(file name, SHA-256) of every manifest file read."""
        return [(s.name, s.sha256) for s in self.sources]

    @property
    def n_files(self) -> int:
        return len(self.sources)

    def __len__(self) -> int:
        return self.samples.height

    def __contains__(self, sample_id: object) -> bool:
        return isinstance(sample_id, str) and sample_id in set(self.samples["sample_id"].to_list())
