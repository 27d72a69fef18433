"""Typed settings of the lab upload service, loaded from ``config/service.yaml``.

Limits a lab or an operator may need to change (upload size, session length, how accepted files reach the
warehouse) are data, validated at start-up so a typo stops the service with the key named.
"""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from pydantic import Field, ValidationError

from schemas.config import DEFAULT_CONFIG_DIR, ConfigError, _explain, _read_yaml, _Strict


class UploadLimits(_Strict):
    max_megabytes: float = Field(gt=0, le=1024)
    concurrent_verdicts: int = Field(ge=1, le=64)

    @property
    def max_bytes(self) -> int:
        return int(self.max_megabytes * 1024 * 1024)


class SessionSettings(_Strict):
    hours: float = Field(gt=0, le=24 * 30)


IngestionMode = Literal["auto", "in-process", "deployment", "none"]


class IngestionSettings(_Strict):
    mode: IngestionMode = "auto"
    deployment: str = Field(pattern=r"^[^/]+/[^/]+$")
    retry_seconds: float = Field(gt=0)
    retry_attempts: int = Field(ge=0)


class ServiceConfig(_Strict):
    upload: UploadLimits
    session: SessionSettings
    ingestion: IngestionSettings


def load_service_config(config_dir: Path | None = None) -> ServiceConfig:
    path = (Path(config_dir) if config_dir else DEFAULT_CONFIG_DIR) / "service.yaml"
    try:
        return ServiceConfig.model_validate(_read_yaml(path))
    except ValidationError as exc:
        raise _explain(path, exc) from None


__all__ = ["ConfigError", "IngestionMode", "ServiceConfig", "load_service_config"]
