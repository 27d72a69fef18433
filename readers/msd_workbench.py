"""MSD (Meso Scale Discovery) Discovery Workbench exports: the plate data table, as text or Excel.

The instrument's own data files (Methodical Mind ECL grids) are read by readers/msd_instrument.py.

**MsdWorkbenchReader** (``msd_workbench``) — the Discovery Workbench "Experiment Data Table" export, CSV or
tab-separated text or an Excel workbook (.xlsx/.xls): every sheet that holds a Workbench table is read
(one plate or more per sheet), its cells taken as the text Excel shows (readers/toolkit/workbook.py), so
both forms go through the same parser. Errors in a workbook name the sheet and its row.

Numbers as locales write them (readers/toolkit/decimals.py): thousands separators (``1,234.5``,
``1.234,5``) and exponents (``1.2E+03``); a table's decimal mark is decided from its numbers — a ``;`` table
with comma decimals, or a tab/comma table whose numbers include an unmistakable ``53,2`` and no decimal
point, is comma-decimal (``3,513`` is then 3.513); elsewhere ``3,513`` is a thousands separator, and a
stray ``0,02`` among decimal points is still read as 0.02 (with a warning). A ``;`` table mixing both marks
is refused.

* Preamble: any number of lines before the header — a lone plate-name line (``Plate_2BO40AW287``), a title
  (``Experiment Data Table``), ``Key,Value`` / ``Key: value`` lines, blank lines. The header row is found BY
  CONTENT (a row naming a Well, a Sample, an Assay and a Signal or Calc. Concentration column), never by
  position. Labels differ by software version, so columns are matched on a normalised label (case,
  punctuation and spacing ignored): ``Sample``/``Sample Name``; ``Assay``/``Spot Name``; ``Calc.
  Concentration``/``Calc. Conc``; ``Concentration``/``Standard Concentration``; ``Detection Limits: Calc.
  Low``/``Calc. Low``. A header split over two or three lines (``Calc.`` above ``Conc``, ``Detection`` /
  ``Limits:`` above ``Calc. Low``) is joined column by column: the lines directly above the header whose
  first cell is empty and whose other cells sit over header cells are label fragments, not preamble. A
  header cell with a line break typed into it (``"Calc.<newline>Conc"``, one quoted cell over two lines)
  is read as ``Calc. Conc``.
* Read: ``Plate Name`` (optional), ``Sample``, ``Assay``, ``Well`` (``A01``…``P24`` → ``A1``…``P24``),
  ``Spot``, ``Detection Range``, ``Dilution`` (empty: 1; an unknown without one also gets the flag
  ``dilution_missing``, readers/toolkit/dilution.py), ``Concentration`` (the calibrator's expected
  concentration → ``expected_conc``), ``Signal`` (→ ``signal``, ``signal_kind="ECL"``), ``Calc.
  Concentration`` (→ ``reported_text``/``qualifier``/``value``), ``Excluded``, ``Detection Limits: Calc.
  Low/High`` (as columns, or as ``Detection Limits: Calc. Low,<assay>,<value>`` rows anywhere in the file),
  ``Sample Type`` when present.
* Ignored: ``Fit Statistic: RSquared``, ``Adjusted Signal``, ``Mean``, ``Adj. Sig. Mean``, ``CV``, ``%
  Recovery``, ``Calc. Conc. Mean`` and every other summary column (recomputed downstream from the wells),
  ``Algorithm Parameter: …`` columns, ``Sample Group``.
* One row per well × assay (spot). Several plates in one file (a ``Plate Name`` column, or several
  preamble + header blocks) give one PlateInfo each. plate_id = ``Plate Name`` cell, else the block's
  plate-name line (kept as written; a ``Plate_<barcode>`` name also records ``barcode`` in PlateInfo.extra),
  else the file stem (``<stem>-<n>`` when several unnamed blocks).

Qualifiers (the Calc. Concentration cell goes through :func:`readers.tokens.parse_conc`; ``Detection
Range`` decides when there is no number):

==========================================  ===========================================================
Calc. Concentration / Detection Range       qualifier, value
==========================================  ===========================================================
number, ``In Detection Range`` or empty     ``=``, the number
number, ``Below/Above Fit Curve Range``     ``=``, the number, ``extrapolated`` (MSD computed it beyond
or ``Below/Above Detection Range``          the curve / the detection limits), flag ``detection_range``
``NaN``/empty, ``Below …``                  ``<``, Detection Limits: Calc. Low when the file gives it,
                                            else null (the pipeline fills it from the standards)
``NaN``/empty, ``Above …``                  ``>``, Calc. High when given, else null
``NaN``/empty, In range or no range         ``NR``, flag ``result_not_reported: <why>``
``Excluded`` = yes (whatever the cell)      ``NR``, flag ``excluded`` (the text is kept)
``< x`` / ``> y`` / ``OOR <`` … (tokens)    as :func:`parse_conc` says; a missing limit as above
==========================================  ===========================================================

Every row outside ``In Detection Range`` carries the flag ``detection_range: <as written>``; an
unrecognised range value the flag ``detection_range_unrecognised: <text>``; a limit taken from the file's
Detection Limits the flag ``limit_from_file``. ``dilution_applied`` is True (Calc. Concentration is
already dilution-corrected) except for a limit taken from Detection Limits: that is a property of the
curve, in-well, so the pipeline multiplies it by the dilution. MSD files carry no unit: ``unit`` and
``unit_source`` stay null and the pipeline takes the unit from the assay configuration.

Sample types by name: ``S001``/``Calibrator``/``Cal-01``/``STD…``/``Standard…`` standard; ``Blank``/
``Zero``/``Background`` blank; ``C1``/``Control…``/``QC…``/``Ctrl…`` qc; any other name with an expected
Concentration standard; else unknown. A ``Sample Type`` column, when it holds Standard/Calibrator,
Blank/Zero, Control/QC or Unknown/Sample, wins over the name.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any, ClassVar

import polars as pl

from readers.base import FileInput, PlateInfo, ReaderError, ReadResult, Sniff
from readers.text import split_lines
from readers.tokens import ParsedConc, parse_conc, parse_number
from readers.toolkit.cells import stem
from readers.toolkit.decimals import file_decimal_comma, number, sure_decimal_comma
from readers.toolkit.dilution import (
    DILUTION_MISSING,
    DilutionError,
    missing_dilution_flag,
    missing_dilution_warning,
    parse_dilution,
)
from readers.toolkit.guarded_reader import GuardedReader, ParseRun, ReaderTexts
from readers.toolkit.plates import plate_info
from readers.toolkit.records import Origin, Reading, Reported, Sample, result_row
from readers.toolkit.signal_cells import read_signal
from readers.toolkit.text_lines import LineParse, is_blank_line, trimmed_cells
from readers.toolkit.wells import normalise_well
from readers.toolkit.workbook import WorkbookUnreadable, is_workbook, workbook_rows
from schemas.wells import WELL_SCHEMA, conform

WORKBENCH = "msd_workbench"
WORKBENCH_SCORE = 90
SIGNAL_KIND = "ECL"

_WB_LOOKED_FOR = (
    "looked for an MSD Discovery Workbench header row naming Sample, Assay (or Spot Name), Well and Signal "
    "or Calc. Concentration, with MSD columns such as Spot, Detection Range or Calc. Concentration"
)
_TEXTS = ReaderTexts(
    looked_for=_WB_LOOKED_FOR,
    what="this file as an MSD Discovery Workbench export",
    todo="Export the plate data table again from Discovery Workbench (CSV or Excel), unedited.",
)
_DELIMITERS = ("\t", ",", ";")

# Column labels (normalised by _key) → the field the reader uses.
_FIELDS: dict[str, tuple[str, ...]] = {
    "plate": ("plate name", "plate", "plate id"),
    "sample": ("sample", "sample name"),
    "assay": ("assay", "spot name", "assay name"),
    "well": ("well",),
    "spot": ("spot",),
    "detection_range": ("detection range",),
    "dilution": ("dilution", "dilution factor"),
    "expected": (
        "concentration",
        "standard concentration",
        "standard conc",
        "expected concentration",
        "expected conc",
    ),
    "signal": ("signal",),
    "calc": ("calc concentration", "calc conc", "calculated concentration"),
    "excluded": ("excluded",),
    "calc_low": ("detection limits calc low", "calc low"),
    "calc_high": ("detection limits calc high", "calc high"),
    "sample_type": ("sample type",),
}
_ALIAS = {alias: name for name, aliases in _FIELDS.items() for alias in aliases}
_MSD_EVIDENCE = {"spot", "detection_range", "calc", "calc_low", "calc_high", "excluded"}
_MSD_EVIDENCE_LABELS = {"adjusted signal", "adj sig mean", "calc conc mean", "fit statistic rsquared"}

# Detection Range as written (lower-cased) → side: "In Detection Range", "Below/Above Detection Range" (the
# detection limits), "Below/Above Fit Curve Range" (the curve).
_DETECTION_RANGES = {"in detection range": "in"} | {
    f"{side} {limits} range": side for side in ("below", "above") for limits in ("detection", "fit curve")
}

# MSD's naming conventions for sample names, first match wins.
_NAME_TYPES = (
    ("standard", re.compile(r"^(?:s\d{1,3}$|std|standard|calibrator|cal\b|cal[\s_-]*\d)", re.IGNORECASE)),
    ("blank", re.compile(r"^(?:blank|blk|zero|background)", re.IGNORECASE)),
    ("qc", re.compile(r"^(?:c\d{1,2}$|control|ctrl|qc)", re.IGNORECASE)),
)
# A Sample Type cell (normalised) → canonical type; it wins over the name.
_SAMPLE_TYPE_WORDS = dict.fromkeys(("standard", "std", "calibrator"), "standard")
_SAMPLE_TYPE_WORDS |= dict.fromkeys(("blank", "zero", "background"), "blank")
_SAMPLE_TYPE_WORDS |= dict.fromkeys(("control", "qc"), "qc") | dict.fromkeys(("unknown", "sample"), "unknown")
_YES = {"yes", "y", "true", "1", "x", "excluded"}
_NO = {"no", "n", "false", "0", ""}

# Preamble keys (normalised) → PlateInfo field.
_META_KEYS = {
    "plate name": "plate_id",
    "plate": "plate_id",
    "plate id": "plate_id",
    "plate barcode": "plate_id",
    "barcode": "plate_id",
    "protocol": "protocol",
    "panel": "protocol",
    "assay panel": "protocol",
    "kit": "protocol",
    "instrument": "instrument",
    "instrument name": "instrument",
    "reader": "instrument",
    "model": "instrument",
    "read time": "acquired_at",
    "read date": "acquired_at",
    "date": "acquired_at",
    "run date": "acquired_at",
    "operator": "operator",
    "user": "operator",
    "user id": "operator",
    "analyst": "operator",
    "lot": "kit_lot",
    "kit lot": "kit_lot",
    "lot number": "kit_lot",
}
_PLATE_PREFIX_RE = re.compile(r"^plate[_\s-]+(\S+)$", re.IGNORECASE)


def sample_type_of(name: str | None, *, has_expected: bool = False) -> str:
    """MSD names calibrators, blanks and controls by convention (``S001``, ``Calibrator 1``, ``Blank``,
    ``C1``); a row the file gives an expected Concentration for is a calibrator whatever its name."""
    s = (name or "").strip()
    by_name = next((kind for kind, rx in _NAME_TYPES if s and rx.search(s)), None)
    return by_name or ("standard" if has_expected else "unknown")


def _key(label: str) -> str:
    """Label as compared: case, punctuation and spacing ignored (``Calc. Conc`` = ``calc conc``)."""
    return re.sub(r"[^0-9a-z%]+", " ", label.casefold()).strip()


def _map_labels(labels: list[str]) -> tuple[dict[str, int], list[str]]:
    """Field → column index, and the fields named by more than one column."""
    columns: dict[str, int] = {}
    dups: list[str] = []
    for i, label in enumerate(labels):
        name = _ALIAS.get(_key(label))
        if name is None:
            continue
        if name in columns:
            dups.append(name)
        else:
            columns[name] = i
    return columns, dups


def _is_header(columns: dict[str, int]) -> bool:
    return all(k in columns for k in ("well", "sample", "assay")) and (
        "signal" in columns or "calc" in columns
    )


def _msd_evidence(labels: list[str], columns: dict[str, int]) -> bool:
    return bool(_MSD_EVIDENCE & columns.keys()) or any(_key(x) in _MSD_EVIDENCE_LABELS for x in labels)


def _header_delimiter(line: str) -> tuple[str, list[str], dict[str, int]] | None:
    """The delimiter under which ``line`` is a Workbench header row, its cells and columns."""
    # Cheap exit first (most lines): a header has a cell whose key is "well", and a cell's characters are
    # the line's minus quotes and NULs, so without "well" in the line folded that way there is no header.
    if "well" not in line.casefold() and "well" not in line.replace('"', "").replace("\x00", "").casefold():
        return None
    for d in _DELIMITERS:
        if d not in line:
            continue
        cells = trimmed_cells(line, d)
        columns, _ = _map_labels(cells)
        if _is_header(columns):
            return d, cells, columns
    return None


def _fragment_rows(lines: list[str], header_idx: int, delimiter: str, header: list[str]) -> list[list[str]]:
    """Label fragments of a header split over several lines: up to 3 lines directly above the header whose
    first cell is empty and whose every other cell sits over a non-empty header cell (a plate-name line or
    a title starts in the first cell, so it is never taken for a fragment)."""
    out: list[list[str]] = []
    i = header_idx - 1
    while i >= 0 and len(out) < 3:
        line = lines[i]
        if is_blank_line(line):
            break
        cells = trimmed_cells(line, delimiter)
        filled = [j for j, c in enumerate(cells) if c]
        if not filled or cells[0] or any(j >= len(header) or not header[j] for j in filled):
            break
        if any(parse_number(cells[j]) is not None for j in filled):
            break
        out.insert(0, cells)
        i -= 1
    return out


def _joined_labels(header: list[str], fragments: list[list[str]]) -> list[str]:
    labels = []
    for j, bottom in enumerate(header):
        parts = [f[j] for f in fragments if j < len(f) and f[j]]
        labels.append(" ".join([*parts, bottom]) if bottom else "")
    return labels


def _logical_line(lines: list[str], idx: int) -> tuple[str, int]:
    """Line ``idx`` and how many physical lines it spans: a header cell with a line break typed into it
    (``"Calc.<newline>Conc"``, as Excel saves it) is one quoted cell over two lines; its break becomes a
    space. Only a quote left open by the line and closed within 3 lines counts."""
    text = lines[idx]
    if text.count('"') % 2 == 0:
        return text, 1
    k = idx
    while text.count('"') % 2 == 1 and k + 1 < len(lines) and k - idx < 3:
        k += 1
        text += " " + lines[k]
    return (text, k - idx + 1) if text.count('"') % 2 == 0 else (lines[idx], 1)


def _sniff_lines(lines: list[str], where: str = "") -> Sniff:
    for i in range(min(len(lines), 300)):
        found = _header_delimiter(_logical_line(lines, i)[0])
        if found is None:
            continue
        _, cells, columns = found
        if _msd_evidence(cells, columns):
            reason = f"MSD Workbench header row (Sample, Assay, Well, Signal…) on {where}line {i + 1}"
            return Sniff(True, reason, WORKBENCH_SCORE)
        return Sniff(
            False,
            f"{where}line {i + 1} names Sample, Assay, Well and Signal but no MSD column (Spot, Detection "
            "Range, Calc. Concentration); " + _WB_LOOKED_FOR,
        )
    return Sniff(False, _WB_LOOKED_FOR)


def _sheet_text(rows: list[list[str]]) -> str:
    """A sheet as tab-separated text, one line per row, so the text parser reads it unchanged (a line break
    typed into a cell, ``Calc.<newline>Conc``, becomes a space; a cell holding a tab or a quote is quoted)."""
    out = []
    for row in rows:
        cells = [" ".join(c.replace("\t", " ").split("\n")) for c in row]
        out.append("\t".join(f'"{c.replace(chr(34), chr(34) * 2)}"' if '"' in c else c for c in cells))
    return "\n".join(out)


def _sniff(text_head: str, file: FileInput) -> Sniff:
    if not is_workbook(file.data):
        return _sniff_lines(split_lines(text_head.lstrip("\ufeff")))
    try:
        sheets = workbook_rows(file.data)
    except WorkbookUnreadable:
        return Sniff(False, "an Excel file that could not be opened; " + _WB_LOOKED_FOR)
    verdict = Sniff(False, _WB_LOOKED_FOR)
    for name, rows in sheets:
        verdict = _sniff_lines(split_lines(_sheet_text(rows[:300])), f"sheet {name!r}, ")
        if verdict.matched:
            return verdict
    return verdict


# ---- Discovery Workbench ----------------------------------------------------------------------------------


@dataclass
class _Block:
    """One header + table of a Workbench export, with the preamble lines that came before it."""

    header_line: int  # 1-based
    delimiter: str
    labels: list[str]
    columns: dict[str, int]
    preamble: list[tuple[int, str]]
    rows: list[tuple[int, list[str]]] = field(default_factory=list)
    limit_rows: list[tuple[int, list[str]]] = field(default_factory=list)
    plate_name: str | None = None
    meta: dict[str, str] = field(default_factory=dict)
    extra: dict[str, str] = field(default_factory=dict)
    decimal_comma: bool = False


def _limit_kind(cells: list[str]) -> str | None:
    """``low``/``high`` when the line is a ``Detection Limits: Calc. Low/High`` row."""
    first = next((c for c in cells if c), "")
    k = _key(first)
    for kind in ("low", "high"):
        if k.startswith(f"detection limits calc {kind}") or k.startswith(f"calc {kind}"):
            return kind
    return None


def _read(file: FileInput) -> ReadResult:
    """A text export is one parse; a workbook one parse per sheet that holds a Workbench table."""
    if not is_workbook(file.data):
        parses = [_Workbench(file)]
    else:
        try:
            sheets = [(name, _sheet_text(rows)) for name, rows in workbook_rows(file.data)]
        except WorkbookUnreadable as exc:
            raise ReaderError(
                f"{exc}. Save the workbook again from Excel, or export CSV.", file=file.name
            ) from None
        found = [(name, text) for name, text in sheets if _sniff_lines(split_lines(text)).matched]
        if not found:
            raise ReaderError(
                f"no sheet of this workbook holds a Discovery Workbench table ({_WB_LOOKED_FOR}; sheets: "
                f"{', '.join(repr(name) for name, _ in sheets)}). Export the plate's data table from "
                "Discovery Workbench and upload that file.",
                file=file.name,
            )
        parses = [_Workbench(file, text, sheet=name) for name, text in found]
    records: list[dict[str, Any]] = []
    plates: dict[str, PlateInfo] = {}
    warnings: list[str] = []
    seen: dict[tuple[str, str, str], str] = {}
    for parse in parses:
        got, got_plates = parse.parse()
        for rec in got:
            key = (rec["plate_id"], rec["well"], rec["analyte_as_written"])
            where = f"{parse.where}{rec['row_number']}"
            if key in seen:
                raise parse.error(
                    f"plate {key[0]} well {key[1]} assay {key[2]!r} appears twice ({seen[key]} and {where}): "
                    "the file looks edited or holds a plate twice. Export each plate once.",
                    rec["row_number"],
                )
            seen[key] = where
        records.extend(got)
        for pid, info in got_plates.items():
            plates.setdefault(pid, info)
        warnings.extend(parse.warnings)
    excluded = sum(1 for r in records if r["flags"] and "excluded" in r["flags"].split(";"))
    if excluded:
        warnings.append(f"{excluded} values are marked Excluded in the file (kept as not reported)")
    missing = [r for r in records if r["flags"] and DILUTION_MISSING in r["flags"].split(";")]
    if warning := missing_dilution_warning(len(missing), 0):
        first = missing[0]
        warnings.append(f"{warning}, e.g. well {first['well']} ({first['sample_id'] or 'no sample name'})")
    wells = conform(pl.DataFrame(records, schema=WELL_SCHEMA))
    return ReadResult(format=WORKBENCH, wells=wells, plates=list(plates.values()), warnings=warnings)


class _Workbench(LineParse):
    """State of one Workbench read (a text export, or one sheet of a workbook)."""

    def __init__(self, file: FileInput, text: str | None = None, *, sheet: str | None = None) -> None:
        super().__init__(file, text)
        self.sheet = sheet
        self.where = f"sheet {sheet!r}, row " if sheet is not None else "line "
        self.limits: dict[tuple[str, str | None], float | None] = {}  # (kind, assay or None) → value

    def error(self, message: str, line: int | None = None) -> ReaderError:
        if self.sheet is None:
            return super().error(message, line)
        row = f", row {line}" if line else ""
        return ReaderError(f"sheet {self.sheet!r}{row}: {message}", file=self.file.name)

    # ---- layout -----------------------------------------------------------------------------------------

    def blocks(self) -> tuple[list[_Block], list[tuple[int, str]]]:
        """Header blocks in order, and the lines after the last table (limit rows may sit there)."""
        blocks: list[_Block] = []
        pending: list[tuple[int, str]] = []
        cur: _Block | None = None
        idx = 0
        while idx < len(self.lines):
            line = self.lines[idx]
            n = idx + 1
            idx += 1
            logical, span = _logical_line(self.lines, n - 1)
            found = _header_delimiter(logical)
            if found is not None:
                idx = n - 1 + span
                delimiter, cells, _ = found
                fragments = _fragment_rows(self.lines, n - 1, delimiter, cells) if cur is None else []
                labels = _joined_labels(cells, fragments)
                columns, dups = _map_labels(labels)
                if dups:
                    raise self.error(
                        f"the header names {', '.join(sorted(set(dups)))} more than once: it is ambiguous "
                        "which column to read. Export the table again without duplicated columns.",
                        n,
                    )
                if not _is_header(columns):  # the fragments changed a label the header needed
                    columns, _ = _map_labels(cells)
                    labels = list(cells)
                    fragments = []
                keep = len(pending) - len(fragments) if cur is None else 0
                cur = _Block(n, delimiter, labels, columns, pending[: max(keep, 0)])
                blocks.append(cur)
                pending = []
                continue
            if cur is not None:
                if is_blank_line(line):
                    cur = None
                    continue
                cells = trimmed_cells(line, cur.delimiter)
                if _limit_kind(cells):
                    cur.limit_rows.append((n, cells))
                else:
                    cur.rows.append((n, cells))
                continue
            pending.append((n, line))
        return blocks, pending

    def parse(self) -> tuple[list[dict[str, Any]], dict[str, PlateInfo]]:
        """The rows and plates of this text (or sheet); the caller assembles the table."""
        blocks, trailing = self.blocks()
        if not blocks:
            raise self.error(
                "no MSD Discovery Workbench table found: " + _WB_LOOKED_FOR + ". Export the plate's data "
                "table from Discovery Workbench (File > Export) and upload that file."
            )
        for block in blocks:
            self.preamble(block)
            block.decimal_comma = self.decimal_comma(block)
            for n, cells in block.limit_rows:
                self.limit_row(n, cells, block)
        for n, line in trailing:
            if is_blank_line(line):
                continue
            d = blocks[-1].delimiter
            cells = trimmed_cells(line, d)
            if _limit_kind(cells):
                self.limit_row(n, cells, blocks[-1])
        unnamed = [b for b in blocks if b.plate_name is None]
        base = stem(self.file.name)
        records: list[dict[str, Any]] = []
        plates: dict[str, PlateInfo] = {}
        for k, block in enumerate(blocks, start=1):
            default_id = block.plate_name or (base if len(unnamed) <= 1 else f"{base}-{k}")
            if "calc" not in block.columns:
                self.warnings.append(
                    f"the table headed on {self.where}{block.header_line} has no Calc. Concentration column: "
                    "signals only (and Detection Range censoring)"
                )
            for n, cells in block.rows:
                rec = self.record(block, n, cells, default_id)
                records.append(rec)
                if rec["plate_id"] not in plates:
                    plates[rec["plate_id"]] = self.plate_info(rec["plate_id"], block, blocks[0])
        if not records:
            raise self.error(
                f"the MSD table headed on {self.where}{blocks[0].header_line} has no data rows: the export "
                "looks truncated. Export the plate's data table again.",
                blocks[0].header_line,
            )
        return records, plates

    # ---- preamble and limits ----------------------------------------------------------------------------

    def preamble(self, block: _Block) -> None:
        """Plate name, ``Key,Value`` metadata and Detection Limits rows above a table."""
        context_assay: str | None = None
        for n, line in block.preamble:
            if is_blank_line(line):
                continue
            cells = trimmed_cells(line, block.delimiter)
            filled = [c for c in cells if c]
            if _limit_kind(cells):
                self.limit_row(n, cells, None, context_assay)
                continue
            if len(filled) == 1:
                text = filled[0]
                m = re.match(r"^([^:]{1,40}):\s*(.+)$", text)
                if m and _key(m.group(1)) in _META_KEYS:
                    self.meta(block, m.group(1), m.group(2).strip())
                elif re.match(r"^plate", text, re.IGNORECASE) or (
                    not re.search(r"\s", text) and len(text) <= 64
                ):
                    block.plate_name = block.plate_name or text
                else:
                    block.extra.setdefault("comment", text)
                continue
            if _PLATE_PREFIX_RE.match(filled[0]) and _key(filled[0]) not in _META_KEYS:
                # the plate-name line of a sheet, with whatever the workbook left in the cells beside it
                block.plate_name = block.plate_name or filled[0]
                continue
            key, value = filled[0].rstrip(":").strip(), filled[1]
            if _key(key) in ("assay", "spot name"):
                context_assay = value
            self.meta(block, key, value)

    def meta(self, block: _Block, key: str, value: str) -> None:
        target = _META_KEYS.get(_key(key))
        if target == "plate_id":
            block.plate_name = block.plate_name or value
        elif target is not None:
            block.meta.setdefault(target, value)
        else:
            block.extra.setdefault(key, value)

    def limit_row(self, n: int, cells: list[str], block: _Block | None, context: str | None = None) -> None:
        """``Detection Limits: Calc. Low,<assay>,<value>`` (or aligned with the table's Assay and Calc.
        Concentration columns, or ``…Calc. Low: <value>`` under an ``Assay,<name>`` line)."""
        kind = _limit_kind(cells)
        if kind is None:
            return
        dc = block.decimal_comma if block else False
        first = next(i for i, c in enumerate(cells) if c)
        assay: str | None = None
        value: float | None = None
        if block is not None:
            ai, ci = block.columns.get("assay"), block.columns.get("calc")
            if ai is not None and ci is not None and ai < len(cells) and ci < len(cells) and ai != first:
                aligned = number(cells[ci], decimal_comma=dc)
                if cells[ai] and aligned is not None:
                    assay, value = cells[ai], aligned
        if value is None:
            m = re.search(r"(?:low|high)\s*[:=]\s*(\S.*)$", cells[first], re.IGNORECASE)
            rest = ([m.group(1)] if m else []) + [c for c in cells[first + 1 :] if c]
            numbers = [v for c in rest if (v := number(c, decimal_comma=dc)) is not None]
            names = [c for c in rest if number(c, decimal_comma=dc) is None]
            if len(numbers) != 1:
                self.warnings.append(
                    f"{self.where}{n}: a Detection Limits row that could not be read (expected one assay and "
                    "one number); its limit is not used"
                )
                return
            value = numbers[0]
            assay = names[0] if names else context
        key = (kind, assay)
        if key in self.limits and self.limits[key] != value:
            self.warnings.append(
                f"{self.where}{n}: Detection Limits Calc. {kind.title()} for {assay or 'all assays'} differs "
                "from an earlier row: neither is used (the pipeline takes the limit from the standards)"
            )
            self.limits[key] = None
        elif key not in self.limits:
            self.limits[key] = value

    def decimal_comma(self, block: _Block) -> bool:
        """Whether the table writes decimal commas (``53,2``), decided from the numbers it holds, never from
        the delimiter alone (a wrong guess would scale values): readers/toolkit/decimals.py. A ``;`` table
        mixing both marks is refused; in another table, cells like ``0,02`` among decimal points are read
        as decimals, with a warning."""
        idx = [block.columns[f] for f in ("signal", "calc", "expected", "dilution") if f in block.columns]
        texts = [cells[i] for _, cells in block.rows for i in idx if i < len(cells)]
        comma, mixed = file_decimal_comma(texts, semicolon=block.delimiter == ";")
        if mixed and block.delimiter == ";":
            raise self.error(
                f"the table headed on {self.where}{block.header_line} mixes decimal commas and decimal "
                "points: export it again with one decimal mark",
                block.header_line,
            )
        if mixed:
            strays = [t for t in texts if sure_decimal_comma(t)]
            self.warnings.append(
                f"the table headed on {self.where}{block.header_line} writes decimal points, but "
                f"{len(strays)} cells have a decimal comma (e.g. {strays[0]!r}): read as decimals"
            )
        return comma

    def plate_info(self, plate_id: str, block: _Block, first: _Block) -> PlateInfo:
        meta = {**first.meta, **block.meta}
        extra = {**first.extra, **block.extra}
        m = _PLATE_PREFIX_RE.match(plate_id)
        if m:
            extra["barcode"] = m.group(1)
        return plate_info(plate_id, meta, {"software": "MSD Discovery Workbench", **extra})

    # ---- rows -------------------------------------------------------------------------------------------

    def record(self, block: _Block, n: int, cells: list[str], default_plate: str) -> dict[str, Any]:
        cols = block.columns
        # Workbench writes every column on every row: a shorter row was cut (a cut inside a value would
        # otherwise be read as a smaller number).
        width = max(i for i, label in enumerate(block.labels) if label) + 1
        if len(cells) < width:
            raise self.error(
                f"the row has {len(cells)} fields but the header on {self.where}{block.header_line} has "
                f"{width}: it is cut short. Export the table again.",
                n,
            )
        beyond = [c for c in cells[len(block.labels) :] if c]
        if beyond:
            raise self.error(
                f"the row has values beyond the last header column ({beyond[:3]}): the columns do not line "
                "up with the header. Export the table again without editing it.",
                n,
            )

        def cell(name: str) -> str | None:
            i = cols.get(name)
            if i is None:
                return None
            return cells[i] if i < len(cells) else ""

        dc = block.decimal_comma
        well_text = cell("well") or ""
        well = normalise_well(well_text)
        if well is None:
            raise self.error(f"Well {well_text!r} is not a plate well (A1…P24 or A01…P24)", n)
        assay = cell("assay") or ""
        if not assay:
            raise self.error(f"well {well_text}: the Assay cell is empty (every row needs its assay/spot)", n)
        dil_text = cell("dilution")
        try:
            given = parse_dilution(
                dil_text, column="Dilution", software="Discovery Workbench", decimal_comma=dc
            )
        except DilutionError as exc:
            raise self.error(f"well {well_text}: {exc}", n) from None
        expected_text = cell("expected")
        expected = number(expected_text, decimal_comma=dc) if expected_text else None
        sample = cell("sample") or None
        type_text = _key(cell("sample_type") or "")
        sample_type = _SAMPLE_TYPE_WORDS.get(type_text) or sample_type_of(
            sample, has_expected=expected is not None
        )
        signal, signal_flag = read_signal(cell("signal"), decimal_comma=dc, sure_comma=True, flag_empty=True)

        excluded_text = (cell("excluded") or "").strip().casefold()
        if excluded_text not in _YES and excluded_text not in _NO:
            self.warnings.append(
                f"{self.where}{n}: Excluded {excluded_text!r} is neither yes nor no (read as no)"
            )
        excluded = excluded_text in _YES

        calc_text = cell("calc")
        low = self.limit(cell("calc_low"), "low", assay, dc)
        high = self.limit(cell("calc_high"), "high", assay, dc)
        qualifier, value, extrapolated, applied, flags = classify(
            calc_text, cell("detection_range"), excluded=excluded, low=low, high=high, decimal_comma=dc
        )
        if signal_flag:
            flags.append(signal_flag)
        if given is None and (missing := missing_dilution_flag(sample_type)):
            flags.append(missing)  # a study sample's dilution must be known before its value is released
        plate = cell("plate") or default_plate
        held = Sample(
            sample,
            sample_type,
            expected if sample_type in ("standard", "qc", "blank") else None,
            given or 1.0,
        )
        reading = Reading(well, n, assay, signal, SIGNAL_KIND if "signal" in cols else None)
        reported = Reported(calc_text, ParsedConc(qualifier, value, extrapolated), applied)
        return result_row(Origin(self.file.name, WORKBENCH, plate), held, reading, reported, flags)

    def limit(self, text: str | None, kind: str, assay: str, dc: bool) -> float | None:
        """The row's Detection Limits cell, else a Detection Limits row for its assay (or for all)."""
        if text:
            v = number(text, decimal_comma=dc)
            if v is not None:
                return v
        v = self.limits.get((kind, assay))
        return v if v is not None else self.limits.get((kind, None))


