"""Which reader a file needs, decided by its content (never its name or extension), and the order readers
are tried in: native first, then allotropy, then a short refusal.

1. The native reader whose sniff scores highest reads the file.
2. When no native reader recognises it, or the one that does raises :class:`ReaderError` (a variant it
   cannot read), the allotropy fallback (readers/allotropy_fallback.py) tries it, when its environment
   is installed. The result's ``format`` (``allotropy:<vendor>``) and a warning name the reader that read it.
3. A file whose shape says what it is (empty, a PDF or image, a damaged workbook, a zip archive, a sample
   manifest, a canonical CSV missing a column: readers/refusal.py) is refused saying so, before the fallback.
4. Otherwise the file is refused: one short paragraph for a lab person (what the file looks like, why it
   cannot be read, what to do); the formats tried and each one's reason go to ``ReaderError.details``.
"""

from __future__ import annotations

import codecs
import os
import re
from typing import ClassVar, cast

from readers.allotropy_fallback import AllotropyFallbackReader, NotEndpointError, oracle_available
from readers.base import FileInput, Reader, ReaderError, ReadResult, Sniff
from readers.platemap import looks_like_platemap
from readers.refusal import container_refusal, recognise
from readers.text import decode, split_lines

HEAD_CHARS = 20_000
SUPPORTED = "Luminex, Bio-Plex, MSD, SoftMax Pro, Gen5, plate-reader grids, Simoa, Ella, canonical CSV"
TODO = "Export the plate again in one of these formats (docs/formats.md lists them) and upload that file."


class UnknownFormatError(ReaderError):
    """No reader could read the file; ``details`` lists what each format expected."""


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
    """The allotropy fallback is used when its environment is installed (`make oracle`, part of `make
    install`), unless BIOMARKERS_ALLOTROPY_FALLBACK=0 (it costs ~5 s per file it is offered: property
    tests that throw thousands of random byte strings turn it off)."""
    return os.environ.get("BIOMARKERS_ALLOTROPY_FALLBACK", "1") != "0" and oracle_available()


def describe(file: FileInput, head: str) -> str:
    """What the file looks like, in a lab person's words ("a tab-separated text file of 40 lines")."""
    data = file.data
    if not data.strip():
        return "an empty file"
    if data[:4] == b"PK\x03\x04":
        return "a zip container (an Excel .xlsx workbook or another Office file)"
    if data[:8] == b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1":
        return "an old-style Excel (.xls) workbook"
    if head.lstrip().startswith("<"):
        return "an XML/HTML file"
    printable = sum(c.isprintable() or c in "\r\n\t" for c in head[:4000])
    if printable < 0.9 * min(len(head), 4000):
        return "a binary file (not a text export)"
    lines = [ln for ln in split_lines(head) if ln.strip()]
    sep = max(("\t", ",", ";"), key=lambda d: sum(ln.count(d) for ln in lines[:50]))
    name = {"\t": "tab-separated", ",": "comma-separated", ";": "semicolon-separated"}[sep]
    if not any(sep in ln for ln in lines[:50]):
        name = "plain"
    more = "+" if len(head) >= HEAD_CHARS else ""
    utf16 = ", UTF-16" if _is_utf16(data) else ""
    return f"a {name} text file ({len(lines)}{more} lines{utf16})"


def _is_utf16(data: bytes) -> bool:
    """Written as UTF-16 ("Unicode text", as many instruments save): said in a refusal, since it is read."""
    head = data[:200]
    return data.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)) or (
        len(head) >= 4 and max(head[1::2].count(0), head[0::2].count(0)) > len(head) // 4
    )


def _clean(reason: str, limit: int = 300) -> str:
    """A reason fit for the details field: one line, no byte dumps, bounded."""
    text = re.sub(r"b(['\"]).*?\1", "<bytes>", reason)
    text = re.sub(r"(\\x[0-9a-fA-F]{2})+", "<bytes>", text)
    text = " ".join(text.split())
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _tried(sniffs: list[tuple[Reader, Sniff]]) -> list[str]:
    return [f"Tried {r.label}: {_clean(s.reason)}" for r, s in sniffs]


