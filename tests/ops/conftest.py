"""A tiny generated study for the operations tests (3 participants, ~10 files)."""

from __future__ import annotations

from pathlib import Path

import pytest


@pytest.fixture(scope="session")
def tiny_study(tmp_path_factory: pytest.TempPathFactory) -> Path:
    from synth.generator import generate_study

    out = tmp_path_factory.mktemp("tiny-study")
    generate_study(out, seed=31, participants=3)
    return out
