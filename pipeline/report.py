"""The run summary: what a person reads after a night's ingestion or an upload."""

from __future__ import annotations

from dataclasses import dataclass, field

import polars as pl

from pipeline.discover import Discovery
from schemas.outcome import FileOutcome


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
    run_rejected: int = 0  # of ``held``: results of plate runs that failed acceptance
    batch: int = 0  # the run's batch (one transaction, pipeline/batches.py) it was loaded in

    @property
    def needs_attention(self) -> bool:
        """Something a person must act on: a quarantined file, held or unresolved results, rejected rows.
        Results merely flagged (loaded, with a warning) are counted but do not make a file need attention."""
        return self.status == "quarantined" or bool(self.held or self.unresolved or self.rejected_rows)

    @property
    def outcome(self) -> str:
        """One word for the file, in the order a person acts on them: quarantined, attention (loaded, but
        some results held, refused or waiting for their sample ID), warnings (loaded; only warnings such as
        a replicate CV or a Westgard flag), clean."""
        if self.status == "quarantined":
            return "quarantined"
        if self.needs_attention:
            return "attention"
        return "warnings" if self.status == "loaded_with_issues" or self.flagged else "clean"


PLATEMAP_ALONE = (
    "A plate map is read only with the export it describes, found by name in the same folder: "
    "'<export name>_platemap.csv' beside '<export name>.txt'. Copy in that export, or rename the plate map "
    "after it; it is read on the next run."
)
"""What to do about a plate map that arrived without its export (issue 14: the name alone said nothing)."""


@dataclass
class IngestSummary:
    run_id: str
    inbox: str
    files_seen: int = 0
    files_known: int = 0
    companions: int = 0  # new plate maps (and other companion files) seen beside their exports
    duplicates: list[tuple[str, str]] = field(default_factory=list)
    files: list[FileLine] = field(default_factory=list)
    companions_waiting: list[str] = field(default_factory=list)
    waiting: list[str] = field(default_factory=list)  # hidden / partial (.part, .tmp, ~$) files left alone
    refused: list[str] = field(default_factory=list)  # one message per symbolic link not followed
    copying: list[str] = field(default_factory=list)  # changed during the run: left for the next (why)
    published: bool = False
    seconds: float = 0.0
    warehouse_counts: dict[str, int] = field(default_factory=dict)
    batches: int = 0  # load transactions (group commit): one Prefect task each

    @property
    def files_new(self) -> int:
        return len(self.files)

    def add_discovery(self, found: Discovery) -> list[str]:
        """Count what discovery found in one folder (every file seen is counted once: known, new,
        companion, duplicate or still being copied); returns what the run log must warn about (symbolic
        links refused, files changing while the run looked)."""
        self.files_seen += (
            found.known + len(found.new) + len(found.companions) + len(found.duplicates) + len(found.copying)
        )
        self.files_known += found.known
        self.companions += len(found.companions)
        self.duplicates += found.duplicates
        self.waiting += found.skipped
        self.refused += found.refused
        self.copying += found.copying
        return found.refused + found.copying

    def count(self, status: str) -> int:
        return sum(1 for f in self.files if f.status == status)

    def outcomes(self) -> dict[str, int]:
        """New exports by outcome (quarantined, attention, warnings, clean): they add up to files_new."""
        out = dict.fromkeys(("clean", "warnings", "attention", "quarantined"), 0)
        for f in self.files:
            out[f.outcome] += 1
        return out

    @property
    def results_run_rejected(self) -> int:
        return sum(f.run_rejected for f in self.files)

    @property
    def results_total(self) -> int:
        """Accepted + held (incl. failed runs) + unresolved: every sample result the new files gave."""
        return self.results_accepted + self.results_held + self.results_unresolved

    @property
    def needs_attention(self) -> bool:
        """The run's state: a file quarantined, results held or waiting, values refused."""
        return bool(self.attention)

    def state_message(self) -> str:
        """One line with the counts, for the run's state on the Prefect server and the logs."""
        o = self.outcomes()
        parts = [f"{self.files_new} new file{'s' * (self.files_new != 1)}"]
        if o["quarantined"]:
            parts.append(f"{o['quarantined']} quarantined")
        if o["attention"]:
            parts.append(f"{o['attention']} need attention")
        parts.append(f"{self.results_accepted:,} results accepted")
        held = self.results_held - self.results_run_rejected
        if held:
            parts.append(f"{held:,} held for review")
        if self.results_run_rejected:
            parts.append(f"{self.results_run_rejected:,} in runs that failed acceptance")
        if self.results_unresolved:
            parts.append(f"{self.results_unresolved:,} waiting for their sample ID")
        refused = sum(f.rejected_rows for f in self.files if f.status != "quarantined")
        if refused:
            parts.append(f"{refused:,} value{'s' * (refused != 1)} refused")
        return ", ".join(parts)

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
            "files_needing_attention": len(self.attention),
            "companions": self.companions,
            "results_accepted": self.results_accepted,
            "results_held": self.results_held,
            "results_run_rejected": self.results_run_rejected,
            "results_unresolved": self.results_unresolved,
            "results_flagged": self.results_flagged,
            "duplicates": len(self.duplicates),
            "still_copying": len(self.copying),
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
        run_rejected=n("run_rejected"),
    )


