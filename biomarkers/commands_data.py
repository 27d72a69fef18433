"""Study data management commands (issue 20): `reconcile` (what the plan expects against what came back),
`worklist` (what a lab should run again, as a CSV its instrument software can load) and `isr` (the
incurred-sample reanalysis verdict of each repeat run).

Both read the analyst views built at publish (warehouse/sample_views.sql): `reconcile` the blinded store
by default (a data manager's view; `--full` for cleared roles), `worklist` the full store — a value
withheld from blinded analysts can still need a repeat, and the worklist names only sample IDs, which the
lab holds anyway, never participant or visit.
"""

from __future__ import annotations

import textwrap
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Console

from schemas import settings

out = Console()
err = Console(stderr=True)

WIDTH = 80
"""Lines are written to fit 80 columns (a terminal, a printed page), whatever the terminal's width."""

WORKLIST_COLUMNS = (
    "lab",
    "sample_id",
    "matrix",
    "assay_id",
    "analytes",
    "reason",
    "dilution",
    "suggested_dilution",
    "plate_id",
    "source_file",
    "detail",
)
"""The worklist CSV: sample IDs and what to run them at; never participant or visit."""

WarehouseOpt = Annotated[
    Path | None,
    typer.Option("--warehouse", help="Warehouse folder [env BIOMARKERS_WAREHOUSE; default data/warehouse]"),
]


def _fail(message: str, code: int = 1) -> typer.Exit:
    err.print(f"[red]error:[/] {message}", highlight=False, soft_wrap=True)
    return typer.Exit(code)


def _connect(warehouse: Path | None, *, full: bool) -> Any:
    from warehouse.analyst import NoAnalystStoreError, connect_analyst
    from warehouse.paths import WarehousePaths

    try:
        return connect_analyst(WarehousePaths.at(warehouse or settings.warehouse_dir()), full=full)
    except NoAnalystStoreError as exc:
        raise _fail(str(exc)) from None


def _where(filters: dict[str, str | None]) -> tuple[str, list[object]]:
    terms = [f"{col} = ?" for col, v in filters.items() if v is not None]
    return (" WHERE " + " AND ".join(terms) if terms else ""), [v for v in filters.values() if v is not None]


def summary_lines(rows: list[tuple[Any, ...]]) -> list[str]:
    """The per visit × matrix × assay counts as fixed-width lines (≤ 80 columns)."""
    head = f"{'visit':<6}{'matrix':<7}{'assay':<12}{'expected':>9}{'received':>9}{'assayed':>8}"
    head += f"{'complete':>9}{'failed':>7}{'missing':>8}"
    lines = [head, "-" * len(head)]
    for visit, matrix, assay, n, recv, assayed, complete, failed, missing in rows:
        lines.append(
            f"{visit:<6}{matrix:<7}{assay[:11]:<12}{n:>9}{recv:>9}{assayed:>8}{complete:>9}{failed:>7}{missing:>8}"
        )
    return lines


def missing_lines(rows: list[tuple[Any, ...]]) -> list[str]:
    """One line per participant × visit × matrix × assay without every result, then why (wrapped, ≤ 80)."""
    lines: list[str] = []
    for participant, visit, matrix, assay, sample, status, reason in rows:
        lines.append(
            f"{participant:<14} {visit:<4} {matrix:<6} {assay:<11} {sample or '-':<14} {status}"[:WIDTH]
        )
        lines += textwrap.wrap(reason or "", WIDTH, initial_indent="    ", subsequent_indent="    ")
    return lines


