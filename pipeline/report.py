"""The run summary: what a person reads after a night's ingestion or an upload."""

from __future__ import annotations

from dataclasses import dataclass, field

import polars as pl

from pipeline.outcome import FileOutcome


@dataclass(frozen=True)
class FileLine:
    name: str
    sha256: str
    format: str | None
    status: str
    plates: int
    accepted: int
    held: int
    unresolved: int
    rejected_rows: int
    flagged: int  # results loaded with a warning (e.g. replicate CV over the limit)
    message: str

    @property
    def needs_attention(self) -> bool:
        """Something a person must act on: a quarantined file, held or unresolved results, rejected rows.
        Results merely flagged (loaded, with a warning) are counted but do not make a file need attention."""
        return self.status == "quarantined" or bool(self.held or self.unresolved or self.rejected_rows)


@dataclass
class IngestSummary:
    run_id: str
    inbox: str
    files_seen: int = 0
    files_known: int = 0
    duplicates: list[tuple[str, str]] = field(default_factory=list)
    files: list[FileLine] = field(default_factory=list)
    companions_waiting: list[str] = field(default_factory=list)
    waiting: list[str] = field(default_factory=list)  # hidden / partial (.part, .tmp, ~$) files left alone
    refused: list[str] = field(default_factory=list)  # one message per symbolic link not followed
    published: bool = False
    seconds: float = 0.0
    warehouse_counts: dict[str, int] = field(default_factory=dict)

    @property
    def files_new(self) -> int:
        return len(self.files)

    def count(self, status: str) -> int:
        return sum(1 for f in self.files if f.status == status)

    @property
    def results_accepted(self) -> int:
        return sum(f.accepted for f in self.files)

    @property
    def results_held(self) -> int:
        return sum(f.held for f in self.files)

    @property
    def results_flagged(self) -> int:
        return sum(f.flagged for f in self.files)

    @property
    def attention(self) -> list[FileLine]:
        return [f for f in self.files if f.needs_attention]

    @property
    def results_unresolved(self) -> int:
        return sum(f.unresolved for f in self.files)

    def as_dict(self) -> dict[str, object]:
        return {
            "run_id": self.run_id,
            "files_seen": self.files_seen,
            "files_known": self.files_known,
            "files_new": self.files_new,
            "files_loaded": self.count("loaded") + self.count("loaded_with_issues"),
            "files_quarantined": self.count("quarantined"),
            "results_accepted": self.results_accepted,
            "results_held": self.results_held,
            "results_unresolved": self.results_unresolved,
            "results_flagged": self.results_flagged,
            "duplicates": len(self.duplicates),
            "published": self.published,
            "seconds": round(self.seconds, 2),
            "warehouse": self.warehouse_counts,
        }


def file_line(o: FileOutcome) -> FileLine:
    def n(status: str) -> int:
        if o.results is None or o.results.height == 0:
            return 0
        return int(o.results.filter(pl.col("status") == status).height)

    rejected = flagged = 0
    if o.quarantine is not None and o.quarantine.height:
        rejected = int(o.quarantine.filter(pl.col("severity") == "reject").height)
        flagged = int(o.quarantine.filter(pl.col("severity") == "warning").height)
    return FileLine(
        name=o.source_file,
        sha256=o.source_sha256,
        format=o.format,
        status=o.status,
        plates=len(o.plates),
        accepted=n("loaded"),
        held=n("held") + n("run_rejected"),
        unresolved=n("unresolved"),
        rejected_rows=rejected,
        flagged=flagged,
        message=o.message,
    )


def markdown(s: IngestSummary) -> str:
    """The run's artifact: counts first, then every file that needs a person's attention."""
    lines = [
        f"# Ingestion run `{s.run_id}`",
        "",
        f"Inbox `{s.inbox}` · {s.files_seen} files seen · {s.files_known} already loaded · "
        f"{s.files_new} new · {s.seconds:.1f} s",
        "",
        "| | count |",
        "|---|---:|",
        f"| files loaded | {s.count('loaded') + s.count('loaded_with_issues')} |",
        f"| files with issues | {s.count('loaded_with_issues')} |",
        f"| files quarantined | {s.count('quarantined')} |",
        f"| results accepted | {s.results_accepted} |",
        f"| results held for review | {s.results_held} |",
        f"| results with unresolved sample IDs | {s.results_unresolved} |",
        f"| results loaded with a warning (e.g. replicate CV) | {s.results_flagged} |",
        f"| duplicate files (same bytes) | {len(s.duplicates)} |",
    ]
    attention = s.attention
    if attention:
        lines += ["", "## Files that need attention", "", "| file | status | message |", "|---|---|---|"]
        lines += [f"| {f.name} | {f.status} | {f.message.replace('|', '/')} |" for f in attention]
    if s.companions_waiting:
        lines += ["", "Plate maps waiting for their export: " + ", ".join(s.companions_waiting)]
    if s.waiting:
        lines += ["", "Waiting (hidden or still being copied, not read): " + ", ".join(s.waiting)]
    lines += [f"\nRefused: {m}" for m in s.refused]
    return "\n".join(lines) + "\n"
