"""What a run tells people beyond the summary counts: the quarantined rows with their reasons (a table
artifact), the plate runs that failed acceptance, how each delivery source fared, and the webhook message
sent when something needs a person.

Plain functions of data: the flow turns them into artifacts and a POST; tests call them directly.
"""

from __future__ import annotations

import json
import urllib.error
import urllib.request
from dataclasses import dataclass, field

import polars as pl

from pipeline.report import IngestSummary, one_line
from schemas.outcome import FileOutcome

QUARANTINE_ARTIFACT_LIMIT = 1000  # a run page is read by a person; the warehouse keeps every row

_QCOLS = (  # rule and message first: what a person reads before scrolling right
    "rule",
    "message",
    "source_file",
    "plate_id",
    "well",
    "sample_id",
    "analyte",
    "value_text",
    "severity",
)


class NotifyError(Exception):
    """The webhook did not accept the notification (the run itself is unaffected)."""


@dataclass(frozen=True)
class SourceReport:
    name: str
    kind: str
    ok: bool
    copied: int = 0  # files whose bytes were new and were copied into the landing area
    skipped: int = 0  # files already pulled (same path, size and time, or same SHA-256)
    deleted: int = 0  # deleted at the source (only when the source is configured to)
    message: str = ""


@dataclass
class RunDetails:
    """Everything the run page shows beyond IngestSummary."""

    quarantined_rows: list[dict[str, str]] = field(default_factory=list)
    quarantined_total: int = 0
    failed_runs: list[dict[str, str]] = field(default_factory=list)
    sources: list[SourceReport] = field(default_factory=list)
    lock_wait_s: float = 0.0
    lock_waited_for: str = ""  # who held the writer lock when this run arrived ("" = it was free)

    def add_rows(self, rows: list[dict[str, str]], failed: list[dict[str, str]]) -> None:
        self.quarantined_total += len(rows)
        room = QUARANTINE_ARTIFACT_LIMIT - len(self.quarantined_rows)
        self.quarantined_rows.extend(rows[: max(room, 0)])
        self.failed_runs.extend(failed)


def quarantine_rows(o: FileOutcome) -> list[dict[str, str]]:
    """Rows rejected or held (not mere warnings), as strings: table artifacts cannot carry dates/nulls."""
    q = o.quarantine
    if q is None or q.height == 0:
        return []
    q = q.filter(pl.col("severity") != "warning")
    return [{k: "" if r.get(k) is None else str(r[k]) for k in _QCOLS} for r in q.iter_rows(named=True)]


def failed_runs(o: FileOutcome) -> list[dict[str, str]]:
    """One line per plate × analyte whose run failed acceptance, with the first failed rule's reason."""
    a = o.acceptance
    if a is None or a.height == 0:
        return []
    bad = a.filter(~pl.col("run_accepted") & ~pl.col("passed")).unique(
        ["plate_id", "analyte"], keep="first", maintain_order=True
    )
    return [
        {
            "source_file": o.source_file,
            "plate_id": str(r["plate_id"]),
            "analyte": str(r["analyte"]),
            "rule": str(r["rule"]),
            "reason": str(r["reason"] or ""),
        }
        for r in bad.iter_rows(named=True)
    ]


