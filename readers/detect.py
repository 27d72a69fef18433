"""Which reader a file needs, decided by its content (never its name or extension)."""

from __future__ import annotations

from readers.base import FileInput, Reader, ReaderError, ReadResult
from readers.platemap import looks_like_platemap
from readers.text import decode

HEAD_CHARS = 20_000


class UnknownFormatError(ReaderError):
    """No reader recognised the file; the message lists what each format expected."""


def all_readers() -> list[Reader]:
    from readers.bioplex import BioplexReader
    from readers.bioplex_xml import BioplexXmlReader
    from readers.canonical import CanonicalCsvReader
    from readers.ella import EllaReader
    from readers.gen5 import Gen5Reader
    from readers.msd import MsdRawReader, MsdWorkbenchReader
    from readers.platereader import PlateReaderGridReader
    from readers.simoa import SimoaReader
    from readers.softmax import SoftmaxGroupReader
    from readers.xponent import XponentReader

    return [
        XponentReader(),
        BioplexReader(),
        BioplexXmlReader(),
        MsdWorkbenchReader(),
        MsdRawReader(),
        CanonicalCsvReader(),
        SimoaReader(),
        EllaReader(),
        SoftmaxGroupReader(),
        Gen5Reader(),
        PlateReaderGridReader(),
    ]


def head_text(file: FileInput) -> str:
    return decode(file.data[: HEAD_CHARS * 2])[:HEAD_CHARS]


def is_companion(file: FileInput) -> bool:
    """A plate map: read only together with the export it describes, never on its own."""
    return looks_like_platemap(head_text(file))


def detect(file: FileInput) -> Reader:
    head = head_text(file)
    sniffs = [(r, r.sniff(head, file)) for r in all_readers()]
    matched = [(r, s) for r, s in sniffs if s.matched]
    if not matched:
        tried = "; ".join(f"{r.label}: {s.reason}" for r, s in sniffs)
        raise UnknownFormatError(
            f"not a format this pipeline reads. Tried — {tried}. "
            "Export the plate again in one of these formats, or use the canonical CSV template (README).",
            file=file.name,
        )
    matched.sort(key=lambda rs: -rs[1].score)
    if len(matched) > 1 and matched[0][1].score == matched[1][1].score:
        names = ", ".join(r.label for r, _ in matched)
        raise UnknownFormatError(f"ambiguous: the file looks like several formats ({names})", file=file.name)
    return matched[0][0]


def read(file: FileInput) -> ReadResult:
    return detect(file).read(file)
