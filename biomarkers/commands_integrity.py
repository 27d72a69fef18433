"""Warehouse integrity commands: exclusions, the audit trail, data cuts, the unblinded store.

Each change goes through the writer store (one writer at a time; a running ingestion makes these wait
for it to finish, with a plain message) and is published at once so analysts see it on their next
connection.
"""

from __future__ import annotations

import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Console
from rich.table import Table

from schemas import settings

out = Console()
err = Console(stderr=True)

audit_app = typer.Typer(help="The audit trail: show entries, verify the hash chain.", no_args_is_help=True)
snapshot_app = typer.Typer(
    help="Data cuts: frozen, verifiable copies of what analysts see.", no_args_is_help=True
)

WarehouseOpt = Annotated[
    Path | None,
    typer.Option("--warehouse", help="Warehouse folder [env BIOMARKERS_WAREHOUSE; default data/warehouse]"),
]


def safe_csv(df: Any) -> str:
    """CSV text with formula-like cells escaped (warehouse/csv_safe.py; imported late: polars is slow)."""
    from warehouse.csv_safe import write_csv

    return write_csv(df)


def _fail(message: str, code: int = 1) -> typer.Exit:
    err.print(f"[red]error:[/] {message}", highlight=False, soft_wrap=True)
    return typer.Exit(code)


def _paths(warehouse: Path | None):  # type: ignore[no-untyped-def]
    from warehouse.paths import WarehousePaths

    return WarehousePaths.at(warehouse or settings.warehouse_dir())


@contextmanager
def _writer(warehouse: Path | None, actor: str | None = None) -> Iterator[Any]:
    """The writer store, taken in turn like an ingestion: wait for a running load to finish first."""
    from warehouse.lock import WriterLockTimeout, writer_lock
    from warehouse.store import WarehouseBusyError, WriterStore

    paths = _paths(warehouse)

    def waiting(holder: str) -> None:
        err.print(f"waiting for the warehouse: it is being written by {holder}", highlight=False)

    try:
        with (
            writer_lock(
                paths.root, run_id=f"cli:{actor or settings.actor()}", timeout_s=600, on_wait=waiting
            ),
            WriterStore(paths, actor=actor) as store,
        ):
            yield store
    except (WarehouseBusyError, WriterLockTimeout) as exc:
        raise _fail(str(exc)) from None


def exclude(
    reason: Annotated[str, typer.Option("--reason", help="Why (mandatory; kept in the audit trail)")],
    plate: Annotated[
        str | None, typer.Option("--plate", help="Plate ID (a whole run, or with --well/--analyte)")
    ] = None,
    well: Annotated[str | None, typer.Option("--well", help="A well on --plate, e.g. C7")] = None,
    sample: Annotated[
        str | None, typer.Option("--sample", help="A sample ID (on --plate, or on every plate)")
    ] = None,
    analyte: Annotated[
        str | None, typer.Option("--analyte", help="One analyte (of the run, well or sample)")
    ] = None,
    user: Annotated[
        str | None, typer.Option("--user", help="Who excludes [default: BIOMARKERS_USER or your login]")
    ] = None,
    lift: Annotated[
        str | None, typer.Option("--lift", help="Lift this exclusion (e.g. EX-000001) instead of making one")
    ] = None,
    warehouse: WarehouseOpt = None,
) -> None:
    """Exclude a well, a sample, an analyte in a run, or a whole run (or --lift an exclusion)."""
    from schemas.config import load_config
    from warehouse.exclusions import ExclusionError, ExclusionRequest
    from warehouse.exclusions import exclude as do_exclude
    from warehouse.exclusions import lift as do_lift
    from warehouse.publish import publish

    who = user or settings.actor()
    config = load_config()
    with _writer(warehouse, who) as store:
        try:
            if lift:
                res = do_lift(store, lift, reason=reason, user=who, config=config)
                msg = f"lifted {res.exclusion_id}: {res.results_changed} results current again"
            else:
                req = ExclusionRequest(
                    reason=reason, user=who, plate_id=plate, well=well, sample_id=sample, analyte=analyte
                )
                res = do_exclude(store, req, config)
                msg = (
                    f"{res.exclusion_id}: excluded {req.scope} ({req.describe()}): {res.results_matched} "
                    f"results matched, {res.results_changed} no longer current"
                )
        except ExclusionError as exc:
            raise _fail(str(exc)) from None
        publish(store, config=config)
    out.print(msg, highlight=False)


