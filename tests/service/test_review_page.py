"""The reviewer's page (issue 21) in a real headless Chromium against the package's real service: a
reviewer signs in with their account, sees a plate's QC report beside the sign form, is refused with a
wrong password, and signs the run approved; the page then shows the signature. The page is saved as a
screenshot (BIOMARKERS_REVIEW_SCREENSHOT=path.png keeps it) for a person to look at.

It signs test_plate_qc's plate when that test ran before it (approving changes no current result under
release on_load); otherwise it uploads a plate of its own from a lab of its own (lab-review). Either way
the counts of test_warehouse_handoff (labs a and b, the good plate's results) do not change."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import duckdb
import pytest

from tests.service.conftest import SMALL, Service, wait_for_status
from tests.service.test_browser import browser, page  # noqa: F401 - the module's fixtures, reused
from warehouse.paths import WarehousePaths

pytestmark = pytest.mark.integration

PLATE = "BCT011-LX-NDG-CSF-REV21"
QC_PLATE = "BCT011-LX-NDG-CSF-QC16"  # test_plate_qc's
PASSWORD = "review passphrase 21"


def _plate_to_review(service: Service) -> str:
    """test_plate_qc's plate (LX-NDG, loaded by its own lab) when it is there — no second ingestion to wait
    for — else a plate of this test's own, uploaded by a lab of its own."""
    full = WarehousePaths.at(service.warehouse).full_db
    if full.exists():
        con = duckdb.connect(str(full), read_only=True)
        try:
            pending = con.execute(
                "SELECT count(*) FROM run_review WHERE plate_id = ? AND review_state = 'pending_review'",
                [QC_PLATE],
            ).fetchall()[0][0]
        finally:
            con.close()
        if pending == 4:
            return QC_PLATE
    added = service.cli("lab", "add", "lab-review")
    assert added.returncode == 0, added.stderr
    service.tokens["lab-review"] = added.stdout.strip()
    base = service.plate(SMALL)
    batch = b'"Batch","BCT011-LX-NDG-CSF-P003"'
    assert batch in base
    with service.client("lab-review") as api:
        mine = base.replace(batch, f'"Batch","{PLATE}"'.encode())
        r = api.post("/api/v1/uploads", files={"file": (f"{PLATE}.csv", mine)})
        assert r.status_code == 201, r.text
        done = wait_for_status(api, r.json()["id"], {"loaded", "failed"}, timeout=300)
        assert done["status"] == "loaded", done
    return PLATE


def test_a_reviewer_signs_a_run_on_the_page(page: Any, service: Service, tmp_path: Path) -> None:  # noqa: F811
    plate = _plate_to_review(service)
    added = service.cli(
        "reviewer", "add", "rrev", "--name", "Rita Reviewer", "--lab", "sponsor", "--password", PASSWORD
    )
    assert added.returncode == 0, added.stderr

    page.goto("/review")
    assert page.url.endswith("/review/signin")
    page.fill("#account", "rrev")
    page.fill("#password", "not the password")
    page.click("#signin")
    assert "the account or the password is wrong" in page.inner_text("#error")
    page.fill("#account", "rrev")
    page.fill("#password", PASSWORD)
    page.click("#signin")
    page.wait_for_selector("#runs")
    assert page.inner_text("#reviewer-name") == "rrev"
    cookies = {c["name"]: c for c in page.context.cookies()}
    assert cookies["bct_reviewer"]["httpOnly"] and cookies["bct_reviewer"]["sameSite"] == "Strict"

    page.goto(f"/review?plate={plate}")
    frame = page.frame_locator("#qc-report")
    assert f"QC report — {plate}" in frame.locator("h1").inner_text()
    assert frame.locator("section.analyte").count() == 4  # LX-NDG: NfL, pNfH, CHI3L1, CHIT1
    assert page.inner_text("#plate-runs").count("pending review") == 4

    assert page.input_value("#meaning") == ""  # no meaning preselected: the signer chooses one
    page.fill("#password", PASSWORD)
    page.evaluate("document.getElementById('meaning').removeAttribute('required')")  # past the browser
    page.click("#sign")
    assert "choose the meaning of your signature" in page.inner_text("#error")
    assert page.inner_text("#plate-runs").count("pending review") == 4  # nothing signed

    page.select_option("#meaning", "approved")
    page.fill("#password", "not the password")  # re-authentication at the signing itself
    page.click("#sign")
    assert "not signed: the password is wrong" in page.inner_text("#error")

    page.select_option("#meaning", "approved")
    page.fill("#password", PASSWORD)
    page.click("#sign")
    page.wait_for_selector("#signed")
    assert "SIG-000001 to SIG-000004" in page.inner_text("#signed")
    assert page.inner_text("#plate-runs").count("approved") == 4
    report = page.frame_locator("#qc-report")
    assert "approved by Rita Reviewer" in report.locator("nav").inner_text()  # the manifestation
    shot = Path(os.environ.get("BIOMARKERS_REVIEW_SCREENSHOT") or tmp_path / "review-page.png")
    page.screenshot(path=str(shot), full_page=True)
    assert shot.stat().st_size > 10_000

    verified = service.cli("audit", "verify")
    assert verified.returncode == 0, verified.stdout + verified.stderr
    assert "4 signatures bound to their runs" in verified.stdout.replace("\n", " ")
