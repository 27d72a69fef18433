"""Fixtures of the pipeline tests; the row builders live in pipeline_factories.py."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest
from pipeline_factories import write_manifest

from pipeline.manifest import load_manifest
from schemas.config import Config
from schemas.manifest import Manifest


@pytest.fixture
def manifest_of(tmp_path: Path, config: Config) -> Callable[..., Manifest]:
    """Build a Manifest from manifest lines (one file)."""

    def build(*lines: str) -> Manifest:
        d = tmp_path / "manifests"
        d.mkdir(exist_ok=True)
        write_manifest(d / "shipment-1.csv", list(lines))
        return load_manifest(d, config)

    return build
