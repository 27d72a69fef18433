"""Typed operations configuration (``config/operations.yaml``): schedule, writer lock, notifications, sources.

Kept apart from the study configuration (schemas/config.py) because it describes a deployment, not the
trial: the same study runs with a different schedule or drop box at another lab. Secrets never live here —
a source or webhook names the environment variable (or Prefect Secret block) that holds them.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Literal

from pydantic import Field, ValidationError, field_validator, model_validator

from schemas.config import DEFAULT_CONFIG_DIR, _explain, _read_yaml, _Strict

_NAME = r"^[a-z0-9][a-z0-9_-]*$"


class Schedule(_Strict):
    cron: str
    timezone: str

    @field_validator("cron")
    @classmethod
    def _five_fields(cls, v: str) -> str:
        if len(v.split()) != 5:
            raise ValueError(f"cron {v!r} must have 5 fields (minute hour day month weekday)")
        return v

    @field_validator("timezone")
    @classmethod
    def _known_zone(cls, v: str) -> str:
        from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

        try:
            ZoneInfo(v)
        except (ZoneInfoNotFoundError, ValueError):
            raise ValueError(f"unknown time zone {v!r} (use an IANA name like America/New_York)") from None
        return v


class WriterLock(_Strict):
    timeout_s: float = Field(default=3600, gt=0)
    prefect_limit: str | None = "biomarkers-warehouse-writer"  # global concurrency limit (deployment runs)


NotifyEvent = Literal["file_quarantined", "run_failed_acceptance", "source_failed", "flow_failed"]


def _default_events() -> list[NotifyEvent]:
    return ["file_quarantined", "run_failed_acceptance", "source_failed", "flow_failed"]


class Notifications(_Strict):
    webhook_url_env: str | None = Field(default=None, pattern=r"^[A-Z_][A-Z0-9_]*$")
    webhook_url: str | None = None  # only for a local, secret-free receiver (tests, a lab's intranet hook)
    events: list[NotifyEvent] = Field(default_factory=_default_events)
    timeout_s: float = Field(default=10, gt=0)


class _Source(_Strict):
    name: Annotated[str, Field(pattern=_NAME)]
    # The lab that delivers through this source: its files' plates are that lab's, and they can change
    # nothing another lab loaded (warehouse/ownership.py). null: files are recorded without a lab.
    lab: str | None = Field(default=None, pattern=r"^[A-Za-z0-9][A-Za-z0-9 ._-]{0,63}$")
    delete_after_pull: bool = False  # never delete at the source unless a person turned this on
    include: list[str] = Field(default_factory=lambda: ["*"])  # glob patterns on the file name


class FolderSource(_Source):
    kind: Literal["folder"]
    path: str | None = None  # None: the flow's inbox


class SftpSource(_Source):
    kind: Literal["sftp"]
    host: str
    port: int = 22
    path: str = "."
    username_env: str = Field(pattern=r"^[A-Z_][A-Z0-9_]*$")
    password_env: str | None = Field(default=None, pattern=r"^[A-Z_][A-Z0-9_]*$")
    key_file_env: str | None = Field(default=None, pattern=r"^[A-Z_][A-Z0-9_]*$")
    known_hosts: str | None = None  # path; None accepts any host key (only for loopback tests)
    timeout_s: float = Field(default=20, gt=0)


class S3Source(_Source):
    kind: Literal["s3"]
    bucket: str
    prefix: str = ""
    endpoint_url: str | None = None  # S3-compatible stores (MinIO, Ceph, a lab's appliance)
    region: str | None = None
    access_key_env: str | None = Field(default=None, pattern=r"^[A-Z_][A-Z0-9_]*$")
    secret_key_env: str | None = Field(default=None, pattern=r"^[A-Z_][A-Z0-9_]*$")
    credentials_block: str | None = None  # a Prefect Secret block holding "ACCESS_KEY:SECRET_KEY"
    timeout_s: float = Field(default=20, gt=0)


Source = Annotated[FolderSource | SftpSource | S3Source, Field(discriminator="kind")]


class Processing(_Strict):
    """How many files are read, fitted and validated at once, in worker processes, while the writer loads
    them in order (pipeline/workers.py). The warehouse is the same whatever these are: only the time."""

    workers: int | Literal["auto"] = "auto"  # "auto": one per CPU core; 1: all in the flow's own process
    min_files: int = Field(default=16, ge=1)  # fewer new files: no pool (workers take seconds to start)
    # One file's reading, fitting and validating may take at most this long: a file that hangs a parser is
    # stopped, kept in raw/ and quarantined ("file_timeout"), and the run goes on (pipeline/workers.py).
    file_timeout_s: float = Field(default=600.0, gt=0)
    # DuckDB's memory in the writer (loads, publish): beyond it, sorts spill to disk. DuckDB's own default
    # is 80 % of the machine (`biomarkers bench --scale 20`: 2.2 GB peak in one process; 1.56 GB with this).
    duckdb_memory_limit: str = Field(default="512MB", pattern=r"^\d+(\.\d+)?\s*(KB|MB|GB|KiB|MiB|GiB)$")
    # A file is taken only when complete (issue 14): one written to within the last settle_s seconds is
    # looked at again after that interval, and one whose size or time moved is left for the next run.
    # Short: a run with a just-copied file waits this long once; 0 = no wait (changes are still caught).
    settle_s: float = Field(default=2.0, ge=0, le=300)
    # A file whose reader finds its format's end marker missing (xPONENT's "-- CRC --", a section cut off
    # at the end of the file) and that was written to less than this many seconds ago is left for the next
    # run as still being copied, instead of being quarantined as truncated. 0 = off (quarantine at once).
    unfinished_wait_s: float = Field(default=0.0, ge=0)
    # Group commit (issue 18): the writer loads the processed files that are ready in ONE transaction —
    # each file decided as if alone, in discovery order; a batch that fails is loaded again file by file.
    # A batch closes at batch_files files, at batch_rows rows (wells + results), or batch_window_s seconds
    # after it opened; 1 file = one transaction per file.
    batch_files: int = Field(default=32, ge=1, le=10_000)
    batch_rows: int = Field(default=250_000, ge=1)
    batch_window_s: float = Field(default=2.0, ge=0, le=600)

    @field_validator("workers")
    @classmethod
    def _positive(cls, v: int | str) -> int | str:
        if isinstance(v, int) and v < 1:
            raise ValueError("workers must be 1 or more, or 'auto'")
        return v

    def workers_for(self, n_files: int) -> int:
        """Worker processes for a run with ``n_files`` new files (1 = process in the flow itself)."""
        import os

        if n_files < self.min_files:
            return 1
        wanted = (os.cpu_count() or 1) if self.workers == "auto" else self.workers
        return max(1, min(wanted, n_files))


class StoreAccess(_Strict):
    """Who may read which analyst store (docs/access.md): each store is a folder given an OS group and
    modes at every publish. The blinded store (``analyst/``) is what analysts get; the full store
    (``full/``) holds the post-dose values that can reveal the arm (lab QC, the unblinded team)."""

    blinded_group: str | None = None  # null: the group the writer's account gives new files
    full_group: str | None = None
    dir_mode: str = Field(default="0750", pattern=r"^0?[0-7]{3}$")
    file_mode: str = Field(default="0640", pattern=r"^0?[0-7]{3}$")

    @model_validator(mode="after")
    def _no_world_access(self) -> StoreAccess:
        if int(self.dir_mode, 8) & 0o007 or int(self.file_mode, 8) & 0o007:
            raise ValueError(
                "stores: dir_mode/file_mode must give others no access (e.g. 0750/0640): the group decides "
                "who reads a store"
            )
        return self


class Operations(_Strict):
    schedule: Schedule
    work_pool: str = Field(default="biomarkers-process", pattern=_NAME)
    writer_lock: WriterLock = WriterLock()
    notifications: Notifications = Notifications()
    processing: Processing = Processing()
    stores: StoreAccess = StoreAccess()
    sources: list[Source] = Field(default_factory=list)
    # A source that cannot be reached is retried (I/O only: never a configuration or validation error).
    pull_retries: int = Field(default=2, ge=0)
    pull_retry_delay_s: list[float] = Field(default_factory=lambda: [5.0, 30.0])

    @model_validator(mode="after")
    def _unique_sources(self) -> Operations:
        names = [s.name for s in self.sources]
        dup = sorted({n for n in names if names.count(n) > 1})
        if dup:
            raise ValueError(f"source names must be unique; repeated: {dup}")
        return self

    def webhook_url(self) -> str | None:
        """The webhook to notify, from the environment variable named in the config (None: no webhook)."""
        import os

        n = self.notifications
        if n.webhook_url_env and os.environ.get(n.webhook_url_env):
            return os.environ[n.webhook_url_env]
        return n.webhook_url


def load_operations(config_dir: Path | None = None) -> Operations:
    """Load ``operations.yaml`` from ``config_dir`` (default: the project's ``config/``). A study config
    folder without one (a test's, or one older than this file) runs with the project's operations file:
    the schedule and sources describe this installation, not the study."""
    path = (Path(config_dir) if config_dir else DEFAULT_CONFIG_DIR) / "operations.yaml"
    if not path.is_file():
        path = DEFAULT_CONFIG_DIR / "operations.yaml"
    try:
        return Operations.model_validate(_read_yaml(path))
    except ValidationError as exc:
        raise _explain(path, exc) from None
