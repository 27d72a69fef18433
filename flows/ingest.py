"""The ingestion flow — the story of the job: pull from the delivery sources → wait for the writer's turn →
discover → prepare (read, fit, resolve, validate, in worker processes) → load → publish → report
(artifacts, optional webhook). Each step is a named plain function here or a function of pipeline/ and
warehouse/; this module only strings them together, with a Prefect task where the run page must show the
step (one per file, never per row).
"""

from __future__ import annotations

import contextlib
import logging
import time
import uuid
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any, cast

from prefect import Flow, State, flow, get_run_logger, task
from prefect.artifacts import create_markdown_artifact, create_table_artifact
from prefect.cache_policies import NO_CACHE
from prefect.client.schemas.objects import FlowRun
from prefect.runtime import deployment, flow_run
from prefect.states import Completed
from prefect.utilities.annotations import quote

from pipeline import progress
from pipeline.batches import BatchLimits, batches
from pipeline.discover import Candidate, Discovery, discover
from pipeline.intake import Batch, IntakeContext, Prepared, load_batch, prepare_file, timed_out
from pipeline.manifest import load_manifest
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
from pipeline.report import (
    FileLine,
    IngestSummary,
    file_line,
    markdown,
    one_line,
    state_name,
)
from pipeline.sources import (
    SourceConfigError,
    SourceUnavailable,
    folder_roots,
    landing_dir,
    pull_source,
    remote_sources,
)
from pipeline.workers import OrderedPool
from pipeline.writer_turn import writer_turn
from schemas import settings
from schemas.config import Config, load_config
from schemas.manifest import Manifest
from schemas.operations import FolderSource, Operations, S3Source, SftpSource, load_operations
from warehouse.late_resolution import record_manifest_samples, resolve_late
from warehouse.paths import WarehousePaths
from warehouse.publish import publish
from warehouse.store import WriterStore


@task(name="load-manifest", cache_policy=NO_CACHE)
def load_manifest_task(path: Path, config: Config, store: WriterStore, run_id: str) -> Manifest:
    manifest = load_manifest(path, config)
    for name, sha, n in manifest.sources:
        store.record_manifest(sha, name, n, run_id)
    record_manifest_samples(store, manifest, run_id)
    late = resolve_late(store, manifest, config, run_id)
    if late.results:
        get_run_logger().info(
            "resolved late: %d samples (%d results) measured before their manifest arrived",
            late.samples,
            late.results,
        )
    return manifest


@task(name="discover", cache_policy=NO_CACHE)
def discover_task(
    inbox: Path,
    store: WriterStore,
    sender: tuple[str | None, str | None] = (None, None),
    uploads: bool = False,
    settle_s: float = 0.0,
) -> Discovery:
    return discover(
        inbox, store.known_files(), lab=sender[0], via=sender[1], uploads=uploads, settle_s=settle_s
    )


def root_senders(ops: Operations, inbox: Path, warehouse: Path) -> dict[Path, tuple[str | None, str | None]]:
    """Who delivers to each folder read: the lab configured for its source (operations.yaml), by path."""
    out: dict[Path, tuple[str | None, str | None]] = {}
    for s in ops.sources:
        if s.lab is None:
            continue
        if isinstance(s, FolderSource):
            where = Path(s.path).expanduser().resolve() if s.path else Path(inbox).resolve()
        else:
            where = landing_dir(warehouse, s.name).resolve()
        out[where] = (s.lab, f"source {s.name}")
    return out


def run_actor(trigger: str) -> str:
    """Who the run's audit entries name when no lab sent the file: BIOMARKERS_USER (`--user`, a service
    account), else the Prefect deployment and flow run, else the OS user with the flow run."""
    import os

    explicit = os.environ.get("BIOMARKERS_USER", "").strip()
    if explicit:
        return explicit
    run = f"flow run {flow_run.name}" if flow_run.name else "flow run"
    if deployment.name:
        return f"prefect deployment {deployment.name}, {run}"
    return f"{settings.actor()} ({trigger}, {run})"


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


FileResult = tuple[FileLine, list[dict[str, str]], list[dict[str, str]]]
PrepareItem = tuple[Candidate, list[Candidate]]

FILE_STATE_NAMES = {"quarantined": "Quarantined", "attention": "Needs attention"}
"""Task state names on the run page for a file a person must look at (still Completed: the task did its
job; the file's verdict is data, not an error)."""


