"""MSD (Meso Scale Discovery) exports: Discovery Workbench result tables and raw MSD reader grids.

Two readers, because MSD labs hand over two different things (shared/corpus/README.md, "MSD"):

**MsdWorkbenchReader** (``msd_workbench``) — the Discovery Workbench "Experiment Data Table" export, CSV or
tab-separated (``;`` with decimal commas is read too).

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
  ``Spot``, ``Detection Range``, ``Dilution`` (empty → 1), ``Concentration`` (the calibrator's expected
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

**MsdRawReader** (``msd_raw``) — the raw MSD instrument (MESO QuickPlex / Sector, "Methodical Mind")
text file: ``Key :<tab>value`` header lines (``Plate #``, ``Barcode1`` ``<*22M0TALA85N*>``, ``Read Time``,
``User``, ``Model``, ``SpotID`` …), a ``==========Data====`` line, a grid of ECL counts (header row of
column numbers 1..12 or 1..24, rows A..H or A..P), then ``==========Processing`` / ``Statistics`` /
``Camera Status`` / ``Waveform/Current`` sections (ignored); several plates follow one another. A
multi-spot plate prints, under each row letter, one unlabelled sub-row per spot position (empty ones
included) — sub-row *k* is spot *k*; a file may instead give one grid per spot (``SpotID : 3``).
Signals only: one row per well × spot, ``signal_kind="ECL"``, qualifier ``NR``, no unit. plate_id = the
plate barcode (``Barcode1``, markers ``<* *>`` stripped), else ``<file stem>-P<Plate #>``; grids of the
same plate with different spots are one plate; the same plate read twice gets ``-2``, ``-3``…

A raw grid has no plate map: wells come out with ``sample_id`` null, ``sample_type`` "unknown" and a
warning, unless the plate map is delivered beside the export (plater format, readers/platemap.py) under
``<stem>_<plate_id>_platemap.csv``, ``<plate_id>_platemap.csv`` or ``<stem>_platemap.csv`` (the lookup of
readers/platereader.py) — then only the wells the map names are read, with its sample_id, sample_type,
expected_conc and dilution. The analyte is the map's ``analyte`` for single-spot plates, else ``Spot <n>``.

Everything a lab can fix (a row cut short, a well that is not a well, a grid that ends early, a bad
dilution) raises :class:`ReaderError` with the line; any other failure is wrapped into one, so no raw
exception escapes either ``read``.
"""

from __future__ import annotations

import csv
import io
import re
from dataclasses import dataclass, field
from pathlib import PurePath
from typing import Any, ClassVar

import polars as pl

from readers.base import FileInput, PlateInfo, ReaderError, ReadResult, Sniff, read_guarded
from readers.platemap import PLATE_SHAPES, ROW_LETTERS, PlateMap, find_platemap, parse_platemap
from readers.text import decode, split_lines
from readers.tokens import parse_conc, parse_number
from schemas.wells import WELL_SCHEMA, conform

WORKBENCH = "msd_workbench"
RAW = "msd_raw"
WORKBENCH_SCORE = 90
RAW_SCORE = 90  # must beat the generic plate-reader grid reader (10), which also sees a grid here
SIGNAL_KIND = "ECL"

_WB_LOOKED_FOR = (
    "looked for an MSD Discovery Workbench header row naming Sample, Assay (or Spot Name), Well and Signal "
    "or Calc. Concentration, with MSD columns such as Spot, Detection Range or Calc. Concentration"
)
_RAW_LOOKED_FOR = (
    "looked for an MSD instrument file: 'Key :<tab>value' header lines (Barcode1, Plate #, Read Time…) "
    "and a '==========Data====' line followed by a plate grid"
)

_WELL_RE = re.compile(r"^\s*([A-Pa-p])\s*0*([1-9]|1\d|2[0-4])\s*$")
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

_DETECTION_RANGES = {
    "in detection range": "in",
    "below detection range": "below",
    "below fit curve range": "below",
    "above detection range": "above",
    "above fit curve range": "above",
}

