"""Lines of a text export: the parse state a line-oriented read starts from, and one line's cells.

Written once so that each reader's parse class starts the same way (a BOM dropped, CRLF/LF/CR alike, a lab
person always gets ``<file>, line <n>: <what>``), and a line is cut into cells the same way: parsed alone
(a stray quote never swallows the next line), NULs that re-saved files carry dropped, cells trimmed.
"""

from __future__ import annotations

from readers.base import FileInput, ReaderError
from readers.text import decode, split_lines
from readers.toolkit.cells import split_line
from readers.toolkit.guarded_reader import ParseRun

_BLANK_CHARS = " \t,;\"'\ufeff"


class LineParse(ParseRun):
    """The parse state of a text export: ``file``, ``warnings`` (ParseRun) and ``lines`` (without endings).
    ``text`` replaces the decoded bytes (e.g. a workbook sheet written as tab-separated lines)."""

    def __init__(self, file: FileInput, text: str | None = None) -> None:
        super().__init__(file)
        self.lines = split_lines((decode(file.data) if text is None else text).lstrip("\ufeff"))

    def error(self, message: str, line: int | None = None) -> ReaderError:
        return ReaderError(message, file=self.file.name, line=line)


def trimmed_cells(line: str, delimiter: str) -> list[str]:
    """The cells of one line, each stripped of surrounding spaces."""
    return [c.strip() for c in split_line(line, delimiter)]


def is_blank_line(line: str) -> bool:
    """True when the line holds no cell text (only delimiters, spaces and quotes)."""
    return not line.strip(_BLANK_CHARS)
