"""Terminal presentation: a progress bar over files and the end-of-run summary table."""

from __future__ import annotations

from types import TracebackType

from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

from pipeline.report import IngestSummary

STATUS_STYLE = {"loaded": "green", "loaded_with_issues": "yellow", "quarantined": "red"}


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


def print_summary(console: Console, s: IngestSummary, *, max_files: int = 15) -> None:
    t = Table(title="Ingestion summary", show_header=False, title_justify="left")
    t.add_column("what")
    t.add_column("count", justify="right")
    loaded = s.count("loaded") + s.count("loaded_with_issues")
    t.add_row("files seen in the inbox", str(s.files_seen))
    t.add_row("already in the warehouse (unchanged)", str(s.files_known))
    t.add_row("new files loaded", f"[green]{loaded}[/]")
    t.add_row("  of which with issues", f"[yellow]{s.count('loaded_with_issues')}[/]")
    t.add_row("new files quarantined", f"[red]{s.count('quarantined')}[/]")
    t.add_row("duplicate files (same bytes)", str(len(s.duplicates)))
    t.add_row("results accepted", str(s.results_accepted))
    t.add_row("results held for review", str(s.results_held))
    t.add_row("results with unresolved sample IDs", str(s.results_unresolved))
    t.add_row("results loaded with a warning (replicate CV…)", str(s.results_flagged))
    t.add_row("time", f"{s.seconds:.1f} s")
    console.print(t)
    attention = s.attention
    if attention:
        a = Table(title="Files that need attention", title_justify="left")
        a.add_column("file", overflow="fold")
        a.add_column("status")
        a.add_column("what happened", overflow="fold")
        for f in attention[:max_files]:
            a.add_row(f.name, f"[{STATUS_STYLE.get(f.status, 'white')}]{f.status}[/]", f.message)
        console.print(a)
        if len(attention) > max_files:
            console.print(
                f"… and {len(attention) - max_files} more: `biomarkers query "
                "\"select source_file, status, message from files where status <> 'loaded'\"`"
            )
    if s.companions_waiting:
        console.print("Plate maps waiting for their export: " + ", ".join(s.companions_waiting))
    if s.waiting:
        console.print("Waiting (hidden or still being copied, not read): " + ", ".join(s.waiting))
    for m in s.refused:
        console.print(f"Refused: {m}", highlight=False)
