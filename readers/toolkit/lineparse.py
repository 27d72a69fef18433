"""The state every line-oriented read starts from: the file, its decoded lines, the warnings collected on the
way, and the error that names the file and line.

Written once so that each reader's parse class starts the same way (a BOM dropped, CRLF/LF/CR alike) and a
lab person always gets ``<file>, line <n>: <what>``.
"""

from __future__ import annotations

from readers.base import FileInput, ReaderError
from readers.text import decode, split_lines


class LineParse:
    """Base of a reader's parse state: ``file``, ``lines`` (without endings), ``warnings``."""

    def __init__(self, file: FileInput, text: str | None = None) -> None:
        self.file = file
        self.lines = split_lines((decode(file.data) if text is None else text).lstrip("\ufeff"))
        self.warnings: list[str] = []

    def error(self, message: str, line: int | None = None) -> ReaderError:
        return ReaderError(message, file=self.file.name, line=line)
