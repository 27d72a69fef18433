"""Which reader a file needs, decided by its content (never its name or extension)."""

from __future__ import annotations

import os
from typing import ClassVar

from readers.allotropy_fallback import AllotropyFallbackReader, oracle_available
from readers.base import FileInput, Reader, ReaderError, ReadResult, Sniff
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
    from readers.intelliflex import IntelliflexReader
    from readers.msd_instrument import MsdRawReader
    from readers.msd_workbench import MsdWorkbenchReader
    from readers.platereader import PlateReaderGridReader
    from readers.simoa import SimoaReader
    from readers.softmax import SoftmaxGroupReader
    from readers.xponent import XponentReader

    return [
        XponentReader(),
        IntelliflexReader(),
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


def fallback_enabled() -> bool:
    """The allotropy fallback is used when its environment is installed (`make oracle`), unless
    BIOMARKERS_ALLOTROPY_FALLBACK=0 (it costs ~5 s per unknown file: property tests that throw thousands
    of random byte strings turn it off)."""
    return os.environ.get("BIOMARKERS_ALLOTROPY_FALLBACK", "1") != "0" and oracle_available()


def detect(file: FileInput) -> Reader:
    """The native reader whose sniff scores highest; else the allotropy fallback (other instruments),
    when its environment is installed; else UnknownFormatError naming what each format expected."""
    head = head_text(file)
    sniffs = [(r, r.sniff(head, file)) for r in all_readers()]
    matched = [(r, s) for r, s in sniffs if s.matched]
    tried = "; ".join(f"{r.label}: {s.reason}" for r, s in sniffs)
    if not matched:
        fallback = AllotropyFallbackReader()
        if fallback_enabled() and not is_companion(file):
            return _Fallback(fallback, tried)
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


class _Fallback:
    """The allotropy fallback, reporting the native formats tried too when it cannot read the file."""

    name: ClassVar[str] = AllotropyFallbackReader.name
    label: ClassVar[str] = AllotropyFallbackReader.label

    def __init__(self, reader: AllotropyFallbackReader, tried: str) -> None:
        self.reader = reader
        self.tried = tried

    def sniff(self, text_head: str, file: FileInput) -> Sniff:
        return self.reader.sniff(text_head, file)

    def read(self, file: FileInput) -> ReadResult:
        try:
            return self.reader.read(file)
        except ReaderError as exc:
            raise UnknownFormatError(
                f"not a format this pipeline reads. Tried — {self.tried}; and allotropy (other instruments): "
                f"{exc.reason}. Export the plate again in one of these formats, or use the canonical CSV "
                "template (README).",
                file=file.name,
            ) from None


def read(file: FileInput) -> ReadResult:
    return detect(file).read(file)
