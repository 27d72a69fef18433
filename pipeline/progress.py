"""A hook for showing progress over files, set by a face (the CLI's progress bar) and left unset elsewhere.

Kept as a module-level slot rather than a flow parameter: flow parameters are recorded by Prefect and
must be serialisable, and a progress bar is neither data nor part of the job.
"""

from __future__ import annotations

from typing import Protocol


class ProgressSink(Protocol):
    def start(self, total: int) -> None: ...

    def advance(self, name: str, status: str) -> None: ...


_sink: ProgressSink | None = None


def set_sink(sink: ProgressSink | None) -> None:
    global _sink
    _sink = sink


def start(total: int) -> None:
    if _sink is not None:
        _sink.start(total)


def advance(name: str, status: str) -> None:
    if _sink is not None:
        _sink.advance(name, status)
