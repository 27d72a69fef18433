"""Where the warehouse keeps what: one root folder, laid out the same on every machine.

The two analyst stores live in folders of their own so that file permissions can separate who reads what
(config/operations.yaml ``stores``; docs/access.md): ``analyst/`` holds the blinded store every analyst is
given (post-dose values that can reveal the arm are physically absent), ``full/`` the store with every
value, for the roles cleared to see them (lab QC, the unblinded team).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path


@dataclass(frozen=True)
class WarehousePaths:
    root: Path

    @classmethod
    def at(cls, root: Path | str) -> WarehousePaths:
        return cls(Path(root).expanduser().resolve())

    @property
    def ingest_db(self) -> Path:
        """Writer store: opened by ingestion only (DuckDB locks a file across processes)."""
        return self.root / "ingest.duckdb"

    @property
    def analyst_dir(self) -> Path:
        """The blinded analyst store's folder (its DuckDB file and the Parquet snapshots behind it)."""
        return self.root / "analyst"

    @property
    def analyst_db(self) -> Path:
        """Blinded analyst store: views over the latest blinded snapshot, replaced atomically."""
        return self.analyst_dir / "analyst.duckdb"

    @property
    def published_dir(self) -> Path:
        """The blinded snapshots (what analyst.duckdb reads)."""
        return self.analyst_dir / "published"

    @property
    def full_dir(self) -> Path:
        """The full store's folder: every value, for roles cleared to see post-dose values."""
        return self.root / "full"

    @property
    def full_db(self) -> Path:
        return self.full_dir / "full.duckdb"

    @property
    def full_published_dir(self) -> Path:
        return self.full_dir / "published"

    @property
    def raw_dir(self) -> Path:
        return self.root / "raw"

    def legacy_analyst_files(self) -> list[Path]:
        """Where stores written before the blinded/full split kept the (unblinded) analyst store."""
        return [self.root / "analyst.duckdb", self.root / "published"]

    def ensure(self) -> None:
        for d in (self.root, self.raw_dir, self.published_dir, self.full_published_dir):
            d.mkdir(parents=True, exist_ok=True)
