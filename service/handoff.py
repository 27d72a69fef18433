"""Handing accepted uploads to the ingestion flow so they reach the warehouse without waiting for night.

Two ways, chosen by ``config/service.yaml`` (``ingestion.mode``):

* **deployment** — when a Prefect API is configured and the upload deployment exists, each upload starts
  ``run_deployment(..., idempotency_key=<sha256>, timeout=0)`` with its own folder as the inbox; the same
  bytes uploaded twice start one run. A watcher thread follows the flow runs to record loaded/failed.
* **in-process** — otherwise one worker thread runs the existing flow in this process. Uploads queue up
  and are ingested in batches (one flow run over the uploads folder takes every file not yet in the
  warehouse: ingestion is idempotent by SHA-256), so ingestions never overlap. When the nightly run
  holds the warehouse (WarehouseBusyError) the batch waits and retries with backoff, saying so.
"""

from __future__ import annotations

import logging
import queue
import threading
import time
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

from service.registry import Registry
from service.settings import ServiceSettings

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Job:
    upload_id: str
    sha256: str
    folder: Path


class Handoff(Protocol):
    description: str

    def submit(self, job: Job) -> None: ...

    def close(self) -> None: ...


class NoHandoff:
    description = "none: accepted files wait in the uploads folder for an ingestion run"

    def __init__(self, registry: Registry, settings: ServiceSettings) -> None:
        self.registry = registry
        self.settings = settings

    def submit(self, job: Job) -> None:
        self.registry.add_event(
            job.upload_id,
            "verdict",
            f"waiting in {self.settings.uploads_dir} for the next ingestion run "
            "(this service does not start one)",
        )

    def close(self) -> None:
        return None


class InProcessHandoff:
    """One worker thread; a queue of uploads; one flow run per batch.

    A batch starts once uploads have stopped arriving for ``settle_seconds`` (at most ``max_wait_seconds``
    after the first), so a burst of uploads becomes one flow run that does not compete with the burst's
    verdicts for the CPU. Prefect's temporary server is started when the service starts, not at the first
    upload."""

    description = "in-process: the ingestion flow runs inside this service, one batch at a time"

    def __init__(
        self,
        registry: Registry,
        settings: ServiceSettings,
        *,
        settle_seconds: float = 2.0,
        max_wait_seconds: float = 30.0,
    ) -> None:
        self.registry = registry
        self.settings = settings
        self.settle_seconds = settle_seconds
        self.max_wait_seconds = max_wait_seconds
        self.queue: queue.Queue[Job | None] = queue.Queue()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._work, name="ingest-handoff", daemon=True)
        self._thread.start()

    def submit(self, job: Job) -> None:
        self.registry.add_event(job.upload_id, "ingesting", "queued for ingestion into the warehouse")
        self.queue.put(job)

    def close(self) -> None:
        self._stop.set()
        self.queue.put(None)
        self._thread.join(timeout=5)  # a flow run in progress is cut short: its load is one transaction
        _stop_temporary_prefect_server()

    def _collect(self, first: Job) -> list[Job]:
        batch = [first]
        deadline = time.monotonic() + self.max_wait_seconds
        while True:
            wait = min(self.settle_seconds, deadline - time.monotonic())
            if wait <= 0:
                return batch
            try:
                more = self.queue.get(timeout=wait)
            except queue.Empty:
                return batch
            if more is None:
                self._stop.set()
                return batch
            batch.append(more)

    def _work(self) -> None:
        try:
            _start_prefect()
        except Exception:  # the first flow run will try again and report what fails
            log.exception("could not start Prefect for in-process ingestion")
        while not self._stop.is_set():
            job = self.queue.get()
            if job is None:
                return
            batch = self._collect(job)
            if self._stop.is_set():
                return
            try:
                self._run(batch)
            except Exception as exc:  # the worker must outlive any one batch
                log.exception("ingestion of an upload batch failed")
                for j in batch:
                    self.registry.add_event(
                        j.upload_id,
                        "failed",
                        f"ingestion failed ({type(exc).__name__}: {exc}); the file is kept — the data team "
                        "will re-run it",
                    )

    def _run(self, batch: list[Job]) -> None:
        from schemas import settings as cli_settings

        cli_settings.configure_environment()
        from flows.ingest import ingest_flow
        from warehouse.store import WarehouseBusyError

        cfg = self.settings.service.ingestion
        delay = cfg.retry_seconds
        for attempt in range(cfg.retry_attempts + 1):
            try:
                summary = ingest_flow(
                    inbox=str(self.settings.uploads_dir),
                    manifest=str(self.settings.manifest),
                    warehouse=str(self.settings.warehouse),
                    config_dir=str(self.settings.config_dir) if self.settings.config_dir else None,
                    trigger="upload",
                )
                break
            except WarehouseBusyError:
                if attempt == cfg.retry_attempts:
                    for j in batch:
                        self.registry.add_event(
                            j.upload_id,
                            "failed",
                            "the warehouse stayed busy with another ingestion; the file is kept and waits "
                            "for the next ingestion run",
                        )
                    return
                for j in batch:
                    self.registry.add_event(
                        j.upload_id,
                        "ingesting",
                        f"another ingestion (the nightly run) is using the warehouse; trying again in "
                        f"{delay:.0f} s (attempt {attempt + 1} of {cfg.retry_attempts})",
                    )
                if self._stop.wait(delay):
                    return
                delay *= 2
        lines = {f.sha256: f for f in summary.files}
        published = _published_files(self.settings, [j.sha256 for j in batch])
        for j in batch:
            line = lines.get(j.sha256)
            status = published.get(j.sha256)
            if status is None or status == "quarantined":
                why = line.message if line else "it is not listed in the analysts' store"
                self.registry.add_event(
                    j.upload_id,
                    "failed",
                    f"not loaded by the ingestion run: {why}; the file is kept — the data team will look",
                )
            elif line is None:
                self.registry.add_event(
                    j.upload_id, "loaded", "in the warehouse (these bytes had been loaded before)"
                )
            else:
                status_text = line.status.replace("_", " ")
                self.registry.add_event(
                    j.upload_id, "loaded", f"in the warehouse ({status_text}): {line.message}"
                )


