"""`biomarkers serve` and `biomarkers lab ...`: the lab upload service and its per-lab tokens."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer
from rich.console import Console
from rich.table import Table

if TYPE_CHECKING:
    from service.registry import Registry

out = Console()
err = Console(stderr=True)

lab_app = typer.Typer(
    help="Labs allowed to upload: add (prints the token once), revoke, list.", no_args_is_help=True
)

ConfigOpt = Annotated[
    Path | None, typer.Option("--config-dir", help="Folder with study.yaml … service.yaml [default: config/]")
]


def _registry(config_dir: Path | None = None) -> Registry:
    """The service registry; waits up to a minute for a busy service to let go of the file."""
    from service.registry import Registry
    from service.settings import ServiceSettings

    return Registry(ServiceSettings.from_environment(config_dir).registry_db, wait_seconds=60)


def serve(
    host: Annotated[
        str, typer.Option(help="Address to listen on (put a TLS proxy in front off the loopback)")
    ] = ("127.0.0.1"),
    port: Annotated[int, typer.Option(help="Port to listen on")] = 8000,
    max_upload_mb: Annotated[
        float | None,
        typer.Option("--max-upload-mb", help="Largest upload in MiB [default: config/service.yaml]"),
    ] = None,
    ingestion: Annotated[
        str | None,
        typer.Option(help="How accepted files reach the warehouse: auto, in-process, deployment or none"),
    ] = None,
    config_dir: ConfigOpt = None,
) -> None:
    """Run the lab upload service: upload page, /api/v1/uploads and its OpenAPI spec at /docs."""
    import uvicorn

    from biomarkers.reaper import Reaper, own_group
    from schemas import settings
    from schemas.config import ConfigError
    from service.app import create_app
    from service.settings import ServiceSettings

    if ingestion not in (None, "auto", "in-process", "deployment", "none"):
        err.print(
            f"[red]error:[/] --ingestion must be auto, in-process, deployment or none, not {ingestion!r}"
        )
        raise typer.Exit(2)
    # before any thread or child exists: whatever ends this process (SIGTERM, SIGKILL), its children —
    # verdict workers, Prefect's temporary server — end with it (biomarkers/reaper.py, docs/access.md)
    Reaper().watch_group(own_group())
    settings.configure_environment()
    try:
        svc = ServiceSettings.from_environment(config_dir).with_overrides(
            max_megabytes=max_upload_mb,
            mode=ingestion,  # type: ignore[arg-type]
        )
        app = create_app(svc)
    except ConfigError as exc:
        err.print(f"[red]error:[/] {exc}", highlight=False)
        raise typer.Exit(1) from None
    out.print(
        f"upload service on http://{host}:{port}/ (API /api/v1/uploads, spec /openapi.json); "
        f"manifest {svc.manifest}; warehouse {svc.warehouse}",
        highlight=False,
    )
    uvicorn.run(app, host=host, port=port, log_level="warning", proxy_headers=True)


@lab_app.command("add")
def lab_add(
    name: Annotated[str, typer.Argument(help="The lab's short name, e.g. site-01-biomarker-lab")],
    config_dir: ConfigOpt = None,
) -> None:
    """Create the lab (if new) and print its API token — once: only a hash is kept."""
    from service.auth import BadLabNameError, issue_token
    from service.registry import LabExistsError, RegistryBusyError

    try:
        issued = issue_token(_registry(config_dir), name)
    except (BadLabNameError, LabExistsError, RegistryBusyError) as exc:
        err.print(f"[red]error:[/] {exc}", highlight=False)
        raise typer.Exit(1) from None
    err.print(
        f"token for lab {issued.lab} (shown once; give it to the lab over a trusted channel — it signs in "
        "on the upload page and goes in 'Authorization: Bearer <token>' for the API):",
        highlight=False,
    )
    print(issued.token)


@lab_app.command("revoke")
def lab_revoke(
    name: Annotated[str, typer.Argument(help="The lab whose token(s) to revoke")],
    config_dir: ConfigOpt = None,
) -> None:
    """Revoke the lab's token(s): API calls and signed-in pages stop working at once. Uploads stay."""
    from service.registry import RegistryBusyError, UnknownLabError

    try:
        n = _registry(config_dir).revoke(name)
    except (UnknownLabError, RegistryBusyError) as exc:
        err.print(f"[red]error:[/] {exc}", highlight=False)
        raise typer.Exit(1) from None
    out.print(
        f"revoked {n} token{'s' if n != 1 else ''} of lab {name}; "
        f"`biomarkers lab add {name}` issues a new one"
    )


@lab_app.command("list")
def lab_list(config_dir: ConfigOpt = None) -> None:
    """Labs known to the upload service and whether each has a valid token."""
    t = Table(show_header=True)
    for c in ("lab", "created (UTC)", "valid tokens"):
        t.add_column(c)
    for lab in _registry(config_dir).labs():
        t.add_row(lab.name, lab.created_at.strftime("%Y-%m-%d %H:%M"), str(lab.active_tokens))
    out.print(t)


def register(app: typer.Typer) -> None:
    app.command()(serve)
    app.add_typer(lab_app, name="lab")
