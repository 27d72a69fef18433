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


class AbuseLimits(_Strict):
    """Limits against abuse (docs/access.md): failed sign-ins and API calls with a wrong token are counted
    per client address and per token prefix; past the limit the answer is 429 with Retry-After."""

    failed_auth_per_client: int = Field(default=20, ge=1)
    failed_auth_per_token_prefix: int = Field(default=10, ge=1)
    failed_auth_window_seconds: float = Field(default=300, gt=0)
    uploads_per_lab_per_hour: int = Field(default=300, ge=1)  # a lab's quota (a plate a minute is ~60)
    upload_idle_seconds: float = Field(default=20, gt=0)  # a body that stops arriving for this long: 408
    upload_total_seconds: float = Field(default=300, gt=0)  # the whole body must arrive within this
    verdict_workers: int = Field(default=2, ge=1, le=32)  # parser processes for verdicts
    verdict_seconds: float = Field(default=20, gt=0)  # one file's verdict: past it, the worker is replaced
    verdict_worker_memory_mb: int = Field(default=2048, ge=256)  # address-space limit of each worker


class ServiceConfig(_Strict):
    upload: UploadLimits
    session: SessionSettings
    ingestion: IngestionSettings
    limits: AbuseLimits = AbuseLimits()


def load_service_config(config_dir: Path | None = None) -> ServiceConfig:
    path = (Path(config_dir) if config_dir else DEFAULT_CONFIG_DIR) / "service.yaml"
    try:
        return ServiceConfig.model_validate(_read_yaml(path))
    except ValidationError as exc:
        raise _explain(path, exc) from None


__all__ = ["ConfigError", "IngestionMode", "ServiceConfig", "load_service_config"]