def detect(file: FileInput) -> Reader:
    """The reader to use: the native reader whose sniff scores highest (wrapped so that a variant it
    cannot read goes to the allotropy fallback), else the fallback itself, else UnknownFormatError (one
    short paragraph; each format's reason in ``details``)."""
    container = container_refusal(file)
    if container:
        raise container
    head = head_text(file)
    sniffs = [(r, r.sniff(head, file)) for r in all_readers()]
    matched = sorted(((r, s) for r, s in sniffs if s.matched), key=lambda rs: -rs[1].score)
    tried = _tried(sniffs)
    use_fallback = fallback_enabled() and not is_companion(file)
    if not matched:
        specific = recognise(file, head)
        if specific:  # an empty file, a PDF, a manifest…: said plainly, the formats tried in details
            specific.details = "\n".join(tried)
            raise specific
        if use_fallback:
            return _Fallback(tried, describe(file, head))
        raise unknown_format(file, describe(file, head), tried, fallback_note())
    if len(matched) > 1 and matched[0][1].score == matched[1][1].score:
        names = " and ".join(r.label for r, s in matched if s.score == matched[0][1].score)
        raise UnknownFormatError(
            f"this file looks like several formats at once ({names}), so it cannot be read safely. "
            "Export the plate again without extra sections pasted in, and upload that file.",
            file=file.name,
            details="\n".join(tried),
        )
    native = matched[0][0]
    # the wrapper names itself after the native reader per instance; Reader declares name/label ClassVars
    return cast(Reader, _NativeThenFallback(native)) if use_fallback else native


def fallback_note() -> str:
    if os.environ.get("BIOMARKERS_ALLOTROPY_FALLBACK", "1") == "0":
        return "Not tried: the allotropy fallback (turned off: BIOMARKERS_ALLOTROPY_FALLBACK=0)"
    if not oracle_available():
        return "Not tried: the allotropy fallback (not installed; `make install` sets up .venv-oracle)"
    return "Not tried: the allotropy fallback"


def unknown_format(file: FileInput, looks: str, tried: list[str], fallback: str) -> UnknownFormatError:
    return UnknownFormatError(
        f"this is {looks} that none of the formats we read recognises ({SUPPORTED}). {TODO}",
        file=file.name,
        details="\n".join([*tried, fallback]),
    )


class _Fallback:
    """No native reader recognises the file: the allotropy fallback, refusing in one short paragraph when it
    cannot read it either."""

    name: ClassVar[str] = AllotropyFallbackReader.name
    label: ClassVar[str] = AllotropyFallbackReader.label

    def __init__(self, tried: list[str], looks: str) -> None:
        self.reader = AllotropyFallbackReader()
        self.tried = tried
        self.looks = looks

    def sniff(self, text_head: str, file: FileInput) -> Sniff:
        return self.reader.sniff(text_head, file)

    def read(self, file: FileInput) -> ReadResult:
        try:
            return self.reader.read(file)
        except NotEndpointError:
            raise  # recognised: the refusal names the read type (spectrum, kinetic trace)
        except ReaderError as exc:
            raise unknown_format(
                file,
                self.looks,
                self.tried,
                f"Tried the allotropy fallback: {_clean(exc.details or exc.reason, 1500)}",
            ) from None


class _NativeThenFallback:
    """A native reader that recognised the file; when it cannot read this variant (ReaderError), the
    allotropy fallback is tried before the native reader's own refusal is raised."""

    def __init__(self, native: Reader) -> None:
        self.native = native
        self.name = native.name
        self.label = native.label

    def sniff(self, text_head: str, file: FileInput) -> Sniff:
        return self.native.sniff(text_head, file)

    def read(self, file: FileInput) -> ReadResult:
        try:
            return self.native.read(file)
        except ReaderError as native_exc:
            try:
                rr = AllotropyFallbackReader().read(file)
            except NotEndpointError as fb_exc:
                fb_exc.details = f"Tried {self.label}: {_clean(native_exc.reason, 600)}"
                raise fb_exc from None
            except ReaderError as fb_exc:
                native_exc.details = "\n".join(
                    x
                    for x in (
                        native_exc.details,
                        f"Tried {self.label}: {_clean(native_exc.reason, 600)}",
                        f"Tried the allotropy fallback: {_clean(fb_exc.details or fb_exc.reason, 1500)}",
                    )
                    if x
                )
                raise native_exc from None
            note = (
                f"the {self.label} reader could not read this variant ({_clean(native_exc.reason, 300)}); "
                "it was read through the allotropy fallback instead"
            )
            return ReadResult(
                format=rr.format,
                wells=rr.wells,
                plates=rr.plates,
                companions=rr.companions,
                warnings=[note, *rr.warnings],
            )


def read(file: FileInput) -> ReadResult:
    return detect(file).read(file)
