"""The one interface every vendor reader implements, and the error type readers raise.

A reader turns the bytes of one export into the canonical well table (schemas/wells.py) plus plate-level
metadata. Readers never touch the warehouse, the manifest or Prefect: they are pure functions of bytes.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import ClassVar, Protocol

import polars as pl


class ReaderError(Exception):
    """An export cannot be read. The message says what was expected, where, and what to do.

    ``line`` is the 1-based line/row where the problem was found, when there is one. ``details`` holds what
    a lab person does not need to read first (each format tried and why it declined): shown by
    ``biomarkers inspect --verbose``, the upload API's ``details`` and the quarantine row, never in the
    message itself.
    """

    def __init__(
        self, message: str, *, file: str | None = None, line: int | None = None, details: str | None = None
    ) -> None:
        self.file = file
        self.line = line
        self.details = details
        where = ""
        if file:
            where = f"{file}"
            if line:
                where += f", line {line}"
            where += ": "
        super().__init__(where + message)
        self.reason = message


@dataclass(frozen=True)
class FileInput:
    """One uploaded/discovered file. ``siblings`` are the other files delivered with it (name → bytes),
    e.g. the plate map that belongs to a plate-reader grid."""

    name: str
    data: bytes
    siblings: Mapping[str, bytes] = field(default_factory=dict)


@dataclass(frozen=True)
class PlateInfo:
    plate_id: str
    protocol: str | None = None  # panel/protocol/kit name as written (used to match the assay)
    instrument: str | None = None
    acquired_at: str | None = None  # as written in the file (formats vary too much to trust a parse)
    operator: str | None = None
    kit_lot: str | None = None
    extra: Mapping[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class ReadResult:
    format: str  # reader name, e.g. "xponent"
    wells: pl.DataFrame  # canonical well table (schemas.wells.WELL_SCHEMA), before unit conversion
    plates: list[PlateInfo]
    companions: list[str] = field(default_factory=list)  # sibling names this read used (e.g. a plate map)
    warnings: list[str] = field(default_factory=list)


@dataclass(frozen=True)
class Sniff:
    """Whether a reader recognises a file by content; ``reason`` says what it looked for (shown to the
    user when no reader matches)."""

    matched: bool
    reason: str
    score: int = 0  # higher wins when several readers match


class Reader(Protocol):
    name: ClassVar[str]  # short id, e.g. "xponent"
    label: ClassVar[str]  # what a lab person calls it, e.g. "Luminex xPONENT CSV export"

    def sniff(self, text_head: str, file: FileInput) -> Sniff: ...

    def read(self, file: FileInput) -> ReadResult: ...


def read_guarded(file: FileInput, parse: Callable[[], ReadResult], *, what: str, todo: str) -> ReadResult:
    """Run a reader's ``parse``; anything but a ReaderError becomes one naming the format and what to do.

    Every reader promises that no raw exception escapes ``read()`` whatever the bytes: the flow and the
    upload page must always get a sentence a lab person can act on. ``what`` completes "could not read …"
    (e.g. "this file as a Luminex xPONENT CSV export"); ``todo`` says how to get a readable export.
    """
    try:
        return parse()
    except ReaderError:
        raise
    except Exception as exc:
        raise ReaderError(
            f"could not read {what} ({type(exc).__name__}: {exc}). {todo}", file=file.name
        ) from exc
