"""Review and release commands (issue 21): reviewer accounts and electronic signatures on runs.

`biomarkers reviewer add|list|deactivate` manages the accounts (separate from the labs' upload tokens);
`biomarkers review list|show|sign` lists runs with their review state, shows one run's QC summary and
signatures, and signs it after asking for the reviewer's password again (re-authentication at every
signing, 21 CFR 11.200). A signature goes through the writer store (waiting for a running ingestion) and is
published at once, so analysts see the release on their next connection.
"""

from __future__ import annotations

from typing import Annotated, Any

import typer
from rich.table import Table

from biomarkers.commands_integrity import WarehouseOpt, _writer
from biomarkers.terminal import err, fail, out
from schemas import settings

reviewer_app = typer.Typer(
    help="Reviewer accounts (people who sign runs; not lab upload tokens): add, list, deactivate.",
    no_args_is_help=True,
)
review_app = typer.Typer(
    help="Review and release runs with electronic signatures: list, show, sign.", no_args_is_help=True
)

PasswordOpt = Annotated[
    str,
    typer.Option(
        "--password",
        prompt=True,
        hide_input=True,
        help="The reviewer's password (asked for when not given; read from stdin when it is not a terminal)",
    ),
]


@reviewer_app.command("add")
def reviewer_add(
    account: Annotated[str, typer.Argument(help="Account name, one word (e.g. jsmith)")],
    name: Annotated[str, typer.Option("--name", help="Full name, printed with every signature")],
    password: Annotated[
        str,
        typer.Option(
            "--password",
            prompt=True,
            hide_input=True,
            confirmation_prompt=True,
            help="The password (asked for twice when not given); kept only as a salted scrypt hash",
        ),
    ],
    lab: Annotated[
        str | None, typer.Option("--lab", help="The lab the reviewer works for (two-person rule)")
    ] = None,
    reset: Annotated[bool, typer.Option("--reset", help="Give an existing account a new password")] = False,
    warehouse: WarehouseOpt = None,
) -> None:
    """Add a reviewer account (or --reset its password)."""
    from warehouse.reviewers import ReviewerError, add

    with _writer(warehouse) as store:
        try:
            r = add(store, account, password, full_name=name, lab=lab, by=settings.actor(), reset=reset)
        except ReviewerError as exc:
            raise fail(str(exc)) from None
    out.print(
        f"reviewer {r.name} ({r.full_name}, lab {r.lab or 'none'}) {'reset' if reset else 'added'}; "
        "the password is asked again at every signature",
        highlight=False,
    )


@reviewer_app.command("list")
def reviewer_list(warehouse: WarehouseOpt = None) -> None:
    """Reviewer accounts: name, full name, lab, active."""
    from warehouse.reviewers import list_reviewers

    with _writer(warehouse) as store:
        rows = list_reviewers(store.con)
    t = Table(show_header=True)
    for c in ("account", "full name", "lab", "active", "version"):
        t.add_column(c)
    for r in rows:
        t.add_row(r.name, r.full_name, r.lab or "", "yes" if r.active else "no", str(r.version))
    out.print(t)


@reviewer_app.command("deactivate")
def reviewer_deactivate(
    account: Annotated[str, typer.Argument(help="Account name")],
    reason: Annotated[str, typer.Option("--reason", help="Why (kept in the audit trail)")],
    warehouse: WarehouseOpt = None,
) -> None:
    """Take an account out of use; its signatures stay valid."""
    from warehouse.reviewers import ReviewerError, deactivate

    with _writer(warehouse) as store:
        try:
            deactivate(store, account, by=settings.actor(), reason=reason)
        except ReviewerError as exc:
            raise fail(str(exc)) from None
    out.print(f"reviewer {account} deactivated", highlight=False)


@review_app.command("list")
def review_list(
    state: Annotated[
        str | None,
        typer.Option("--state", help="Only runs in this state: pending_review, reviewed, approved, rejected"),
    ] = None,
    plate: Annotated[str | None, typer.Option("--plate", help="Only the runs of this plate")] = None,
    warehouse: WarehouseOpt = None,
) -> None:
    """Runs (file × plate × analyte) with their review state and last signature."""
    from warehouse.review import run_states

    where = []
    params: list[Any] = []
    if state:
        where.append("review_state = ?")
        params.append(state)
    if plate:
        where.append("plate_id = ?")
        params.append(plate)
    with _writer(warehouse) as store:
        rel = run_states(store.con)
        sql = "SELECT * FROM rel" + (" WHERE " + " AND ".join(where) if where else "")
        rows = store.con.execute(sql, params).fetchall() if where else rel.fetchall()
        cols = rel.columns
    t = Table(show_header=True)
    for c in ("plate", "analyte", "file", "lab", "results", "state", "signed by", "at (UTC)"):
        t.add_column(c)
    for r in rows:
        d = dict(zip(cols, r, strict=True))
        at = d["reviewed_at"]
        t.add_row(
            d["plate_id"],
            d["analyte"],
            f"{d['source_file']} ({d['source_sha256'][:12]})",
            d["uploaded_by_lab"] or "",
            str(d["n_results"]),
            d["review_state"],
            d["reviewed_by_name"] or "",
            f"{at:%Y-%m-%d %H:%M:%S}" if at else "",
        )
    out.print(t)
    err.print(f"{len(rows)} runs", highlight=False)


