"""The canonical long CSV: the template a lab fills by hand (in Excel or any editor) when its instrument's
export is not one the pipeline reads, or when results were re-keyed from a report.

One row per well × analyte. Example: ``docs/canonical_template_example.csv``.

Columns — a header row is required; names are case-insensitive (``Plate ID`` = ``plate_id``), in any order:

===================  ========  ===============================================================================
column               required  content
===================  ========  ===============================================================================
``plate_id``         yes       the plate (barcode or name), the same on every row of one plate
``well``             yes       ``A1``…``P24`` (``A01`` accepted); one well per row
``sample_id``        yes       the specimen ID as on the tube; standards/QCs: their name (``S1``, ``QC-L``).
                               May be empty only for a standard, blank, qc or control
``sample_type``      yes       ``standard`` (``std``, ``s``, ``calibrator``, ``cal``), ``blank`` (``b``,
                               ``background``, ``zero``), ``qc``, ``control`` (``c``), ``unknown``
                               (``sample``, ``x``; an empty cell is ``unknown``)
``analyte``          yes       as the kit names it (``NfL``, ``Hu IL-6``); matched to the catalogue downstream
``concentration``    yes       a number, or a token: ``<12.5``/``>5000`` (below/above the range, with the
                               limit), ``OOR <``/``OOR >`` (no limit given), ``*3.4`` (extrapolated), ``***``,
                               ``NaN``, ``N/A``, ``---`` or empty (not reported)
``unit``             yes       ``pg/mL``, ``ng/mL``, ``ng/L``…; empty: the assay's configured unit
``dilution``         no        dilution factor: ``2``, ``1/50``, ``1:50``; default 1
``dilution_applied`` no        ``yes`` (default): the concentration is the sample's, dilution already applied;
                               ``no``: it is the in-well concentration and the pipeline multiplies it (and a
                               ``<``/``>`` limit) by ``dilution``
``signal``           no        raw signal (MFI, OD, ECL…)
``signal_kind``      no        ``MFI``, ``OD450``, ``ECL``…
``expected_conc``    no        nominal concentration of a standard/QC, in ``unit``
``protocol``         no        assay/panel name, matched against ``protocol_names`` in config/assays.yaml
``instrument``       no        instrument name/serial
``run_date``         no        as written (kept verbatim)
``operator``         no        who ran the plate
``kit_lot``          no        kit lot number
===================  ========  ===============================================================================

``protocol``, ``instrument``, ``run_date``, ``operator`` and ``kit_lot`` describe the plate: the first
non-empty value of each plate is used (two different protocols on one plate are an error — the assay
would be ambiguous; other differences are warnings). Any other column is ignored with a warning.

Qualifiers: every ``concentration`` cell goes through :func:`readers.tokens.parse_conc` — a number is
``=``; ``<x``/``≤x`` is ``<`` with value x; ``>y``/``≥y`` is ``>`` with value y; ``OOR <``/``Below Fit
Curve Range``… is ``<`` with no value (the pipeline fills the limit from the plate's standards or the
kit); ``*x`` is ``=`` x with ``extrapolated``; ``***``, ``NaN``, ``N/A``, ``---``, an empty cell and any
unreadable text are ``NR`` (value null) with the flag ``result_not_reported: <why>``. ``unit`` is kept as
written (``unit_source="file"``), or null with ``unit_source`` null when the cell is empty.

Excel variants read: ``,``, ``;`` or tab delimiter (chosen by the header row), decimal commas in a
``;``/tab file (a file mixing ``12,5`` and ``12.5`` is refused: a wrong guess would scale values), UTF-8
with or without BOM, UTF-16 ("Unicode text"), cp1252, CRLF/LF/CR, trailing empty columns and empty rows.
Up to 10 lines above the header (a title a lab added) are skipped with a warning.

Errors a lab can fix (a missing required column, a bad well, an unknown sample_type, a duplicated
plate/well/analyte, a bad dilution or expected_conc, a cell spanning lines) raise :class:`ReaderError`
with the line; any other failure is wrapped into one.
"""