def details_markdown(d: RunDetails) -> str:
    """Appended to the summary artifact: failed runs, sources, waiting for the writer lock."""
    lines: list[str] = []
    if d.lock_waited_for:
        lines += [
            "",
            f"Waited {d.lock_wait_s:.1f} s for the warehouse: it was being written by {d.lock_waited_for}.",
        ]
    if not d.failed_runs:
        lines += ["", "Plate runs that failed acceptance: none."]
    else:
        lines += ["", f"## Plate runs that failed acceptance ({len(d.failed_runs)})", ""]
        lines += ["| file | plate | analyte | rule | reason |", "|---|---|---|---|---|"]
        lines += [
            f"| {r['source_file']} | {r['plate_id']} | {r['analyte']} | {r['rule']} | "
            f"{one_line(r['reason']).replace('|', '/')} |"
            for r in d.failed_runs
        ]
    if d.quarantined_total:
        lines += [
            "",
            f"Rows rejected or held: {d.quarantined_total} (table artifact `ingest-quarantine`"
            + (
                f", first {QUARANTINE_ARTIFACT_LIMIT}"
                if d.quarantined_total > len(d.quarantined_rows)
                else ""
            )
            + ")",
        ]
    if d.sources:
        lines += ["", "## Delivery sources", "", "| source | kind | status | new files | already pulled |"]
        lines += ["|---|---|---|---:|---:|"]
        for s in d.sources:
            status = "ok" if s.ok else f"**failed**: {one_line(s.message, 300).replace('|', '/')}"
            lines.append(f"| {s.name} | {s.kind} | {status} | {s.copied} | {s.skipped} |")
    return "\n".join(lines) + "\n"


def notification(
    s: IngestSummary, d: RunDetails, events: list[str], *, run_url: str | None = None
) -> dict[str, object] | None:
    """The webhook message, or None when nothing configured to notify about happened.

    Plain words first (``text``, what chat webhooks display), then the same facts as fields."""
    quarantined = [f for f in s.files if f.status == "quarantined"]
    failed_sources = [x for x in d.sources if not x.ok]
    parts: list[str] = []
    if "file_quarantined" in events and quarantined:
        names = ", ".join(f.name for f in quarantined[:10]) + (" …" if len(quarantined) > 10 else "")
        parts.append(f"{len(quarantined)} file(s) quarantined: {names}")
    if "run_failed_acceptance" in events and d.failed_runs:
        plates = sorted({r["plate_id"] for r in d.failed_runs})
        on = ", ".join(plates[:10])
        parts.append(f"{len(d.failed_runs)} plate run(s) failed acceptance on plate(s) {on}")
    if "source_failed" in events and failed_sources:
        why = "; ".join(f"{x.name}: {x.message}" for x in failed_sources)
        parts.append(f"source(s) could not be read: {why}")
    if not parts:
        return None
    text = f"Biomarker ingestion ({s.inbox}): " + "; ".join(parts) + "."
    if run_url:
        text += f" Details: {run_url}"
    return {
        "text": text,
        "run_id": s.run_id,
        "files_quarantined": [{"file": f.name, "sha256": f.sha256, "reason": f.message} for f in quarantined],
        "failed_runs": d.failed_runs,
        "failed_sources": [{"source": x.name, "message": x.message} for x in failed_sources],
        "summary": s.as_dict(),
    }


def flow_failed_notification(run_id: str, error: str, *, run_url: str | None = None) -> dict[str, object]:
    text = f"Biomarker ingestion run {run_id} failed: {error}"
    return {"text": text + (f" Details: {run_url}" if run_url else ""), "run_id": run_id, "error": error}


def send_webhook(url: str, payload: dict[str, object], *, timeout_s: float = 10.0) -> int:
    """POST the JSON message; returns the HTTP status. Raises NotifyError saying what went wrong."""
    body = json.dumps(payload, default=str).encode("utf-8")
    req = urllib.request.Request(
        url, data=body, method="POST", headers={"Content-Type": "application/json; charset=utf-8"}
    )
    try:
        with urllib.request.urlopen(req, timeout=timeout_s) as resp:  # the URL comes from configuration
            return int(resp.status)
    except urllib.error.HTTPError as exc:
        raise NotifyError(f"the webhook answered HTTP {exc.code} {exc.reason}; check its URL/token") from None
    except (urllib.error.URLError, TimeoutError, OSError) as exc:
        reason = getattr(exc, "reason", exc)
        raise NotifyError(f"the webhook could not be reached ({reason}); check the URL and network") from None
