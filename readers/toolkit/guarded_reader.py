"""The shell every vendor reader shares: a sniff that can never raise, a read that only ever raises
ReaderError.

Each reader used to repeat the same two methods (a try/except around its sniff, :func:`read_guarded`
around its parse); a subclass now states only what differs — how it recognises a file, how it parses one,
and the words of its error texts.
"""

from __future__ import annotations

from typing import ClassVar

from readers.base import FileInput, ReadResult, Sniff, read_guarded


class GuardedReader:
    """Base of a reader: subclasses set the class variables and implement ``recognise`` and ``parse``."""

    name: ClassVar[str]  # short id, e.g. "xponent"
    label: ClassVar[str]  # what a lab person calls the format
    looked_for: ClassVar[str]  # what the sniff looked for, shown when nothing matched
    what: ClassVar[str]  # completes "could not read …", e.g. "this file as a Luminex xPONENT CSV export"
    todo: ClassVar[str]  # how to get a readable export

    def sniff(self, text_head: str, file: FileInput) -> Sniff:
        try:
            return self.recognise(text_head, file)
        except Exception:  # a sniff must never stop the other readers from being tried
            return Sniff(False, self.looked_for)

    def read(self, file: FileInput) -> ReadResult:
        return read_guarded(file, lambda: self.parse(file), what=self.what, todo=self.todo)

    def recognise(self, text_head: str, file: FileInput) -> Sniff:
        raise NotImplementedError

    def parse(self, file: FileInput) -> ReadResult:
        raise NotImplementedError