def reconcile(
    visit: Annotated[str | None, typer.Option("--visit", help="Only this visit (e.g. W04)")] = None,
    matrix: Annotated[str | None, typer.Option("--matrix", help="Only this matrix (e.g. CSF)")] = None,
    assay: Annotated[str | None, typer.Option("--assay", help="Only this assay (e.g. ELISA-VEGF)")] = None,
    limit: Annotated[int, typer.Option(help="Samples listed without a result (the CSV gets all)")] = 50,
    out_file: Annotated[
        Path | None, typer.Option("--out", help="Also write every row of sample_status shown to this CSV")
    ] = None,
    full: Annotated[bool, typer.Option("--full", help="Read the full store (cleared roles only)")] = False,
    warehouse: WarehouseOpt = None,
) -> None:
    """Samples planned (study.yaml assay_plan) against results: per visit x matrix x assay how many are
    expected, received, assayed, complete; then each one without a result and why."""
    where, params = _where({"visit": visit, "matrix": matrix, "assay_id": assay})
    con = _connect(warehouse, full=full)
    try:
        summary = con.execute(
            "SELECT visit, matrix, assay_id, count(*), count(*) FILTER (WHERE received), "
            "count(*) FILTER (WHERE assayed), count(*) FILTER (WHERE current_result), "
            "count(*) FILTER (WHERE failed), count(*) FILTER (WHERE missing) "
            f"FROM sample_status{where} GROUP BY ALL ORDER BY min(visitnum), matrix, assay_id",
            params,
        ).fetchall()
        missing_sql = (
            "SELECT participant_id, visit, matrix, assay_id, sample_id, status, reason FROM sample_status"
            f"{where}{' AND' if where else ' WHERE'} missing "
            "ORDER BY visitnum, matrix, assay_id, participant_id"
        )
        missing = con.execute(missing_sql, params).fetchall()
        sql = f"SELECT * FROM sample_status{where} ORDER BY visitnum, matrix, assay_id, participant_id"
        frame = con.sql(sql, params=params).pl() if out_file else None
    finally:
        con.close()
    if not summary:
        raise _fail(
            "no planned sample matches: check --visit/--matrix/--assay, that study.yaml has an assay_plan, "
            "and that a manifest has been loaded (biomarkers query 'select count(*) from samples')"
        )
    for line in summary_lines(summary):
        out.print(line, highlight=False, soft_wrap=True)
    out.print()
    shown = missing[:limit]
    title = f"{len(missing)} without every result" + (
        f" (first {limit}: --limit N)" if len(missing) > limit else ""
    )
    out.print(title + (":" if shown else ""), highlight=False, soft_wrap=True)
    for line in missing_lines(shown):
        out.print(line, highlight=False, soft_wrap=True)
    if out_file is not None and frame is not None:
        from warehouse.csv_safe import write_csv

        out_file.parent.mkdir(parents=True, exist_ok=True)
        out_file.write_text(write_csv(frame), encoding="utf-8")
        err.print(f"wrote {frame.height:,} rows to {out_file}", highlight=False)


def worklist(
    out_file: Annotated[Path, typer.Option("--out", help="The worklist CSV to write")],
    lab: Annotated[str | None, typer.Option("--lab", help="Only this lab's plates")] = None,
    assay: Annotated[str | None, typer.Option("--assay", help="Only this assay")] = None,
    warehouse: WarehouseOpt = None,
) -> None:
    """Write the re-assay worklist (view reassay_candidates): above ULOQ with a suggested dilution, failed
    runs, excluded results, high replicate CV, ISR picks; sample IDs only, CSV-injection safe."""
    from warehouse.csv_safe import write_csv

    where, params = _where({"lab": lab, "assay_id": assay})
    con = _connect(warehouse, full=True)
    try:
        frame = con.sql(
            f"SELECT {', '.join(WORKLIST_COLUMNS)} FROM reassay_candidates{where} "
            "ORDER BY lab NULLS LAST, assay_id, priority, suggested_dilution, sample_id",
            params=params,
        ).pl()
    finally:
        con.close()
    out_file.parent.mkdir(parents=True, exist_ok=True)
    out_file.write_text(write_csv(frame), encoding="utf-8")
    counts = frame.group_by("reason").len().sort("reason").rows() if frame.height else []
    what = ", ".join(f"{n} {r}" for r, n in counts) or "nothing to re-assay"
    err.print(f"wrote {frame.height:,} items to {out_file} ({what})", highlight=False, soft_wrap=True)


def isr_lines(rows: list[tuple[Any, ...]]) -> list[str]:
    """One block per repeat run: plate, assay, analytes, then the verdict (wrapped, ≤ 80 columns)."""
    lines: list[str] = []
    for plate, assay, analytes, passed, verdict in rows:
        word = "PASS" if passed else "FAIL"
        lines.append(f"{word}  {plate}  {assay}  ({analytes})"[:WIDTH])
        lines += textwrap.wrap(verdict, WIDTH, initial_indent="      ", subsequent_indent="      ")
    return lines


def isr(
    assay: Annotated[str | None, typer.Option("--assay", help="Only this assay")] = None,
    warehouse: WarehouseOpt = None,
) -> None:
    """Incurred-sample reanalysis verdicts (ICH M10 §4.3), one per repeat run (views isr_runs, isr_pairs):
    at least 2/3 of the repeats within 30 % of the mean of original and repeat. Reads the full store."""
    where, params = _where({"assay_id": assay})
    con = _connect(warehouse, full=True)
    try:
        rows = con.execute(
            f"SELECT repeat_plate_id, assay_id, analytes, passed, verdict FROM isr_runs{where} "
            "ORDER BY assay_id, repeat_plate_id",
            params,
        ).fetchall()
    finally:
        con.close()
    if not rows:
        out.print(
            "no ISR repeat loaded yet: the picks are in 'biomarkers worklist' (reason isr); run them on a "
            "plate whose ID matches study.yaml isr.plate_id_pattern",
            highlight=False,
        )
        return
    for line in isr_lines(rows):
        out.print(line, highlight=False, soft_wrap=True)
    failed = sum(1 for r in rows if not r[3])
    out.print(f"{len(rows)} repeat run(s), {failed} failed", highlight=False)
    if failed:
        raise typer.Exit(1)


def register(app: typer.Typer) -> None:
    app.command()(reconcile)
    app.command()(worklist)
    app.command()(isr)
