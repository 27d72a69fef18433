"""Operations commands: `biomarkers up` / `down` (the local Prefect stack), `sources` (what the nightly run
pulls from) and `bench` (measured speed). Added to the main app by :func:`register` (biomarkers/cli.py)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from biomarkers.terminal import err, fail, out
from schemas import settings

ops_app = typer.Typer(add_completion=False)

HomeOpt = Annotated[
    Path | None,
    typer.Option("--home", help="Prefect home of the stack (server DB, logs) [default: data/prefect-server]"),
]


def stack_home(home: Path | None) -> Path:
    return (home or settings.data_dir() / "prefect-server").expanduser().resolve()


@ops_app.command()
def up(
    port: Annotated[int, typer.Option(help="Server port on 127.0.0.1")] = 4200,
    home: HomeOpt = None,
    worker: Annotated[bool, typer.Option(help="Also start a worker for the work pool")] = True,
) -> None:
    """Start a local Prefect server (SQLite, loopback, analytics off), create the work pool and the writer
    concurrency limit, deploy prefect.yaml, and start a worker. Safe to run again."""
    from biomarkers.stack import StackError
    from biomarkers.stack import up as stack_up
    from schemas.config import ConfigError
    from schemas.operations import load_operations

    try:
        ops = load_operations()
        stack = stack_up(stack_home(home), ops, port=port, worker=worker)
    except (StackError, ConfigError) as exc:
        raise fail(str(exc)) from None
    out.print(f"Prefect server: {stack.ui_url} (API {stack.api_url}); home {stack.home}", highlight=False)
    out.print(
        f"deployments: biomarker-ingest/nightly ({ops.schedule.cron}, {ops.schedule.timezone}), "
        "biomarker-ingest/on-upload, biomarker-ingest/full-reingest",
        highlight=False,
    )
    worker_txt = f"pid {stack.worker_pid}" if stack.worker_pid else "not started"
    out.print(f"worker: {worker_txt}; logs (server.log, worker.log) in {stack.home}", highlight=False)
    out.print(f"use it from this shell: export PREFECT_API_URL={stack.api_url}", highlight=False)


@ops_app.command()
def down(home: HomeOpt = None) -> None:
    """Stop the worker and server started by `biomarkers up`."""
    from biomarkers.stack import down as stack_down

    stopped = stack_down(stack_home(home))
    out.print("stopped: " + ", ".join(stopped) if stopped else "nothing was running", highlight=False)


@ops_app.command()
def sources() -> None:
    """List the delivery sources the nightly run pulls from (config/operations.yaml)."""
    from schemas.operations import load_operations

    for s in load_operations().sources:
        where = getattr(s, "path", None) or getattr(s, "host", None) or getattr(s, "bucket", "")
        out.print(f"{s.name}: {s.kind} {where or '(the inbox)'}", highlight=False)


@ops_app.command()
def bench(
    scale: Annotated[
        float, typer.Option("--scale", help="Study size as a multiple of the default (196)")
    ] = 1.0,
    json_out: Annotated[Path | None, typer.Option("--json", help="Write the figures as JSON here")] = None,
    workdir: Annotated[
        Path | None, typer.Option(help="Where to generate and load [default: a temp dir]")
    ] = None,
) -> None:
    """Measure: bare polars→DuckDB vs the full flow on the same files, a no-op re-run, analyst queries,
    peak RSS. K=20 is about a central lab's year (~7,000 files): expect ~30 min on 2 cores."""
    import json

    from biomarkers.bench import run_bench

    r = run_bench(scale, workdir=workdir, log=lambda m: err.print(m, highlight=False))
    out.print(
        f"scale {r.scale:g}: {r.files} files, {r.results} current results; pipeline/bare = "
        f"{r.pipeline_s:.1f} s / {r.bare_s:.2f} s = {r.ratio:.1f}×; no-op {r.noop_s:.2f} s; "
        f"wide pivot {r.pivot_s:.3f} s (ad-hoc PIVOT {r.adhoc_pivot_s:.3f} s); peak RSS "
        f"{r.peak_rss_mb:.0f} MiB per process, {r.peak_rss_tree_mb:.0f} MiB with its {r.workers} workers; "
        f"QC report {r.qc_report_s:.2f} s ({r.qc_plate_analytes} analytes, {r.qc_report_kb:.0f} kB), "
        f"30-plex {r.qc_30plex_s:.2f} s ({r.qc_30plex_cpu_s:.2f} s CPU, {r.qc_30plex_kb:.0f} kB)",
        highlight=False,
    )
    if json_out:
        json_out.write_text(json.dumps(r.as_dict(), indent=2) + "\n", encoding="utf-8")


def register(app: typer.Typer) -> None:
    """Add the operations commands to the main app as top-level commands (`biomarkers up`, not a group)."""
    app.registered_commands += ops_app.registered_commands
