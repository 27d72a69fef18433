"""Where the upload service keeps its things, gathered once at start-up.

The service never opens the writer store (``ingest.duckdb``: a running ingestion locks it); it keeps its
own registry of labs and uploads in ``<data>/service/service.duckdb``, writes received bytes into the
warehouse's raw area (by SHA-256, like ingestion does) and hands accepted files over in ``<data>/uploads``.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from pathlib import Path

from schemas import settings
from schemas.service import IngestionMode, ServiceConfig, load_service_config
from warehouse.paths import WarehousePaths


@dataclass(frozen=True)
class ServiceSettings:
    data_dir: Path
    warehouse: Path
    manifest: Path
    config_dir: Path | None
    service: ServiceConfig

    @classmethod
    def from_environment(cls, config_dir: Path | None = None) -> ServiceSettings:
        """The same defaults and environment variables as the rest of the command line."""
        return cls(
            data_dir=settings.data_dir(),
            warehouse=settings.warehouse_dir(),
            manifest=settings.default_manifest(),
            config_dir=config_dir,
            service=load_service_config(config_dir),
        )

    def with_overrides(
        self, *, max_megabytes: float | None = None, mode: IngestionMode | None = None
    ) -> ServiceSettings:
        svc = self.service
        if max_megabytes is not None:
            svc = svc.model_copy(
                update={"upload": svc.upload.model_copy(update={"max_megabytes": max_megabytes})}
            )
        if mode is not None:
            svc = svc.model_copy(update={"ingestion": svc.ingestion.model_copy(update={"mode": mode})})
        return replace(self, service=svc)

    @property
    def service_dir(self) -> Path:
        return self.data_dir / "service"

    @property
    def registry_db(self) -> Path:
        return self.service_dir / "service.duckdb"

    @property
    def session_key_file(self) -> Path:
        return self.service_dir / "session.key"

    @property
    def uploads_dir(self) -> Path:
        """Accepted files waiting for (or handed to) ingestion, one folder per SHA-256."""
        return self.data_dir / "uploads"

    @property
    def warehouse_paths(self) -> WarehousePaths:
        return WarehousePaths.at(self.warehouse)
