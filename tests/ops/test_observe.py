"""What the run page and the webhook say, and the webhook POST against a real local HTTP server."""

from __future__ import annotations

import socket

import pytest

from pipeline.observe import (
    NotifyError,
    RunDetails,
    SourceReport,
    details_markdown,
    notification,
    send_webhook,
)
from pipeline.report import FileLine, IngestSummary
from tests.ops.receiver import webhook_receiver

EVENTS = ["file_quarantined", "run_failed_acceptance", "source_failed"]


def _line(name: str, status: str) -> FileLine:
    return FileLine(
        name=name,
        sha256="ab" * 32,
        format=None,
        status=status,
        plates=0 if status == "quarantined" else 1,
        accepted=0 if status == "quarantined" else 10,
        held=0,
        unresolved=0,
        rejected_rows=0,
        flagged=0,
        message=f"{name}: not a format this pipeline reads." if status == "quarantined" else "ok",
    )


def _summary(*lines: FileLine) -> IngestSummary:
    s = IngestSummary(run_id="run-1", inbox="/drop")
    s.files.extend(lines)
    return s


def test_nothing_to_report_sends_nothing() -> None:
    assert notification(_summary(_line("a.csv", "loaded")), RunDetails(), EVENTS) is None


def test_quarantine_failed_run_and_down_source_in_plain_words() -> None:
    d = RunDetails(sources=[SourceReport(name="lab-b", kind="s3", ok=False, message="cannot list s3://x")])
    d.add_rows(
        [{"source_file": "bad.csv", "rule": "unknown_format", "message": "m"}],
        [
            {
                "source_file": "p.csv",
                "plate_id": "P1",
                "analyte": "NfL",
                "rule": "QC_PASS_FRACTION",
                "reason": "2/6",
            }
        ],
    )
    msg = notification(_summary(_line("a.csv", "loaded"), _line("bad.csv", "quarantined")), d, EVENTS)
    assert msg is not None
    text = str(msg["text"])
    assert "1 file(s) quarantined: bad.csv" in text
    assert "1 plate run(s) failed acceptance on plate(s) P1" in text
    assert "lab-b: cannot list s3://x" in text
    assert msg["files_quarantined"] == [
        {"file": "bad.csv", "sha256": "ab" * 32, "reason": "bad.csv: not a format this pipeline reads."}
    ]
    md = details_markdown(d)
    assert "| p.csv | P1 | NfL | QC_PASS_FRACTION | 2/6 |" in md and "**failed**: cannot list" in md


def test_only_configured_events_notify() -> None:
    s = _summary(_line("bad.csv", "quarantined"))
    assert notification(s, RunDetails(), ["run_failed_acceptance"]) is None


def test_webhook_post_reaches_a_real_server() -> None:
    with webhook_receiver() as (url, got):
        assert send_webhook(url, {"text": "hello", "n": 1}) == 200
    assert got == [{"text": "hello", "n": 1}]


def test_webhook_refusal_and_unreachable_are_clear_errors() -> None:
    with webhook_receiver(status=403) as (url, _), pytest.raises(NotifyError, match="HTTP 403"):
        send_webhook(url, {"text": "x"})
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]  # nothing listens here once closed
    with pytest.raises(NotifyError, match="could not be reached"):
        send_webhook(f"http://127.0.0.1:{port}/hook", {"text": "x"}, timeout_s=2)