def one_line(text: str, limit: int = 160) -> str:
    """A reason as one line for a summary: the first line, cut at ``limit`` characters with "…" (the full
    text stays in the quarantine table and the warehouse's ``quarantine`` and ``files`` views)."""
    first = " ".join((text or "").strip().splitlines()[:1]).strip() if text else ""
    if len(text.strip().splitlines()) > 1 and len(first) < limit:
        first += " …"
    return first if len(first) <= limit else first[: limit - 1].rstrip() + "…"


def state_name(s: IngestSummary) -> str:
    """The run's state name on the Prefect server: Completed either way (the run did its job), but a run
    with something for a person to act on says so instead of a plain green "Completed"."""
    return "Needs attention" if s.needs_attention else "Completed"


OUTCOME_WORDS = {
    "quarantined": "quarantined: nothing loaded",
    "attention": "loaded; some results need attention",
    "warnings": "loaded with warnings",
    "clean": "loaded cleanly",
}


def markdown(s: IngestSummary, run_name: str = "") -> str:
    """The run's summary artifact: counts that add up first, then one line per file needing attention."""
    o = s.outcomes()
    title = f"Ingestion run {run_name}" if run_name else "Ingestion run"
    lines = [
        f"# {title}: {state_name(s).lower()}",
        "",
        f"{s.state_message()}.",
        "",
        f"Inbox `{s.inbox}` · {s.seconds:.1f} s",
        "",
        "| files | count |",
        "|---|---:|",
        f"| seen | {s.files_seen} |",
        f"| new plate exports | {s.files_new} |",
        f"| → loaded cleanly | {o['clean']} |",
        f"| → loaded with warnings only (replicate CV, Westgard flag) | {o['warnings']} |",
        f"| → loaded, some results need attention | {o['attention']} |",
        f"| → quarantined (nothing loaded) | {o['quarantined']} |",
        f"| plate maps and other companion files | {s.companions} |",
        f"| already loaded (same bytes) | {s.files_known} |",
        f"| duplicates in this delivery (same bytes) | {len(s.duplicates)} |",
        f"| still being copied in (read next run) | {len(s.copying)} |",
        "",
        "| results of the new files | count |",
        "|---|---:|",
        f"| accepted | {s.results_accepted} |",
        f"| → of which with a warning (e.g. replicate CV) | {s.results_flagged} |",
        f"| held for review | {s.results_held - s.results_run_rejected} |",
        f"| not reported: plate run failed acceptance | {s.results_run_rejected} |",
        f"| waiting for their sample ID (not in the manifest) | {s.results_unresolved} |",
        f"| **total** | {s.results_total} |",
    ]
    attention = s.attention
    if attention:
        lines += [
            "",
            "## Files that need attention",
            "",
            "One line each; every row with its rule and full message is in the table artifact "
            "`ingest-quarantine` and the warehouse's `quarantine` view.",
            "",
            "| file | outcome | what happened |",
            "|---|---|---|",
        ]
        lines += [
            f"| {f.name} | {OUTCOME_WORDS[f.outcome]} | {one_line(f.message).replace('|', '/')} |"
            for f in attention
        ]
    if s.companions_waiting:
        lines += [
            "",
            "Plate maps waiting for their export: " + ", ".join(s.companions_waiting),
            PLATEMAP_ALONE,
        ]
    if s.waiting:
        lines += ["", "Waiting (hidden or still being copied, not read): " + ", ".join(s.waiting)]
    if s.copying:
        lines += ["", "Still being copied in — will be read next run:", ""]
        lines += [f"- {m}" for m in s.copying]
    lines += [f"\nRefused: {m}" for m in s.refused]
    return "\n".join(lines) + "\n"
