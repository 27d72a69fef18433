"""The ingestion flow — the story of the job: pull from the delivery sources → wait for the writer lock →
discover → read, resolve, validate and load each file → publish → report (artifacts, optional webhook).
The work lives in plain functions (pipeline/, warehouse/); this module only strings them together as
Prefect tasks, one per file (never per row), so each file shows up on the run page.
"""

from __future__ import annotations

import contextlib
import logging
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from prefect import Flow, State, flow, get_run_logger, task
from prefect.artifacts import create_markdown_artifact, create_table_artifact
from prefect.cache_policies import NO_CACHE
from prefect.client.schemas.objects import FlowRun
from prefect.runtime import deployment, flow_run
from prefect.utilities.annotations import quote

from biomarkers import settings
from pipeline import progress
from pipeline.discover import Candidate, Discovery, discover
from pipeline.manifest import Manifest, load_manifest
from pipeline.observe import (
    NotifyError,
    RunDetails,
    SourceReport,
    details_markdown,
    failed_runs,
    flow_failed_notification,
    notification,
    quarantine_rows,
    send_webhook,
)
from pipeline.report import FileLine, IngestSummary, file_line, markdown
from pipeline.sources import (
    SourceConfigError,
    SourceUnavailable,
    folder_roots,
    landing_dir,
    pull_source,
    remote_sources,
)
from pipeline.workers import OrderedPool
from schemas.config import Config, load_config
from schemas.operations import Operations, S3Source, SftpSource, load_operations
from warehouse.intake import IntakeContext, Prepared, load_prepared, prepare_file, timed_out
from warehouse.lock import writer_lock
from warehouse.paths import WarehousePaths
from warehouse.publish import publish
from warehouse.store import WriterStore


@task(name="load-manifest", cache_policy=NO_CACHE)
def load_manifest_task(path: Path, config: Config, store: WriterStore, run_id: str) -> Manifest:
    manifest = load_manifest(path, config)
    for name, sha, n in manifest.sources:
        store.record_manifest(sha, name, n, run_id)
    return manifest


@task(name="discover", cache_policy=NO_CACHE)
def discover_task(inbox: Path, store: WriterStore) -> Discovery:
    return discover(inbox, store.known_files())


def _io_error(task: Any, task_run: Any, state: Any) -> bool:
    """Retry a pull only when the source could not be reached — never a configuration mistake."""
    try:
        state.result()
    except SourceUnavailable:
        return True
    except Exception:
        return False
    return False


@task(
    name="pull-source",
    task_run_name="pull {src.name}",
    cache_policy=NO_CACHE,
    retries=2,
    retry_delay_seconds=[5, 30],
    retry_condition_fn=_io_error,
)
def pull_source_task(src: SftpSource | S3Source, warehouse: Path, rescan: bool) -> SourceReport:
    report = pull_source(src, warehouse, rescan=rescan)
    get_run_logger().info(
        "source %s: %d new file(s) copied, %d already pulled", src.name, report.copied, report.skipped
    )
    return report


def pull_sources(ops: Operations, warehouse: Path, rescan: bool) -> list[SourceReport]:
    """Each source alone: one that is down is reported and the others still load."""
    reports = []
    for src in remote_sources(ops.sources):
        try:
            task_ = pull_source_task.with_options(
                retries=ops.pull_retries, retry_delay_seconds=ops.pull_retry_delay_s
            )
            reports.append(task_(src, warehouse, rescan))
        except (SourceUnavailable, SourceConfigError) as exc:
            get_run_logger().error("source %s could not be pulled: %s", src.name, exc)
            reports.append(SourceReport(name=src.name, kind=src.kind, ok=False, message=str(exc)))
    return reports


@task(name="ingest-file", task_run_name="ingest {prepared.candidate.name}", cache_policy=NO_CACHE)
def ingest_file_task(
    prepared: Prepared, siblings: list[Candidate], ctx: IntakeContext
) -> tuple[FileLine, list[dict[str, str]], list[dict[str, str]]]:
    """One processed file loaded; its summary line, its quarantined rows and its failed plate runs out (for
    the run page). A data problem is a warning line, never a traceback: it is the file's verdict."""
    outcome, _ = load_prepared(prepared, siblings, ctx)
    line = file_line(outcome)
    log = get_run_logger()
    if line.needs_attention:
        log.warning("%s: %s", line.name, line.message)
    else:
        log.info("%s: %s", line.name, line.message)
    return line, quarantine_rows(outcome), failed_runs(outcome)


