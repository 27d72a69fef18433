"""A small generated study shared by the flow tests (the Prefect harness is in tests/conftest.py)."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

os.environ.setdefault("PREFECT_SERVER_ANALYTICS_ENABLED", "false")
os.environ.setdefault("DO_NOT_TRACK", "1")


@pytest.fixture(scope="session")
def small_study(tmp_path_factory: pytest.TempPathFactory) -> Path:
    from synth.generator import generate_study

    out = tmp_path_factory.mktemp("study")
    generate_study(out, seed=11, participants=12)
    return out
