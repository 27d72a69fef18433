"""Taking one discovered file into the warehouse: raw copy first, then process, then one load transaction.

The raw bytes are kept before anything else happens, so even a file that crashes the reader is preserved
under its SHA-256. Anything unexpected while processing quarantines that file with the reason and lets
the other files go on.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

import polars as pl

from pipeline.discover import Candidate
from pipeline.manifest import Manifest
from pipeline.outcome import FileOutcome
from pipeline.process import process_file
from readers.base import FileInput
from schemas.config import Config
from schemas.results import QUARANTINE_SCHEMA
from warehouse.raw import keep_raw, sha256_of
from warehouse.store import LoadReport, WriterStore

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class IntakeContext:
    config: Config
    manifest: Manifest
    store: WriterStore
    run_id: str


def internal_error_outcome(c: Candidate, exc: BaseException) -> FileOutcome:
    msg = (
        f"{c.name}: the pipeline failed on this file ({type(exc).__name__}: {exc}). The file is kept and "
        "quarantined; tell the data team, who will fix the pipeline and re-run it."
    )
    q = pl.DataFrame(
        [
            {
                "source_file": c.name,
                "source_sha256": c.sha256,
                "rule": "internal_error",
                "severity": "reject",
                "message": msg,
            }
        ],
        schema_overrides=QUARANTINE_SCHEMA,
    )
    return FileOutcome(
        source_file=c.name,
        source_sha256=c.sha256,
        size_bytes=c.size,
        format=None,
        status="quarantined",
        message=msg,
        quarantine=q.select(
            [
                pl.col(k).cast(v) if k in q.columns else pl.lit(None, v).alias(k)
                for k, v in QUARANTINE_SCHEMA.items()
            ]
        ),
    )


def intake(c: Candidate, siblings: list[Candidate], ctx: IntakeContext) -> tuple[FileOutcome, LoadReport]:
    data = c.path.read_bytes()
    sha = sha256_of(data)
    if sha != c.sha256:  # the file changed between discovery and now (still being copied in)
        c = Candidate(path=c.path, name=c.name, sha256=sha, size=len(data))
    keep_raw(ctx.store.paths, data, sha)
    sib_bytes: dict[str, bytes] = {}
    for s in siblings:
        b = s.path.read_bytes()
        keep_raw(ctx.store.paths, b, s.sha256)
        sib_bytes[s.name] = b
    try:
        outcome = process_file(
            FileInput(name=c.name, data=data, siblings=sib_bytes), sha, ctx.config, ctx.manifest
        )
    except Exception as exc:  # a pipeline defect must not stop the other files
        log.exception("processing %s failed", c.name)
        outcome = internal_error_outcome(c, exc)
    used = [(s.sha256, s.name, s.size) for s in siblings if s.name in outcome.companions]
    report = ctx.store.load(outcome, ctx.run_id, companions=used, config=ctx.config)
    return outcome, report