@task(name="notify", cache_policy=NO_CACHE, retries=2, retry_delay_seconds=[2, 10])
def notify_task(url: str, payload: dict[str, object], timeout_s: float) -> None:
    send_webhook(url, payload, timeout_s=timeout_s)


@task(name="publish", cache_policy=NO_CACHE)
def publish_task(store: WriterStore, config: Config) -> bool:
    return publish(store, config=config) is not None


@task(name="report", cache_policy=NO_CACHE)
def report_task(summary: IngestSummary, details: RunDetails) -> None:
    create_markdown_artifact(
        key="ingest-summary",
        markdown=markdown(summary) + details_markdown(details),
        description="Ingestion summary",
    )
    if details.quarantined_rows:
        create_table_artifact(
            key="ingest-quarantine",
            table=details.quarantined_rows,
            description="Rows rejected or held, with the rule and what to do (the warehouse keeps them all)",
        )
    rows = [
        {
            "file": f.name,
            "status": f.status,
            "accepted": f.accepted,
            "held": f.held,
            "unresolved": f.unresolved,
            "message": f.message,
        }
        for f in summary.attention
    ]
    if rows:
        create_table_artifact(
            key="ingest-files-needing-attention",
            table=rows,
            description="Files quarantined or loaded with issues, with the reason",
        )
    get_run_logger().info(
        "%d new files: %d loaded, %d quarantined; %d results accepted, %d held, %d unresolved",
        summary.files_new,
        summary.count("loaded") + summary.count("loaded_with_issues"),
        summary.count("quarantined"),
        summary.results_accepted,
        summary.results_held,
        summary.results_unresolved,
    )


def _on_failure(flow: Flow[Any, Any], flow_run: FlowRun, state: State[Any]) -> None:
    """A run that crashed (not a file quarantined: the whole run) tells the webhook, if one is set."""
    try:
        ops = load_operations(
            Path(flow_run.parameters["config_dir"]) if flow_run.parameters.get("config_dir") else None
        )
        url = ops.webhook_url()
        if url and "flow_failed" in ops.notifications.events:
            send_webhook(url, flow_failed_notification(str(flow_run.id), str(state.message)), timeout_s=5)
    except Exception as exc:  # the hook must never hide the run's own failure
        logging.getLogger(__name__).warning("failure notification not sent: %s", exc)