@task(name="load-files", cache_policy=NO_CACHE)
def load_batch_task(batch: Batch, ctx: IntakeContext) -> State[list[FileResult]]:
    """Processed files loaded in one transaction (group commit: pipeline/intake.py ``load_batch``); per
    file its summary line, its quarantined rows and its failed plate runs out (for the run page), and one
    log line naming it. A data problem is a warning line, never a traceback: it is the file's verdict, and
    the task's state name says the worst of the batch ("Quarantined", "Needs attention")."""
    log = get_run_logger()
    out: list[FileResult] = []
    for outcome, _ in load_batch(batch, ctx):
        line = file_line(outcome)
        said = one_line(line.message, 300)
        said = said if said.startswith(line.name) else f"{line.name}: {said}"
        if line.needs_attention:
            log.warning("%s", said)
        else:
            log.info("%s", said)
        out.append((line, quarantine_rows(outcome), failed_runs(outcome)))
    lines = [r[0] for r in out]
    worst = next((FILE_STATE_NAMES[k] for k in FILE_STATE_NAMES if any(f.outcome == k for f in lines)), None)
    # The returned state is the task's final state; the flow reads its data (call with return_state=True).
    return Completed(name=worst or "Completed", message=batch_message(lines), data=out)


def batch_run_name(batch: Batch) -> str:
    """The task's name on the run page: the file's name, or the batch's first and last files."""
    names = [p.candidate.name for p, _ in batch]
    if len(names) == 1:
        return f"ingest {names[0]}"
    return f"ingest {len(names)} files: {names[0]} … {names[-1]}"


def batch_message(lines: list[FileLine]) -> str:
    """The batch task's state message: one file's reason, or the count of files by outcome."""
    if len(lines) == 1:
        return one_line(lines[0].message, 200)
    counts: dict[str, int] = {}
    for f in lines:
        counts[f.outcome] = counts.get(f.outcome, 0) + 1
    return f"{len(lines)} files: " + ", ".join(f"{n} {BATCH_WORDS[k]}" for k, n in counts.items())


BATCH_WORDS = {
    "clean": "loaded",
    "warnings": "with warnings",
    "attention": "need attention",
    "quarantined": "quarantined",
}


@task(name="notify", cache_policy=NO_CACHE, retries=2, retry_delay_seconds=[2, 10])
def notify_task(url: str, payload: dict[str, object], timeout_s: float) -> None:
    send_webhook(url, payload, timeout_s=timeout_s)


@task(name="publish", cache_policy=NO_CACHE)
def publish_task(store: WriterStore, config: Config) -> bool:
    return publish(store, config=config) is not None


@task(name="report", cache_policy=NO_CACHE)
def report_task(summary: IngestSummary, details: RunDetails, run_name: str) -> None:
    """The three artifacts of a run (docs/operations.md "What a run tells people")."""
    create_markdown_artifact(
        key="ingest-summary",
        markdown=markdown(summary, run_name) + details_markdown(details),
        description=f"Ingestion summary: {summary.state_message()}",
    )
    if details.quarantined_rows:
        create_table_artifact(
            key="ingest-quarantine",
            table=details.quarantined_rows,
            description="Rows refused or held: rule, message (what is wrong and what to do), file, plate, "
            "well, sample, analyte, value as written (the warehouse's quarantine view keeps them all)",
        )
    if summary.files:
        create_table_artifact(
            key="ingest-files",
            table=[
                {
                    "file": f.name,
                    "batch": f.batch,
                    "outcome": f.outcome,
                    "accepted": f.accepted,
                    "held": f.held - f.run_rejected,
                    "failed_runs": f.run_rejected,
                    "unresolved": f.unresolved,
                    "refused": f.rejected_rows,
                }
                for f in summary.files
            ],
            description="Every new file of the run, in load order: the batch (one transaction) it was "
            "loaded in, its outcome and counts (the reasons: ingest-files-needing-attention)",
        )
    rows = [
        {
            "file": f.name,
            "outcome": f.outcome,
            "accepted": f.accepted,
            "held": f.held - f.run_rejected,
            "failed_runs": f.run_rejected,
            "unresolved": f.unresolved,
            "refused": f.rejected_rows,
            "message": f.message,
        }
        for f in summary.attention
    ]
    if rows:
        create_table_artifact(
            key="ingest-files-needing-attention",
            table=rows,
            description="Files quarantined, or loaded with results held, refused or waiting for their "
            "sample ID: one row per file with the counts and the full reason",
        )
    get_run_logger().info("%s", summary.state_message())


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