_STANDARD_NAME = re.compile(r"^(?:s\d{1,3}$|std|standard|calibrator|cal\b|cal[\s_-]*\d)", re.IGNORECASE)
_BLANK_NAME = re.compile(r"^(?:blank|blk|zero|background)", re.IGNORECASE)
_QC_NAME = re.compile(r"^(?:c\d{1,2}$|control|ctrl|qc)", re.IGNORECASE)
_SAMPLE_TYPE_WORDS = {
    "standard": "standard",
    "std": "standard",
    "calibrator": "standard",
    "blank": "blank",
    "zero": "blank",
    "background": "blank",
    "control": "qc",
    "qc": "qc",
    "unknown": "unknown",
    "sample": "unknown",
}
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
_COMMA_DECIMAL_RE = re.compile(r"^[-+]?\d+(?:\.\d{3})*,\d+$")
_POINT_DECIMAL_RE = re.compile(r"^[-+]?\d+\.\d+$")


def normalise_well(text: str) -> str | None:
    """``A01``/``a1``/``P24`` → ``A1``/``A1``/``P24``; None when the text is not a well (384-well plate)."""
    m = _WELL_RE.match(text)
    return f"{m.group(1).upper()}{int(m.group(2))}" if m else None


def sample_type_of(name: str | None, *, has_expected: bool = False) -> str:
    """MSD names calibrators, blanks and controls by convention (``S001``, ``Calibrator 1``, ``Blank``,
    ``C1``); a row the file gives an expected Concentration for is a calibrator whatever its name."""
    s = (name or "").strip()
    if s and _STANDARD_NAME.search(s):
        return "standard"
    if s and _BLANK_NAME.search(s):
        return "blank"
    if s and _QC_NAME.search(s):
        return "qc"
    return "standard" if has_expected else "unknown"


def _key(label: str) -> str:
    """Label as compared: case, punctuation and spacing ignored (``Calc. Conc`` = ``calc conc``)."""
    return re.sub(r"[^0-9a-z%]+", " ", label.casefold()).strip()


def _cells(line: str, delimiter: str) -> list[str]:
    """Cells of one line (parsed alone, so a stray quote never swallows the next line)."""
    try:
        cells = next(csv.reader(io.StringIO(line.replace("\x00", "")), delimiter=delimiter), [])
    except csv.Error:  # e.g. a cell beyond csv's field size limit: a plain split keeps the line readable
        cells = line.split(delimiter)
    return [c.strip() for c in cells]


def _blank(line: str) -> bool:
    return not line.strip(" \t,;\"'\ufeff")


def _stem(name: str) -> str:
    base = re.split(r"[\\/]", name)[-1]
    return PurePath(base).stem if base else ""


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
        cells = _cells(line, d)
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
        if _blank(line):
            break
        cells = _cells(line, delimiter)
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


def _sniff_workbench(text_head: str) -> Sniff:
    lines = split_lines(text_head.lstrip("\ufeff"))[:300]
    for i in range(len(lines)):
        found = _header_delimiter(_logical_line(lines, i)[0])
        if found is None:
            continue
        _, cells, columns = found
        if _msd_evidence(cells, columns):
            reason = f"MSD Workbench header row (Sample, Assay, Well, Signal…) on line {i + 1}"
            return Sniff(True, reason, WORKBENCH_SCORE)
        return Sniff(
            False,
            f"line {i + 1} names Sample, Assay, Well and Signal but no MSD column (Spot, Detection Range, "
            "Calc. Concentration); " + _WB_LOOKED_FOR,
        )
    return Sniff(False, _WB_LOOKED_FOR)


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


class MsdWorkbenchReader:
    """Reads an MSD Discovery Workbench export into the canonical well table (see module docstring)."""

    name: ClassVar[str] = WORKBENCH
    label: ClassVar[str] = "MSD Discovery Workbench export"

    def sniff(self, text_head: str, file: FileInput) -> Sniff:
        try:
            return _sniff_workbench(text_head)
        except Exception:  # a sniff must never stop the other readers from being tried
            return Sniff(False, _WB_LOOKED_FOR)

    def read(self, file: FileInput) -> ReadResult:
        return read_guarded(
            file,
            lambda: _Workbench(file).run(),
            what="this file as an MSD Discovery Workbench export",
            todo="Export the plate data table again from Discovery Workbench (CSV), unedited.",
        )