class DeploymentHandoff:
    """Start the upload deployment per upload and follow its flow runs."""

    def __init__(self, registry: Registry, settings: ServiceSettings) -> None:
        self.registry = registry
        self.settings = settings
        self.name = settings.service.ingestion.deployment
        self.description = f"deployment: Prefect deployment {self.name}"
        self._runs: dict[str, list[str]] = {}  # flow run id -> upload ids
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._watch, name="ingest-watch", daemon=True)
        self._thread.start()

    def submit(self, job: Job) -> None:
        from prefect.deployments import run_deployment

        run: Any = run_deployment(
            self.name,
            # The service's own warehouse and manifest: the worker's environment may point elsewhere.
            parameters={
                "inbox": str(job.folder),
                "trigger": "upload",
                "warehouse": str(self.settings.warehouse),
                "manifest": str(self.settings.manifest),
                **({"config_dir": str(self.settings.config_dir)} if self.settings.config_dir else {}),
            },
            idempotency_key=job.sha256,
            timeout=0,
        )
        with self._lock:
            self._runs.setdefault(str(run.id), []).append(job.upload_id)
        self.registry.add_event(
            job.upload_id,
            "ingesting",
            f"flow run {run.name} ({run.id}) of {self.name} started on the Prefect server",
        )

    def close(self) -> None:
        self._stop.set()
        self._thread.join(timeout=5)

    def _watch(self) -> None:
        from prefect.client.orchestration import get_client

        while not self._stop.wait(5):
            with self._lock:
                pending = dict(self._runs)
            if not pending:
                continue
            try:
                with get_client(sync_client=True) as client:
                    for run_id, uploads in pending.items():
                        state = client.read_flow_run(uuid.UUID(run_id)).state
                        if state is None or not state.is_final():
                            continue
                        status = "loaded" if state.is_completed() else "failed"
                        for u in uploads:
                            self.registry.add_event(
                                u,
                                status,
                                f"flow run {run_id}: {state.name}"
                                + (
                                    ""
                                    if status == "loaded"
                                    else "; the file is kept — the data team will re-run it"
                                ),
                            )
                        with self._lock:
                            self._runs.pop(run_id, None)
            except Exception:  # a Prefect hiccup: try again on the next tick
                log.exception("could not follow upload flow runs")


def _published_files(settings: ServiceSettings, shas: list[str]) -> dict[str, str]:
    """The status the analysts' store gives each of these files it lists (read-only and briefly: the store
    is swapped on each publish)."""
    from warehouse.analyst import NoAnalystStoreError, connect_analyst

    try:
        con = connect_analyst(settings.warehouse_paths)
    except NoAnalystStoreError:
        return {}
    try:
        rows = con.execute(
            "SELECT source_sha256, status FROM files WHERE source_sha256 IN (SELECT unnest(?))", [shas]
        ).fetchall()
    finally:
        con.close()
    return {r[0]: r[1] for r in rows}


def _start_prefect() -> None:
    """Connect to Prefect once: without PREFECT_API_URL this starts its temporary server (10-30 s)."""
    from schemas import settings as cli_settings

    cli_settings.configure_environment()
    from prefect.client.orchestration import get_client

    with get_client(sync_client=True) as client:
        client.api_healthcheck()


def _stop_temporary_prefect_server() -> None:
    """Stop the temporary Prefect server the in-process flow runs started. Prefect stops it at interpreter
    exit, but a service killed after a slow shutdown would leave it running on its own."""
    import sys

    if "prefect.server.api.server" not in sys.modules:
        return
    from prefect.server.api.server import SubprocessASGIServer

    for server in list(getattr(SubprocessASGIServer, "_instances", {}).values()):
        server.stop()


def deployment_available(name: str) -> bool:
    """A Prefect API is configured (not the ephemeral one) and the deployment exists there."""
    from prefect.settings import get_current_settings

    if not get_current_settings().api.url:
        return False
    from prefect.client.orchestration import get_client

    try:
        with get_client(sync_client=True) as client:
            client.read_deployment_by_name(name)
    except Exception:
        return False
    return True


def make_handoff(registry: Registry, settings: ServiceSettings) -> Handoff:
    mode = settings.service.ingestion.mode
    if mode == "none":
        return NoHandoff(registry, settings)
    if mode == "deployment" or (
        mode == "auto" and deployment_available(settings.service.ingestion.deployment)
    ):
        return DeploymentHandoff(registry, settings)
    return InProcessHandoff(registry, settings)
