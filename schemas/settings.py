"""Where things live by default, and the process environment Prefect needs before it is imported.

Defaults point at a git-ignored ``data/`` folder in the project: ``data/inbox/`` (the inbox of
``biomarkers ingest`` and of the nightly run), ``data/manifests/`` (the biorepository's shipment manifests),
``data/warehouse/``. The demo owns ``data/demo/`` and nothing else (biomarkers/demo_area.py): a file put in
the real inbox is never the demo's to delete. Every location can be overridden by flag or environment
variable. Run from an installed wheel (no checkout), the data folder defaults to the user's data directory
(``$XDG_DATA_HOME/bct-biomarkers``, else ``~/.local/share/bct-biomarkers``): never inside site-packages.

Files shipped with the code (configuration defaults, SQL, templates, the allotropy driver) are found with
:func:`package_path` (``importlib.resources``), so a checkout and an installed wheel behave alike.
"""

from __future__ import annotations

import os
from importlib import resources
from pathlib import Path

# The source checkout, when the code runs from one (an editable install, `uv run` in the repository). In an
# installed wheel this is site-packages: only checkout-only tools (`biomarkers up` deploys prefect.yaml
# from it) use it; package data goes through package_path().
REPO_ROOT = Path(__file__).resolve().parent.parent
RUNS_FROM_CHECKOUT = (REPO_ROOT / "pyproject.toml").is_file()


def package_path(package: str, *parts: str) -> Path:
    """A file or folder shipped inside ``package`` (package data), as a real path: Jinja, subprocesses and
    shutil need one. pip and uv unpack wheels, so importlib.resources gives a filesystem path; a zipped
    install would not, and is refused with a message rather than failing later on a missing file."""
    found = resources.files(package).joinpath(*parts)
    if not isinstance(found, Path):
        raise RuntimeError(
            f"{package} is installed zipped ({found}); install the bct-biomarkers wheel unpacked (pip or uv)"
        )
    return found


def _default_data_dir() -> Path:
    if RUNS_FROM_CHECKOUT:
        return REPO_ROOT / "data"
    xdg = os.environ.get("XDG_DATA_HOME", "").strip()
    return (Path(xdg) if xdg else Path.home() / ".local" / "share") / "bct-biomarkers"


def data_dir() -> Path:
    return Path(os.environ.get("BIOMARKERS_DATA") or _default_data_dir()).expanduser().resolve()


def warehouse_dir() -> Path:
    return Path(os.environ.get("BIOMARKERS_WAREHOUSE", data_dir() / "warehouse")).expanduser().resolve()


def demo_dir() -> Path:
    """The demo's own folder (study, warehouse, ledger of what it wrote); no default points into it."""
    return data_dir() / "demo"


def default_inbox() -> Path:
    """The inbox of `biomarkers ingest` and of the nightly run — never the demo's."""
    return Path(os.environ.get("BIOMARKERS_INBOX", data_dir() / "inbox")).expanduser().resolve()


def default_manifest() -> Path:
    """The sample manifest: a folder of the biorepository's shipment manifests (or one CSV)."""
    return Path(os.environ.get("BIOMARKERS_MANIFEST", data_dir() / "manifests")).expanduser().resolve()


def configure_environment(*, console_log_level: str = "ERROR") -> None:
    """Set Prefect's environment before it is imported: a project-local PREFECT_HOME, no telemetry (its
    service prints "database is locked" tracebacks on an ephemeral server), and a quiet console: the
    end-of-run summary lists every file that needs attention, and the same lines are in the run's logs
    and artifacts on the Prefect server. Values already set by the user win."""
    os.environ.setdefault("PREFECT_HOME", str(data_dir() / "prefect"))
    Path(os.environ["PREFECT_HOME"]).expanduser().mkdir(parents=True, exist_ok=True)
    os.environ.setdefault("PREFECT_SERVER_ANALYTICS_ENABLED", "false")
    os.environ.setdefault("DO_NOT_TRACK", "1")
    os.environ.setdefault("PREFECT_SERVER_EPHEMERAL_STARTUP_TIMEOUT_SECONDS", "120")
    os.environ.setdefault("PREFECT_LOGGING_HANDLERS_CONSOLE_LEVEL", console_log_level)
    os.environ.setdefault("PREFECT_LOGGING_HANDLERS_CONSOLE_FLOW_RUNS_LEVEL", console_log_level)
    os.environ.setdefault("PREFECT_LOGGING_HANDLERS_CONSOLE_TASK_RUNS_LEVEL", console_log_level)


def actor() -> str:
    """Who is acting, for the audit trail: BIOMARKERS_USER when set (`--user`, a service account), else the
    operating-system user — never a bare ``root`` when sudo names the person who ran it."""
    import getpass

    explicit = os.environ.get("BIOMARKERS_USER", "").strip()
    if explicit:
        return explicit
    try:
        user = getpass.getuser()
    except (KeyError, OSError):  # no passwd entry (containers)
        user = f"uid:{os.getuid()}"
    sudo = os.environ.get("SUDO_USER", "").strip()
    if user == "root" and sudo and sudo != "root":
        return f"{sudo} (as root via sudo)"
    return user
