"""The two promises every reader makes, kept once: ``sniff`` never raises (a failing sniff must not stop the
other readers from being tried) and ``read`` raises nothing but :class:`readers.base.ReaderError` (the flow
and the upload page always get a sentence a lab person can act on).

A reader subclasses :class:`GuardedReader`, sets ``looked_for`` (what its sniff looks for, shown when no
reader matches), ``what`` and ``todo`` (completing the refusal of an unexpected failure), and writes
``recognise`` and ``parse``.
"""

from __future__ import annotations

from typing import ClassVar

from readers.base import FileInput, ReadResult, Sniff, read_guarded


class GuardedReader:
    name: ClassVar[str]
    label: ClassVar[str]
    looked_for: ClassVar[str]
    what: ClassVar[str]  # completes "could not read …", e.g. "this SoftMax Pro text export"
    todo: ClassVar[str]  # how to get a readable export

    def recognise(self, text_head: str, file: FileInput) -> Sniff:
        raise NotImplementedError

    def parse(self, file: FileInput) -> ReadResult:
        raise NotImplementedError

    def sniff(self, text_head: str, file: FileInput) -> Sniff:
        try:
            return self.recognise(text_head, file)
        except Exception:  # a sniff must never stop the other readers from being tried
            return Sniff(False, self.looked_for)

    def read(self, file: FileInput) -> ReadResult:
        return read_guarded(file, lambda: self.parse(file), what=self.what, todo=self.todo)