def run_name() -> str:
    """Readable run names on the server: ``nightly 2026-12-03`` (one a day); other triggers with the time
    (``upload 2026-12-03 14:05``), as several a day are usual. UTC, from the run's scheduled start."""
    params = flow_run.parameters or {}
    trigger = str(params.get("trigger") or "manual")
    start = flow_run.scheduled_start_time
    when = start.strftime("%Y-%m-%d") if trigger == "nightly" else start.strftime("%Y-%m-%d %H:%M")
    return f"{trigger} {when}"


@dataclass(frozen=True)
class RunPlaces:
    """Where a run reads and writes, and the configuration it runs with: the flow's parameters, else the
    environment (BIOMARKERS_INBOX, BIOMARKERS_MANIFEST, BIOMARKERS_WAREHOUSE), else the project's data/."""

    inbox: Path
    manifest: Path
    paths: WarehousePaths
    config: Config
    ops: Operations


def locate(
    inbox: str | None, manifest: str | None, warehouse: str | None, config_dir: str | None
) -> RunPlaces:
    where = Path(config_dir) if config_dir else None
    return RunPlaces(
        inbox=Path(inbox or settings.default_inbox()),
        manifest=Path(manifest or settings.default_manifest()),
        paths=WarehousePaths.at(warehouse or settings.warehouse_dir()),
        config=load_config(where),
        ops=load_operations(where),
    )


def pull_new_files(places: RunPlaces, details: RunDetails, *, remote: bool, rescan: bool) -> list[Path]:
    """The folders this run reads: the configured folder sources (one that is missing is reported, the
    others still read) and, when ``remote``, the landing folders of the remote sources pulled now."""
    log = get_run_logger()
    roots, details.sources = folder_roots(places.ops.sources, places.inbox)
    for s in details.sources:
        log.error("%s", s.message)
    if remote:
        pulled = pull_sources(places.ops, places.paths.root, rescan)
        details.sources += pulled
        roots += [landing_dir(places.paths.root, s.name) for s in pulled if s.ok]
    return roots


def open_run(store: WriterStore, places: RunPlaces, run_id: str, trigger: str) -> IntakeContext:
    """Record the run and the configuration it uses, then read the manifest (resolving the samples that
    were waiting for it): what every file's load needs."""
    store.begin_run(run_id, inbox=str(places.inbox), manifest=str(places.manifest), trigger=trigger)
    store.record_config(places.config, run_id)
    samples = load_manifest_task(places.manifest, places.config, store, run_id)
    return IntakeContext(config=places.config, manifest=samples, store=store, run_id=run_id)


def senders_by_root(places: RunPlaces, lab: str | None) -> dict[Path, tuple[str | None, str | None]]:
    """Who delivers to each folder read (operations.yaml); ``--lab`` names the inbox's lab."""
    senders = root_senders(places.ops, places.inbox, places.paths.root)
    if lab:
        senders[places.inbox.resolve()] = (lab, "ingest --lab")
    return senders


def load(batch: Batch, ctx: IntakeContext, summary: IngestSummary, details: RunDetails) -> None:
    """One batch of processed files into the warehouse: one Prefect task, one transaction; every file
    still named on the run page (a log line each, a row each in the ``ingest-files`` artifact)."""
    summary.batches += 1
    # quote(): Prefect would otherwise walk every parameter (the configuration, the frames) looking for
    # futures, on every batch; these hold none.
    task_ = load_batch_task.with_options(task_run_name=batch_run_name(batch))
    state = task_(quote(batch), quote(ctx), return_state=True)
    for line, qrows, failed in cast(list[FileResult], state.result()):
        summary.files.append(replace(line, batch=summary.batches))
        details.add_rows(qrows, failed)
        progress.advance(line.name, line.status)


