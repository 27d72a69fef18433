"""`biomarkers export …`: data leaving the warehouse — CDISC SDTM LB for a submission, Parquet for R/polars.

Both read the analyst store (read-only), so they hold only current, blinded results and can run while the
nightly load writes its own file.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console

from schemas import settings

export_app = typer.Typer(
    help="Hand data on: CDISC SDTM LB (CSV + SAS XPT v5) for a submission, Parquet for R/polars.",
    no_args_is_help=True,
)
_out = Console()
_err = Console(stderr=True)

OutDir = Annotated[Path, typer.Option("--out", help="Folder to write into")]
WarehouseOpt = Annotated[
    Path | None,
    typer.Option("--warehouse", help="Warehouse folder [env BIOMARKERS_WAREHOUSE; default data/warehouse]"),
]


def _fail(message: str) -> typer.Exit:
    _err.print(f"[red]error:[/] {message}", highlight=False, soft_wrap=True)
    return typer.Exit(1)


@export_app.command("sdtm")
def sdtm(
    out_dir: OutDir,
    warehouse: WarehouseOpt = None,
    full: Annotated[
        bool, typer.Option("--full", help="From the full store (withheld post-dose values included)")
    ] = False,
) -> None:
    """The LB domain of the current results: lb.csv, lb.xpt (SAS transport v5), define_lb*.csv."""
    from schemas.config import ConfigError, load_config
    from warehouse.analyst import NoAnalystStoreError, connect_analyst
    from warehouse.paths import WarehousePaths
    from warehouse.sdtm_lb import SdtmExportError, build_lb, write_lb

    try:
        config = load_config()
        con = connect_analyst(WarehousePaths.at(warehouse or settings.warehouse_dir()), full=full)
    except (ConfigError, NoAnalystStoreError) as exc:
        raise _fail(str(exc)) from None
    try:
        lb = build_lb(con, config)
    except SdtmExportError as exc:
        raise _fail(f"nothing written: {exc}") from None
    finally:
        con.close()
    e = write_lb(lb, config, out_dir)
    _out.print(
        f"LB: {e.rows:,} records, {lb['USUBJID'].n_unique()} subjects, {lb['LBTESTCD'].n_unique()} tests "
        f"→ {e.csv}, {e.xpt} (SAS transport v5); variables: {e.define}; test codes: {e.tests}",
        highlight=False,
    )


@export_app.command("parquet")
def parquet(
    out_dir: OutDir,
    view: Annotated[
        str, typer.Option(help="Analyst view to export (results_wide, baseline_change, …)")
    ] = "results",
    warehouse: WarehouseOpt = None,
) -> None:
    """One analyst view as one Parquet dataset, partitioned by matrix (open it with arrow or polars)."""
    from warehouse.analyst import NoAnalystStoreError, connect_analyst
    from warehouse.parquet_export import ExportError, export_view
    from warehouse.paths import WarehousePaths

    try:
        con = connect_analyst(WarehousePaths.at(warehouse or settings.warehouse_dir()))
    except NoAnalystStoreError as exc:
        raise _fail(str(exc)) from None
    try:
        e = export_view(con, view, out_dir)
    except ExportError as exc:
        raise _fail(str(exc)) from None
    finally:
        con.close()
    how = f"partitioned by {e.partitioned_by}" if e.partitioned_by else "one file"
    _out.print(f"{e.view}: {e.rows:,} rows in {e.files} Parquet file(s), {how} → {out_dir}", highlight=False)
