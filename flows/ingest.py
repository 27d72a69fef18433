"""The ingestion flow — the story of the job: discover → read, resolve, validate and load each file →
publish → report. The work lives in plain functions (pipeline/, warehouse/); this module only strings them
together as Prefect tasks, one per file (never per row), so each file shows up on the run page.
"""

from __future__ import annotations

import time
import uuid
from pathlib import Path

from prefect import flow, get_run_logger, task
from prefect.artifacts import create_markdown_artifact, create_table_artifact
from prefect.cache_policies import NO_CACHE
from prefect.runtime import flow_run

from biomarkers import settings
from pipeline import progress
from pipeline.discover import Candidate, Discovery, discover
from pipeline.manifest import Manifest, load_manifest
from pipeline.report import FileLine, IngestSummary, file_line, markdown
from schemas.config import Config, load_config
from warehouse.intake import IntakeContext, intake
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


@task(name="ingest-file", task_run_name="ingest {candidate.name}", cache_policy=NO_CACHE)
def ingest_file_task(candidate: Candidate, siblings: list[Candidate], ctx: IntakeContext) -> FileLine:
    outcome, _ = intake(candidate, siblings, ctx)
    line = file_line(outcome)
    log = get_run_logger()
    if line.needs_attention:
        log.warning("%s: %s", line.name, line.message)
    else:
        log.info("%s: %s", line.name, line.message)
    return line


@task(name="publish", cache_policy=NO_CACHE)
def publish_task(store: WriterStore, config: Config) -> bool:
    return publish(store, config=config) is not None


@task(name="report", cache_policy=NO_CACHE)
def report_task(summary: IngestSummary) -> None:
    create_markdown_artifact(
        key="ingest-summary", markdown=markdown(summary), description="Ingestion summary"
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


@flow(name="biomarker-ingest", log_prints=False)
def ingest_flow(
    inbox: str | None = None,
    manifest: str | None = None,
    warehouse: str | None = None,
    config_dir: str | None = None,
    trigger: str = "manual",
) -> IngestSummary:
    """Ingest every new plate export in ``inbox`` into ``warehouse``, resolving samples via ``manifest``.

    Unset locations come from the environment (BIOMARKERS_INBOX, BIOMARKERS_MANIFEST,
    BIOMARKERS_WAREHOUSE), else the project's ``data/`` folder."""
    started = time.perf_counter()
    inbox = inbox or str(settings.default_inbox())
    manifest = manifest or str(settings.default_manifest())
    warehouse = warehouse or str(settings.warehouse_dir())
    config = load_config(Path(config_dir) if config_dir else None)
    run_id = str(flow_run.id or uuid.uuid4())
    paths = WarehousePaths.at(warehouse)
    summary = IngestSummary(run_id=run_id, inbox=str(inbox))
    with WriterStore(paths) as store:
        store.begin_run(run_id, inbox=str(inbox), manifest=str(manifest), trigger=trigger)
        samples = load_manifest_task(Path(manifest), config, store, run_id)
        found = discover_task(Path(inbox), store)
        summary.files_seen = found.known + len(found.new) + len(found.companions) + len(found.duplicates)
        summary.files_known, summary.duplicates = found.known, found.duplicates
        ctx = IntakeContext(config=config, manifest=samples, store=store, run_id=run_id)
        progress.start(len(found.new))
        used: set[str] = set()
        for c in found.new:
            siblings = found.siblings_of(c)
            used.update(s.name for s in siblings)
            line = ingest_file_task(c, siblings, ctx)
            summary.files.append(line)
            progress.advance(c.name, line.status)
        summary.companions_waiting = [c.name for c in found.companions if c.name not in used]
        summary.published = publish_task(store, config)
        summary.warehouse_counts = store.counts()
    summary.seconds = time.perf_counter() - started
    report_task(summary)
    return summary
