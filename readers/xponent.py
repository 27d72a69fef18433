"""Luminex xPONENT CSV exports ("Batch" CSV): MFI, bead counts and, with analysis on, concentrations.

Layout (shared/corpus/README.md, "Luminex xPONENT CSV"); the reader keys on that, not on one file:

* a header block of ``"Key","Value"`` lines (``Program`` — its 4th field is the instrument —, ``Build``,
  ``Date``, ``Batch``, ``Operator``, ``ProtocolName``, ``BatchStartTime`` …), calibration blocks and a
  ``Samples,N,Min Events,M,Per Bead`` line;
* sections headed ``DataType:,<name>`` in any order and number. A section ends at a blank line (all cells
  empty), the next ``DataType:``, a ``Samples`` line or ``-- CRC --``. Per-well sections (Median, Net MFI,
  Count, Result, Dilution Factor) have a ``Location,Sample,<analytes…>,Total Events`` header and one row
  per well with Location ``"1(1,A1)"`` = acquisition index(plate, well); averaged sections (Avg Result,
  %CV Replicates…) are keyed by sample name and are not read (they are recomputed downstream);
* rows quoted, unquoted, or comma-padded to a fixed width; CRLF or LF; an optional BOM.

One output row per well × analyte: Median → ``signal`` (MFI); Result → ``reported_text`` through
:func:`readers.tokens.parse_conc`; Count → ``low_bead_count`` flag; Units → ``unit``; Dilution Factor →
``dilution``; Standard/Control Expected Concentration → ``expected_conc``. Analyte names stay as written:
the pipeline resolves them against the catalogue and converts units in one place.

Dilution: xPONENT multiplies computed results by the well's Dilution Factor, but the ``< x`` / ``> y``
bounds it prints for out-of-curve wells are the curve bounds, NOT multiplied by the dilution (corpus
README). So ``dilution_applied`` is True for numeric results (extrapolated ``*`` values included) and False
for censoring bounds taken from the text and for rows without a number; the pipeline applies the dilution
exactly once from that flag. An empty Dilution Factor cell (xPONENT 3.1 writes them for Background and
Standard wells) is 1 for standards, blanks and controls, and 1 with the ``dilution_missing`` flag for a
study sample (the pipeline holds that well; :mod:`readers.toolkit.dilution`); only a cell that is not a
positive number is an error.

INTELLIFLEX writes this layout too (``"Program","xPONENT","","Intelliflex"``) and is read here; its other
CSV, one row per well with ``R<region>: RP<n> MEDIAN`` columns, is :mod:`readers.intelliflex`'s.

Flags (';'-separated codes, a note after ``:`` where the code alone would lose information):
``outlier`` (``---``), ``low_bead_count`` (fewer beads than the header's ``Min Events``, 35 when the header
has none; the value is kept), ``result_not_reported: <why>`` (``NaN``, ``***``, empty cell… — the note tells
them apart), ``result_missing`` (the Result section has no column for the analyte) and
``signal_not_reported: <why>`` (the Median cell is not a number), ``dilution_missing`` (above).

Sample types come from the name: ``Standard*``/``Std*``/``S``/``S<n>`` standard, ``Background*``/
``Blank*``/``B`` blank, ``Control*``/``QC*`` qc, anything else unknown; a name listed in the Standard
(Control) Expected Concentration section is a standard (qc) whatever it is called. A batch spanning several
plates (Location ``"7(2,A1)"``) gives one plate per plate number, ``<Batch>-P<n>``. A ``;``-delimited file
(found from the ``Program`` line) is read too, with decimal commas when its numbers use them.

Truncation: a section that runs into the end of the file, a row with fewer fields than its header, or
per-well sections that disagree on the wells are errors; so is a file with neither a Dilution Factor
section nor the closing ``-- CRC --`` (xPONENT always writes both, and a silently assumed dilution of 1
would be wrong).

Everything a lab can fix (no per-well section, no Location column, a cut-short row, a Location that is not a
well, a dilution that is not a positive number) raises :class:`ReaderError` with the line; any other failure
is wrapped into one, so no raw exception escapes :meth:`XponentReader.read` whatever the bytes.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import PurePath
from typing import ClassVar

import polars as pl

from readers.base import FileInput, PlateInfo, ReaderError, ReadResult, Sniff
from readers.text import decode, split_lines
from readers.tokens import parse_conc, parse_number
from readers.toolkit.cells import split_line
from readers.toolkit.delimited import norm_key, trim_cells, uses_decimal_comma
from readers.toolkit.dilution import (
    DilutionError,
    missing_dilution_flag,
    missing_dilution_warning,
    parse_dilution,
)
from readers.toolkit.guarded_reader import GuardedReader, ParseRun, ReaderTexts
from readers.toolkit.sample_codes import sample_type_from_name
from schemas.wells import conform

FORMAT = "xponent"
DEFAULT_MIN_BEADS = 35.0  # bead-count floor when the header gives no Min Events (common kit guidance)
SNIFF_SCORE = 100
SNIFF_SCORE_WEAK = 70  # DataType sections with a Location header, but no xPONENT Program line

# The reader's words: what its sniff looked for (also said when a file is not xPONENT), how it names the
# file in a refusal, what the lab does then.
_TEXTS = ReaderTexts(
    looked_for='looked for a "Program","xPONENT" header line and "DataType:,Median" / "DataType:,Result" '
    "sections with a Location,Sample,<analytes> header",
    what="this file as a Luminex xPONENT CSV export",
    todo="Check that it is an unedited xPONENT batch CSV export and export it again.",
)

_DATATYPE_RE = re.compile(r'^\s*"?\s*DataType:', re.IGNORECASE)
_CRC_RE = re.compile(r'^\s*"?\s*--\s*CRC\s*--', re.IGNORECASE)
_SAMPLES_RE = re.compile(r'^\s*"?Samples"?\s*(?:[,;\t]|$)', re.IGNORECASE)
_BLANK_RE = re.compile(r'^[\s,;\t"]*$')
_PROGRAM_RE = re.compile(r'^\s*"?Program"?\s*([,;\t])', re.IGNORECASE)
_LOCATION_RE = re.compile(r"^\s*(\d+)\s*\(\s*(\d+)\s*[,;\t]\s*([A-Pa-p])\s*(0?[1-9]|1\d|2[0-4])\s*\)\s*$")
_BARE_WELL_RE = re.compile(r"^\s*([A-Pa-p])\s*(0?[1-9]|1\d|2[0-4])\s*$")
_INTELLIFLEX_RE = re.compile(r"\bR\d+:\s*\w+", re.IGNORECASE)


# Section names (normalised) → what the reader does with them. Anything else is skipped.
_KINDS = {
    "median": "median",
    "net mfi": "net_mfi",
    "count": "count",
    "result": "result",
    "dilution factor": "dilution",
    "units": "units",
    "standard expected concentration": "std_expected",
    "expected result": "std_expected",
    "control expected concentration": "qc_expected",
    "warnings/errors": "instrument_warnings",
}
_PER_WELL = ("median", "net_mfi", "count", "result", "dilution")
_EXTRA_KEYS = ("Build", "SN", "ProtocolVersion", "BatchStopTime", "SampleVolume", "ProtocolAnalysis")


def sample_type_of(sample: str | None) -> str:
    """Standards, blanks and QCs are usually known only by name in xPONENT (``Standard1``, ``S``,
    ``Background0``, ``B``, ``Control2``); everything else is a study sample."""
    return sample_type_from_name(sample)


def parse_location(text: str) -> tuple[int, str] | None:
    """``"1(1,A1)"`` (acquisition index(plate, well)) or a bare ``A01`` → (plate number, ``"A1"``)."""
    m = _LOCATION_RE.match(text)
    if m:
        plate, row, col = int(m.group(2)), m.group(3), m.group(4)
    else:
        m = _BARE_WELL_RE.match(text)
        if not m:
            return None
        plate, row, col = 1, m.group(1), m.group(2)
    return plate, f"{row.upper()}{int(col)}"


@dataclass
class _Section:
    name: str  # as written after DataType:
    kind: str | None
    line: int  # 1-based line of the DataType: line
    start: int  # index (0-based) of the first line after DataType:
    end: int = 0  # index one past the last line of the section
    ended_by: str = "eof"  # "blank" | "datatype" | "samples" | "crc" | "eof"


@dataclass
class _WellTable:
    """One per-well section: a row per well, value columns by header position."""

    section: str
    line: int
    columns: list[str]  # value column names as written (analytes, or "Dilution Factor")
    plates: list[int] = field(default_factory=list)
    wells: list[str] = field(default_factory=list)
    samples: list[str | None] = field(default_factory=list)
    lines: list[int] = field(default_factory=list)
    values: list[list[str]] = field(default_factory=list)  # per column, per row

    def keys(self) -> list[tuple[int, str]]:
        return list(zip(self.plates, self.wells, strict=True))


def _sniff(text_head: str, file: FileInput) -> Sniff:
    head = text_head.lstrip("\ufeff")
    lines = split_lines(head)[:400]
    first = lines[0] if lines else ""
    program = False
    for line in lines[:80]:
        m = _PROGRAM_RE.match(line)
        if m:
            cells = [c.strip().casefold() for c in split_line(line, m.group(1))]
            program = any("xponent" in c or "luminex" in c for c in cells[1:])
            break
    datatypes = [norm_key([*split_line(ln, ","), "", ""][1]) for ln in lines if _DATATYPE_RE.match(ln)]
    well_sections = any(d in ("median", "result", "net mfi", "count") for d in datatypes)
    if not program and not datatypes and _INTELLIFLEX_RE.search(first) and "well" in first.casefold():
        return Sniff(
            False,
            "this looks like a Luminex INTELLIFLEX export (one row per well with 'R<region>: <channel> "
            "<stat>' columns), not xPONENT; " + _TEXTS.looked_for,
        )
    if program and datatypes:
        return Sniff(True, "xPONENT Program line and DataType: sections", SNIFF_SCORE)
    if program:
        return Sniff(True, "xPONENT Program header line", SNIFF_SCORE - 10)
    if well_sections and any("location" in ln.casefold() for ln in lines):
        return Sniff(True, "DataType: sections with a Location column (no Program line)", SNIFF_SCORE_WEAK)
    return Sniff(False, _TEXTS.looked_for)


class _Parse(ParseRun):
    """State of one read: the lines, the sections found, the warnings collected on the way."""

    def __init__(self, file: FileInput) -> None:
        super().__init__(file)
        self.lines = split_lines(decode(file.data).lstrip("\ufeff"))
        self.delimiter = self._delimiter()
        self.decimal_comma = self._decimal_comma()

    def error(self, message: str, line: int | None = None) -> ReaderError:
        return ReaderError(message, file=self.file.name, line=line)

    def _delimiter(self) -> str:
        for line in self.lines[:80]:
            m = _PROGRAM_RE.match(line)
            if m:
                return m.group(1)
        return ","

    def _decimal_comma(self) -> bool:
        """A ';'-delimited export may come from a locale that writes 10921,5: decided by which decimal mark
        the numbers in the file use, never by the delimiter alone (a wrong guess would scale values)."""
        return uses_decimal_comma("\n".join(self.lines), self.delimiter)

    # ---- layout ---------------------------------------------------------------------------------------

    def split(self) -> tuple[int, list[_Section], bool, int | None]:
        """Header end (index of the first DataType: line), the sections, whether a ``-- CRC --`` line was
        seen, and the index of the ``Samples`` line."""
        sections: list[_Section] = []
        cur: _Section | None = None
        header_end: int | None = None
        has_crc = False
        samples_at: int | None = None
        for idx, line in enumerate(self.lines):
            if _DATATYPE_RE.match(line):
                if cur is not None:
                    cur.end, cur.ended_by = idx, "datatype"
                if header_end is None:
                    header_end = idx
                cells = split_line(line, self.delimiter)
                name = cells[1].strip() if len(cells) > 1 else ""
                cur = _Section(name, _KINDS.get(norm_key(name)), idx + 1, idx + 1)
                sections.append(cur)
                continue
            is_crc = bool(_CRC_RE.match(line))
            is_samples = bool(_SAMPLES_RE.match(line))
            has_crc = has_crc or is_crc
            if is_samples and samples_at is None:
                samples_at = idx
            if cur is not None and (is_crc or is_samples or _BLANK_RE.match(line)):
                cur.end = idx
                cur.ended_by = "crc" if is_crc else "samples" if is_samples else "blank"
                cur = None
        if cur is not None:
            cur.end, cur.ended_by = len(self.lines), "eof"
        return (len(self.lines) if header_end is None else header_end), sections, has_crc, samples_at

    def refuse_several_batches(self) -> None:
        """xPONENT writes one batch per CSV file (its header, its sections, one closing ``-- CRC --``); no
        layout it documents holds several. Batches pasted one after another are refused as such, saying
        which they are, rather than as a file that "looks edited" (their wells and sections collide)."""
        starts = [i for i, line in enumerate(self.lines) if _PROGRAM_RE.match(line)]
        crc = next((i for i, line in enumerate(self.lines) if _CRC_RE.match(line)), None)
        if crc is not None and len(starts) < 2:  # the next batch's header may have lost its Program line
            more = next((i for i in range(crc, len(self.lines)) if _DATATYPE_RE.match(self.lines[i])), None)
            starts += [crc + 1] if more is not None else []
        if len(starts) < 2:
            return
        names = []
        for n, start in enumerate(starts):
            end = starts[n + 1] if n + 1 < len(starts) else len(self.lines)
            cells = next(
                (
                    c
                    for line in self.lines[start:end]
                    for c in [split_line(line, self.delimiter)]
                    if c and norm_key(c[0]) == "batch"
                ),
                [],
            )
            name = cells[1].strip() if len(cells) > 1 and cells[1].strip() else f"line {start + 1}"
            names.append(name)
        raise self.error(
            f"this file holds {len(starts)} xPONENT batches one after another ({', '.join(names)}), but "
            "xPONENT exports each batch as its own CSV file. Upload each batch's file as xPONENT exported "
            "it (export the batches again, one file each, if only this combined file is left).",
            starts[1] + 1,
        )

    def header(self, end: int) -> dict[str, list[str]]:
        out: dict[str, list[str]] = {}
        for line in self.lines[:end]:
            if _BLANK_RE.match(line):
                continue
            cells = [c.strip() for c in split_line(line, self.delimiter)]
            if cells and cells[0] and cells[0] not in out:
                out[cells[0]] = trim_cells(cells[1:])
        return out

    def rows(self, sec: _Section) -> list[tuple[int, list[str]]]:
        return [(i + 1, split_line(self.lines[i], self.delimiter)) for i in range(sec.start, sec.end)]

    def well_table(self, sec: _Section) -> _WellTable | None:
        """Parse a per-well section; None (with a warning) when it holds nothing at all."""
        rows = self.rows(sec)
        if not rows:
            self.warnings.append(f"the {sec.name} section at line {sec.line} is empty and was skipped")
            return None
        header_line, raw_header = rows[0]
        header = trim_cells(raw_header)
        norm = [norm_key(h) for h in header]
        if "location" not in norm:
            raise self.error(
                f"the {sec.name} section (starting line {sec.line}) has no Location column: expected a "
                "header like Location,Sample,<analytes…>,Total Events. Export the batch again from xPONENT "
                "(File > Export, CSV) without editing it.",
                header_line,
            )
        loc_i = norm.index("location")
        sample_i = norm.index("sample") if "sample" in norm else None
        if sec.kind == "dilution":
            cols = [j for j, h in enumerate(norm) if h == "dilution factor"]
            if not cols:
                cols = [j for j, h in enumerate(norm) if j not in (loc_i, sample_i) and h][:1]
            if not cols:
                raise self.error(
                    f"the Dilution Factor section (line {sec.line}) has no Dilution Factor column",
                    header_line,
                )
        else:
            cols = [j for j, h in enumerate(norm) if j not in (loc_i, sample_i) and h and h != "total events"]
        names = [header[j] for j in cols]
        dup = sorted({n for n in names if names.count(n) > 1})
        if dup:
            raise self.error(
                f"the {sec.name} section names the analyte column(s) {', '.join(map(repr, dup))} more than "
                "once, so their values cannot be told apart. Give each analyte a distinct name in the "
                "xPONENT protocol and export again.",
                header_line,
            )
        table = _WellTable(sec.name, sec.line, names)
        width = len(header)
        body: list[list[str]] = []
        seen: dict[tuple[int, str], int] = {}
        for line_no, cells in rows[1:]:
            if len(cells) < width:
                raise self.error(
                    f"this row of the {sec.name} section has {len(cells)} fields but its header has "
                    f"{width}: the row is cut short, so the file looks truncated or edited. Export the "
                    "batch again from xPONENT.",
                    line_no,
                )
            where = parse_location(cells[loc_i])
            if where is None:
                raise self.error(
                    f"Location {cells[loc_i]!r} in the {sec.name} section is not a well: expected an "
                    'xPONENT location like "1(1,A1)" (acquisition index, then plate and well). Check that '
                    "the section is not damaged and export again.",
                    line_no,
                )
            if where in seen:
                raise self.error(
                    f"well {where[1]} (plate {where[0]}) appears twice in the {sec.name} section (lines "
                    f"{seen[where]} and {line_no}); the file looks edited. Export the batch again.",
                    line_no,
                )
            seen[where] = line_no
            table.plates.append(where[0])
            table.wells.append(where[1])
            table.samples.append(cells[sample_i] if sample_i is not None else None)
            table.lines.append(line_no)
            body.append(cells)
        if sec.ended_by == "eof":
            raise self.error(
                f"the file ends inside the {sec.name} section (started line {sec.line}) without the blank "
                "line and '-- CRC --' that close an xPONENT export: it looks truncated. Export or copy "
                "the file again.",
                len(self.lines),
            )
        table.values = [[r[j] for r in body] for j in cols]
        return table

    def merged(self, sections: list[_Section], kind: str) -> _WellTable | None:
        """All sections of one kind (a batch may repeat one) as one table."""
        tables = [t for s in sections if s.kind == kind for t in [self.well_table(s)] if t is not None]
        if not tables:
            return None
        first = tables[0]
        for t in tables[1:]:
            if t.columns != first.columns:
                raise self.error(
                    f"two {first.section} sections (lines {first.line} and {t.line}) list different "
                    "analytes; export the batch again as one file",
                    t.line,
                )
            overlap = set(first.keys()) & set(t.keys())
            if overlap:
                plate, well = sorted(overlap)[0]
                raise self.error(
                    f"well {well} (plate {plate}) appears in two {first.section} sections (lines "
                    f"{first.line} and {t.line}); the file looks edited. Export the batch again.",
                    t.line,
                )
            first.plates += t.plates
            first.wells += t.wells
            first.samples += t.samples
            first.lines += t.lines
            first.values = [a + b for a, b in zip(first.values, t.values, strict=True)]
        return first

    def units(self, sections: list[_Section]) -> dict[str, str | None]:
        out: dict[str, str | None] = {}
        for sec in (s for s in sections if s.kind == "units"):
            names: list[str] = []
            units: list[str] = []
            for _, cells in self.rows(sec):
                key = norm_key(cells[0]) if cells else ""
                if key == "analyte:":
                    names = cells[1:]
                elif key == "units:":
                    units = cells[1:]
            for i, name in enumerate(names):
                if name.strip():
                    u = units[i].strip() if i < len(units) else ""
                    out[name] = u or None
        return out

    def expected(
        self, sections: list[_Section], kind: str, analytes: list[str]
    ) -> dict[tuple[str, str], float]:
        """(sample name or ``@plate:well``, analyte) → nominal concentration."""
        out: dict[tuple[str, str], float] = {}
        wanted = set(analytes)
        for sec in (s for s in sections if s.kind == kind):
            rows = self.rows(sec)
            if not rows:
                continue
            header = trim_cells(rows[0][1])
            norm = [norm_key(h) for h in header]
            loc_i = norm.index("location") if "location" in norm else None
            key_i = loc_i if loc_i is not None else (norm.index("sample") if "sample" in norm else 0)
            cols = [(j, h) for j, h in enumerate(header) if h in wanted and j != key_i]
            for _, cells in rows[1:]:
                if len(cells) <= key_i:
                    continue
                key = cells[key_i].strip()
                if loc_i is not None:
                    where = parse_location(key)
                    if where is None:
                        continue
                    key = f"@{where[0]}:{where[1]}"
                for j, name in cols:
                    if j < len(cells):
                        v = parse_number(cells[j], decimal_comma=self.decimal_comma)
                        if v is not None:
                            out[(key, name)] = v
        return out

    def instrument_warnings(self, sections: list[_Section]) -> None:
        """Summarise xPONENT's own Warnings/Errors section: one line per message with the wells it names."""
        by_message: dict[str, list[str]] = {}
        for sec in (s for s in sections if s.kind == "instrument_warnings"):
            for _, cells in self.rows(sec)[1:]:
                cells = trim_cells(cells)
                if len(cells) >= 3:
                    where = cells[0].split(",")[-1].strip()
                    by_message.setdefault(f"{cells[1].strip()}: {cells[2].strip()}", []).append(where)
        for msg, wells in by_message.items():
            shown = ", ".join(wells[:8]) + (f" … ({len(wells)} wells)" if len(wells) > 8 else "")
            self.warnings.append(f"xPONENT reported for {shown}: {msg}")

    # ---- assembly -------------------------------------------------------------------------------------

    def run(self) -> ReadResult:
        """Sections → one long frame keyed by (plate, well, analyte), joined column by column: the per-cell
        work is polars expressions plus parse_conc once per distinct text."""
        self.refuse_several_batches()
        header_end, sections, has_crc, samples_at = self.split()
        head = self.header(header_end)
        median = self.merged(sections, "median")
        net_mfi = self.merged(sections, "net_mfi") if median is None else None
        result = self.merged(sections, "result")
        count = self.merged(sections, "count")
        dilution = self.merged(sections, "dilution")
        signal = median or net_mfi
        primary = result or signal
        if primary is None and not has_crc:
            raise self.error(
                "the file stops before its per-well data: no Median or Result section and no '-- CRC --' "
                "end line (xPONENT writes both), so it looks truncated, e.g. by a copy that stopped early. "
                "Copy the file again from the xPONENT computer, or export the batch again."
            )
        if primary is None:
            raise self.error(
                "no per-well Median or Result section (a 'DataType:,Median' line followed by "
                "Location,Sample,<analytes> rows) was found. Export the batch from xPONENT as CSV with "
                "the Median (and Result) data types selected.",
            )
        if median is None and net_mfi is not None:
            self.warnings.append("no Median section: signal is the Net MFI (background-subtracted)")
        if result is None:
            self.warnings.append(
                "no Result section (analysis off in xPONENT): concentrations are not reported, rows carry "
                "the MFI only"
            )
        keys = set(primary.keys())
        for t in (signal, result, count, dilution):
            if t is not None and t is not primary:
                missing = sorted(keys ^ set(t.keys()))
                if missing:
                    plate, well = missing[0]
                    raise self.error(
                        f"the {t.section} section (line {t.line}) and the {primary.section} section "
                        f"(line {primary.line}) do not list the same wells (first difference: plate {plate} "
                        f"well {well}): the file looks truncated or edited. Export the batch again.",
                        t.line,
                    )
        if dilution is None:
            if not has_crc:
                raise self.error(
                    "the file has no Dilution Factor section and no '-- CRC --' end line: it looks truncated "
                    "(xPONENT always writes both). Export or copy the file again."
                )
            self.warnings.append("no Dilution Factor section: dilution 1 assumed for every well")
        elif not has_crc:
            self.warnings.append("no '-- CRC --' end line: the file may have been edited")

        analytes = list(primary.columns)
        if signal is not None and signal is not primary:
            extra = [a for a in signal.columns if a not in primary.columns]
            absent = [a for a in primary.columns if a not in signal.columns]
            analytes += extra
            if extra or absent:
                self.warnings.append(
                    f"the {signal.section} and Result sections list different analytes "
                    f"({', '.join(extra + absent)}): those rows lack a signal or a result"
                )
        if not analytes:
            raise self.error(
                f"the {primary.section} section (line {primary.line}) has no analyte columns between Sample "
                "and Total Events. Check the protocol's analyte setup and export again.",
                primary.line,
            )

        wells = pl.DataFrame(
            {
                "_plate": primary.plates,
                "_well": primary.wells,
                "_pos": list(range(len(primary.wells))),
                "sample_id": primary.samples,
                "_pline": primary.lines,
            },
            schema={
                "_plate": pl.Int64,
                "_well": pl.String,
                "_pos": pl.Int64,
                "sample_id": pl.String,
                "_pline": pl.Int64,
            },
        )
        if signal is not None and signal is not primary:
            wells = wells.join(self.per_well(signal, "_mline"), on=["_plate", "_well"], how="left")
            self.check_samples(primary, signal)
        elif signal is not None:
            wells = wells.with_columns(_mline=pl.col("_pline"))
        else:
            wells = wells.with_columns(_mline=pl.lit(None, dtype=pl.Int64))
        wells = (
            wells.join(self.dilutions(dilution), on=["_plate", "_well"], how="left")
            if dilution
            else wells.with_columns(dilution=pl.lit(1.0))
        )
        df = wells.join(
            pl.DataFrame({"_aidx": list(range(len(analytes))), "analyte_as_written": analytes}),
            how="cross",
        )
        keys_cols = ["_plate", "_well", "analyte_as_written"]
        df = (
            df.join(self.long(result, "_rtext"), on=keys_cols, how="left")
            if result
            else df.with_columns(_rtext=pl.lit(None, dtype=pl.String))
        )
        df = (
            df.join(self.long(signal, "_mtext"), on=keys_cols, how="left")
            if signal
            else df.with_columns(_mtext=pl.lit(None, dtype=pl.String))
        )
        df = (
            df.join(self.long(count, "_ctext"), on=keys_cols, how="left")
            if count
            else df.with_columns(_ctext=pl.lit(None, dtype=pl.String))
        )

        df = self.parse_results(df, has_result=result is not None)
        df = self.parse_signal(
            df, kind="MFI" if median is not None else "Net MFI", label=signal.section if signal else ""
        )
        threshold = self.min_beads(samples_at)
        df = df.with_columns(_count=self.numbers(df["_ctext"]))

        # Sample types: by name, overridden by the file listing a name as a standard/control.
        std_expected = self.expected(sections, "std_expected", analytes)
        qc_expected = self.expected(sections, "qc_expected", analytes)
        std_names = {k for k, _ in std_expected if not k.startswith("@")}
        qc_names = {k for k, _ in qc_expected if not k.startswith("@")}
        names = [s for s in df["sample_id"].unique().to_list() if s is not None]
        types = {
            s: "standard" if s.strip() in std_names else "qc" if s.strip() in qc_names else sample_type_of(s)
            for s in names
        }
        df = df.with_columns(
            sample_type=pl.col("sample_id")
            .replace_strict(types, default="unknown", return_dtype=pl.String)
            .fill_null("unknown")
        )
        df = self.join_expected(df, {**qc_expected, **std_expected})
        df = self.fill_dilutions(df)

        unit_map = self.units(sections)
        if not any(s.kind == "units" for s in sections):
            self.warnings.append("no Units section: the unit will come from the assay configuration")
        df = df.with_columns(
            unit=pl.col("analyte_as_written").replace_strict(unit_map, default=None, return_dtype=pl.String)
        ).with_columns(unit_source=pl.when(pl.col("unit").is_not_null()).then(pl.lit("file")))

        low = pl.col("_count") < threshold
        outlier = pl.col("_rtext").str.strip_chars() == "---"
        df = df.with_columns(
            row_number=pl.when(pl.col("_rtext").is_not_null())
            .then(pl.col("_pline"))
            .otherwise(pl.coalesce(pl.col("_mline"), pl.col("_pline"))),
            dilution_applied=(pl.col("qualifier") == "=") & pl.col("value").is_not_null(),
            flags=pl.concat_str(
                [
                    pl.when(outlier).then(pl.lit("outlier")),
                    pl.when(low).then(pl.lit("low_bead_count")),
                    pl.when((pl.col("qualifier") == "NR") & pl.col("_rtext").is_not_null() & ~outlier).then(
                        pl.lit("result_not_reported: ") + pl.col("_rnote")
                    ),
                    pl.when(pl.col("_rtext").is_null() & pl.lit(result is not None)).then(
                        pl.lit("result_missing")
                    ),
                    pl.when(pl.col("_mtext").is_not_null() & pl.col("signal").is_null()).then(
                        pl.lit("signal_not_reported: ") + pl.col("_mnote")
                    ),
                    pl.col("_dmissing"),
                ],
                separator=";",
                ignore_nulls=True,
            ),
        ).with_columns(flags=pl.when(pl.col("flags") != "").then(pl.col("flags")))

        n_low = int(df.select(low.fill_null(False).sum()).item())
        if n_low:
            self.warnings.append(
                f"{n_low} of {df.height} values were read from fewer than {threshold:g} beads"
            )
        self.instrument_warnings(sections)

        plates = self.plates(head, sorted(set(primary.plates)))
        plate_ids = {n: p.plate_id for n, p in plates.items()}
        df = df.sort(["_pos", "_aidx"]).with_columns(
            source_file=pl.lit(self.file.name),
            format=pl.lit(FORMAT),
            plate_id=pl.col("_plate").replace_strict(plate_ids, return_dtype=pl.String),
            well=pl.col("_well"),
            reported_text=pl.col("_rtext"),
        )
        return ReadResult(
            format=FORMAT, wells=conform(df), plates=list(plates.values()), warnings=self.warnings
        )

    def long(self, t: _WellTable, text_col: str) -> pl.DataFrame:
        """Well × analyte cell texts of one section (column-major, built from the parsed columns)."""
        n = len(t.wells)
        return pl.DataFrame(
            {
                "_plate": t.plates * len(t.columns),
                "_well": t.wells * len(t.columns),
                "analyte_as_written": [a for a in t.columns for _ in range(n)],
                text_col: [v for col in t.values for v in col],
            },
            schema={
                "_plate": pl.Int64,
                "_well": pl.String,
                "analyte_as_written": pl.String,
                text_col: pl.String,
            },
        )

    def per_well(self, t: _WellTable, line_col: str) -> pl.DataFrame:
        return pl.DataFrame(
            {"_plate": t.plates, "_well": t.wells, line_col: t.lines},
            schema={"_plate": pl.Int64, "_well": pl.String, line_col: pl.Int64},
        )

    def check_samples(self, a: _WellTable, b: _WellTable) -> None:
        other = dict(zip(b.keys(), b.samples, strict=True))
        for key, sample in zip(a.keys(), a.samples, strict=True):
            if other.get(key) != sample:
                self.warnings.append(
                    f"well {key[1]} is {sample!r} in the {a.section} section but {other.get(key)!r} in the "
                    f"{b.section} section; the {a.section} name is used"
                )

    def dilutions(self, t: _WellTable) -> pl.DataFrame:
        """Well → Dilution Factor; an empty cell is null (xPONENT 3.1 leaves it empty for background and
        standard wells): :meth:`run` makes it 1, flagging unknown samples ``dilution_missing``."""
        values: list[float | None] = []
        for text, line_no in zip(t.values[0], t.lines, strict=True):
            try:
                values.append(
                    parse_dilution(
                        text, column="Dilution Factor", software="xPONENT", decimal_comma=self.decimal_comma
                    )
                )
            except DilutionError as exc:
                raise self.error(str(exc), line_no) from exc
        return pl.DataFrame(
            {"_plate": t.plates, "_well": t.wells, "dilution": values},
            schema={"_plate": pl.Int64, "_well": pl.String, "dilution": pl.Float64},
        )

    def fill_dilutions(self, df: pl.DataFrame) -> pl.DataFrame:
        """Empty Dilution Factor cells: standards, blanks and controls take 1 (they are not diluted samples);
        an unknown sample takes 1 too but is flagged ``dilution_missing`` so the pipeline holds the well —
        never the whole file."""
        empty = pl.col("dilution").is_null()
        wells = df.filter(empty).select("_plate", "_well", "sample_type").unique()
        n_samples = wells.filter(pl.col("sample_type") == "unknown").height
        if (warning := missing_dilution_warning(n_samples, wells.height - n_samples)) is not None:
            self.warnings.append(warning)
        types = df["sample_type"].unique().to_list()
        flag = pl.col("sample_type").replace_strict(
            {t: missing_dilution_flag(t) for t in types}, return_dtype=pl.String
        )
        return df.with_columns(
            _dmissing=pl.when(empty).then(flag), dilution=pl.col("dilution").fill_null(1.0)
        )

    def numbers(self, texts: pl.Series) -> pl.Series:
        """Cell texts → finite floats (null otherwise). Vectorised cast first; Python (parse_number) only
        for the distinct texts the cast cannot read (thousands separators, decimal commas)."""
        if self.decimal_comma:
            todo = texts.drop_nulls().unique().to_list()
            cast = pl.Series(texts.name, [None] * len(texts), dtype=pl.Float64)
        else:
            raw = texts.str.strip_chars().cast(pl.Float64, strict=False)
            cast = pl.select(pl.when(raw.is_finite()).then(raw)).to_series()
            todo = texts.filter(texts.is_not_null() & cast.is_null()).unique().to_list()
        fixed = {t: v for t in todo if (v := parse_number(t, decimal_comma=self.decimal_comma)) is not None}
        if not fixed:
            return cast
        again = texts.replace_strict(fixed, default=None, return_dtype=pl.Float64)
        return pl.DataFrame({"a": cast, "b": again}).select(pl.coalesce("a", "b")).to_series()

    def parse_signal(self, df: pl.DataFrame, kind: str, label: str) -> pl.DataFrame:
        signal = self.numbers(df["_mtext"])
        bad = df["_mtext"].filter(df["_mtext"].is_not_null() & signal.is_null()).unique().to_list()
        notes = {t: (parse_conc(t).note or "not a number").replace(";", ",") for t in bad}
        return df.with_columns(
            signal=signal,
            signal_kind=pl.lit(kind if label else None, dtype=pl.String),
            _mnote=pl.col("_mtext").replace_strict(notes, default=None, return_dtype=pl.String),
        )

    def parse_results(self, df: pl.DataFrame, *, has_result: bool) -> pl.DataFrame:
        """Every distinct concentration text through parse_conc once, joined back."""
        texts = df["_rtext"].drop_nulls().unique().to_list() if has_result else []
        parsed = [parse_conc(t, decimal_comma=self.decimal_comma) for t in texts]
        table = pl.DataFrame(
            {
                "_rtext": texts,
                "qualifier": [p.qualifier for p in parsed],
                "value": [p.value for p in parsed],
                "extrapolated": [p.extrapolated for p in parsed],
                "_rnote": [(p.note or "").replace(";", ",") for p in parsed],
            },
            schema={
                "_rtext": pl.String,
                "qualifier": pl.String,
                "value": pl.Float64,
                "extrapolated": pl.Boolean,
                "_rnote": pl.String,
            },
        )
        return df.join(table, on="_rtext", how="left").with_columns(
            qualifier=pl.col("qualifier").fill_null("NR"),
            extrapolated=pl.col("extrapolated").fill_null(False),
        )

    def join_expected(self, df: pl.DataFrame, expected: dict[tuple[str, str], float]) -> pl.DataFrame:
        by_name = {k: v for k, v in expected.items() if not k[0].startswith("@")}
        by_well = {k: v for k, v in expected.items() if k[0].startswith("@")}
        out = df.with_columns(
            _skey=pl.col("sample_id").str.strip_chars(), _wkey=pl.format("@{}:{}", "_plate", "_well")
        )
        for mapping, key in ((by_name, "_skey"), (by_well, "_wkey")):
            table = pl.DataFrame(
                {
                    key: [k[0] for k in mapping],
                    "analyte_as_written": [k[1] for k in mapping],
                    f"_e{key}": list(mapping.values()),
                },
                schema={key: pl.String, "analyte_as_written": pl.String, f"_e{key}": pl.Float64},
            )
            out = out.join(table, on=[key, "analyte_as_written"], how="left")
        return out.with_columns(
            expected_conc=pl.when(pl.col("sample_type").is_in(["standard", "qc"])).then(
                pl.coalesce("_e_wkey", "_e_skey")
            )
        )

    def min_beads(self, samples_at: int | None) -> float:
        if samples_at is not None:
            cells = [c.strip() for c in split_line(self.lines[samples_at], self.delimiter)]
            norm = [norm_key(c) for c in cells]
            if "min events" in norm:
                i = norm.index("min events")
                v = parse_number(cells[i + 1]) if i + 1 < len(cells) else None
                if v is not None and v >= 0:
                    return v
        return DEFAULT_MIN_BEADS

    def plates(self, head: dict[str, list[str]], numbers: list[int]) -> dict[int, PlateInfo]:
        def first(key: str) -> str | None:
            values = head.get(key) or []
            return values[0] if values and values[0] else None

        batch = first("Batch") or PurePath(self.file.name).stem
        if not batch:
            raise self.error("the header has no Batch name and the file has no name to use instead")
        program = head.get("Program") or []
        instrument = program[2] if len(program) > 2 and program[2] else None
        date = " ".join(v for v in (head.get("Date") or [])[:2] if v) or None
        extra = {k: v for k in _EXTRA_KEYS if (v := first(k))}
        if program and program[0]:
            extra["software"] = program[0]
        return {
            n: PlateInfo(
                plate_id=batch if len(numbers) == 1 else f"{batch}-P{n}",
                protocol=first("ProtocolName"),
                instrument=instrument,
                acquired_at=first("BatchStartTime") or date,
                operator=first("Operator"),
                extra=extra,
            )
            for n in numbers
        }


class XponentReader(GuardedReader, texts=_TEXTS, recognise=_sniff, parser=_Parse):
    """Reads one Luminex xPONENT CSV export into the canonical well table (see module docstring)."""

    name: ClassVar[str] = FORMAT
    label: ClassVar[str] = "Luminex xPONENT CSV export"
