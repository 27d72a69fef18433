"""Terminal presentation: a progress bar over files and the end-of-run summary table."""

from __future__ import annotations

import re
from pathlib import Path
from types import TracebackType

from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.text import Text

from pipeline.report import PLATEMAP_ALONE, IngestSummary, one_line

OUTCOME_MARK = {
    "quarantined": ("✗", "red"),
    "attention": ("!", "yellow"),
    "warnings": ("~", "dim"),
    "clean": ("✓", "green"),
}
_PLATE_PREFIX = re.compile(r"^Plate [^:]{1,80}: ")  # the file name already says which plate


class FileProgress:
    """Progress over files on a terminal; silent elsewhere (CI logs, pipes)."""

    def __init__(self, console: Console) -> None:
        self.console = console
        self.progress: Progress | None = None
        self.task_id: object = None

    def __enter__(self) -> FileProgress:
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        if self.progress is not None:
            self.progress.stop()

    def start(self, total: int) -> None:
        if not self.console.is_terminal or total == 0:
            return
        self.progress = Progress(
            TextColumn("[bold]ingesting"),
            BarColumn(),
            MofNCompleteColumn(),
            TimeElapsedColumn(),
            TextColumn("{task.description}"),
            console=self.console,
            transient=True,
        )
        self.progress.start()
        self.task_id = self.progress.add_task("", total=total)

    def advance(self, name: str, status: str) -> None:
        if self.progress is not None:
            self.progress.update(self.task_id, advance=1, description=name)  # type: ignore[arg-type]


def counts_text(accepted: int, held: int, failed_runs: int, unresolved: int, refused: int) -> str:
    """A file's results in a few words: "259 accepted, 37 in a failed run"."""
    parts = [f"{accepted:,} accepted"]
    parts += [f"{held:,} held"] if held else []
    parts += [f"{failed_runs:,} in failed runs"] if failed_runs else []
    parts += [f"{unresolved:,} sample ID not found"] if unresolved else []
    parts += [f"{refused:,} refused"] if refused else []
    return ", ".join(parts)


def attention_line(name: str, outcome: str, message: str, width: int, counts: str = "") -> Text:
    """One file on one line: mark, name, its counts (else the reason), cut to the width; the full reason is
    in the ``files`` and ``quarantine`` views and `biomarkers attention --full`."""
    reason = counts or _PLATE_PREFIX.sub("", one_line(message, 400))
    mark, style = OUTCOME_MARK.get(outcome, ("?", "white"))
    head = f"{name}  "
    room = max(width - len(head) - 2, 10)
    line = Text()
    line.append(mark + " ", style=style)
    line.append(head)
    line.append(reason if len(reason) <= room else reason[: room - 1] + "…", style="dim")
    return line


def _short(path: str) -> str:
    try:
        return str(Path(path).resolve().relative_to(Path.cwd().resolve()))
    except ValueError:
        return path


def print_summary(
    console: Console, s: IngestSummary, *, max_files: int = 15, waited_s: float | None = None
) -> None:
    """Counts that add up (every file seen is an export or a plate map; every result is accepted, held,
    in a failed run or waiting for its sample ID), then at most ``max_files`` lines of files that need
    attention, one line each, and the command that lists the rest."""
    o = s.outcomes()
    console.print(f"[bold]Ingestion summary[/] ({_short(s.inbox)})", highlight=False, soft_wrap=True)
    other = s.files_seen - s.files_new - s.companions - s.files_known - len(s.duplicates) - len(s.copying)
    seen = (
        f"  {s.files_seen:,} files seen: {s.files_new:,} new plate exports, {s.companions:,} plate maps, "
        f"{s.files_known:,} already loaded"
    )
    if s.duplicates:
        seen += f", {len(s.duplicates):,} duplicates"
    if s.copying:
        seen += f", {len(s.copying):,} still being copied in"
    if other > 0:
        seen += f", {other:,} other"
    console.print(seen, highlight=False)
    if s.files_new:
        console.print(
            f"  new exports: [green]{o['clean']:,} clean[/], {o['warnings']:,} with warnings only, "
            f"[yellow]{o['attention']:,} need attention[/], [red]{o['quarantined']:,} quarantined[/]",
            highlight=False,
        )
        held = s.results_held - s.results_run_rejected
        console.print(
            f"  results: {s.results_total:,} = [green]{s.results_accepted:,} accepted[/] "
            f"({s.results_flagged:,} with a warning)",
            highlight=False,
        )
        console.print(
            f"    + {s.results_run_rejected:,} in failed runs + {held:,} held for review "
            f"+ {s.results_unresolved:,} sample ID not found",
            highlight=False,
        )
    took = f"  time: {s.seconds:.1f} s"
    if waited_s is not None:
        took = (
            f"  time: {waited_s:.1f} s in all; the flow itself {s.seconds:.1f} s (the rest: starting Prefect)"
        )
    console.print(took, highlight=False)
    attention = s.attention
    if attention:
        console.print(
            f"[bold]Needs attention[/] ({len(attention)} file{'s' * (len(attention) != 1)}; "
            "full reasons: `biomarkers attention`)",
            highlight=False,
        )
        for f in attention[:max_files]:
            counts = (
                ""
                if f.status == "quarantined"
                else counts_text(
                    f.accepted, f.held - f.run_rejected, f.run_rejected, f.unresolved, f.rejected_rows
                )
            )
            console.print(
                attention_line(f.name, f.outcome, f.message, console.width, counts), soft_wrap=False
            )
        if len(attention) > max_files:
            console.print(
                f"  … and {len(attention) - max_files} more: `biomarkers attention`", highlight=False
            )
    if s.companions_waiting:
        names = ", ".join(s.companions_waiting[:5]) + (" …" if len(s.companions_waiting) > 5 else "")
        console.print(
            f"Plate maps waiting for their export ({len(s.companions_waiting)}): {names}. {PLATEMAP_ALONE}",
            highlight=False,
        )
    if s.waiting:
        names = ", ".join(s.waiting[:5]) + (" …" if len(s.waiting) > 5 else "")
        console.print(
            f"Waiting (hidden or still being copied, not read; {len(s.waiting)}): {names}", highlight=False
        )
    if s.copying:
        console.print(f"Still being copied in — will be read next run ({len(s.copying)}):", highlight=False)
        for m in s.copying[:5]:
            console.print(f"  {m}", highlight=False)
        if len(s.copying) > 5:
            console.print(f"  … and {len(s.copying) - 5} more", highlight=False)
    for m in s.refused:
        console.print(f"Refused: {m}", highlight=False)
