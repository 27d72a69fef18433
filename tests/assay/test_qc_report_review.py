"""The QC report shows each run's review state and its signatures (issue 21: the manifestation)."""

from __future__ import annotations

from datetime import UTC, datetime

from assay.qc_report import AnalyteReport, QcReportInput, SignatureRow, render_qc_report


def test_signatures_are_on_the_report_with_name_time_and_meaning() -> None:
    at = datetime(2026, 12, 3, 17, 5, 9, tzinfo=UTC)
    signed = AnalyteReport(
        analyte="NfL",
        verdict="pass",
        review_state="approved",
        signatures=(
            SignatureRow("SIG-000001", "reviewed", "Ann <Lab> Smith", "asmith", at, "curve and QCs seen"),
            SignatureRow("SIG-000002", "approved", "Rita Reviewer", "rrev", at),
        ),
    )
    unsigned = AnalyteReport(analyte="pNfH", verdict="pass", review_state="pending_review")
    page = render_qc_report(
        QcReportInput(
            plate_id="P", source_file="f", sha256="0", assay="A", verdict="pass", analytes=(signed, unsigned)
        ),
        image_format="inline",
    )
    assert "approved by Rita Reviewer, 2026-12-03 17:05:09 UTC" in page  # the overview's last signature
    assert "<td>Ann &lt;Lab&gt; Smith (asmith)</td>" in page  # escaped, with the account
    assert page.count("<table class=signatures>") == 1 and "Not signed yet." in page
    assert '<span class="tag none">pending review</span>' in page
