"""Lines of a text export: the parse state a line-oriented read starts from, and one line's cells.

Written once so that each reader's parse class starts the same way (a BOM dropped, CRLF/LF/CR alike, a lab
person always gets ``<file>, line <n>: <what>``), and a line is cut into cells the same way: parsed alone
(a stray quote never swallows the next line), NULs that re-saved files carry dropped, cells trimmed.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import TypeVar

from readers.base import FileInput, ReaderError
from readers.text import decode, split_lines
from readers.toolkit.cells import split_line
from readers.toolkit.guarded_reader import ParseRun

T = TypeVar("T")

_BLANK_CHARS = " \t,;\"'\ufeff"


class LineParse(ParseRun):
    """The parse state of a text export: ``file``, ``warnings`` (ParseRun) and ``lines`` (without endings).
    ``text`` replaces the decoded bytes (e.g. a workbook sheet written as tab-separated lines)."""

    def __init__(self, file: FileInput, text: str | None = None) -> None:
        super().__init__(file)
        self.lines = split_lines((decode(file.data) if text is None else text).lstrip("\ufeff"))

    def error(self, message: str, line: int | None = None) -> ReaderError:
        return ReaderError(message, file=self.file.name, line=line)

    def found(self, what: T | None, missing: str) -> T:
        """``what`` (a header, a layout) when the file has it; otherwise the error ``missing``."""
        if what is None:
            raise self.error(missing)
        return what

    def table_rows(self, header: int, delimiter: str, export_again: str) -> Iterator[tuple[int, list[str]]]:
        """(1-based line, cells) of each row below the table header at 0-based ``header``, blank rows
        skipped. A row with fewer cells than the header, or with non-empty cells past it, is an error
        (truncated or shifted columns) ending with ``export_again``: a value is never read from the
        wrong column."""
        width = len(split_line(self.lines[header], delimiter))
        for idx in range(header + 1, len(self.lines)):
            raw = self.lines[idx]
            if not raw.replace(delimiter, "").replace('"', "").strip():
                continue
            cells = split_line(raw, delimiter)
            if len(cells) < width:
                raise self.error(
                    f"this row has {len(cells)} fields but the header has {width}: the row is cut short, "
                    f"so the file looks truncated or edited. {export_again}",
                    idx + 1,
                )
            if any(c.strip() for c in cells[width:]):
                raise self.error(
                    f"this row has {len(cells)} fields but the header has {width}, and the extra cells are "
                    f"not empty: the columns are shifted (a delimiter inside a value?). {export_again}",
                    idx + 1,
                )
            yield idx + 1, cells


def trimmed_cells(line: str, delimiter: str) -> list[str]:
    """The cells of one line, each stripped of surrounding spaces."""
    return [c.strip() for c in split_line(line, delimiter)]


def is_blank_line(line: str) -> bool:
    """True when the line holds no cell text (only delimiters, spaces and quotes)."""
    return not line.strip(_BLANK_CHARS)