@review_app.command("show")
def review_show(
    plate: Annotated[str, typer.Argument(help="Plate ID")],
    analyte: Annotated[str | None, typer.Option("--analyte", help="One analyte of the plate")] = None,
    file: Annotated[
        str | None,
        typer.Option("--file", help="The file's SHA-256 (a prefix will do) when the plate has several"),
    ] = None,
    warehouse: WarehouseOpt = None,
) -> None:
    """A run's state, acceptance verdicts and every signature on it."""
    from warehouse.review import find_runs

    with _writer(warehouse) as store:
        runs = find_runs(store.con, plate, analyte, file)
        if not runs:
            raise fail(
                f"no run of plate {plate!r}{f' / {analyte}' if analyte else ''}: see `biomarkers review list`"
            )
        for run in runs:
            _show_run(store.con, run)


def _show_run(con: Any, run: Any) -> None:
    from warehouse.currency import REOPENED_SQL
    from warehouse.review import run_states

    rel = run_states(con)
    rows = [dict(zip(rel.columns, r, strict=True)) for r in rel.fetchall()]
    row = next(
        r
        for r in rows
        if (r["source_sha256"], r["plate_id"], r["analyte"]) == (run.source_sha256, run.plate_id, run.analyte)
    )
    out.print(
        f"[bold]{run.plate_id} / {run.analyte}[/] — {row['review_state']}  "
        f"(file {row['source_file']}, SHA-256 {run.source_sha256}, "
        f"lab {row['uploaded_by_lab'] or 'unknown'}, "
        f"{row['n_results']} results, result set {row['result_set_sha256'][:16]}…)",
        highlight=False,
        soft_wrap=True,
    )
    acc = con.execute(
        "SELECT rule, coalesce(subject, ''), passed, reason FROM run_acceptance "
        "WHERE source_sha256 = ? AND plate_id = ? AND analyte = ? ORDER BY rule, subject",
        [run.source_sha256, run.plate_id, run.analyte],
    ).fetchall()
    for rule, subject, passed, reason in acc:
        out.print(f"  {'✓' if passed else '✗'} {rule} {subject}: {reason}", highlight=False, soft_wrap=True)
    sigs = con.execute(
        "SELECT signature_id, meaning, signer_name, signer, signed_at, coalesce(reason, '') "
        "FROM run_signatures WHERE source_sha256 = ? AND plate_id = ? AND analyte = ? ORDER BY signature_id",
        [run.source_sha256, run.plate_id, run.analyte],
    ).fetchall()
    reopened = dict(con.execute(f"SELECT signature_id, reopened FROM ({REOPENED_SQL})").fetchall())
    for sid, meaning, name, account, at, reason in sigs:
        void = f" — no longer valid: {reopened[sid]}, sign again" if sid in reopened else ""
        out.print(
            f"  {sid}: {meaning} by {name} ({account}) at {at:%Y-%m-%d %H:%M:%S} UTC {reason}{void}",
            highlight=False,
            soft_wrap=True,
        )
    if not sigs:
        out.print("  no signature yet", highlight=False)


@review_app.command("sign")
def review_sign(
    plate: Annotated[str, typer.Argument(help="Plate ID")],
    reviewer: Annotated[str, typer.Option("--reviewer", help="Your reviewer account")],
    meaning: Annotated[str, typer.Option("--meaning", help="reviewed, approved or rejected")],
    password: PasswordOpt,
    analyte: Annotated[
        str | None, typer.Option("--analyte", help="One analyte [default: every analyte of the plate]")
    ] = None,
    file: Annotated[
        str | None, typer.Option("--file", help="The file's SHA-256 (a prefix) [default: the latest file]")
    ] = None,
    reason: Annotated[str | None, typer.Option("--reason", help="Why (mandatory to reject)")] = None,
    warehouse: WarehouseOpt = None,
) -> None:
    """Sign the runs of a plate (one analyte, or each) with a meaning, after typing your password again."""
    from schemas.config import load_config
    from warehouse.publish import publish
    from warehouse.review import ReviewError, find_runs, sign

    config = load_config()
    with _writer(warehouse) as store:
        runs = find_runs(store.con, plate, analyte, file)
        if not runs:
            raise fail(
                f"no run of plate {plate!r}{f' / {analyte}' if analyte else ''}: see `biomarkers review list`"
            )
        latest = runs[0].source_sha256
        runs = [r for r in runs if r.source_sha256 == latest]  # a plate's latest file unless --file
        signed = []
        for run in runs:
            try:
                s = sign(
                    store,
                    run,
                    account=reviewer,
                    secret=password,
                    meaning=meaning,
                    reason=reason,
                    config=config,
                )
            except ReviewError as exc:
                raise fail(str(exc)) from None
            signed.append(s)
        publish(store, config=config)
    for s in signed:
        out.print(
            f"{s.signature_id}: {s.run.plate_id} / {s.run.analyte} {s.meaning} by {s.signer_name} "
            f"at {s.signed_at:%Y-%m-%d %H:%M:%S} UTC (file {s.run.source_sha256[:12]}, "
            f"result set {s.result_set_sha256[:12]}); {s.results_changed} results changed currency",
            highlight=False,
            soft_wrap=True,
        )


def register(app: typer.Typer) -> None:
    app.add_typer(reviewer_app, name="reviewer")
    app.add_typer(review_app, name="review")
