"""The shell every vendor reader shares: a sniff that can never raise, a read that only ever raises
ReaderError.

Each reader used to repeat the same two methods (a try/except around its sniff, :func:`read_guarded`
around its parse) and the same start of its parse state; a subclass now states only what differs: how it
recognises a file, the class that parses one, and the words of its messages.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import ClassVar

from readers.base import FileInput, ReadResult, Sniff, read_guarded


@dataclass(frozen=True)
class ReaderTexts:
    looked_for: str  # what the sniff looked for, shown when nothing matched
    what: str  # completes "could not read …", e.g. "this file as a Luminex xPONENT CSV export"
    todo: str  # how to get a readable export


class ParseRun:
    """The state of one read of one file: subclasses add theirs and implement :meth:`run`."""

    def __init__(self, file: FileInput) -> None:
        self.file = file
        self.warnings: list[str] = []

    def run(self) -> ReadResult:
        raise NotImplementedError


@dataclass(frozen=True)
class _Parts:
    recognise: Callable[[str, FileInput], Sniff]  # how the reader knows its files (may raise)
    parser: type[ParseRun]  # the class whose run() reads one file


class GuardedReader:
    """Base of a reader. A subclass sets ``name`` and ``label`` and passes the rest as class arguments::

    class XponentReader(GuardedReader, texts=_TEXTS, recognise=_sniff, parser=_Parse):
        name: ClassVar[str] = "xponent"
        label: ClassVar[str] = "Luminex xPONENT CSV export"
    """

    name: ClassVar[str]  # short id, e.g. "xponent"
    label: ClassVar[str]  # what a lab person calls the format
    texts: ClassVar[ReaderTexts]
    parts: ClassVar[_Parts]

    def __init_subclass__(
        cls,
        *,
        texts: ReaderTexts,
        parser: type[ParseRun],
        recognise: Callable[[str, FileInput], Sniff],
        **kwargs: object,
    ) -> None:
        super().__init_subclass__(**kwargs)
        cls.texts = texts
        cls.parts = _Parts(recognise, parser)

    def sniff(self, text_head: str, file: FileInput) -> Sniff:
        try:
            return self.parts.recognise(text_head, file)
        except Exception:  # a sniff must never stop the other readers from being tried
            return Sniff(False, self.texts.looked_for)

    def read(self, file: FileInput) -> ReadResult:
        return read_guarded(
            file, lambda: self.parts.parser(file).run(), what=self.texts.what, todo=self.texts.todo
        )
