"""The lab's verdict page links its plate's QC report, which the service serves to that lab only (issue 16),
against the real service on loopback: the owner opens it (every analyte's curve, styled under the page's
CSP nonce); another lab, an unknown plate and a visitor without a session do not."""

from __future__ import annotations

import re
import time

import httpx
import pytest

from tests.service.conftest import SMALL, Service, wait_for_status

pytestmark = pytest.mark.integration

PLATE = "BCT011-LX-NDG-CSF-QC16"  # a plate ID of its own: the other tests' plates stay theirs


def _sign_in(service: Service, lab: str) -> httpx.Client:
    c = httpx.Client(base_url=service.url, timeout=120)
    nonce = re.search(r'name="csrf" value="([^"]+)"', c.get("/signin").text)
    assert nonce
    r = c.post("/signin", data={"token": service.tokens[lab], "csrf": nonce.group(1)})
    assert r.status_code == 303, r.text
    return c


def test_the_verdict_page_links_the_plates_qc_report_for_its_lab_only(service: Service) -> None:
    for lab in ("lab-qc-owner", "lab-qc-other"):
        added = service.cli("lab", "add", lab)
        assert added.returncode == 0, added.stderr
        service.tokens[lab] = added.stdout.strip()
    base = service.plate(SMALL)
    batch = b'"Batch","BCT011-LX-NDG-CSF-P003"'
    assert batch in base
    with service.client("lab-qc-owner") as api:
        mine = base.replace(batch, f'"Batch","{PLATE}"'.encode())
        r = api.post("/api/v1/uploads", files={"file": (f"{PLATE}.csv", mine)})
        assert r.status_code == 201, r.text
        upload_id = r.json()["id"]
        done = wait_for_status(api, upload_id, {"loaded", "failed"}, timeout=300)
        assert done["status"] == "loaded", done

    owner = _sign_in(service, "lab-qc-owner")
    verdict = owner.get(f"/uploads/{upload_id}")
    assert verdict.status_code == 200
    links = re.findall(r'<a class="qc-report" href="([^"]+)"', verdict.text)
    assert links == [f"/qc-report?plate={PLATE}"]

    t0 = time.perf_counter()
    report = owner.get(links[0])
    took = time.perf_counter() - t0
    print(f"QC report of a 4-plex plate served in {took:.2f} s, {len(report.content):,} bytes")
    assert report.status_code == 200, report.text
    page = report.text
    assert f"QC report — {PLATE}" in page
    analytes = re.findall(r'<section class="analyte" id="[^"]+"><h2>([^<]+)', page)
    assert len(analytes) == 4  # LX-NDG: NfL, pNfH, CHI3L1, CHIT1
    assert page.count('<svg class="fig curve"') == 4 and page.count('<svg class="fig plate"') == 4
    nonce = re.search(r"style-src 'nonce-([^']+)'", report.headers["content-security-policy"])
    assert nonce and f'<style nonce="{nonce.group(1)}">' in page  # styled under the service's CSP
    assert "<script" not in page

    other = _sign_in(service, "lab-qc-other")
    theirs = other.get(links[0])
    unknown = other.get("/qc-report?plate=NO-SUCH-PLATE")
    assert theirs.status_code == unknown.status_code == 404
    assert "Standard curve" not in theirs.text and PLATE in theirs.text

    # another lab's plate answers exactly like a plate that does not exist: nothing to learn from it
    def same(text: str, plate: str) -> str:
        return re.sub(r'nonce="[^"]+"', "", text.replace(plate, "X"))

    assert same(theirs.text, PLATE) == same(unknown.text, "NO-SUCH-PLATE")
    assert other.get(f"/uploads/{upload_id}").status_code == 404  # nor can it see the upload's links

    with httpx.Client(base_url=service.url, timeout=60) as visitor:
        r = visitor.get(links[0])
        assert r.status_code == 303 and r.headers["location"] == "/signin"
    owner.close()
    other.close()