class _Workbench:
    """State of one Workbench read."""

    def __init__(self, file: FileInput) -> None:
        self.file = file
        self.lines = split_lines(decode(file.data).lstrip("\ufeff"))
        self.warnings: list[str] = []
        self.limits: dict[tuple[str, str | None], float | None] = {}  # (kind, assay or None) → value

    def error(self, message: str, line: int | None = None) -> ReaderError:
        return ReaderError(message, file=self.file.name, line=line)

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
                if _blank(line):
                    cur = None
                    continue
                cells = _cells(line, cur.delimiter)
                if _limit_kind(cells):
                    cur.limit_rows.append((n, cells))
                else:
                    cur.rows.append((n, cells))
                continue
            pending.append((n, line))
        return blocks, pending

    def run(self) -> ReadResult:
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
            if _blank(line):
                continue
            d = blocks[-1].delimiter
            cells = _cells(line, d)
            if _limit_kind(cells):
                self.limit_row(n, cells, blocks[-1])
        unnamed = [b for b in blocks if b.plate_name is None]
        stem = _stem(self.file.name)
        records: list[dict[str, Any]] = []
        plates: dict[str, PlateInfo] = {}
        seen: dict[tuple[str, str, str], int] = {}
        for k, block in enumerate(blocks, start=1):
            default_id = block.plate_name or (stem if len(unnamed) <= 1 else f"{stem}-{k}")
            if "calc" not in block.columns:
                self.warnings.append(
                    f"the table headed on line {block.header_line} has no Calc. Concentration column: "
                    "signals only (and Detection Range censoring)"
                )
            for n, cells in block.rows:
                rec = self.record(block, n, cells, default_id)
                key = (rec["plate_id"], rec["well"], rec["analyte_as_written"])
                if key in seen:
                    raise self.error(
                        f"plate {key[0]} well {key[1]} assay {key[2]!r} appears twice (lines {seen[key]} and "
                        f"{n}): the file looks edited or holds a plate twice. Export each plate once.",
                        n,
                    )
                seen[key] = n
                records.append(rec)
                if rec["plate_id"] not in plates:
                    plates[rec["plate_id"]] = self.plate_info(rec["plate_id"], block, blocks[0])
        if not records:
            raise self.error(
                f"the MSD table headed on line {blocks[0].header_line} has no data rows: the export looks "
                "truncated. Export the plate's data table again.",
                blocks[0].header_line,
            )
        excluded = sum(1 for r in records if r["flags"] and "excluded" in r["flags"].split(";"))
        if excluded:
            self.warnings.append(f"{excluded} values are marked Excluded in the file (kept as not reported)")
        wells = conform(pl.DataFrame(records, schema=WELL_SCHEMA))
        return ReadResult(format=WORKBENCH, wells=wells, plates=list(plates.values()), warnings=self.warnings)

    # ---- preamble and limits ----------------------------------------------------------------------------

    def preamble(self, block: _Block) -> None:
        """Plate name, ``Key,Value`` metadata and Detection Limits rows above a table."""
        context_assay: str | None = None
        for n, line in block.preamble:
            if _blank(line):
                continue
            cells = _cells(line, block.delimiter)
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
                aligned = parse_number(cells[ci], decimal_comma=dc)
                if cells[ai] and aligned is not None:
                    assay, value = cells[ai], aligned
        if value is None:
            m = re.search(r"(?:low|high)\s*[:=]\s*(\S.*)$", cells[first], re.IGNORECASE)
            rest = ([m.group(1)] if m else []) + [c for c in cells[first + 1 :] if c]
            numbers = [v for c in rest if (v := parse_number(c, decimal_comma=dc)) is not None]
            names = [c for c in rest if parse_number(c, decimal_comma=dc) is None]
            if len(numbers) != 1:
                self.warnings.append(
                    f"line {n}: a Detection Limits row that could not be read (expected one assay and one "
                    "number); its limit is not used"
                )
                return
            value = numbers[0]
            assay = names[0] if names else context
        key = (kind, assay)
        if key in self.limits and self.limits[key] != value:
            self.warnings.append(
                f"line {n}: Detection Limits Calc. {kind.title()} for {assay or 'all assays'} differs from "
                "an earlier row: neither is used (the pipeline takes the limit from the standards)"
            )
            self.limits[key] = None
        elif key not in self.limits:
            self.limits[key] = value

    def decimal_comma(self, block: _Block) -> bool:
        """A ``;`` export from a comma-decimal locale writes ``53,2``: decided from the numbers the
        file holds, never from the delimiter alone (a wrong guess would scale values)."""
        if block.delimiter != ";":  # tab files: "3,513" is a thousands separator as often as a decimal
            return False
        idx = [block.columns[f] for f in ("signal", "calc", "expected", "dilution") if f in block.columns]
        texts = [cells[i] for _, cells in block.rows for i in idx if i < len(cells)]
        commas = sum(1 for t in texts if _COMMA_DECIMAL_RE.match(t))
        points = sum(1 for t in texts if _POINT_DECIMAL_RE.match(t))
        if commas and points:
            raise self.error(
                f"the table headed on line {block.header_line} mixes decimal commas and decimal points: "
                "export it again with one decimal mark",
                block.header_line,
            )
        return commas > 0

    def plate_info(self, plate_id: str, block: _Block, first: _Block) -> PlateInfo:
        meta = {**first.meta, **block.meta}
        extra = {**first.extra, **block.extra}
        m = _PLATE_PREFIX_RE.match(plate_id)
        if m:
            extra["barcode"] = m.group(1)
        return PlateInfo(
            plate_id=plate_id,
            protocol=meta.get("protocol"),
            instrument=meta.get("instrument"),
            acquired_at=meta.get("acquired_at"),
            operator=meta.get("operator"),
            kit_lot=meta.get("kit_lot"),
            extra={"software": "MSD Discovery Workbench", **extra},
        )

    # ---- rows -------------------------------------------------------------------------------------------

    def record(self, block: _Block, n: int, cells: list[str], default_plate: str) -> dict[str, Any]:
        cols = block.columns
        # Workbench writes every column on every row: a shorter row was cut (a cut inside a value would
        # otherwise be read as a smaller number).
        width = max(i for i, label in enumerate(block.labels) if label) + 1
        if len(cells) < width:
            raise self.error(
                f"the row has {len(cells)} fields but the header on line {block.header_line} has {width}: "
                "it is cut short. Export the table again.",
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
        dilution = 1.0
        dil_text = cell("dilution")
        if dil_text:
            d = parse_number(dil_text, decimal_comma=dc)
            if d is None or d <= 0:
                raise self.error(
                    f"well {well_text}: Dilution {dil_text!r} is not a positive number. Correct it in "
                    "Discovery Workbench and export again.",
                    n,
                )
            dilution = d
        expected_text = cell("expected")
        expected = parse_number(expected_text, decimal_comma=dc) if expected_text else None
        sample = cell("sample") or None
        type_text = _key(cell("sample_type") or "")
        sample_type = _SAMPLE_TYPE_WORDS.get(type_text) or sample_type_of(
            sample, has_expected=expected is not None
        )
        signal_text = cell("signal")
        signal = parse_number(signal_text, decimal_comma=dc) if signal_text else None

        excluded_text = (cell("excluded") or "").strip().casefold()
        if excluded_text not in _YES and excluded_text not in _NO:
            self.warnings.append(f"line {n}: Excluded {excluded_text!r} is neither yes nor no (read as no)")
        excluded = excluded_text in _YES

        calc_text = cell("calc")
        low = self.limit(cell("calc_low"), "low", assay, dc)
        high = self.limit(cell("calc_high"), "high", assay, dc)
        qualifier, value, extrapolated, applied, flags = classify(
            calc_text, cell("detection_range"), excluded=excluded, low=low, high=high, decimal_comma=dc
        )
        if signal_text is not None and signal is None:
            note = parse_conc(signal_text).note or "not a number"
            flags.append("signal_not_reported: " + note.replace(";", ","))
        plate = cell("plate") or default_plate
        return {
            "source_file": self.file.name,
            "format": WORKBENCH,
            "plate_id": plate,
            "well": well,
            "row_number": n,
            "sample_id": sample,
            "sample_type": sample_type,
            "expected_conc": expected if sample_type in ("standard", "qc", "blank") else None,
            "analyte_as_written": assay,
            "analyte": None,
            "signal": signal,
            "signal_kind": SIGNAL_KIND if "signal" in cols else None,
            "reported_text": calc_text,
            "qualifier": qualifier,
            "value": value,
            "extrapolated": extrapolated,
            "unit": None,
            "unit_source": None,
            "conc_pg_ml": None,
            "dilution": dilution,
            "dilution_applied": applied,
            "flags": ";".join(flags) or None,
        }

    def limit(self, text: str | None, kind: str, assay: str, dc: bool) -> float | None:
        """The row's Detection Limits cell, else a Detection Limits row for its assay (or for all)."""
        if text:
            v = parse_number(text, decimal_comma=dc)
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
    parsed = parse_conc(calc_text, decimal_comma=decimal_comma)
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


# ---- raw MSD instrument grids -----------------------------------------------------------------------------

_DATA_MARK_RE = re.compile(r"^\s*=+\s*Data\s*=*\s*$", re.IGNORECASE)
_SECTION_MARK_RE = re.compile(r"^\s*={3,}")
_RAW_KV_RE = re.compile(r"^\s*([A-Za-z][A-Za-z0-9 .#()/_-]{0,30}?)\s*:\s*(.*)$")
_RAW_KEYS = {
    "filename": "FileName",
    "stack id": "Stack ID",
    "plate #": "Plate #",
    "barcode1": "Barcode1",
    "barcode2": "Barcode2",
    "barcode3": "Barcode3",
    "type": "Type",
    "wells per row": "Wells Per Row",
    "wells per col": "Wells Per Col",
    "spots per well": "Spots Per Well",
    "det param": "Det Param",
    "read time": "Read Time",
    "version": "Version",
    "user": "User",
    "comments": "Comments",
    "serial #": "Serial #",
    "model": "Model",
    "orient": "Orient",
    "spotid": "SpotID",
}
_RAW_SNIFF_KEYS = ("barcode1", "plate #", "stack id", "read time", "spots per well", "det param")


def _raw_key(text: str) -> str:
    return re.sub(r"\s+", " ", text.strip()).casefold()


def _raw_value(text: str) -> str:
    """Header value: tab-separated cells joined by a space. A literal ``\\t`` after the colon (as written in
    some files, e.g. the public test file) is a tab that was escaped, not part of the value."""
    s = text.strip()
    while s.startswith("\\t"):
        s = s[2:].strip()
    return " ".join(c.strip() for c in s.split("\t") if c.strip())


def _barcode(text: str | None) -> str:
    return (text or "").strip().strip("<>").strip("*").strip()


@dataclass
class _RawGrid:
    marker_line: int  # 1-based line of ==========Data
    header: dict[str, str]  # canonical key → value
    n_columns: int
    values: dict[tuple[str, int], tuple[str, int]]  # (well, spot) → (cell text, 1-based line)
    plate_id: str = ""


def _sniff_raw(text_head: str) -> Sniff:
    lines = split_lines(text_head.lstrip("\ufeff"))[:400]
    keys = set()
    marker = None
    for i, line in enumerate(lines):
        if _DATA_MARK_RE.match(line):
            marker = i + 1
            break
        m = _RAW_KV_RE.match(line)
        if m:
            keys.add(_raw_key(m.group(1)))
    found = [k for k in _RAW_SNIFF_KEYS if k in keys]
    if marker is not None and len(found) >= 2:
        return Sniff(
            True, f"MSD instrument header ({', '.join(found)}) and a Data grid on line {marker}", RAW_SCORE
        )
    return Sniff(False, _RAW_LOOKED_FOR)


class MsdRawReader:
    """Reads the raw ECL grids of an MSD instrument file (see module docstring)."""

    name: ClassVar[str] = RAW
    label: ClassVar[str] = "MSD instrument raw data file (ECL grid)"

    def sniff(self, text_head: str, file: FileInput) -> Sniff:
        try:
            return _sniff_raw(text_head)
        except Exception:  # a sniff must never stop the other readers from being tried
            return Sniff(False, _RAW_LOOKED_FOR)

    def read(self, file: FileInput) -> ReadResult:
        return read_guarded(
            file,
            lambda: _Raw(file).run(),
            what="this file as an MSD instrument data file",
            todo="Upload the unedited .txt file the MSD instrument wrote.",
        )


class _Raw:
    def __init__(self, file: FileInput) -> None:
        self.file = file
        self.lines = split_lines(decode(file.data).lstrip("\ufeff"))
        self.warnings: list[str] = []

    def error(self, message: str, line: int | None = None) -> ReaderError:
        return ReaderError(message, file=self.file.name, line=line)

    def grids(self) -> list[_RawGrid]:
        grids: list[_RawGrid] = []
        start = 0
        for idx, line in enumerate(self.lines):
            if not _DATA_MARK_RE.match(line):
                continue
            header: dict[str, str] = {}
            for text in self.lines[start:idx]:
                m = _RAW_KV_RE.match(text)
                if m and _raw_key(m.group(1)) in _RAW_KEYS:
                    header[_RAW_KEYS[_raw_key(m.group(1))]] = _raw_value(m.group(2))
            grid, end = self.grid(idx, header)
            grids.append(grid)
            start = end
        return grids

    def grid(self, marker: int, header: dict[str, str]) -> tuple[_RawGrid, int]:
        """The grid after the Data line at index ``marker``, and the index where it ends."""
        i = marker + 1
        while i < len(self.lines) and _blank(self.lines[i]):
            i += 1
        if i >= len(self.lines):
            raise self.error("the Data section is empty: the file looks truncated", marker + 1)
        delimiter = "\t" if "\t" in self.lines[i] else ","
        head = _cells(self.lines[i], delimiter)
        n = 0
        for size in (24, 12):
            if len(head) > size and head[1 : size + 1] == [str(c) for c in range(1, size + 1)]:
                n = size
                break
        if not n or head[0] or any(head[n + 1 :]):
            raise self.error(
                "expected the grid's header row of column numbers (1..12 or 1..24) after the Data line, "
                f"found {self.lines[i][:60]!r}",
                i + 1,
            )
        letters = ROW_LETTERS[: PLATE_SHAPES[n]]
        values: dict[tuple[str, int], tuple[str, int]] = {}
        seen: list[str] = []
        sub = 0
        j = i + 1
        while j < len(self.lines):
            line = self.lines[j]
            if _SECTION_MARK_RE.match(line) or _RAW_KV_RE.match(line):
                break
            if not line.strip() and delimiter not in line:  # a separator line; an empty sub-row has cells
                j += 1
                continue
            cells = _cells(line, delimiter)
            label = cells[0].upper()
            if label:
                expected = letters[len(seen)] if len(seen) < len(letters) else None
                if label != expected:
                    raise self.error(
                        f"expected row {expected or '(none: the grid is complete)'} of the grid headed on "
                        f"line {i + 1}, found {line[:40]!r}",
                        j + 1,
                    )
                seen.append(label)
                sub = 1
            elif not seen:
                raise self.error(f"an unlabelled row before row A of the grid headed on line {i + 1}", j + 1)
            else:
                sub += 1
            row = cells[1:]
            if any(row[n:]):
                raise self.error(f"row {seen[-1]} has values beyond column {n}", j + 1)
            if not any(row):
                if label:
                    raise self.error(f"row {label} of the grid headed on line {i + 1} is empty", j + 1)
                j += 1
                continue
            if len(row) < n:
                raise self.error(
                    f"row {seen[-1]} has {len(row)} of {n} columns: it is cut short. Upload the complete "
                    "file the instrument wrote.",
                    j + 1,
                )
            if j == len(self.lines) - 1:  # no line break after a row: the file was cut inside it
                raise self.error(
                    f"the file ends inside row {seen[-1]} of the grid headed on line {i + 1}: it looks "
                    "truncated. Upload the complete file the instrument wrote.",
                    j + 1,
                )
            for c in range(n):
                values[(f"{seen[-1]}{c + 1}", sub)] = (row[c], j + 1)
            j += 1
        if len(seen) < len(letters):
            raise self.error(
                f"the grid headed on line {i + 1} ends before row {letters[len(seen)]}: the file looks "
                "truncated. Upload the complete file the instrument wrote.",
                j + 1 if j < len(self.lines) else None,
            )
        spots = {s for _, s in values}
        spot_id = parse_number(header.get("SpotID", ""))
        if spots == {1} and spot_id is not None and spot_id >= 1 and spot_id == int(spot_id):
            values = {(w, int(spot_id)): v for (w, _), v in values.items()}
        return _RawGrid(marker + 1, header, n, values), j

    def run(self) -> ReadResult:
        grids = self.grids()
        if not grids:
            raise self.error("no '==========Data' section: " + _RAW_LOOKED_FOR)
        self.assign_plate_ids(grids)
        records: list[dict[str, Any]] = []
        plates: dict[str, PlateInfo] = {}
        companions: list[str] = []
        by_plate: dict[str, list[_RawGrid]] = {}
        for g in grids:
            by_plate.setdefault(g.plate_id, []).append(g)
        unmapped: list[str] = []
        for plate_id, group in by_plate.items():
            n_columns = {g.n_columns for g in group}
            if len(n_columns) > 1:
                raise self.error(
                    f"plate {plate_id}: its grids disagree on the plate size (96 vs 384 wells)",
                    group[-1].marker_line,
                )
            found = self.platemap(plate_id, len(by_plate))
            platemap: PlateMap | None = None
            if found is not None:
                map_name, platemap = found
                n_wells = group[0].n_columns * PLATE_SHAPES[group[0].n_columns]
                if platemap.n_columns != group[0].n_columns:
                    raise self.error(
                        f"the plate map {map_name!r} describes a {platemap.n_columns * platemap.n_rows}-well "
                        f"plate but plate {plate_id} has {n_wells} wells; upload the map of this plate",
                        group[0].marker_line,
                    )
                if map_name not in companions:
                    companions.append(map_name)
                self.warnings.extend(platemap.warnings)
            else:
                unmapped.append(plate_id)
            records.extend(self.rows(plate_id, group, platemap))
            plates[plate_id] = self.plate_info(plate_id, group)
        if unmapped:
            self.warnings.append(
                f"no plate map for plate {', '.join(unmapped)}: wells are read without sample identities "
                "(sample_id empty, sample_type unknown). Upload the plate map (plater format) named "
                f"'{_stem(self.file.name)}_platemap.csv' with the file to identify the samples."
            )
        if any(r["analyte_as_written"].startswith("Spot ") for r in records):
            self.warnings.append(
                "the raw file does not name the analytes: they are written 'Spot <n>'. Name the analyte in "
                "the plate map (an 'analyte' block) for single-spot plates, or use the Discovery Workbench "
                "export for multi-spot panels."
            )
        bad = sorted({r["well"] for r in records if r["flags"] == "signal_not_numeric"})
        if bad:
            self.warnings.append(f"cells that are not readings (kept as not reported): {bad[:20]}")
        wells = conform(pl.DataFrame(records, schema=WELL_SCHEMA))
        return ReadResult(
            format=RAW,
            wells=wells,
            plates=list(plates.values()),
            companions=companions,
            warnings=self.warnings,
        )

    def assign_plate_ids(self, grids: list[_RawGrid]) -> None:
        """Barcode, else ``<stem>-P<Plate #>``; grids of one plate with other spots share it; a plate read
        again (same spots) gets ``-2``, ``-3``…"""
        stem = _stem(self.file.name) or "msd"
        spots_of: dict[str, set[int]] = {}
        for k, g in enumerate(grids, start=1):
            code = next(
                (b for key in ("Barcode1", "Barcode2", "Barcode3") if (b := _barcode(g.header.get(key)))), ""
            )
            plate_no = g.header.get("Plate #", "").strip() or str(k)
            base = code or f"{stem}-P{plate_no}"
            spots = {s for _, s in g.values}
            pid, r = base, 1
            while pid in spots_of and spots_of[pid] & spots:
                r += 1
                pid = f"{base}-{r}"
            if r > 1:
                self.warnings.append(
                    f"plate {base} appears more than once (grid on line {g.marker_line}): read as {pid}"
                )
            spots_of.setdefault(pid, set()).update(spots)
            g.plate_id = pid

    def platemap(self, plate_id: str, n_plates: int) -> tuple[str, PlateMap] | None:
        """The plate map delivered for this plate (readers/platereader.py's lookup), if any."""
        stem = _stem(self.file.name)
        for name in (f"{stem}_{plate_id}.txt", f"{plate_id}.txt", self.file.name):
            try:
                map_name, data = find_platemap(FileInput(name, b"", self.file.siblings))
            except ReaderError:
                continue
            if name == self.file.name and n_plates > 1:
                self.warnings.append(
                    f"the file holds {n_plates} plates and one plate map ({map_name}): it is applied to each"
                )
            return map_name, parse_platemap(decode(data), name=map_name)
        return None

    def rows(self, plate_id: str, group: list[_RawGrid], platemap: PlateMap | None) -> list[dict[str, Any]]:
        values: dict[tuple[str, int], tuple[str, int]] = {}
        for g in group:
            values.update(g.values)
        n_columns = group[0].n_columns
        order = {w: i for i, w in enumerate(f"{r}{c}" for r in ROW_LETTERS for c in range(1, n_columns + 1))}
        keys = sorted(values, key=lambda k: (order[k[0]], k[1]))
        spots = {s for _, s in keys}
        named = set(platemap.named_wells()) if platemap is not None else None
        if named is not None:
            outside = sorted(
                {w for w, s in keys if w not in named and values[(w, s)][0]}, key=order.__getitem__
            )
            if outside:
                self.warnings.append(
                    f"plate {plate_id}: {len(outside)} wells with a reading are not in the plate map and "
                    f"were not read ({', '.join(outside[:8])}…)"
                )
        out: list[dict[str, Any]] = []
        for well, spot in keys:
            if named is not None and well not in named:
                continue
            text, line = values[(well, spot)]
            signal = parse_number(text) if text else None
            analyte = platemap.analyte(well) if platemap is not None and len(spots) == 1 else None
            out.append(
                {
                    "source_file": self.file.name,
                    "format": RAW,
                    "plate_id": plate_id,
                    "well": well,
                    "row_number": line,
                    "sample_id": platemap.sample_id(well) if platemap else None,
                    "sample_type": platemap.sample_type(well) if platemap else "unknown",
                    "expected_conc": platemap.expected_conc(well) if platemap else None,
                    "analyte_as_written": analyte or f"Spot {spot}",
                    "analyte": None,
                    "signal": signal,
                    "signal_kind": SIGNAL_KIND,
                    "reported_text": None,
                    "qualifier": "NR",
                    "value": None,
                    "extrapolated": False,
                    "unit": None,
                    "unit_source": None,
                    "conc_pg_ml": None,
                    "dilution": platemap.dilution(well) if platemap else 1.0,
                    "dilution_applied": False,
                    "flags": None
                    if signal is not None
                    else ("no_reading" if not text else "signal_not_numeric"),
                }
            )
        return out

    def plate_info(self, plate_id: str, group: list[_RawGrid]) -> PlateInfo:
        header: dict[str, str] = {}
        for g in group:
            for k, v in g.header.items():
                header.setdefault(k, v)
        taken = {"Read Time", "User", "Model"}
        extra = {k: v for k, v in header.items() if v and k not in taken}
        spot_ids = sorted({g.header.get("SpotID", "") for g in group} - {""})
        if len(spot_ids) > 1:
            extra["SpotID"] = ",".join(spot_ids)
        return PlateInfo(
            plate_id=plate_id,
            instrument=header.get("Model") or None,
            acquired_at=header.get("Read Time") or None,
            operator=header.get("User") or None,
            extra={"software": "MSD instrument", **extra},
        )