from __future__ import annotations

import csv
import io
import re
from dataclasses import dataclass
from typing import Any, ClassVar

import polars as pl

from readers.base import FileInput, PlateInfo, ReadResult, Sniff
from readers.platemap import parse_dilution
from readers.text import decode, split_lines
from readers.tokens import parse_conc, parse_number
from readers.toolkit.guarded_reader import GuardedReader, ReaderTexts
from readers.toolkit.records import Origin, Reading, Reported, Sample, result_row
from readers.toolkit.signal_cells import read_signal
from readers.toolkit.text_lines import LineParse
from readers.units import is_known_unit
from schemas.wells import WELL_SCHEMA, conform

FORMAT = "canonical"
SNIFF_SCORE = 100
MAX_PREAMBLE = 10

REQUIRED = ("plate_id", "well", "sample_id", "sample_type", "analyte", "concentration", "unit")
OPTIONAL = (
    "dilution",
    "dilution_applied",
    "signal",
    "signal_kind",
    "expected_conc",
    "protocol",
    "instrument",
    "run_date",
    "operator",
    "kit_lot",
)
PLATE_FIELDS = {
    "protocol": "protocol",
    "instrument": "instrument",
    "run_date": "acquired_at",
    "operator": "operator",
    "kit_lot": "kit_lot",
}

_LOOKED_FOR = "looked for a header row with the columns " + ", ".join(REQUIRED)
_TEXTS = ReaderTexts(
    looked_for=_LOOKED_FOR,
    what="this file as the canonical CSV template",
    todo="Check it against docs/canonical_template_example.csv and save it again as CSV.",
)

SAMPLE_TYPES = {
    "standard": "standard",
    "std": "standard",
    "s": "standard",
    "calibrator": "standard",
    "cal": "standard",
    "blank": "blank",
    "b": "blank",
    "background": "blank",
    "zero": "blank",
    "qc": "qc",
    "quality control": "qc",
    "control": "control",
    "c": "control",
    "unknown": "unknown",
    "sample": "unknown",
    "x": "unknown",
    "": "unknown",
}
_YES = {"yes", "y", "true", "1"}
_NO = {"no", "n", "false", "0"}
_WELL_RE = re.compile(r"^\s*([A-Pa-p])\s*0*([1-9]|1\d|2[0-4])\s*$")
_COMMA_DECIMAL_RE = re.compile(r"^[<>≤≥*]?\s*[-+]?\d+(?:\.\d{3})*,\d+$")
_POINT_DECIMAL_RE = re.compile(r"^[<>≤≥*]?\s*[-+]?\d+\.\d+$")
_THOUSANDS_RE = re.compile(r"^[<>≤≥*]?\s*[-+]?\d{1,3},\d{3}$")


def column_key(name: str) -> str:
    """``Plate ID`` / ``plate-id`` / `` PLATE_ID`` → ``plate_id``."""
    return re.sub(r"[\s\-.]+", "_", name.strip().strip('"').strip("\ufeff").strip().casefold()).strip("_")


def _cells(line: str, delimiter: str) -> list[str]:
    try:
        cells = next(csv.reader(io.StringIO(line.replace("\x00", "")), delimiter=delimiter), [])
    except csv.Error:
        cells = line.split(delimiter)
    return [c.strip() for c in cells]


def _blank(line: str) -> bool:
    return not line.strip(" \t,;\"'\ufeff")


def _header_in(line: str) -> tuple[str, list[str]] | None:
    """(delimiter, column keys) when ``line`` is a template header row."""
    for d in (",", ";", "\t"):
        if d not in line:
            continue
        keys = [column_key(c) for c in _cells(line, d)]
        if all(r in keys for r in REQUIRED):
            return d, keys
    return None