def prepare_and_load(
    found: Discovery,
    ctx: IntakeContext,
    places: RunPlaces,
    assay: str | None,
    summary: IngestSummary,
    details: RunDetails,
) -> None:
    """Process the new files ahead in worker processes (pipeline/workers.py) while this process, the one
    writer, loads them in discovery order; a file still being copied in is left for the next run."""
    log = get_run_logger()
    processing = places.ops.processing
    progress.start(len(found.new))
    used: set[str] = set()
    pool: OrderedPool[PrepareItem, Prepared] = OrderedPool(
        prepare_file,
        (places.paths, places.config, ctx.manifest, assay, processing.unfinished_wait_s),
        workers=processing.workers_for(len(found.new)),
        timeout=processing.file_timeout_s,
        on_timeout=lambda item, why: timed_out(item[0], places.paths, why),
    )
    if pool.workers > 1:
        log.info("processing %d files in %d worker processes", len(found.new), pool.workers)

    def ready(
        processed: Iterable[tuple[PrepareItem, Prepared]],
    ) -> Iterator[tuple[Prepared, list[Candidate]]]:
        for (_, siblings), prepared in processed:
            used.update(s.name for s in siblings)
            if prepared.left:  # still being copied in: not loaded, read again next run
                summary.copying.append(prepared.left)
                log.warning("%s", prepared.left)
                progress.advance(prepared.candidate.name, "waiting")
                continue
            yield prepared, siblings

    with contextlib.closing(pool.map((c, found.siblings_of(c)) for c in found.new)) as processed:
        for batch in batches(
            ready(processed),
            BatchLimits.of(processing),
            rows_of=lambda item: item[0].rows,
            next_pending=pool.next_in_progress if pool.workers > 1 else None,
        ):
            load(batch, ctx, summary, details)
    summary.companions_waiting += [c.name for c in found.companions if c.name not in used]


@flow(name="biomarker-ingest", flow_run_name=run_name, log_prints=False, on_failure=[_on_failure])
def ingest_flow(
    inbox: str | None = None,
    manifest: str | None = None,
    warehouse: str | None = None,
    config_dir: str | None = None,
    trigger: str = "manual",
    pull: bool = False,
    rescan: bool = False,
    lab: str | None = None,
    assay: str | None = None,
) -> IngestSummary:
    """Ingest every new plate export in ``inbox`` into ``warehouse``, resolving samples via ``manifest``.

    ``pull`` first copies new files from the remote sources in ``config/operations.yaml`` into the
    warehouse's landing area and ingests those too (the nightly run does; an upload run does not);
    ``rescan`` re-reads every file at the sources; ``assay`` (an assay_id) is the assay of exports that
    name neither analyte nor protocol (plate readers). ``lab``: the lab that delivered the inbox's files (else
    the lab operations.yaml configures for the inbox source, else none). Unset locations come from the
    environment (BIOMARKERS_INBOX, BIOMARKERS_MANIFEST, BIOMARKERS_WAREHOUSE), else the project's ``data/``
    folder.

    Calling the flow returns the :class:`IngestSummary`; the run ends Completed, named "Needs attention"
    when a file was quarantined or results were held, refused or unresolved, with the counts as message.

    The story: pull → wait for the writer's turn → discover → prepare → load → publish → report."""
    started = time.perf_counter()
    places = locate(inbox, manifest, warehouse, config_dir)
    run_id = str(flow_run.id or uuid.uuid4())
    log = get_run_logger()
    summary = IngestSummary(run_id=run_id, inbox=str(places.inbox))
    details = RunDetails()
    roots = pull_new_files(places, details, remote=pull, rescan=rescan)
    with (
        writer_turn(
            places.paths.root,
            run_id=run_id,
            lock=places.ops.writer_lock,
            on_server=deployment.id is not None,
            say=log.info,
        ) as turn,
        WriterStore(
            places.paths, actor=run_actor(trigger), memory_limit=places.ops.processing.duckdb_memory_limit
        ) as store,
    ):
        details.lock_wait_s, details.lock_waited_for = turn.waited_s, turn.waited_for
        ctx = open_run(store, places, run_id, trigger)
        senders = senders_by_root(places, lab)
        for root in roots:
            found = discover_task(
                root,
                store,
                senders.get(Path(root).resolve(), (None, None)),
                uploads=trigger == "upload",
                settle_s=places.ops.processing.settle_s,
            )
            for m in summary.add_discovery(found):
                log.warning("%s", m)
            prepare_and_load(found, ctx, places, assay, summary, details)
        summary.published = publish_task(store, places.config)
        summary.warehouse_counts = store.counts()
    summary.seconds = time.perf_counter() - started
    report_task(summary, details, str(flow_run.name or ""))
    _notify(places.ops, summary, details)
    # Prefect makes a returned state the run's final state and returns its data to the caller.
    final: State[IngestSummary] = Completed(
        name=state_name(summary), message=summary.state_message(), data=summary
    )
    return cast(IngestSummary, final)


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
