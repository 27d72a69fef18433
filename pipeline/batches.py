"""Grouping the processed files that are ready into batches for the writer (group commit, issue 18).

The writer's fixed cost per transaction (the COMMIT, the audit heads log, a Prefect task and its events)
is larger than a small file's rows, so it takes the files that are ready together. How many is bounded,
so that a batch's memory, the work a crash or a failed batch redoes, and the time before loaded files are
visible all stay small (operations.yaml ``processing``: ``batch_files``, ``batch_rows``,
``batch_window_s``). Which files share a batch never changes what is loaded: each file is decided as if
alone, in discovery order (pipeline/intake.py ``load_batch``).
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from typing import TypeVar

from schemas.operations import Processing

T = TypeVar("T")


@dataclass(frozen=True)
class BatchLimits:
    """When a batch closes: at ``files`` files, at ``rows`` rows, or ``window_s`` seconds after it opened."""

    files: int = 1
    rows: int = 250_000
    window_s: float = 2.0

    @classmethod
    def of(cls, processing: Processing) -> BatchLimits:
        return cls(processing.batch_files, processing.batch_rows, processing.batch_window_s)


def batches(
    items: Iterable[T],
    limits: BatchLimits,
    *,
    rows_of: Callable[[T], int],
    next_pending: Callable[[], bool] | None = None,
    clock: Callable[[], float] = time.monotonic,
) -> Iterator[list[T]]:
    """``items`` in order, in consecutive batches within ``limits``. ``next_pending()`` says whether the
    next item is still being processed by a worker: then the batch closes now rather than keep the writer
    idle while the files it holds wait for their commit. An item is never held back: the
    last batch is yielded as soon as ``items`` ends."""
    batch: list[T] = []
    rows = 0
    opened = 0.0
    for item in items:
        if not batch:
            opened = clock()
        batch.append(item)
        rows += rows_of(item)
        full = len(batch) >= limits.files or rows >= limits.rows
        if full or clock() - opened >= limits.window_s or (next_pending is not None and next_pending()):
            yield batch
            batch, rows = [], 0
    if batch:
        yield batch