@audit_app.command("verify")
def audit_verify(warehouse: WarehouseOpt = None) -> None:
    """Check the database reads whole and the hash chain: a damaged database, or any edited, deleted or
    reordered entry, is reported (exit code 1)."""
    import duckdb

    from warehouse import review
    from warehouse.audit import verify
    from warehouse.health import WarehouseDamaged, check_store, damaged_message, scan

    paths = _paths(warehouse)
    try:
        check_store(paths)  # damaged or missing: say so before opening it for writing
    except WarehouseDamaged as exc:
        raise _fail(str(exc)) from None
    with _writer(warehouse) as store:
        try:
            scan(store.con)  # again under the lock (the check above skips a store a run holds)
        except duckdb.Error as exc:
            raise _fail(damaged_message(str(paths.ingest_db), str(exc))) from None
        problems = verify(store.con, paths.ingest_db)
        problems += review.verify(store.con)  # every signature still bound to its run (issue 21)
        n = store.con.execute("SELECT count(*) FROM audit_log").fetchall()[0][0]
        n_sig = store.con.execute("SELECT count(*) FROM run_signatures").fetchall()[0][0]
    if problems:
        for p in problems:
            err.print(f"[red]✗[/] {p}", highlight=False)
        raise _fail(
            f"the audit trail of {paths.root} is NOT intact ({len(problems)} problems in {n} entries)"
        )
    out.print(
        f"audit trail intact: {n:,} entries, hash chain and heads log agree; "
        f"{n_sig:,} signatures bound to their runs",
        highlight=False,
        soft_wrap=True,
    )


@audit_app.command("show")
def audit_show(
    sample: Annotated[str | None, typer.Option("--sample")] = None,
    participant: Annotated[str | None, typer.Option("--participant")] = None,
    plate: Annotated[str | None, typer.Option("--plate")] = None,
    file: Annotated[str | None, typer.Option("--file", help="File name or SHA-256 (prefix)")] = None,
    event: Annotated[str | None, typer.Option("--event", help="e.g. superseded, excluded, loaded")] = None,
    limit: Annotated[int, typer.Option("--limit")] = 50,
    csv: Annotated[bool, typer.Option("--csv", help="All matching entries as CSV on stdout")] = False,
    warehouse: WarehouseOpt = None,
) -> None:
    """Audit entries (newest first) about a sample, participant, plate or file."""
    sql = [
        "SELECT seq, logged_at, actor, event, entity, entity_id, plate_id, sample_id, old_value, new_value, "
        "reason FROM audit_log WHERE true"
    ]
    args: list[object] = []
    for col, val in (("sample_id", sample), ("participant_id", participant)):
        if val:
            sql.append(f"AND {col} = ?")
            args.append(val)
    if plate:
        sql.append("AND (plate_id = ? OR list_contains(string_split(plate_id, ', '), ?))")
        args += [plate, plate]
    if file:
        sql.append("AND (source_sha256 LIKE ? OR (entity = 'file' AND entity_id = ?))")
        args += [file.lower() + "%", file]
    if event:
        sql.append("AND event = ?")
        args.append(event)
    sql.append("ORDER BY seq DESC")
    with _writer(warehouse) as store:
        df = store.con.sql(" ".join(sql), params=args).pl()
    if csv:
        sys.stdout.write(safe_csv(df))
        return
    t = Table(title=f"audit trail: {df.height} entries", title_justify="left")
    for c in ("seq", "logged_at", "actor", "event", "entity_id", "old_value", "new_value", "reason"):
        t.add_column(c, overflow="fold")
    for r in df.head(limit).iter_rows(named=True):
        t.add_row(
            str(r["seq"]),
            r["logged_at"].strftime("%Y-%m-%d %H:%M:%S"),
            r["actor"],
            r["event"],
            str(r["entity_id"] or ""),
            str(r["old_value"] or ""),
            str(r["new_value"] or ""),
            str(r["reason"] or ""),
        )
    out.print(t)
    if df.height > limit:
        out.print(f"… {df.height - limit} more (--limit, or --csv for all)")


@snapshot_app.command("create")
def snapshot_create(
    name: Annotated[str, typer.Argument(help="Name of the data cut, e.g. IA1-2026-11-24")],
    reason: Annotated[str, typer.Option("--reason", help="Why this cut (interim analysis, DB lock…)")] = "",
    warehouse: WarehouseOpt = None,
) -> None:
    """Freeze both stores now as a named data cut: a blinded copy in analyst/datacuts/NAME for analysts and
    a full copy in full/datacuts/NAME for cleared roles (Parquet files + a manifest of SHA-256s each)."""
    from schemas.config import ConfigError, load_config
    from warehouse.datacut import DataCutError, create

    with _writer(warehouse) as store:
        try:
            reps = create(store, name, config=load_config(), reason=reason)
        except (DataCutError, ConfigError) as exc:
            raise _fail(str(exc)) from None
    for rep in reps:
        out.print(
            f"data cut {rep.name} ({rep.store}): {rep.files} files at {rep.path} "
            f"(manifest sha256 {rep.manifest_sha256})",
            highlight=False,
        )