def classify(
    calc_text: str | None,
    range_text: str | None,
    *,
    excluded: bool = False,
    low: float | None = None,
    high: float | None = None,
    decimal_comma: bool = False,
) -> tuple[str, float | None, bool, bool, list[str]]:
    """(qualifier, value, extrapolated, dilution_applied, flags) of one Calc. Concentration cell read with
    its Detection Range (table in the module docstring)."""
    parsed = parse_conc(calc_text, decimal_comma=decimal_comma or sure_decimal_comma(calc_text or ""))
    flags: list[str] = []
    written = (range_text or "").strip()
    side = _DETECTION_RANGES.get(re.sub(r"\s+", " ", written.casefold())) if written else None
    if written and side is None:
        flags.append("detection_range_unrecognised: " + written.replace(";", ","))
    elif side in ("below", "above"):
        flags.append("detection_range: " + written)
    if excluded:
        return "NR", None, False, True, ["excluded", *flags]
    if parsed.qualifier == "=":
        beyond = side in ("below", "above")
        return "=", parsed.value, parsed.extrapolated or beyond, True, flags
    if parsed.qualifier in ("<", ">"):
        q = parsed.qualifier
        if side is not None and side != "in" and (side == "below") != (q == "<"):
            flags.append("detection_range_conflict")
        if parsed.value is not None:
            return q, parsed.value, False, True, flags
        limit = low if q == "<" else high
        if limit is not None:
            flags.append("limit_from_file")
        return q, limit, False, limit is None, flags
    if side in ("below", "above"):
        q = "<" if side == "below" else ">"
        limit = low if side == "below" else high
        if limit is not None:
            flags.append("limit_from_file")
        return q, limit, False, limit is None, flags
    flags.append("result_not_reported: " + (parsed.note or "no number").replace(";", ","))
    return "NR", None, False, True, flags


class _WorkbenchRun(ParseRun):
    """A text export is one parse; a workbook one parse per sheet (see :func:`_read`)."""

    def run(self) -> ReadResult:
        return _read(self.file)


class MsdWorkbenchReader(GuardedReader, texts=_TEXTS, recognise=_sniff, parser=_WorkbenchRun):
    """Reads an MSD Discovery Workbench export into the canonical well table (see module docstring)."""

    name: ClassVar[str] = WORKBENCH
    label: ClassVar[str] = "MSD Discovery Workbench export"