@flow(name="biomarker-ingest", log_prints=False, on_failure=[_on_failure])
def ingest_flow(
    inbox: str | None = None,
    manifest: str | None = None,
    warehouse: str | None = None,
    config_dir: str | None = None,
    trigger: str = "manual",
    pull: bool = False,
    rescan: bool = False,
) -> IngestSummary:
    """Ingest every new plate export in ``inbox`` into ``warehouse``, resolving samples via ``manifest``.

    ``pull`` first copies new files from the remote sources in ``config/operations.yaml`` into the
    warehouse's landing area and ingests those too (the nightly run does; an upload run does not);
    ``rescan`` re-reads every file at the sources. Unset locations come from the environment
    (BIOMARKERS_INBOX, BIOMARKERS_MANIFEST, BIOMARKERS_WAREHOUSE), else the project's ``data/`` folder."""
    started = time.perf_counter()
    inbox = inbox or str(settings.default_inbox())
    manifest = manifest or str(settings.default_manifest())
    warehouse = warehouse or str(settings.warehouse_dir())
    config = load_config(Path(config_dir) if config_dir else None)
    ops = load_operations(Path(config_dir) if config_dir else None)
    run_id = str(flow_run.id or uuid.uuid4())
    paths = WarehousePaths.at(warehouse)
    log = get_run_logger()
    summary = IngestSummary(run_id=run_id, inbox=str(inbox))
    details = RunDetails()
    roots, details.sources = folder_roots(ops.sources, Path(inbox))
    for s in details.sources:
        log.error("%s", s.message)
    if pull:
        pulled = pull_sources(ops, paths.root, rescan)
        details.sources += pulled
        roots += [landing_dir(paths.root, s.name) for s in pulled if s.ok]

    def waiting(holder: str) -> None:
        details.lock_waited_for = holder
        log.info("waiting for the warehouse: it is being written by %s", holder)

    with (
        server_writer_slot(ops) as slot_wait,
        writer_lock(
            paths.root, run_id=run_id, timeout_s=ops.writer_lock.timeout_s, on_wait=waiting
        ) as waited,
        WriterStore(paths, memory_limit=ops.processing.duckdb_memory_limit) as store,
    ):
        details.lock_wait_s = slot_wait + waited
        if slot_wait >= 0.5 and not details.lock_waited_for:
            details.lock_waited_for = (
                f"another deployment run (Prefect limit {ops.writer_lock.prefect_limit})"
            )
            log.info("waited %.1f s for the writer slot: %s", slot_wait, details.lock_waited_for)
        store.begin_run(run_id, inbox=str(inbox), manifest=str(manifest), trigger=trigger)
        store.record_config(config, run_id)
        samples = load_manifest_task(Path(manifest), config, store, run_id)
        ctx = IntakeContext(config=config, manifest=samples, store=store, run_id=run_id)
        for root in roots:
            found = discover_task(root, store)
            summary.files_seen += found.known + len(found.new) + len(found.companions) + len(found.duplicates)
            summary.files_known += found.known
            summary.duplicates += found.duplicates
            summary.waiting += found.skipped
            summary.refused += found.refused
            for m in found.refused:
                log.warning("%s", m)
            progress.start(len(found.new))
            used: set[str] = set()
            pool: OrderedPool[tuple[Candidate, list[Candidate]], Prepared] = OrderedPool(
                prepare_file,
                (paths, config, samples),
                workers=ops.processing.workers_for(len(found.new)),
                timeout=ops.processing.file_timeout_s,
                on_timeout=lambda item, why: timed_out(item[0], paths, why),
            )
            if pool.workers > 1:
                log.info("processing %d files in %d worker processes", len(found.new), pool.workers)
            with contextlib.closing(pool.map((c, found.siblings_of(c)) for c in found.new)) as ready:
                for (_, siblings), prepared in ready:
                    used.update(s.name for s in siblings)
                    # quote(): Prefect would otherwise walk every parameter (the configuration, the
                    # frames) looking for futures, on every file; these hold none.
                    line, qrows, failed = ingest_file_task(  # type: ignore[call-overload]
                        quote(prepared), quote(siblings), quote(ctx)
                    )
                    summary.files.append(line)
                    details.add_rows(qrows, failed)
                    progress.advance(prepared.candidate.name, line.status)
            summary.companions_waiting += [c.name for c in found.companions if c.name not in used]
        summary.published = publish_task(store, config)
        summary.warehouse_counts = store.counts()
    summary.seconds = time.perf_counter() - started
    report_task(summary, details)
    _notify(ops, summary, details)
    return summary


@contextlib.contextmanager
def server_writer_slot(ops: Operations) -> Iterator[float]:
    """On a Prefect server (a deployment run), also hold the server's writer concurrency limit, so the
    run page shows who is writing and runs on other hosts queue too; yields the seconds waited. The file
    lock still guards every run, including ``biomarkers ingest`` without a server."""
    name = ops.writer_lock.prefect_limit
    if not name or deployment.id is None:
        yield 0.0
        return
    from prefect.concurrency.sync import concurrency

    started = time.monotonic()
    with concurrency(name, occupy=1, timeout_seconds=ops.writer_lock.timeout_s, strict=True):
        yield time.monotonic() - started


def _notify(ops: Operations, summary: IngestSummary, details: RunDetails) -> None:
    """A failed notification is logged, never fails the run: the data is loaded and the run page says so."""
    url = ops.webhook_url()
    if not url:
        return
    payload = notification(summary, details, list(ops.notifications.events), run_url=flow_run.ui_url)
    if payload is None:
        return
    try:
        notify_task(url, payload, ops.notifications.timeout_s)
    except NotifyError as exc:
        get_run_logger().warning("notification not sent: %s", exc)
