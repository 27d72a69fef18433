"""Where the warehouse keeps what: one root folder, laid out the same on every machine."""

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
    def analyst_db(self) -> Path:
        """Analyst store: views over the latest published snapshot, replaced atomically."""
        return self.root / "analyst.duckdb"

    @property
    def raw_dir(self) -> Path:
        return self.root / "raw"

    @property
    def published_dir(self) -> Path:
        return self.root / "published"

    def ensure(self) -> None:
        for d in (self.root, self.raw_dir, self.published_dir):
            d.mkdir(parents=True, exist_ok=True)