@snapshot_app.command("verify")
def snapshot_verify(name: str, warehouse: WarehouseOpt = None) -> None:
    """Prove a data cut unchanged: every copy's files against its manifest, the manifest against the audit
    trail (run by the warehouse's own account: it reads both stores)."""
    from warehouse.datacut import DataCutError, existing, recorded_manifest_sha, verify

    paths = _paths(warehouse)
    try:
        stores = existing(paths, name)
    except DataCutError as exc:
        raise _fail(str(exc)) from None
    if not stores:
        raise _fail(f"no data cut named {name} in {paths.root}")
    with _writer(warehouse) as store:
        recorded = {s: recorded_manifest_sha(store.con, name, s) for s in stores}
    bad = False
    for s in stores:
        check = verify(paths, name, recorded[s], s)
        for p in check.problems:
            err.print(f"[red]✗[/] {s}: {p}", highlight=False)
        bad = bad or not check.ok
        if check.ok:
            out.print(
                f"data cut {name} ({s}) unchanged: {check.files} files match the manifest recorded in the "
                "audit trail",
                highlight=False,
            )
    if bad:
        raise _fail(f"data cut {name} has changed since it was made")


@snapshot_app.command("list")
def snapshot_list(warehouse: WarehouseOpt = None) -> None:
    """The data cuts of this warehouse, one row per copy (blinded, full; legacy: made before the split)."""
    from warehouse.datacut import list_cuts

    t = Table(title_justify="left")
    for c in ("name", "created_at", "created_by", "reason", "change_seq", "store"):
        t.add_column(c)
    for row in list_cuts(_paths(warehouse)):
        t.add_row(*[str(v) for v in row.values()])
    out.print(t)


@snapshot_app.command("query")
def snapshot_query(
    name: str,
    sql: Annotated[str, typer.Argument(help="SQL over the cut's views (results, results_all, …)")],
    full: Annotated[
        bool, typer.Option("--full", help="The full cut (cleared roles only; its folder's group decides)")
    ] = False,
    warehouse: WarehouseOpt = None,
) -> None:
    """SQL against a data cut's own files (CSV on stdout): the blinded cut unless --full."""
    import duckdb

    from schemas.config import load_config
    from warehouse.datacut import DataCutError, open_cut

    try:
        con = open_cut(_paths(warehouse), name, load_config(), full=full)
    except DataCutError as exc:
        raise _fail(str(exc)) from None
    except (duckdb.IOException, PermissionError) as exc:
        raise _fail(
            f"cannot read data cut {name}: {str(exc).splitlines()[0]} (is your account in its group?)"
        ) from None
    try:
        sys.stdout.write(safe_csv(con.sql(sql).pl()))
    except duckdb.Error as exc:
        raise _fail(str(exc).splitlines()[0]) from None
    finally:
        con.close()


def unblind(
    allocation: Annotated[
        Path, typer.Option("--allocation", help="The randomisation list (CSV with participant_id)")
    ],
    out_path: Annotated[Path, typer.Option("--out", help="New DuckDB file, outside the warehouse folder")],
    reason: Annotated[str, typer.Option("--reason", help="Why unblinding is authorised")],
    warehouse: WarehouseOpt = None,
) -> None:
    """For the unblinded statistician only: current results joined to allocation, in a separate store."""
    from schemas.config import load_config
    from warehouse.unblind import UnblindError
    from warehouse.unblind import unblind as do_unblind

    if not allocation.is_file():
        raise _fail(f"{allocation} is not a file")
    with _writer(warehouse) as store:
        try:
            rep = do_unblind(store, allocation, out_path, config=load_config(), reason=reason)
        except UnblindError as exc:
            raise _fail(str(exc)) from None
    out.print(
        f"UNBLINDED store written to {rep.path} ({rep.participants} participants, {rep.results:,} results); "
        "this is recorded in the audit trail. Keep it away from blinded staff.",
        highlight=False,
    )


def register(app: typer.Typer) -> None:
    app.command()(exclude)
    app.command()(unblind)
    app.add_typer(audit_app, name="audit")
    app.add_typer(snapshot_app, name="snapshot")
