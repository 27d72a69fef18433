"""The verdict page tells what happened, in a real headless Chromium: green for a clean plate, amber for a
plate whose results all loaded with warnings, red for a plate with nothing accepted — with the one thing to
do first, identical problems told once, and "My uploads" readable at 768 px. Screenshots of the three
pages are kept (BIOMARKERS_SCREENSHOT_DIR=folder) for a person to look at."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import pytest

from tests.service.conftest import GOOD, Service
from tests.service.test_browser import browser, page, sign_in, upload  # noqa: F401  (fixtures)

pytestmark = pytest.mark.integration

WARNINGS = "BCT011-LX-NDG-SERUM-P001_20190802.csv"  # every result accepted, six replicate-CV flags
HELD = "BCT011-LX-NTF-SERUM-P002_20201227.csv"  # a run that failed acceptance: 37 results held


def _shot(pg: Any, tmp_path: Path, name: str) -> Path:
    folder = Path(os.environ.get("BIOMARKERS_SCREENSHOT_DIR") or tmp_path)
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / name
    pg.screenshot(path=str(path), full_page=True)
    assert path.stat().st_size > 10_000
    return path


def test_the_light_says_what_happened(
    page: Any,  # noqa: F811
    service: Service,
    tmp_path: Path,
    tmp_path_factory: pytest.TempPathFactory,
) -> None:
    added = service.cli("lab", "add", "lab-verdicts")  # its own lab: other tests' uploads stay theirs
    assert added.returncode == 0, added.stderr
    sign_in(page, added.stdout.strip())
    inbox = service.study / "inbox"

    upload(page, inbox / GOOD, tmp_path, name="clean plate.csv")
    assert page.get_attribute("#verdict", "data-light") == "green"
    assert page.inner_text("#headline") == "Accepted: all 296 results"
    assert page.locator("#first-step").count() == 0
    _shot(page, tmp_path, "verdict-green-clean.png")

    upload(page, inbox / WARNINGS, tmp_path)
    assert page.get_attribute("#verdict", "data-light") == "amber"
    assert page.inner_text("#headline").startswith("Accepted with warnings: all 148 results")
    assert "you do not need to upload" not in page.inner_text("#verdict")
    _shot(page, tmp_path, "verdict-amber-warnings.png")

    upload(page, inbox / HELD, tmp_path)
    assert page.get_attribute("#verdict", "data-light") == "red"
    assert page.inner_text("#headline") == "Partly accepted: 259 of 296 results"
    rows = page.locator("#problems tr.problem")
    assert rows.count() < 5  # 38 problems, told once per kind
    assert "37 samples:" in page.inner_text("#problems")
    assert "with the lab" not in page.inner_text("#problems")  # addressed to the lab, not about it

    # A plate of another study: none of its samples is in this study's manifest, so nothing is accepted.
    from synth.generator import generate_study

    other = tmp_path_factory.mktemp("other-study")
    generate_study(other, seed=2, participants=4)
    foreign = sorted((other / "inbox").glob("*LX-CYT-CSF-P001*.csv"))[0]
    upload(page, foreign, tmp_path, name="plate from another study.csv")
    assert page.get_attribute("#verdict", "data-light") == "red"
    assert page.inner_text("#headline").startswith("Nothing accepted")
    assert "you do not need to upload" not in page.inner_text("#verdict")
    assert page.inner_text("#first-step").startswith("First: ")
    _shot(page, tmp_path, "verdict-red-nothing-accepted.png")

    page.set_viewport_size({"width": 768, "height": 900})
    page.goto("/uploads")
    listed = page.inner_text("#uploads")
    assert "Nothing accepted" in listed and "Accepted: all 296 results" in listed
    width = page.evaluate("document.documentElement.scrollWidth")
    assert width <= 768, f"My uploads is {width} px wide at a 768 px window"
    _shot(page, tmp_path, "my-uploads-768.png")