def _find_header(lines: list[str]) -> tuple[int, str, list[str]] | None:
    """(index, delimiter, keys) of the header among the first non-blank lines."""
    seen = 0
    for i, line in enumerate(lines):
        if _blank(line):
            continue
        found = _header_in(line)
        if found:
            return i, found[0], found[1]
        seen += 1
        if seen > MAX_PREAMBLE:
            break
    return None


def normalise_well(text: str) -> str | None:
    m = _WELL_RE.match(text)
    return f"{m.group(1).upper()}{int(m.group(2))}" if m else None


def _recognise(text_head: str, file: FileInput) -> Sniff:
    found = _find_header(split_lines(text_head.lstrip("\ufeff")))
    if found is None:
        return Sniff(False, _LOOKED_FOR)
    return Sniff(True, f"template header row on line {found[0] + 1}", SNIFF_SCORE)


@dataclass(frozen=True)
class _Row:
    line: int
    cells: list[str]


class _Parse(LineParse):
    def __init__(self, file: FileInput) -> None:
        self.text = decode(file.data).lstrip("\ufeff")
        super().__init__(file, self.text)

    def rows(self, start: int, delimiter: str) -> list[_Row]:
        """Records after the header, each with its first line. A quoted cell that runs over several lines
        is refused: in a hand-filled template it is almost always an unclosed quote that would silently
        swallow the rows after it."""
        lines = self.lines
        body = "\n".join(lines[start + 1 :])
        out: list[_Row] = []
        reader = csv.reader(io.StringIO(body.replace("\x00", "")), delimiter=delimiter)
        prev = 0
        try:
            for record in reader:
                first = start + 2 + prev
                prev = reader.line_num
                if any("\n" in c for c in record):
                    raise self.error(
                        f"a quoted cell runs from line {first} to line {start + 1 + reader.line_num} "
                        "(an unclosed quote?). Remove the quote or the line break and save again.",
                        first,
                    )
                out.append(_Row(first, [c.strip() for c in record]))
        except csv.Error as exc:
            raise self.error(f"the CSV cannot be parsed ({exc})", start + 2 + prev) from exc
        return out

    def run(self) -> ReadResult:
        lines = self.lines
        found = _find_header(lines)
        if found is None:
            raise self.error(self.missing_columns(lines))
        h, delimiter, keys = found
        if any(not _blank(ln) for ln in lines[:h]):
            self.warnings.append(f"{h} line(s) above the header row were skipped")
        columns = self.columns(keys, h + 1)
        rows = [r for r in self.rows(h, delimiter) if any(r.cells)]
        if not rows:
            raise self.error("the template has a header but no data rows", h + 1)
        decimal_comma = self.decimal_comma(rows, columns, delimiter)
        width = len(keys)
        records: list[dict[str, Any]] = []
        seen: dict[tuple[str, str, str], int] = {}
        plates: dict[str, dict[str, tuple[str, int]]] = {}
        for row in rows:
            extra = [c for c in row.cells[width:] if c]
            if extra:
                raise self.error(
                    f"the row has values beyond the last header column ({extra[:3]}): the columns do not "
                    "line up with the header (a delimiter inside a value? quote it)",
                    row.line,
                )
            rec = self.record(row, columns, decimal_comma)
            key = (rec["plate_id"], rec["well"], rec["analyte_as_written"])
            if key in seen:
                raise self.error(
                    f"plate {key[0]} well {key[1]} analyte {key[2]!r} appears twice (lines {seen[key]} and "
                    f"{row.line}); one row per well and analyte",
                    row.line,
                )
            seen[key] = row.line
            records.append(rec)
            meta = plates.setdefault(rec["plate_id"], {})
            for col in PLATE_FIELDS:
                value = self.cell(row, columns, col)
                if not value:
                    continue
                if col not in meta:
                    meta[col] = (value, row.line)
                elif meta[col][0] != value:
                    if col == "protocol":
                        raise self.error(
                            f"plate {rec['plate_id']} has two protocols ({meta[col][0]!r} on line "
                            f"{meta[col][1]}, {value!r} here): the assay would be ambiguous",
                            row.line,
                        )
                    self.warnings.append(
                        f"plate {rec['plate_id']}: {col} {value!r} on line {row.line} differs from "
                        f"{meta[col][0]!r} (line {meta[col][1]}); the first is used"
                    )
        self.summarise(records)
        if self.text and not self.text.endswith(("\n", "\r")):
            self.warnings.append(
                f"the file does not end with a line break: check that its last row (line {rows[-1].line}) "
                "is complete (a file cut short there cannot be told from a short row)"
            )
        infos = [
            PlateInfo(
                plate_id=pid,
                protocol=meta.get("protocol", (None, 0))[0],
                instrument=meta.get("instrument", (None, 0))[0],
                acquired_at=meta.get("run_date", (None, 0))[0],
                operator=meta.get("operator", (None, 0))[0],
                kit_lot=meta.get("kit_lot", (None, 0))[0],
            )
            for pid, meta in plates.items()
        ]
        wells = conform(pl.DataFrame(records, schema=WELL_SCHEMA))
        return ReadResult(format=FORMAT, wells=wells, plates=infos, warnings=self.warnings)

    @staticmethod
    def missing_columns(lines: list[str]) -> str:
        """Why no header was found: the required columns the first line lacks, when it looks like a header."""
        first = next((ln for ln in lines if not _blank(ln)), "")
        best: list[str] = list(REQUIRED)
        for d in (",", ";", "\t"):
            keys = {column_key(c) for c in _cells(first, d)}
            missing = [r for r in REQUIRED if r not in keys]
            if len(missing) < len(best):
                best = missing
        hint = "Start from docs/canonical_template_example.csv and keep its header row."
        if len(best) < len(REQUIRED):
            return f"the header row lacks the required column(s) {', '.join(best)}. {hint}"
        return f"{_LOOKED_FOR} (case-insensitive, any order) in the first lines. {hint}"

    def columns(self, keys: list[str], line: int) -> dict[str, int]:
        columns: dict[str, int] = {}
        ignored: list[str] = []
        for i, k in enumerate(keys):
            if not k:
                continue
            if k in columns:
                raise self.error(f"column {k!r} appears twice in the header", line)
            if k in REQUIRED or k in OPTIONAL:
                columns[k] = i
            else:
                ignored.append(k)
        if ignored:
            self.warnings.append(f"columns not in the template were ignored: {', '.join(ignored)}")
        return columns

    @staticmethod
    def cell(row: _Row, columns: dict[str, int], name: str) -> str:
        i = columns.get(name)
        return row.cells[i] if i is not None and i < len(row.cells) else ""

    def decimal_comma(self, rows: list[_Row], columns: dict[str, int], delimiter: str) -> bool:
        """``12,5`` is a decimal comma only in a ``;``/tab file (in a ``,`` file it must be quoted and is a
        thousands separator), and only when no number in the file uses a decimal point. A tab file (Excel
        "Unicode text" writes numbers as displayed) whose only comma numbers look like ``3,513`` is refused:
        thousands separator or decimal comma cannot be told apart, and a wrong guess is a 1000× error."""
        if delimiter == ",":
            return False
        names = ("concentration", "dilution", "signal", "expected_conc")
        texts = [self.cell(r, columns, n) for r in rows for n in names]
        commas = [t for t in texts if _COMMA_DECIMAL_RE.match(t)]
        points = [t for t in texts if _POINT_DECIMAL_RE.match(t)]
        if commas and points:
            raise self.error(
                f"numbers use both decimal commas ({commas[0]!r}) and decimal points ({points[0]!r}): save "
                "the file again with one decimal mark"
            )
        if delimiter == "\t" and commas and all(_THOUSANDS_RE.match(t) for t in commas):
            raise self.error(
                f"numbers such as {commas[0]!r} could be 1000× apart depending on whether the comma is a "
                "decimal mark or a thousands separator: save the file without thousands separators"
            )
        return bool(commas)

    def record(self, row: _Row, columns: dict[str, int], dc: bool) -> dict[str, Any]:
        def cell(name: str) -> str:
            return self.cell(row, columns, name)

        n = row.line
        plate = cell("plate_id")
        if not plate:
            raise self.error("plate_id is empty", n)
        well_text = cell("well")
        well = normalise_well(well_text)
        if well is None:
            raise self.error(f"well {well_text!r} is not a plate well (A1…P24)", n)
        type_text = re.sub(r"\s+", " ", cell("sample_type").casefold())
        if type_text not in SAMPLE_TYPES:
            raise self.error(
                f"sample_type {cell('sample_type')!r} is not one of standard, blank, qc, control, unknown "
                "(or std, s, b, c, x)",
                n,
            )
        sample_type = SAMPLE_TYPES[type_text]
        sample_id = cell("sample_id") or None
        if sample_id is None and sample_type == "unknown":
            raise self.error(f"well {well}: a study sample needs its sample_id", n)
        analyte = cell("analyte")
        if not analyte:
            raise self.error(f"well {well}: analyte is empty", n)

        conc_text = cell("concentration") if "concentration" in columns else None
        parsed = parse_conc(conc_text, decimal_comma=dc)
        flags: list[str] = []
        if parsed.qualifier == "NR":
            flags.append("result_not_reported: " + (parsed.note or "no number").replace(";", ","))

        dilution = 1.0
        dil_text = cell("dilution")
        if dil_text:
            d = parse_dilution(dil_text.replace(",", ".") if dc else dil_text)
            if d is None:
                raise self.error(
                    f"dilution {dil_text!r} is not a dilution factor ≥ 1 (write 2, 1/50 or 1:50)", n
                )
            dilution = d
        applied_text = cell("dilution_applied").casefold()
        if applied_text and applied_text not in _YES | _NO:
            raise self.error(f"dilution_applied {cell('dilution_applied')!r} is not yes or no", n)
        applied = applied_text not in _NO

        signal, signal_flag = read_signal(cell("signal"), decimal_comma=dc)
        if signal_flag:
            flags.append(signal_flag)
        expected_text = cell("expected_conc")
        expected = parse_number(expected_text, decimal_comma=dc) if expected_text else None
        if expected_text and expected is None:
            raise self.error(f"expected_conc {expected_text!r} is not a number", n)
        sample = Sample(sample_id, sample_type, expected, dilution)
        reading = Reading(well, n, analyte, signal, cell("signal_kind") or None)
        reported = Reported(conc_text, parsed, applied, cell("unit") or None)
        return result_row(Origin(self.file.name, FORMAT, plate), sample, reading, reported, flags)

    def summarise(self, records: list[dict[str, Any]]) -> None:
        unknown_units = sorted({r["unit"] for r in records if r["unit"] and not is_known_unit(r["unit"])})
        if unknown_units:
            self.warnings.append(
                f"units the pipeline cannot convert (those rows will be held): {', '.join(unknown_units)}"
            )
        no_unit = sum(1 for r in records if r["unit"] is None)
        if no_unit:
            self.warnings.append(f"{no_unit} rows have no unit: the assay's configured unit will be used")
        no_expected = sorted(
            {r["well"] for r in records if r["sample_type"] == "standard" and r["expected_conc"] is None}
        )
        if no_expected:
            self.warnings.append(
                f"standards without expected_conc (not usable for the curve): {no_expected[:12]}"
            )


class CanonicalCsvReader(GuardedReader, texts=_TEXTS, recognise=_recognise, parser=_Parse):
    """Reads the canonical long CSV template (see module docstring)."""

    name: ClassVar[str] = FORMAT
    label: ClassVar[str] = "Canonical long CSV (lab template)"
