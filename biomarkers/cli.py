"""`biomarkers`: the command line face of the pipeline (generate, ingest, inspect, query, status, demo).

Heavy imports (Prefect, the flow) happen inside the commands, after the environment is set, so that
`biomarkers query` starts fast and Prefect sees a project-local home and no telemetry.
"""

from __future__ import annotations

import os
import sys
import time
from enum import StrEnum
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.table import Table

from biomarkers import commands_data, commands_integrity, commands_ops, commands_review, commands_service
from biomarkers.commands_export import export_app
from biomarkers.terminal import err, fail, out
from schemas import settings

STARTED = time.perf_counter()  # a command's "time" includes what the person waited for, imports too


class _App(typer.Typer):
    """The command line: an infrastructure fault in any command (full disk, read-only or damaged
    warehouse, unreachable Prefect server) ends in one paragraph and exit code 1, never a traceback
    (biomarkers/faults.py); anything else is a defect and keeps its traceback."""

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        try:
            return super().__call__(*args, **kwargs)
        except Exception as exc:
            from biomarkers.faults import explain

            message = explain(exc)
            if message is None:
                raise
            err.print(f"[red]error:[/] {message}", highlight=False, soft_wrap=True)
            raise SystemExit(1) from None


app = _App(
    help="BCT-002-US biomarker assay ingestion: plate exports in, validated, blinded pg/mL results out.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)
app.add_typer(export_app, name="export")


class Fmt(StrEnum):
    table = "table"
    csv = "csv"
    json = "json"
    parquet = "parquet"


def safe_csv(df: Any) -> str:
    """CSV text with formula-like cells escaped (warehouse/csv_safe.py; imported late: polars is slow)."""
    from warehouse.csv_safe import write_csv

    return write_csv(df)


WarehouseOpt = Annotated[
    Path | None,
    typer.Option("--warehouse", help="Warehouse folder [env BIOMARKERS_WAREHOUSE; default data/warehouse]"),
]


@app.command()
def generate(
    out_dir: Annotated[Path, typer.Option("--out", help="Folder to write the study into")],
    seed: Annotated[int, typer.Option(help="Random seed; different seeds give disjoint IDs")] = 1,
    participants: Annotated[int, typer.Option(help="Randomised participants")] = 196,
    reassay: Annotated[
        str | None,
        typer.Option(
            "--reassay",
            help="Instead of a study: write a re-assay of this plate of the (seed, participants) study "
            "into --out (a new run, <PLATE>-RA, a week later)",
        ),
    ] = None,
) -> None:
    """Write a synthetic study: inbox/ (plate exports), manifest.csv, allocation.csv (sealed)."""
    from synth.generator import generate_study, reassay_plate

    if reassay:
        try:
            files = reassay_plate(out_dir, reassay, seed=seed, participants=participants)
        except ValueError as exc:
            raise fail(str(exc)) from None
        out.print(f"wrote a re-assay of {reassay}: {', '.join(str(f) for f in files)}", highlight=False)
        return
    s = generate_study(out_dir, seed=seed, participants=participants)
    out.print(
        f"wrote {s.files} files ({s.plates} plates) for {s.participants} participants / {s.samples} samples "
        f"to {out_dir} ({s.defects} seeded defects listed in defects.json)"
    )


def run_ingest(
    inbox: Path,
    manifest: Path,
    warehouse: Path,
    *,
    trigger: str,
    quiet: bool = False,
    lab: str | None = None,
    assay: str | None = None,
    attention_lines: int = 15,
    started: float | None = None,
) -> Any:
    """Run the ingestion flow once with a progress bar on a terminal; returns the IngestSummary. The time
    printed is what the person waited (from ``started``, default now: Prefect's server start included),
    beside the flow's own."""
    started = time.perf_counter() if started is None else started
    _check_warehouse(warehouse, rebuilding=trigger == "rebuild")
    if not inbox.is_dir():
        raise fail(f"the inbox {inbox} is not a folder: pass --inbox FOLDER (or set BIOMARKERS_INBOX)")
    if not manifest.exists() or (manifest.is_dir() and not any(manifest.glob("*.csv"))):
        raise fail(
            f"no sample manifest at {manifest}: put the biorepository's manifest CSV file(s) there, or "
            "pass --manifest FILE_OR_FOLDER (or set BIOMARKERS_MANIFEST); the demo's is "
            "data/demo/study/manifest.csv"
        )
    settings.configure_environment()
    from biomarkers.faults import explain, prefect_unreachable, quiet_prefect_failures
    from pipeline.manifest import ManifestError, load_manifest
    from schemas.config import ConfigError, load_config

    try:  # a bad manifest or configuration is a data problem: its message, before any Prefect machinery
        load_manifest(manifest, load_config())
    except (ManifestError, ConfigError) as exc:
        raise fail(str(exc)) from None
    unreachable = prefect_unreachable()
    if unreachable:
        raise fail(unreachable)
    from biomarkers.console import FileProgress, print_summary
    from flows.ingest import ingest_flow
    from pipeline import progress
    from pipeline.lifecycle import Terminated, run_lifecycle
    from warehouse.store import WarehouseBusyError

    quiet_prefect_failures()
    with run_lifecycle(), FileProgress(err) as bar:
        progress.set_sink(bar)
        try:
            summary = ingest_flow(
                inbox=str(inbox),
                manifest=str(manifest),
                warehouse=str(warehouse),
                trigger=trigger,
                lab=lab,
                assay=assay,
            )
        except (ManifestError, ConfigError, WarehouseBusyError) as exc:
            raise fail(str(exc)) from None
        except Terminated as exc:
            raise fail(
                "the run was stopped (SIGTERM); nothing of the file being loaded was kept: run "
                "`biomarkers ingest` again to finish",
                code=143,
            ) from exc
        except RuntimeError as exc:
            if "ephemeral Prefect API server" not in str(exc):
                message = explain(exc)
                if message is None:
                    raise
                raise fail(message) from None
            limit = os.environ.get("PREFECT_SERVER_EPHEMERAL_STARTUP_TIMEOUT_SECONDS", "?")
            raise fail(
                f"Prefect's temporary server did not start within {limit} s (a busy machine?); nothing was "
                "loaded. Run the command again, raise PREFECT_SERVER_EPHEMERAL_STARTUP_TIMEOUT_SECONDS, or "
                "start a server once with `biomarkers up` and export PREFECT_API_URL."
            ) from None
        except Exception as exc:  # an infrastructure fault is one paragraph; a defect keeps its traceback
            message = explain(exc)
            if message is None:
                raise
            raise fail(message) from None
        finally:
            progress.set_sink(None)
    if not quiet:
        print_summary(out, summary, max_files=attention_lines, waited_s=time.perf_counter() - started)
    return summary


def _check_warehouse(warehouse: Path, *, rebuilding: bool = False) -> None:
    """Before a run: a warehouse whose folder's parent is missing is not created (an unmounted share would
    fill the local disk instead), and one whose database is missing while raw/ holds files is rebuilt, not
    silently started afresh (docs/integrity-faults.md)."""
    from warehouse.health import WarehouseDamaged, check_opens, missing_message
    from warehouse.paths import WarehousePaths

    root = warehouse.expanduser().resolve()
    if not root.exists() and not root.parent.is_dir():
        raise fail(
            f"the warehouse folder {root} does not exist, and neither does the folder it would be made in "
            f"({root.parent}). Nothing was loaded. If the warehouse lives on a network share or another "
            "disk, check that it is mounted; otherwise pass --warehouse (or set BIOMARKERS_WAREHOUSE) with "
            "the right folder, then run the command again."
        )
    paths = WarehousePaths.at(root)
    try:
        check_opens(paths)
    except WarehouseDamaged as exc:
        raise fail(str(exc)) from None
    if root.is_dir():  # a read-only or foreign warehouse: said before Prefect starts, not after
        import tempfile

        from biomarkers.faults import explain

        try:
            tempfile.TemporaryFile(dir=root).close()
        except OSError as exc:
            raise fail(explain(exc) or f"cannot write to the warehouse {root}: {exc}") from None
    if rebuilding or paths.ingest_db.exists() or not paths.raw_dir.is_dir():
        return
    if any(p.is_file() for p in paths.raw_dir.rglob("*")):
        raise fail(missing_message(paths))


AssayOpt = Annotated[
    str | None,
    typer.Option(
        "--assay",
        help="The assay (assay_id in assays.yaml) of exports that do not name their analyte "
        "(plate readers); files that name theirs keep it",
    ),
]


def _checked_assay(assay: str | None) -> str | None:
    """`--assay` must be a configured assay_id: a typo fails here, not as a held plate later."""
    if assay is None:
        return None
    from schemas.config import load_config

    ids = [a.assay_id for a in load_config().assays.assays]
    if assay not in ids:
        raise fail(f"--assay {assay!r} is not an assay in assays.yaml (one of: {', '.join(ids)})")
    return assay


@app.command()
def ingest(
    inbox: Annotated[
        Path | None,
        typer.Option(help="Folder of plate exports [env BIOMARKERS_INBOX; default data/inbox]"),
    ] = None,
    manifest: Annotated[
        Path | None,
        typer.Option(
            help="Sample manifest CSV, or a folder of shipment manifests "
            "[env BIOMARKERS_MANIFEST; default data/manifests]"
        ),
    ] = None,
    warehouse: WarehouseOpt = None,
    user: Annotated[
        str | None,
        typer.Option("--user", help="Who the audit trail names [default: BIOMARKERS_USER or your login]"),
    ] = None,
    lab: Annotated[
        str | None,
        typer.Option("--lab", help="The lab that delivered these files: their plates become that lab's"),
    ] = None,
    assay: AssayOpt = None,
) -> None:
    """Run the ingestion flow once over the inbox (files already loaded are skipped by content)."""
    import os

    if user:
        os.environ["BIOMARKERS_USER"] = user
    if inbox is None:
        inbox = settings.default_inbox()
        inbox.mkdir(parents=True, exist_ok=True)  # the default inbox is ours to create (never to empty)
    run_ingest(
        inbox,
        manifest or settings.default_manifest(),
        warehouse or settings.warehouse_dir(),
        trigger="cli",
        lab=lab,
        started=STARTED,
        assay=_checked_assay(assay),
    )


@app.command()
def inspect(
    file: Annotated[Path, typer.Argument(help="A plate export (plate maps are picked up beside it)")],
    csv: Annotated[
        bool, typer.Option("--csv", help="Print only the canonical rows as CSV on stdout")
    ] = False,
    verbose: Annotated[
        bool,
        typer.Option("--verbose", "-v", help="On a refusal, also each format tried and why it declined"),
    ] = False,
    assay: AssayOpt = None,
) -> None:
    """Read one export without touching the warehouse: the detected format and its canonical rows."""
    from pipeline.inspect import inspect_file
    from readers.base import ReaderError

    if not file.is_file():
        raise fail(f"{file} is not a file")
    try:
        result = inspect_file(file, assay=_checked_assay(assay))
    except ReaderError as exc:
        message = str(exc)
        if exc.details and verbose:
            message += "\n\nFormats tried:\n" + exc.details
        elif exc.details:
            message += "\n(each format tried and why it declined: --verbose)"
        raise fail(message) from None
    fmt_line = f"format: {result.format} ({result.label}); plates: {', '.join(result.plates)}"
    if csv:
        sys.stderr.write(fmt_line + "\n")
        sys.stdout.write(safe_csv(result.rows))
        return
    out.print(fmt_line, highlight=False)
    for w in result.warnings:
        out.print(f"[yellow]warning:[/] {w}")
    out.print(result.message, highlight=False)
    if result.format == "platemap":
        _print_frame(result.rows, limit=96)
        return
    brief = [
        "well",
        "sample_id",
        "sample_type",
        "analyte",
        "signal",
        "reported_text",
        "qualifier",
        "value",
        "unit",
        "conc_pg_ml",
        "dilution",
    ]
    _print_frame(result.rows.select(brief), limit=60)


@app.command()
def query(
    sql: Annotated[str, typer.Argument(help="SQL over the analyst views (results, results_wide, …)")],
    format: Annotated[
        Fmt | None,
        typer.Option(
            "--format", help="table (terminal), csv, json or parquet [default: table, or --out's suffix]"
        ),
    ] = None,
    out_file: Annotated[Path | None, typer.Option("--out", help="Write the result to this file")] = None,
    limit: Annotated[int, typer.Option(help="Rows shown in a table (files get every row)")] = 200,
    warehouse: WarehouseOpt = None,
    full: Annotated[
        bool,
        typer.Option("--full", help="Query the full store (post-dose values included; cleared roles only)"),
    ] = False,
) -> None:
    """Run SQL against the analyst store (read-only): the blinded store, or the full one with --full."""
    import duckdb

    from warehouse.analyst import NoAnalystStoreError, connect_analyst
    from warehouse.paths import WarehousePaths

    fmt = format or _format_for(out_file)
    if fmt is Fmt.parquet and out_file is None:
        raise fail("--format parquet writes a file: add --out FILE.parquet")
    if fmt is Fmt.table and out_file is not None:
        raise fail("a table is for the terminal: use --format csv, json or parquet with --out")
    paths = WarehousePaths.at(warehouse or settings.warehouse_dir())
    try:
        con = connect_analyst(paths, full=full)
    except NoAnalystStoreError as exc:
        raise fail(str(exc)) from None
    try:
        rel = con.sql(sql)
        df = None if rel is None else rel.pl()
    except duckdb.Error as exc:
        raise fail(_sql_problem(exc, con)) from None
    finally:
        con.close()
    if df is None:
        err.print("the statement ran and returned no table", highlight=False)
        return
    if out_file is not None:
        out_file.parent.mkdir(parents=True, exist_ok=True)
        if fmt is Fmt.csv:
            out_file.write_text(safe_csv(df), encoding="utf-8")
        elif fmt is Fmt.json:
            df.write_json(out_file)
        else:
            df.write_parquet(out_file)
        err.print(f"wrote {df.height:,} rows × {df.width} columns to {out_file}", highlight=False)
    elif fmt is Fmt.csv:
        sys.stdout.write(safe_csv(df))
    elif fmt is Fmt.json:
        sys.stdout.write(df.write_json() + "\n")
    else:
        _print_query_table(df, limit=limit)


def _format_for(out_file: Path | None) -> Fmt:
    if out_file is None:
        return Fmt.table
    suffix = out_file.suffix.lower().lstrip(".")
    if suffix in (Fmt.csv, Fmt.json, Fmt.parquet):
        return Fmt(suffix)
    raise fail(f"cannot tell the format from {out_file.name}: add --format csv, json or parquet")


def _sql_problem(exc: Exception, con: Any) -> str:
    """DuckDB's own words (they name the line, the column or table, and a likely fix), then what exists."""
    from warehouse.analyst import list_views

    comments = dict(
        con.execute("SELECT view_name, comment FROM duckdb_views() WHERE NOT internal").fetchall()
    )
    lines = [f"the SQL could not run: {str(exc).strip()}", "", "available views:"]
    width = max(60, out.width)
    for v in list_views(con):
        about = (comments.get(v) or "").split(". ")[0]
        line = f"  {v:<18} {about}"
        lines.append(line if len(line) <= width else line[: width - 1] + "…")
    lines.append('columns of a view: biomarkers query "describe results"')
    return "\n".join(lines)


def _print_query_table(df: Any, *, limit: int) -> None:
    from biomarkers.frame_table import render_frame

    r = render_frame(df, width=out.width, limit=limit)
    out.print(r.table)
    notes = [f"{df.height:,} row{'s' * (df.height != 1)} × {df.width} column{'s' * (df.width != 1)}"]
    if r.hidden_rows:
        notes.append(f"first {limit} shown (--limit N)")
    if r.hidden_columns:
        named = ", ".join(r.hidden_columns[:8])
        more = f" and {len(r.hidden_columns) - 8} more" if len(r.hidden_columns) > 8 else ""
        notes.append(f"not shown for width: {named}{more}")
    notes.append("everything: --format csv|json, or --out FILE")
    out.print("; ".join(notes), style="dim", highlight=False, soft_wrap=False)


@app.command()
def status(
    analyst_db_path: Annotated[
        bool,
        typer.Option("--analyst-db-path", help="Print only the blinded analyst store's absolute path"),
    ] = False,
    full_db_path: Annotated[
        bool,
        typer.Option("--full-db-path", help="Print only the full store's absolute path (cleared roles)"),
    ] = False,
    warehouse: WarehouseOpt = None,
) -> None:
    """What the warehouse holds (as published to analysts), after reading the writer store through: a
    damaged or missing database is reported with how to rebuild it (exit code 1)."""
    from warehouse.analyst import NoAnalystStoreError, connect_analyst
    from warehouse.health import WarehouseDamaged, check_store
    from warehouse.paths import WarehousePaths

    paths = WarehousePaths.at(warehouse or settings.warehouse_dir())
    if analyst_db_path or full_db_path:
        if analyst_db_path:
            sys.stdout.write(f"{paths.analyst_db}\n")
        if full_db_path:
            sys.stdout.write(f"{paths.full_db}\n")
        return
    try:
        health = check_store(paths)
    except WarehouseDamaged as exc:
        raise fail(str(exc)) from None
    try:
        con = connect_analyst(paths)
    except NoAnalystStoreError as exc:
        raise fail(str(exc)) from None
    queries = {
        "plate exports received": "select count(*) from files where status <> 'companion'",
        "plate maps received": "select count(*) from files where status = 'companion'",
        "files quarantined": "select count(*) from files where status = 'quarantined'",
        "plates": "select count(*) from plates",
        "wells": "select count(*) from wells",
        "results (current)": "select count(*) from results",
        "results_all (every version)": "select count(*) from results_all",
        "results held for review": "select count(*) from results_all where status = 'held'",
        "results in runs that failed acceptance": "select count(*) from results_all "
        "where status = 'run_rejected'",
        "results waiting for their sample ID": "select count(*) from results_all where status = 'unresolved'",
        "quarantine rows": "select count(*) from quarantine",
        "unresolved sample IDs": "select count(distinct sample_id) from unresolved where still_unresolved",
    }
    t = Table(title=f"Warehouse {paths.root}", show_header=False, title_justify="left")
    t.add_column("what")
    t.add_column("count", justify="right")
    try:
        for label, q in queries.items():
            t.add_row(label, f"{con.execute(q).fetchall()[0][0]:,}")
    finally:
        con.close()
    out.print(t)
    said = {
        "ok": "whole (every table read through)",
        "busy": "being written by a run (not checked now)",
        "empty": "not written yet",
    }
    out.print(f"writer store: {paths.ingest_db} — {said[health]}", highlight=False)
    out.print(f"analyst store (blinded): {paths.analyst_db}")
    out.print(f"full store (cleared roles only): {paths.full_db}")


ATTENTION_SQL = """
with r as (
    select source_file_sha256 as sha,
           count(*) filter (where status = 'loaded') as accepted,
           count(*) filter (where status = 'held') as held,
           count(*) filter (where status = 'run_rejected') as failed_runs,
           count(*) filter (where status = 'unresolved') as unresolved
    from results_all group by all),
q as (select source_sha256 as sha, count(*) filter (where severity = 'reject') as refused
      from quarantine group by all)
select f.source_file, f.status, f.message, coalesce(r.accepted, 0) as accepted, coalesce(r.held, 0) as held,
       coalesce(r.failed_runs, 0) as failed_runs, coalesce(r.unresolved, 0) as unresolved,
       coalesce(q.refused, 0) as refused, f.loaded_at
from files f left join r on r.sha = f.source_sha256 left join q on q.sha = f.source_sha256
where f.status = 'quarantined' or r.held > 0 or r.failed_runs > 0 or r.unresolved > 0 or q.refused > 0
order by f.load_seq desc
"""


@app.command()
def attention(
    full: Annotated[bool, typer.Option("--full", help="Each file's whole reason, not one line")] = False,
    warehouse: WarehouseOpt = None,
) -> None:
    """Every file that needs a person (quarantined, or results held, refused or waiting for their sample
    ID), newest first, one line each: the list the ingestion summary cuts short."""
    from biomarkers.console import attention_line, counts_text
    from warehouse.analyst import NoAnalystStoreError, connect_analyst
    from warehouse.paths import WarehousePaths

    paths = WarehousePaths.at(warehouse or settings.warehouse_dir())
    try:
        con = connect_analyst(paths)
    except NoAnalystStoreError as exc:
        raise fail(str(exc)) from None
    try:
        df = con.sql(ATTENTION_SQL).pl()
    finally:
        con.close()
    if df.height == 0:
        out.print("No file needs attention.", highlight=False)
        return
    out.print(f"{df.height} file{'s' * (df.height != 1)} need attention, newest first:", highlight=False)
    for r in df.iter_rows(named=True):
        outcome = "quarantined" if r["status"] == "quarantined" else "attention"
        if full:
            counts = ", ".join(
                f"{r[k]:,} {k.replace('_', ' ')}"
                for k in ("accepted", "held", "failed_runs", "unresolved", "refused")
                if r[k]
            )
            out.print(f"[bold]{r['source_file']}[/] ({counts or outcome})", highlight=False)
            out.print(f"  {r['message']}", highlight=False)
        else:
            counts = (
                ""
                if outcome == "quarantined"
                else counts_text(r["accepted"], r["held"], r["failed_runs"], r["unresolved"], r["refused"])
            )
            out.print(attention_line(r["source_file"], outcome, r["message"] or "", out.width, counts))
    out.print(
        "Whole reasons: --full. Each refused or held row with its rule: biomarkers query "
        "\"select rule, message, well, sample_id from quarantine where source_file = 'FILE'\"",
        style="dim",
        highlight=False,
    )


@app.command()
def rebuild(
    manifest: Annotated[
        Path | None,
        typer.Option(help="Sample manifest CSV or folder [env BIOMARKERS_MANIFEST; default data/manifests]"),
    ] = None,
    warehouse: WarehouseOpt = None,
) -> None:
    """Rebuild a damaged or lost warehouse database from the raw area: the damaged file is set aside (kept),
    every received file is ingested again under its name, in its original order (docs/integrity-faults.md)."""
    import shutil
    import tempfile

    from warehouse.health import WarehouseDamaged, check_store
    from warehouse.lock import writer_lock
    from warehouse.paths import WarehousePaths
    from warehouse.rebuild import RebuildError, set_aside, stage

    paths = WarehousePaths.at(warehouse or settings.warehouse_dir())
    manifest = manifest or settings.default_manifest()
    if not paths.raw_dir.is_dir():
        raise fail(f"{paths.root} has no raw/ folder: there is nothing to rebuild from")
    try:
        health = check_store(paths)
    except WarehouseDamaged:
        health = "damaged"
    if health == "busy":
        raise fail(f"{paths.ingest_db} is open in a running ingestion: it is not damaged; let the run finish")
    if health == "ok":
        raise fail(
            f"{paths.ingest_db} reads whole: there is nothing to rebuild. (To rebuild anyway, move it "
            "aside yourself first.)"
        )
    staging = Path(tempfile.mkdtemp(prefix=".rebuild-", dir=paths.root))
    try:
        plan = stage(paths, staging)
        with writer_lock(paths.root, run_id="cli:rebuild", timeout_s=60):
            aside = set_aside(paths)
        if aside:
            out.print(f"set the damaged database aside in {aside}", highlight=False)
        total = sum(b.files for b in plan.batches)
        out.print(
            f"re-ingesting {total} files from raw/ in their original order (names from {plan.snapshot.name})",
            highlight=False,
        )
        for b in plan.batches:
            run_ingest(b.folder, manifest, paths.root, trigger="rebuild", lab=b.lab, quiet=True)
    except RebuildError as exc:
        raise fail(str(exc)) from None
    finally:
        shutil.rmtree(staging, ignore_errors=True)  # our own copies; raw/ is untouched
    for name in plan.missing:
        err.print(f"[yellow]not in raw/ (or changed there):[/] {name}: deliver it again", highlight=False)
    if plan.unnamed:
        err.print(
            f"[yellow]{len(plan.unnamed)} file(s) in raw/ are not named in the last snapshot[/] (received "
            "after it, or plate maps never used): deliver them again if they were exports",
            highlight=False,
        )
    if plan.exclusions:
        err.print(
            f"[yellow]{plan.exclusions} exclusion(s) were made by people[/]: they are in the old audit trail "
            f"and {plan.snapshot / 'exclusions.parquet'}; make them again with `biomarkers exclude`",
            highlight=False,
        )
    if plan.signatures:
        err.print(
            f"[yellow]{plan.signatures} run signature(s) were given by reviewers[/]: in the old audit "
            f"trail and {plan.snapshot / 'run_signatures.parquet'}; add the reviewer accounts again "
            "(`biomarkers reviewer add`: passwords are never published) and sign the runs again",
            highlight=False,
        )
    out.print(f"rebuilt {paths.ingest_db}; check it with `biomarkers status` and `biomarkers audit verify`")


@app.command("qc-report")
def qc_report(
    plate: Annotated[str, typer.Option("--plate", help="Plate ID (see the plates view)")],
    out_dir: Annotated[
        Path | None, typer.Option("--out", help="Folder for index.html [default: data/qc/<plate>]")
    ] = None,
    warehouse: WarehouseOpt = None,
    figure_files: Annotated[
        bool,
        typer.Option(
            "--figure-files",
            help="Also write each figure as PNG and SVG under figures/ (matplotlib; ~5 s per analyte)",
        ),
    ] = False,
) -> None:
    """Write a plate's QC report (standard curves, calibrators, QCs, heat map, Levey-Jennings) as one
    self-contained HTML page, its figures drawn in it as SVG (small, opens fast, analytes fold)."""
    from assay.qc_report import write_qc_report
    from schemas.config import load_config
    from warehouse.analyst import NoAnalystStoreError, connect_analyst
    from warehouse.paths import WarehousePaths
    from warehouse.qc_report_data import PlateNotFoundError, build_report_input

    paths = WarehousePaths.at(warehouse or settings.warehouse_dir())
    try:
        con = connect_analyst(paths, full=True)  # lab QC: the plate's every well
    except NoAnalystStoreError as exc:
        raise fail(str(exc)) from None
    try:
        run = build_report_input(con, plate, load_config())
    except PlateNotFoundError as exc:
        raise fail(str(exc)) from None
    finally:
        con.close()
    from warehouse.file_names import safe_name

    # the plate ID comes from a lab's file: never a path as it is (warehouse/file_names.py)
    target = out_dir or settings.data_dir() / "qc" / safe_name(plate)
    path = write_qc_report(target, run, image_format="inline", figure_files=figure_files)
    out.print(f"QC report for {plate} ({run.verdict}): {path}", highlight=False)


DEMO_QUERY = """
select visit, count(*) as n,
  count(*) filter (where qualifier = '<') as below_lloq,
  median(conc_pg_ml) filter (where qualifier = '=') as median_pg_ml
from results
where analyte = 'VEGF-A' and matrix = 'CSF' and assay_id = 'LX-NTF'
group by visit, visitnum order by visitnum
"""


@app.command()
def demo(
    participants: Annotated[int, typer.Option(help="Randomised participants")] = 196,
    seed: Annotated[int, typer.Option(help="Random seed")] = 1,
) -> None:
    """What `make demo` runs: generate a synthetic study into data/demo/, ingest it into data/demo/warehouse,
    summarise, query. It deletes only what it wrote itself (and refuses if anything else is there)."""
    from biomarkers.demo_area import DemoArea, DemoFolderError
    from synth.generator import generate_study

    area = DemoArea(settings.demo_dir())
    try:
        area.clear()
    except DemoFolderError as exc:
        raise fail(str(exc)) from None
    out.rule("[bold]1. generate a synthetic study")
    area.root.mkdir(parents=True, exist_ok=True)
    s = generate_study(area.study, seed=seed, participants=participants)
    area.record()
    out.print(
        f"{s.participants} participants, {s.samples:,} samples, {s.plates} plates in {s.files} files "
        f"→ {_short(area.inbox)} ({s.defects} seeded defects, answer key in defects.json)",
        highlight=False,
    )
    out.rule("[bold]2. run the ingestion flow")
    run_ingest(area.inbox, area.manifest, area.warehouse, trigger="demo", attention_lines=10)
    out.rule("[bold]3. a sample query (what an analyst sees)")
    out.print(DEMO_QUERY.strip(), style="dim", highlight=False)
    query(DEMO_QUERY, format=Fmt.table, out_file=None, limit=200, warehouse=area.warehouse, full=False)
    out.print(
        f"\nNext: export BIOMARKERS_WAREHOUSE={_short(area.warehouse)}, then `biomarkers status`, "
        '`biomarkers attention`, `biomarkers query "describe results"`. Your own exports go in '
        f"{_short(settings.default_inbox())}/ (`biomarkers ingest`); the demo never touches it.",
        highlight=False,
    )


def _short(path: Path) -> str:
    """A path relative to the working directory when it is under it (shorter lines), else absolute."""
    try:
        return str(path.resolve().relative_to(Path.cwd().resolve()))
    except ValueError:
        return str(path)


def _print_frame(df: Any, *, limit: int = 40) -> None:
    """Rows of `inspect` at the terminal's width: never a word split inside a cell (long cells end in "…";
    columns that do not fit are named underneath)."""
    from biomarkers.frame_table import render_frame

    r = render_frame(df, width=out.width, limit=limit)
    out.print(r.table)
    notes = []
    if r.hidden_rows:
        notes.append(f"first {limit} of {df.height:,} rows")
    if r.hidden_columns:
        notes.append("not shown for width: " + ", ".join(r.hidden_columns))
    notes.append("every row and column: --csv")
    out.print("; ".join(notes), style="dim", highlight=False)


# The command modules' commands, in this order after the ones above (the order of `--help`). Each module
# registers itself; none imports this one (issue 17: one direction, no cycle).
commands_integrity.register(app)
commands_service.register(app)  # serve, lab add/revoke/list: the upload service
commands_data.register(app)  # reconcile, worklist, isr: study data, issue 20
commands_ops.register(app)  # up, down, sources, bench: operations, issue 7
commands_review.register(app)  # reviewer add/list, review list/show/sign: issue 21


def main() -> None:  # pragma: no cover - console entry point
    app()


if __name__ == "__main__":  # pragma: no cover
    main()


__all__ = ["app"]
