"""A lab person's path through the page in a real headless Chromium (Debian's, driven by Playwright):
sign in with the lab token, upload a good and a bad plate, read the verdicts; the bad plate's verdict is
saved as a screenshot (BIOMARKERS_SCREENSHOT=path.png keeps it) for a person to look at."""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.service.conftest import BAD, GOOD, Service

pytestmark = pytest.mark.integration


def _chromium() -> str:
    path = (
        os.environ.get("BIOMARKERS_CHROMIUM") or shutil.which("chromium") or shutil.which("chromium-browser")
    )
    if path is None:
        pytest.skip(
            "headless Chromium not installed: `apt-get install chromium` (what .ci/run does) enables the "
            "browser tests (or set BIOMARKERS_CHROMIUM to a Chromium binary)"
        )
    return path


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    executable = _chromium()
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        b = p.chromium.launch(executable_path=executable, headless=True, args=["--no-sandbox"])
        try:
            yield b
        finally:
            b.close()


@pytest.fixture
def page(browser: Any, service: Service) -> Iterator[Any]:
    context = browser.new_context(base_url=service.url, viewport={"width": 1280, "height": 900})
    pg = context.new_page()
    pg.set_default_timeout(30_000)
    try:
        yield pg
    finally:
        context.close()


def sign_in(page: Any, token: str) -> None:
    page.goto("/")
    assert page.url.endswith("/signin")
    page.fill("#token", token)
    page.click("#signin")
    page.wait_for_selector("#upload-form")


def upload(page: Any, path: Path, tmp_path: Path, name: str | None = None) -> None:
    if name:
        target = tmp_path / name
        target.write_bytes(path.read_bytes())
        path = target
    page.goto("/")
    page.set_input_files("#file", str(path))
    page.click("#upload")
    page.wait_for_selector("#verdict")


def test_sign_in_upload_good_and_bad_plates(page: Any, service: Service, tmp_path: Path) -> None:
    sign_in(page, service.tokens["lab-page"])
    assert page.inner_text("#lab-name") == "lab-page"
    cookies = {c["name"]: c for c in page.context.cookies()}
    assert cookies["bct_session"]["httpOnly"] and cookies["bct_session"]["sameSite"] == "Strict"

    inbox = service.study / "inbox"
    upload(page, inbox / GOOD, tmp_path)
    assert page.get_attribute("#verdict", "data-outcome") == "accepted"
    assert page.inner_text("#n-accepted") == "296" and page.inner_text("#n-rejected") == "0"
    assert "Nothing to do" in page.inner_text("#what-to-do")
    assert "uploaded these exact bytes before" not in page.inner_text("#verdict")
    first = page.url
    upload(page, inbox / GOOD, tmp_path, name="same plate again.csv")  # the page says it is the same upload
    assert "uploaded these exact bytes before" in page.inner_text("#verdict")
    assert page.url.split("?")[0] == first

    bad = inbox / "BCT011-LX-NDG-SERUM-P003_20210131.csv"  # a mistyped sample ID, never uploaded before
    upload(page, bad, tmp_path, name="ndg serum plate 3.csv")
    assert page.get_attribute("#verdict", "data-outcome") == "accepted_with_problems"
    assert page.inner_text("#n-unresolved") == "4"
    rows = page.locator("#problems tr.problem")
    assert rows.count() == 1
    text = rows.first.inner_text()
    assert "Sample ID not found" in text and "C5,D5" in text and "SER0116521085" in text
    assert "check the ID on the plate map" in text
    assert "biorepository" in page.inner_text("#what-to-do")

    upload(page, inbox / BAD, tmp_path)  # many kinds of problem: the screenshot a person looks at
    assert page.get_attribute("#verdict", "data-outcome") == "accepted_with_problems"
    kinds = set(page.locator("#problems tr.problem td:first-child").all_inner_texts())
    assert kinds == {"Sample ID not found", "Held for review"}  # its high CVs are all below MFI 100
    shot = Path(os.environ.get("BIOMARKERS_SCREENSHOT") or tmp_path / "verdict-bad.png")
    page.screenshot(path=str(shot), full_page=True)
    assert shot.stat().st_size > 10_000

    cv = inbox / "BCT011-LX-NDG-SERUM-P002_20201107.csv"  # a seeded high-CV duplicate (CHIT1, E6/F6)
    upload(page, cv, tmp_path)
    flagged = page.locator("#problems tr.problem", has_text="Loaded, flagged")
    assert flagged.count() >= 1 and "E6,F6" in page.inner_text("#problems")

    page.goto("/uploads")
    listed = page.inner_text("#uploads")
    assert "ndg serum plate 3.csv" in listed and BAD in listed


def test_non_export_and_bad_names_are_explained_on_the_page(
    page: Any, service: Service, tmp_path: Path
) -> None:
    sign_in(page, service.tokens["lab-b"])
    junk = tmp_path / "notes.txt"
    junk.write_text("Plate 3 was run on Tuesday; results to follow.\n")
    upload(page, junk, tmp_path)
    assert page.get_attribute("#verdict", "data-outcome") == "not_an_export"
    assert "not a plate export" in page.inner_text("#summary")
    assert "Export the plate again" in page.inner_text("#what-to-do")


def test_wrong_token_is_told_plainly(page: Any) -> None:
    page.goto("/signin")
    page.fill("#token", "bct_wrong")
    page.click("#signin")
    assert "not valid" in page.inner_text("#error")


def test_forms_without_csrf_token_are_refused(service: Service) -> None:
    """A cross-site form post carries the cookie but cannot know the CSRF token."""
    with httpx.Client(base_url=service.url, follow_redirects=False) as c:
        page = c.get("/signin")
        assert page.status_code == 200
        r = c.post("/signin", data={"token": service.tokens["lab-a"], "csrf": "forged"})
        assert r.status_code == 400 and "bct_session" not in r.cookies
        nonce = r.text.split('name="csrf" value="')[1].split('"')[0]  # the form the refusal shows again
        r = c.post("/signin", data={"token": service.tokens["lab-a"], "csrf": nonce})
        assert r.status_code == 303 and "bct_session" in c.cookies
        files = {"file": (GOOD, service.plate(GOOD), "text/csv")}
        r = c.post("/upload", data={"csrf": "forged"}, files=files)
        assert r.status_code == 400 and "expired" in r.text
        r = c.post("/upload", files=files)
        assert r.status_code == 400
