"""SoftMax Pro text exports: every reading of their ``Plate:`` blocks and the results of their ``Group:``
blocks (Standards, Unknowns, Controls…).

Each endpoint reading is one row per plate × well × signal read (each wavelength / read mode its own
``signal_kind``); the concentrations SoftMax Pro already computed in its group tables go on the row of the
reading the groups used, so a file that has them needs no curve fit here; a plate-only export takes its
samples from the plate map delivered beside it (readers/platemap.py), when there is one.

File layout (SoftMax Pro's text export, export version 1.3; shared/corpus/README.md, "Plate readers"):
UTF-16LE with BOM (any encoding readers.text can decode is accepted), CRLF or mixed line ends, a
``##BLOCKS= N`` line, then N blocks each closed by a line starting ``~End``: ``Note:`` blocks (free text),
``Plate:`` blocks and ``Group: <name>`` blocks.

A ``Plate:`` block's first line is its header, in the documented column order (see
:class:`PlateHeader`): name, export version, format (``PlateFormat``/``TimeFormat``), read type
(``Endpoint``, ``Kinetic``, ``Spectrum``, ``Well Scan``), read mode (``Absorbance``, ``Fluorescence``,
``Luminescence``, ``Time Resolved``…; fluorescence and time-resolved headers then carry a scan-position
flag), data mode, kinetic points, wavelengths (emission for fluorescence), number of wells, excitation
wavelengths… The plate's shape comes from its number of wells (6…384; 1536-well plates are refused: wells
are A1…P24). PlateFormat prints each read as a grid (a header of column numbers, one line per plate row,
wavelengths side by side); TimeFormat prints one line per read under a header of well names; a second
section without ``Temperature`` is the reduced data. A well whose cell is empty in every read was not
read (a partial plate: fewer rows, columns or wells) and gives no row; a cell that is not a number
(``Masked``, ``"NaN"``, ``Path?``) gives a row with no signal and ``signal_not_reported: <text>``; a lone
comma is a decimal comma (SoftMax writes no thousands separators).

Signals (``signal_kind``): ``OD450``, ``RFU 485/528`` (excitation/emission), ``RLU`` (``RLU 578`` with an
emission filter), ``RFU TR …`` for time-resolved; a wavelength read twice gets ``#2``. The reduced section
is its own signal unless it repeats a raw read: ``OD450-650`` when it equals read 1 − read 2 (checked on
every well), else ``OD (reduced)`` (SoftMax does not name its reduction in the export). Kinetic,
spectrum and scan reads are not one reading per well: their plates give no rows (a warning names the read
type), and a file holding nothing else is refused naming it; group results SoftMax computed from such a
read are kept, their signal the group's Value named ``kinetic reduction OD405`` (never an endpoint OD).
Plates are told apart by name: two plates with one name are refused. Several plates → each its own
``plate_id``: the plate's name (``<Run ID>-<name>`` when the Note block gives a Run ID); one plate → the
Run ID, else the file name's stem.

A group block is:

* a header row (tab-separated) and one row per well; the sample's own cells (name, concentration,
  dilution, mean, CV, range) are written on its first well's row only and are carried down to its other
  wells ("partial rows");
* ``Group Column / Formula Name / Formula`` lines saying how each column was computed, used to recognise
  columns whatever they are called (``!SampleNames``, ``!WellIDs``, ``!WellValues``, ``!SampleDescriptor``,
  ``InterpX(…)``, ``Result*Dilution``, ``Average(…)``);
* ``Group Summaries`` lines: ``name, description, value, formula…`` (e.g. ``Lower limit … 0.186``).

What is read, per well row of every group that has a Wells column (a group without a concentration
column gives the wells' samples only):

* ``sample_id``: the ``Sample`` column (a template may derive it from the SoftMax sample name, e.g.
  ``Sample 1`` from ``Sample 1 100x``), else the ``!SampleNames`` column;
* ``well``: the ``Wells``/``!WellIDs`` cell (a list ``A1,A2`` is a replicate-average row);
* concentration: the dilution-corrected column when there is one (``Result*Dilution``, ``AdjResult``, a
  formula multiplying the result by the dilution) → ``dilution_applied`` True; else the curve result
  (``Result``, ``InterpX(…)``, ``BackCalcConc``; in a non-standard group a lone ``Concentration`` column)
  → ``dilution_applied`` False, and the pipeline applies ``dilution`` once. Cells go through
  :func:`readers.tokens.parse_conc`; ``Range?`` (outside the curve) is ``NR`` with its note — unless
  the sample is out of range on a side we can tell (below);
* out of range: when a ``Range``/``R`` column says the sample is out of range (``Out of range``,
  ``Outside…``, ``R``, ``High``/``Low``), the side comes from the column's own formula (e.g.
  ``MeanValue<'Lower limit@Standards 1'`` → compared with that summary's value), else from the
  standards' ``Lower/Upper limit`` (``MinStd``/``MaxStd``) summaries against the sample's ``MeanValue``.
  A known side makes every well of the sample censored ``<``/``>`` with no value (the pipeline fills
  the limit from the plate's standards × dilution; the interpolated number stays in ``reported_text``)
  and flags ``out_of_range: below|above (…)``; an unknown side makes them ``NR``
  (``out_of_range: side unknown``) — a number the lab's template rejects is never loaded as in range;
* ``dilution``: the ``Dilution``/``Dilution Factor`` column (or a ``!SampleDescriptor`` named so), else 1;
  an unknown whose cell in that column is empty takes 1 and is flagged ``dilution_missing``;
* a well whose group Value is ``Masked`` (excluded by the operator) keeps its plate reading and is flagged
  ``masked: …``;
* ``sample_type`` from the group name: Standard/Std/Calibrator → standard, Control/QC → qc,
  Blank/Background → blank, anything else (Unknowns…) → unknown; ``expected_conc`` = the standards' and
  controls' ``Concentration`` column;
* ``unit``: written in a result column's name (``Result (pg/mL)``), else in the Note block (``Results …
  expressed in ng/mL``), else in the standards' concentration column (``Concentration ng/mL``): results
  interpolated on that curve are in its unit. Sources that disagree are an error (a 1000× risk); none →
  left to the assay configuration. Units are kept as written (``ng/mL``), ``unit_source`` "file";
* the plate: ``WellPlateName``, else the only plate, else (several plates, no plate column) the Plate block
  just before the group when every group Value equals that plate's reading (else kept without a reading,
  with a warning). The concentration goes on the row of the reduced signal (or of the read it repeats),
  else of the first read; the plate's other reads carry the well's sample but no concentration. A group
  Value that disagrees with the plate reading beyond its rounding is a read warning; a group row with no
  plate reading (a replicate-average row ``A1,A2``, a well not read) is its own row, signal = its Value;
* a well no group names: its sample from the plate map when one is delivered (one plate only), else an
  unknown without sample flagged ``not_in_a_group`` (``no_platemap`` when the export has no groups);
* ``MeanResult`` is not loaded (replicates are recomputed downstream) but is cross-checked against the
  mean of the numeric values it averages: more than 1 % apart is a read warning.

Ignored: CV, SD, Rec.%, Status columns, ``Int2``-style helper columns, the remaining summaries.

Plate metadata: Note block ``Run ID``, ``Method name`` (→ protocol), ``Operator``, ``Date``, ``Equipment
ID``, an ``Analyte:`` line; ``PlateInfo.extra`` also names the plate (``plate_name``) and its read. The
analyte is the Note block's ``Analyte:`` line, else the plate map's, else the ``Method name`` (with a
warning); a file naming none is read with ``analyte_as_written`` "" and the warning "the export does not
name the analyte" (the pipeline takes the analyte from the assay configuration).

A block without ``~End`` (except a complete last Plate block), fewer blocks than ``##BLOCKS`` declares, an
unreadable well or dilution raise :class:`ReaderError` with the line; anything else is wrapped into one.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass, field
from typing import ClassVar

import polars as pl

from readers.base import FileInput, PlateInfo, ReaderError, ReadResult, Sniff
from readers.platemap import PlateMap, find_platemap, parse_platemap
from readers.text import decode, split_lines
from readers.tokens import parse_conc, parse_number
from readers.toolkit.cells import clean_note, stem
from readers.toolkit.dilution import DILUTION_MISSING, DilutionError, missing_dilution_flag, parse_dilution
from readers.toolkit.guarded_reader import GuardedReader, ParseRun, ReaderTexts
from readers.toolkit.wells import normalise_well
from readers.units import is_known_unit, normalise_unit
from schemas.wells import WELL_SCHEMA, conform

FORMAT = "softmax_pro"
SNIFF_SCORE = 60  # above the generic grid reader (10): the group results are the better reading
MEAN_TOLERANCE = 0.01

_LOOKED_FOR = "looked for a SoftMax Pro text export (a ##BLOCKS= line, Plate:/Group: blocks closed by ~End)"
_BLOCK_START_RE = re.compile(r"^\s*(Note|Plate|Group|Cuvette|CuvetteSet|Graph)\s*:", re.IGNORECASE)
_END_RE = re.compile(r"^\s*~End", re.IGNORECASE)
_BLOCKS_RE = re.compile(r"^\s*##BLOCKS\s*=\s*(\d+)", re.IGNORECASE)
_UNIT_RE = re.compile(r"(?<![A-Za-z])([fpnuµμm]?g)\s*/\s*([dmuµμ]?[lL])(?![A-Za-z])")
_KEY_VALUE_RE = re.compile(r"^\s*([A-Za-z][A-Za-z0-9 ()._/#-]{0,40}?)\s*:\s*(.*)$")
_COMPARE_RE = re.compile(
    r"(?P<left>'[^']+'|[A-Za-z_][\w.%*]*)\s*(?P<op><=|>=|<|>)\s*"
    r"(?P<right>'[^']+'|-?\d+(?:\.\d+)?|[A-Za-z_][\w.%]*(?:@[\w .]+)?)"
)
_DEC_COMMA_RE = re.compile(r"^-?\d+,\d+$")
_DEC_POINT_RE = re.compile(r"^-?\d+\.\d+$")

_GROUP_TYPES: tuple[tuple[str, re.Pattern[str]], ...] = (
    ("standard", re.compile(r"standard|\bstd|calibrat", re.IGNORECASE)),
    ("qc", re.compile(r"control|\bqc|ctrl", re.IGNORECASE)),
    ("blank", re.compile(r"blank|background", re.IGNORECASE)),
)
_ADJUSTED_NAMES = {
    "result*dilution",
    "result x dilution",
    "adjresult",
    "adj result",
    "adj. result",
    "adjusted result",
    "result*dil",
    "conc*dil",
    "concentration*dilution",
}
_RESULT_NAMES = {
    "result",
    "results",
    "backcalcconc",
    "back calc conc",
    "calc conc",
    "calculated concentration",
}
_DILUTION_NAMES = {"dilution", "dilution factor", "dil", "df", "dilutionfactor"}
_RANGE_NAMES = {"range", "r", "in range", "inrange", "range?"}
_SAMPLE_NAMES = {"sample", "sample name", "samples", "name"}
_WELL_NAMES = {"wells", "well", "well ids", "wellids", "well id"}
_VALUE_NAMES = {"value", "values", "od", "well values"}


def _norm(text: str) -> str:
    return re.sub(r"\s+", " ", text).strip().casefold()


def _bare(text: str) -> str:
    """A column name without its unit or parenthesised part: ``Result (pg/mL)`` → ``result``."""
    s = _UNIT_RE.sub(" ", re.sub(r"\([^)]*\)", " ", text))
    return _norm(s).strip(" :-")


def unit_in(text: str) -> str | None:
    """A concentration unit written inside ``text`` (``Concentration ng/mL`` → ``ng/mL``), as written."""
    for m in _UNIT_RE.finditer(text):
        u = m.group(0).replace(" ", "")
        if is_known_unit(u):
            return u
    return None


def group_sample_type(name: str) -> str:
    return next((kind for kind, rx in _GROUP_TYPES if rx.search(name)), "unknown")


# ---- blocks ----------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Block:
    kind: str  # "note" | "plate" | "group" | other block word, lower-cased
    title: str  # text after "Group:"/"Plate:" (first cell)
    start: int  # 0-based index of the block's first line
    end: int  # 0-based index of its ~End line (len(lines) when missing)
    closed: bool


def split_blocks(lines: list[str]) -> tuple[int | None, list[Block]]:
    """The ``##BLOCKS`` count (if written) and every block, in order. Inside a block only ``~End`` counts:
    a Note's free text may say anything. A Plate/Group line inside an unclosed Plate/Group block closes
    nothing: the open block is reported unclosed."""
    declared: int | None = None
    blocks: list[Block] = []
    i = 0
    while i < len(lines):
        line = lines[i]
        m = _BLOCKS_RE.match(line.lstrip("\ufeff"))
        if m and declared is None:
            declared = int(m.group(1))
            i += 1
            continue
        s = _BLOCK_START_RE.match(line.lstrip("\ufeff"))
        if not s:
            i += 1
            continue
        kind = s.group(1).lower()
        title = line.split(":", 1)[1].split("\t")[0].strip() if kind != "plate" else _cell(line, 1)
        j = i + 1
        closed = False
        while j < len(lines):
            if _END_RE.match(lines[j]):
                closed = True
                break
            if (
                kind != "note"
                and _BLOCK_START_RE.match(lines[j])
                and lines[j].lstrip().lower().startswith(("plate:", "group:"))
            ):
                break
            j += 1
        blocks.append(Block(kind, title, i, j, closed))
        i = j + 1 if closed else j
    return declared, blocks


def _cell(line: str, k: int) -> str:
    cells = line.split("\t")
    return cells[k].strip() if k < len(cells) else ""


def _cells(line: str) -> list[str]:
    return [c.strip() for c in line.replace("\x00", "").split("\t")]


# ---- group tables ----------------------------------------------------------------------------------------


@dataclass
class GroupTable:
    name: str
    line: int  # 1-based line of "Group:"
    header: list[str]
    header_line: int
    rows: list[tuple[int, list[str]]] = field(default_factory=list)  # (1-based line, cells)
    formulas: dict[str, str] = field(default_factory=dict)  # column name (normalised) → formula
    summaries: dict[str, tuple[str, str]] = field(
        default_factory=dict
    )  # name (normalised) → (value, as written)

    def col(self, name: str) -> int | None:
        n = _norm(name)
        return next((j for j, h in enumerate(self.header) if _norm(h) == n), None)

    def find(self, names: set[str] | None = None, formula: str | None = None) -> int | None:
        """First column whose formula starts with ``formula`` (case-insensitive), else whose name is in
        ``names``."""
        if formula:
            f = formula.casefold()
            for j, h in enumerate(self.header):
                if self.formulas.get(_norm(h), "").replace(" ", "").casefold().startswith(f):
                    return j
        if names:
            for j, h in enumerate(self.header):
                if _norm(h) in names or _bare(h) in names:
                    return j
        return None


def parse_group(lines: list[str], block: Block) -> GroupTable:
    """Header, well rows, formulas and summaries of one ``Group:`` block."""
    body = lines[block.start + 1 : block.end]
    header_idx = next((k for k, ln in enumerate(body) if ln.strip()), None)
    if header_idx is None or _norm(_cells(body[header_idx])[0]) in ("group summaries", "group column"):
        return GroupTable(block.title, block.start + 1, [], block.start + 2)
    header = _cells(body[header_idx])
    while header and not header[-1]:
        header.pop()
    table = GroupTable(block.title, block.start + 1, header, block.start + 2 + header_idx)
    section = "rows"
    for k in range(header_idx + 1, len(body)):
        raw = body[k]
        line_no = block.start + 2 + k
        cells = _cells(raw)
        first = _norm(cells[0]) if cells else ""
        if first == "group column":
            section = "formulas"
            continue
        if first == "group summaries":
            section = "summaries"
            continue
        if not raw.strip():
            if section == "rows":
                section = "after_rows"
            continue
        if section == "rows":
            table.rows.append((line_no, cells))
        elif section == "formulas" and len(cells) >= 3:
            table.formulas[_norm(cells[1])] = cells[2]
        elif section == "summaries" and cells and cells[0]:
            value = cells[2] if len(cells) > 2 else ""
            table.summaries.setdefault(_norm(cells[0]), (value, cells[0]))
    return table


# ---- plate blocks (signals) ------------------------------------------------------------------------------

# Number of wells → (columns, rows), as SoftMax Pro lays plates out.
PLATE_DIMENSIONS: dict[int, tuple[int, int]] = {
    6: (3, 2),
    12: (4, 3),
    24: (6, 4),
    48: (8, 6),
    96: (12, 8),
    384: (24, 16),
}
_DATA_MODES = {"raw", "reduced", "both"}
_ROWS = "ABCDEFGHIJKLMNOP"
_READ_TYPE_WORDS = {
    "kinetic": "a kinetic read ({mode} over time)",
    "spectrum": "a spectrum ({mode} over a range of wavelengths)",
    "well scan": "a well scan ({mode} at several points of each well)",
    "area scan": "an area scan ({mode} at several points of each well)",
}


@dataclass(frozen=True)
class PlateHeader:
    """The ``Plate:`` line, read by the documented column order of SoftMax Pro's text export (export
    version 1.3): name, version, format, read type, read mode, [fluorescence / time-resolved: a scan
    position TRUE/FALSE], data mode, pre-read, kinetic points, read time or scan pattern, read interval or
    scan density, start / end / step wavelength, number of wavelengths, wavelengths, first column, number of
    columns, number of wells, then (absorbance) first row, number of rows or (fluorescence / luminescence)
    excitation wavelengths, cutoff, cutoff filters, sweep wave, sweep wavelength, reads per well, PMT gain,
    start / end integration time, first row, number of rows."""

    name: str
    line: int  # 1-based
    export_format: str
    read_type: str
    read_mode: str
    wavelengths: list[str]
    excitation: list[str]
    n_wells: int | None
    kinetic_points: int | None

    @property
    def endpoint(self) -> bool:
        return self.read_type.casefold() == "endpoint"

    def describe(self) -> str:
        """``a kinetic read (absorbance over time, 3 reads at 405 nm)`` — what the plate holds."""
        mode = self.read_mode.casefold() or "signal"
        text = _READ_TYPE_WORDS.get(self.read_type.casefold(), f"a {self.read_type or 'non-endpoint'} read")
        text = text.format(mode=mode)
        if self.read_type.casefold() == "kinetic" and self.kinetic_points:
            at = f" at {' / '.join(self.wavelengths)} nm" if self.wavelengths else ""
            text = text[:-1] + f", {self.kinetic_points} reads{at})"
        return text

    def reduction_kind(self) -> str:
        """The signal_kind of a value SoftMax reduced from a non-endpoint read, which the export does not
        name (Vmax, slope, λmax…): ``kinetic reduction OD405``."""
        if self.read_type.casefold() != "kinetic":  # a spectrum's or scan's reduction is at no one wavelength
            return f"{self.read_type.casefold()} reduction {self.base_kind()}"
        return f"kinetic reduction {self.read_kinds()[0].split(' #')[0]}"

    def base_kind(self) -> str:
        mode = self.read_mode.casefold()
        if mode.startswith("abs"):
            return "OD"
        if mode.startswith("lum"):
            return "RLU"
        if mode.startswith("fluor"):
            return "RFU"
        if mode.startswith("time res"):
            return "RFU TR"
        return self.read_mode or "signal"

    def read_kinds(self) -> list[str]:
        """One signal_kind per wavelength read: ``OD450``, ``RFU 485/528``, ``RLU``/``RLU 578``; a
        wavelength read twice gets `` #2``."""
        base = self.base_kind()
        kinds: list[str] = []
        for k, wl in enumerate(self.wavelengths or [""]):
            ex = self.excitation[k] if k < len(self.excitation) else ""
            if base == "OD":
                kind = f"OD{wl}" if wl else "OD"
            elif base in ("RFU", "RFU TR"):
                kind = f"{base} {ex}/{wl}" if ex and wl else f"{base} {wl}".strip()
            elif base == "RLU":
                kind = "RLU" if wl in ("", "0") else f"RLU {wl}"
            else:
                kind = f"{base} {wl}".strip()
            n = sum(1 for x in kinds if x == kind or x.startswith(kind + " #"))
            kinds.append(f"{kind} #{n + 1}" if n else kind)
        return kinds


def _int(text: str) -> int | None:
    return int(text) if text.strip().isdigit() else None


def parse_plate_header(line: str, line_no: int) -> PlateHeader:
    c = _cells(line)
    at = lambda k: c[k] if k < len(c) else ""  # noqa: E731
    # Fluorescence and time-resolved headers carry a scan-position flag before the data mode.
    o = 1 if at(6).casefold() not in _DATA_MODES and at(7).casefold() in _DATA_MODES else 0
    read_type = at(4)
    wavelengths = at(15 + o).split()
    if read_type.casefold() == "spectrum" and not wavelengths:
        start, end, step = (parse_number(at(k + o)) for k in (11, 12, 13))
        if start is not None and end is not None and step:
            wavelengths = [f"{start + step * i:g}" for i in range(int((end - start) / step) + 1)]
    mode = at(5)
    excitation = at(19 + o).split() if mode.casefold().startswith(("fluor", "time res")) else []
    return PlateHeader(
        name=at(1),
        line=line_no,
        export_format=at(3),
        read_type=read_type,
        read_mode=mode,
        wavelengths=wavelengths,
        excitation=excitation if all(e.isdigit() for e in excitation) else [],
        n_wells=_int(at(18 + o)),
        kinetic_points=_int(at(8 + o)),
    )


def grid_number(text: str) -> float | None:
    """A plate cell: SoftMax writes no thousands separators, so a lone comma is a decimal comma (a
    ``0,02`` in a dot-decimal file is 0.02)."""
    s = text.strip().strip('"')
    if s.count(",") == 1 and "." not in s:
        s = s.replace(",", ".")
    return parse_number(s)


@dataclass
class PlateReads:
    """One plate block: raw reads (one well → cell text map per wavelength; endpoint reads only) and the
    reduced section when the export has one."""

    header: PlateHeader
    raw: list[dict[str, str]]
    reduced: dict[str, str] | None
    complete: bool  # every row the plate's shape promises is present
    temperature: str = ""  # the first read's temperature cell, as written

    @property
    def name(self) -> str:
        return self.header.name

    def signals(self) -> list[tuple[str, dict[str, str], bool]]:
        """(signal_kind, well → cell text, primary) for every signal this plate gives: each raw read, and
        the reduced values when they are not one of the raw reads. ``primary`` marks the value SoftMax's
        groups use (the reduced one, else the first read): the concentration goes on that row."""
        h = self.header
        out: list[tuple[str, dict[str, str], bool]] = []
        if not h.endpoint:
            return out  # kinetic traces, spectra, scans: no single reading per well (the docstring above)
        kinds = h.read_kinds()
        same = self._reduction_of() if self.reduced else None
        for k, grid in enumerate(self.raw):
            kind = kinds[k] if k < len(kinds) else f"{h.base_kind()} read {k + 1}"
            primary = same == k if self.reduced else k == 0
            out.append((kind, grid, primary))
        if self.reduced and same is None:
            kind = self._difference_kind() or f"{h.base_kind()} (reduced)"
            out.append((kind, self.reduced, True))
        return out

    def _values(self, grid: dict[str, str]) -> dict[str, float]:
        return {w: v for w, t in grid.items() if (v := grid_number(t)) is not None}

    def _reduction_of(self) -> int | None:
        """The raw read the reduced values repeat (a one-wavelength plate, a ``!Lm1`` reduction)."""
        red = self._values(self.reduced or {})
        for k, grid in enumerate(self.raw):
            if red and _close(red, self._values(grid), None):
                return k
        return None

    def derive_difference(self, group_values: list[tuple[str, float, str]]) -> bool:
        """A plate exported without its reduced section whose groups' Values are read 1 − read 2 (a
        reference-wavelength subtraction, e.g. 450 − 620 nm) on every group well: the difference becomes
        the plate's reduced signal (``OD450-620``), so the results sit on the reading SoftMax used.
        ``group_values`` are (well, Value, Value as written) of the plate's group rows."""
        h = self.header
        if self.reduced is not None or h.base_kind() != "OD" or len(self.raw) < 2 or len(h.wavelengths) < 2:
            return False
        a, b = self._values(self.raw[0]), self._values(self.raw[1])
        pairs = [(a[w] - b[w], a[w], v, t) for w, v, t in group_values if w in a and w in b]
        if not pairs or len(pairs) < len(group_values):
            return False
        if not all(_agrees(v, d, t) for d, _, v, t in pairs) or all(_agrees(v, x, t) for _, x, v, t in pairs):
            return False
        self.reduced = {w: repr(a[w] - b[w]) for w in a if w in b}
        return True

    def _difference_kind(self) -> str | None:
        """``OD450-650`` when the reduced values are read 1 − read 2 (a reference-wavelength subtraction)."""
        h = self.header
        if h.base_kind() != "OD" or len(self.raw) < 2 or len(h.wavelengths) < 2:
            return None
        red = self._values(self.reduced or {})
        if _close(red, self._values(self.raw[0]), self._values(self.raw[1])):
            return f"OD{h.wavelengths[0]}-{h.wavelengths[1]}"
        return None


def _close(reduced: dict[str, float], a: dict[str, float], b: dict[str, float] | None) -> bool:
    """Whether every reduced value equals a − b (or a) to the 4th decimal."""
    common = [k for k in reduced if k in a and (b is None or k in b)]
    if not common or len(common) < len(reduced):
        return False
    return all(abs(reduced[k] - (a[k] - (b[k] if b else 0.0))) < 5e-4 for k in common)


def parse_plate(lines: list[str], block: Block) -> PlateReads:
    header = parse_plate_header(lines[block.start], block.start + 1)
    body = list(range(block.start + 1, block.end))
    fmt = header.export_format.casefold()
    if fmt == "timeformat":
        raw, reduced, complete = _time_format(lines, body, header)
    else:
        raw, reduced, complete = _plate_format(lines, body, header)
    if not header.endpoint:
        raw = []  # kinetic, spectral and scan reads: no single reading per well
    temperature = next(
        (c[1] for i in body if len(c := _cells(lines[i])) > 1 and parse_number(c[1]) is not None), ""
    )
    return PlateReads(header, raw, reduced, complete, temperature)


def _row_cells(cells: list[str], wells: list[str]) -> dict[str, str]:
    return {w: t for w, t in zip(wells, cells, strict=False) if w and t.strip()}


def _time_format(
    lines: list[str], body: list[int], header: PlateHeader
) -> tuple[list[dict[str, str]], dict[str, str] | None, bool]:
    """TimeFormat: a header of well names (after time and temperature cells) and one line per read; the
    raw section's header has ``Temperature``, a reduced section's does not."""
    raw: list[dict[str, str]] = []
    reduced: dict[str, str] | None = None
    wells: list[str] = []
    section = ""
    for i in body:
        cells = _cells(lines[i])
        tail = [c for c in cells[2:] if c]
        if tail and all(normalise_well(c) for c in tail):
            wells = [normalise_well(c) or "" for c in cells[2:]]
            section = "raw" if cells[1:2] and cells[1].casefold().startswith("temperature") else "reduced"
            continue
        if not any(cells) or not wells:
            continue
        values = _row_cells(cells[2:], wells)
        if section == "raw":
            raw.append(values)
        elif section == "reduced" and reduced is None:
            reduced = values
    want = len(header.wavelengths) * (header.kinetic_points or 1) if header.wavelengths else 1
    return raw, reduced, bool(wells) and len(raw) >= want


def _plate_format(
    lines: list[str], body: list[int], header: PlateHeader
) -> tuple[list[dict[str, str]], dict[str, str] | None, bool]:
    """PlateFormat: a header of column numbers (repeated once per wavelength, side by side) and one line
    per plate row, without row letters; a header without ``Temperature`` starts the reduced grid. Kinetic
    and spectrum exports repeat the raw grid once per read."""
    raw: list[dict[str, str]] = []
    reduced: dict[str, str] | None = None
    shape = PLATE_DIMENSIONS.get(header.n_wells or 0)
    complete = True
    k = 0
    raw_header: list[tuple[int, int]] = []
    while k < len(body):
        cells = _cells(lines[body[k]])
        starts = _runs(cells, shape[0] if shape else None)
        is_raw = bool(starts) and any(c.casefold().startswith("temperature") for c in cells[: starts[0][0]])
        if starts and is_raw:
            raw_header = starts
        elif not starts and raw_header and cells and cells[0] and ":" in cells[0]:
            starts, is_raw = raw_header, True  # the next kinetic read: its time in the first cell
            k -= 1
        if not starts:
            k += 1
            continue
        width = starts[0][1]
        n_rows = shape[1] if shape else PLATE_DIMENSIONS.get(width * (16 if width == 24 else 8), (0, 8))[1]
        grids: list[dict[str, str]] = [{} for _ in starts]
        got = 0
        for r in range(n_rows):
            if k + 1 + r >= len(body):
                break
            text_line = lines[body[k + 1 + r]]
            if "\t" not in text_line:  # a blank line ends the grid; a row of empty cells does not
                break
            row = _cells(text_line)
            got += 1
            for g, (s, n) in enumerate(starts):
                for c in range(n):
                    text = row[s + c] if s + c < len(row) else ""
                    if text.strip():
                        grids[g][f"{_ROWS[r]}{c + 1}"] = text
        complete = complete and got == n_rows
        if is_raw:
            raw += grids
        elif reduced is None:
            reduced = grids[0]
        k += 1 + got
    return raw, reduced, complete and bool(raw or reduced)


def _runs(cells: list[str], n_columns: int | None = None) -> list[tuple[int, int]]:
    """(start index, width) of each ``1..n`` run in a header row (n = the plate's columns, else 12/24)."""
    widths = [n_columns] if n_columns else [24, 12]
    out: list[tuple[int, int]] = []
    j = 0
    while j < len(cells):
        if cells[j] == "1":
            for n in widths:
                if cells[j : j + n] == [str(i) for i in range(1, n + 1)]:
                    out.append((j, n))
                    j += n - 1
                    break
        j += 1
    return out


# ---- sniffing --------------------------------------------------------------------------------------------


def _wells(text: str) -> list[str] | None:
    parts = [p for p in re.split(r"[,\s;]+", text.strip()) if p]
    if not parts:
        return None
    wells = [normalise_well(p) for p in parts]
    return [w for w in wells if w] if all(wells) else None


def _recognise(text_head: str, file: FileInput) -> Sniff:
    """A ``##BLOCKS=`` line and a block start (``Plate:``, ``Group:``, ``Note:``), or ``Group:`` blocks closed
    by ``~End`` (an export whose first lines were cut)."""
    lines = split_lines(text_head.lstrip("\ufeff"))
    blocks_line = any(_BLOCKS_RE.match(ln) for ln in lines[:5])
    block_starts = any(_BLOCK_START_RE.match(ln) for ln in lines)
    ends = any(_END_RE.match(ln) for ln in lines)
    if (blocks_line and block_starts) or (ends and any(ln.startswith("Group:") for ln in lines)):
        return Sniff(True, "a SoftMax Pro text export (##BLOCKS=, Plate:/Group: blocks)", SNIFF_SCORE)
    return Sniff(False, _LOOKED_FOR)


_TEXTS = ReaderTexts(
    looked_for=_LOOKED_FOR,
    what="this SoftMax Pro text export",
    todo="Export the experiment again from SoftMax Pro (File > Export, text, all sections).",
)


@dataclass(frozen=True)
class _Roles:
    sample: int | None
    wells: int | None
    value: int | None
    plate: int | None
    expected: int | None
    dilution: int | None
    conc: int | None
    adjusted: bool
    mean_result: int | None
    mean_value: int | None
    range: int | None


def _roles(g: GroupTable) -> _Roles:
    """Which column is what, by formula first (names are the user's), then by name."""
    sample = g.find({"sample"}) if g.col("sample") is not None else g.find(_SAMPLE_NAMES, "!SampleNames")
    wells = g.find(_WELL_NAMES, "!WellIDs")
    value = g.find(_VALUE_NAMES, "!WellValues")
    plate = g.find({"wellplatename", "plate", "plate name"}, "!WellPlateName")
    dilution = g.find(_DILUTION_NAMES)
    if dilution is None:
        for j, h in enumerate(g.header):
            f = g.formulas.get(_norm(h), "").casefold()
            if f.startswith("!sampledescriptor") and "dil" in _norm(h) and "name" not in _norm(h):
                dilution = j
                break
    expected = None
    for j, h in enumerate(g.header):
        n = _norm(h)
        f = g.formulas.get(n, "").casefold()
        if j == dilution:
            continue
        if n.startswith(("concentration", "conc", "expected", "std conc", "nominal")) and "result" not in n:
            expected = j
            break
        if f.startswith("!sampledescriptor") and "dil" not in n:
            expected = j
            break
    result = g.find(None, "InterpX(")
    if result is None:
        result = g.find(_RESULT_NAMES)
    adjusted = g.find(_ADJUSTED_NAMES)
    if adjusted is None and result is not None and dilution is not None:
        want = {
            f"{_norm(g.header[result])}*{_norm(g.header[dilution])}",
            f"{_norm(g.header[dilution])}*{_norm(g.header[result])}",
        }
        for j, h in enumerate(g.header):
            f = g.formulas.get(_norm(h), "").replace(" ", "").replace("'", "").casefold()
            if f in {w.replace(" ", "") for w in want}:
                adjusted = j
                break
    if result is None and expected is not None and group_sample_type(g.name) not in ("standard", "qc"):
        # Unknowns have no nominal concentration: a lone "Concentration" column there is the result.
        result, expected = expected, None
    mean_result = g.find({"meanresult", "mean result"})
    mean_value = g.find({"meanvalue", "mean value"})
    range_col = g.find(_RANGE_NAMES)
    return _Roles(
        sample=sample,
        wells=wells,
        value=value,
        plate=plate,
        expected=expected,
        dilution=dilution,
        conc=adjusted if adjusted is not None else result,
        adjusted=adjusted is not None,
        mean_result=mean_result,
        mean_value=mean_value,
        range=range_col,
    )


@dataclass
class _Well:
    group: str
    line: int
    wells: list[str]
    plate_name: str
    sample: str | None
    sample_type: str
    expected: float | None
    dilution: float
    conc_text: str
    adjusted: bool
    value_text: str
    range_text: str
    mean_value: float | None
    has_conc: bool = True  # the group has a concentration column
    value_kind: str | None = None  # signal_kind of the group's Value when no plate reading is used
    flags: list[str] = field(default_factory=list)


class _SoftmaxParse(ParseRun):
    def __init__(self, file: FileInput) -> None:
        super().__init__(file)
        self.lines = split_lines(decode(file.data).lstrip("\ufeff"))
        self.companions: list[str] = []
        self.decimal_comma = False

    def error(self, message: str, line: int | None = None) -> ReaderError:
        return ReaderError(message, file=self.file.name, line=line)

    def num(self, text: str) -> float | None:
        return parse_number(text, decimal_comma=self.decimal_comma) if text else None

    def run(self) -> ReadResult:
        declared, blocks = split_blocks(self.lines)
        if not blocks:
            raise self.error(
                f"no SoftMax Pro blocks found: {_LOOKED_FOR}. Export the experiment as text again."
            )
        self._check_closed(blocks, declared)
        if declared is not None and len(blocks) < declared:
            raise self.error(
                f"##BLOCKS= {declared} but the file holds {len(blocks)} blocks: it looks truncated. "
                "Export the experiment from SoftMax Pro again.",
                len(self.lines),
            )
        if declared is not None and len(blocks) > declared:
            self.warnings.append(f"##BLOCKS= {declared} but {len(blocks)} blocks were found; all were read")
        notes = self._notes([b for b in blocks if b.kind == "note"])
        plates = self._plates([b for b in blocks if b.kind == "plate"])
        groups: list[GroupTable] = []
        after_plate: dict[int, str] = {}  # group index → name of the Plate block just before it
        last_plate = ""
        for b in blocks:
            if b.kind == "plate":
                last_plate = parse_plate_header(self.lines[b.start], b.start + 1).name
            elif b.kind == "group":
                after_plate[len(groups)] = last_plate
                groups.append(parse_group(self.lines, b))
        self.decimal_comma = self._decimal_comma(groups)
        wells: list[_Well] = []
        result_units: set[str] = set()
        std_units: set[str] = set()
        for gi, g in enumerate(groups):
            roles = _roles(g)
            if roles.expected is not None and group_sample_type(g.name) in ("standard", "qc"):
                u = unit_in(g.header[roles.expected])
                if u:
                    std_units.add(u)
            if roles.wells is None:
                if g.rows:
                    self.warnings.append(
                        f"group {g.name!r} (line {g.line}) has no Wells column: its rows were not read"
                    )
                continue
            if roles.conc is not None and (u := unit_in(g.header[roles.conc])):
                result_units.add(u)
            group_wells = self._group_wells(g, roles, groups)
            if roles.plate is None and len(plates) > 1:
                self._link_by_order(g, group_wells, plates.get(after_plate[gi]))
            wells += group_wells
        wells = self._drop_non_endpoint(wells, plates)
        self._derive_reductions(wells, plates)
        if not wells and not any(p.signals() for p in plates.values()):
            raise self._nothing_to_read(plates)
        has_conc = any(w.has_conc and w.conc_text for w in wells)
        unit = self._unit(result_units, notes.get("_result_unit"), std_units) if has_conc else None
        platemap = self._platemap(plates, wells)
        return self._result(wells, plates, notes, notes.get("analyte", ""), unit, platemap)

    def _analytes(self, records: list[dict[str, object]], analyte: str, method: str) -> None:
        """Each row's analyte: the Note block's ``Analyte:`` line, else the plate map's for the well, else
        the Method name (with a warning), else "" with the agreed warning (the assay configuration then
        decides)."""
        by_method = by_nothing = False
        for r in records:
            from_map = r.pop("_analyte", None)
            a = analyte or (str(from_map) if from_map else "") or method
            by_method |= not analyte and not from_map and bool(method)
            by_nothing |= not a
            r["analyte_as_written"] = a
        if by_method:
            self.warnings.append(
                f"no 'Analyte:' line in the Note block: the analyte is the Method name {method!r}"
            )
        if by_nothing:
            self.warnings.append(NO_ANALYTE)

    def _check_closed(self, blocks: list[Block], declared: int | None) -> None:
        """Every block needs its ``~End``; the last Plate block of a file whose block count is right may end
        with the file when its grid is complete (some exports omit that last ``~End``)."""
        for b in blocks:
            if b.closed:
                continue
            if (
                b is blocks[-1]
                and b.kind == "plate"
                and declared == len(blocks)
                and parse_plate(self.lines, b).complete
            ):
                self.warnings.append(
                    f"the last block (Plate: {b.title}, line {b.start + 1}) has no closing ~End; its grid is "
                    "complete and was read"
                )
                continue
            raise self.error(
                f"the {b.kind.title()}: {b.title} block (line {b.start + 1}) has no closing ~End: the "
                "file looks truncated or edited. Export the experiment from SoftMax Pro again.",
                b.end + 1 if b.end < len(self.lines) else len(self.lines),
            )

    def _plates(self, blocks: list[Block]) -> dict[str, PlateReads]:
        plates: dict[str, PlateReads] = {}
        for b in blocks:
            p = parse_plate(self.lines, b)
            if p.name in plates:
                raise self.error(
                    f"two Plate: blocks are both named {p.name!r} (lines {plates[p.name].header.line} and "
                    f"{p.header.line}): their wells cannot be told apart. Give each plate its own name in "
                    "SoftMax Pro and export again.",
                    p.header.line,
                )
            n = p.header.n_wells
            if n is not None and n not in PLATE_DIMENSIONS:
                raise self.error(
                    f"plate {p.name!r} has {n} wells: only plates of "
                    f"{', '.join(str(k) for k in PLATE_DIMENSIONS)} wells (rows A…P, columns 1…24) can be "
                    "loaded. Export the plate in one of those formats.",
                    p.header.line,
                )
            if not p.header.endpoint:
                self.warnings.append(
                    f"plate {p.name!r} (line {p.header.line}) holds {p.header.describe()}: not a single "
                    "reading per well, so its readings were not loaded (group results computed from it are)"
                )
            plates[p.name] = p
        return plates

    def _derive_reductions(self, wells: list[_Well], plates: dict[str, PlateReads]) -> None:
        for p in plates.values():
            values = [
                (w.wells[0], v, w.value_text)
                for w in wells
                if self._plate_of(w, plates) is p
                and len(w.wells) == 1
                and (v := self.num(w.value_text)) is not None
            ]
            if values and p.derive_difference(values):
                a, b = p.header.wavelengths[:2]
                self.warnings.append(
                    f"plate {p.name!r} was exported without its reduced data; its groups' Values are OD{a} − "
                    f"OD{b} of its reads, loaded as signal OD{a}-{b} (the raw reads are kept too)"
                )

    def _link_by_order(self, g: GroupTable, wells: list[_Well], plate: PlateReads | None) -> None:
        """A group without a WellPlateName column in a file of several plates: SoftMax writes a plate's groups
        after its Plate block, so the group belongs to the plate just before it — taken only when every
        Value of the group equals that plate's reading of the well."""
        if plate is None:
            return
        primary = next((grid for _, grid, first in plate.signals() if first), None)
        checked = 0
        for w in wells:
            value = self.num(w.value_text)
            if value is None or len(w.wells) != 1:
                continue
            reading = grid_number(primary.get(w.wells[0], "")) if primary else None
            if reading is None or not _agrees(value, reading, w.value_text):
                self.warnings.append(
                    f"group {g.name!r} (line {g.line}) names no plate and its Values are not the readings of "
                    f"plate {plate.name!r} before it: its rows were kept without a plate reading"
                )
                return
            checked += 1
        if checked:
            for w in wells:
                w.plate_name = plate.name

    def _drop_non_endpoint(self, wells: list[_Well], plates: dict[str, PlateReads]) -> list[_Well]:
        """Group rows of a kinetic/spectrum/scan plate: their Value is an unnamed reduction of that read,
        never an endpoint reading. Rows with a concentration are kept (the signal carries the read type's
        name); the others are dropped."""
        out: list[_Well] = []
        for w in wells:
            p = self._plate_of(w, plates)
            if p is not None and not p.header.endpoint:
                if not (w.has_conc and w.conc_text):
                    continue
                w.value_kind = p.header.reduction_kind()
            out.append(w)
        return out

    @staticmethod
    def _plate_of(w: _Well, plates: dict[str, PlateReads]) -> PlateReads | None:
        if w.plate_name in plates:
            return plates[w.plate_name]
        return next(iter(plates.values())) if len(plates) == 1 else None

    def _nothing_to_read(self, plates: dict[str, PlateReads]) -> ReaderError:
        other = [p for p in plates.values() if not p.header.endpoint]
        if other:
            p = other[0]
            return self.error(
                f"this SoftMax Pro export holds {p.header.describe()} in plate {p.name!r} and no endpoint "
                "reading and no group result: it cannot be loaded as one value per well. Export an "
                "endpoint read, or group results (concentrations) SoftMax Pro computed from this read.",
                p.header.line,
            )
        if plates:
            return self.error(
                "the Plate: blocks of this SoftMax Pro export hold no reading (no grid of values was found). "
                "Export the experiment from SoftMax Pro again with its plate data."
            )
        return self.error(
            f"no Plate: block and no Group: block with a Wells column: {_LOOKED_FOR}. Export the experiment "
            "from SoftMax Pro again with its plate data and group tables."
        )

    def _platemap(self, plates: dict[str, PlateReads], wells: list[_Well]) -> PlateMap | None:
        """The plate map delivered beside the export, used for the wells no group names (one plate only)."""
        try:
            name, data = find_platemap(self.file)
        except ReaderError:
            return None
        if len([p for p in plates.values() if p.signals()]) > 1:
            self.warnings.append(
                f"plate map {name!r} ignored: it describes one plate and this export holds several"
            )
            return None
        self.companions.append(name)
        pm = parse_platemap(decode(data), name=name)
        self.warnings += list(pm.warnings)
        return pm

    # ---- metadata --------------------------------------------------------------------------------------

    def _notes(self, blocks: list[Block]) -> dict[str, str]:
        out: dict[str, str] = {}
        keys = {
            "run id": "run_id",
            "method name": "protocol",
            "protocol": "protocol",
            "operator": "operator",
            "date": "acquired_at",
            "equipment id": "instrument",
            "instrument": "instrument",
            "analyte": "analyte",
            "kit lot": "kit_lot",
            "lot": "kit_lot",
        }
        for b in blocks:
            for line in self.lines[b.start : b.end]:
                text = line.split(":", 1)[1] if line.lstrip().lower().startswith("note:") else line
                u = unit_in(text)
                if u and "result" in text.casefold() and "_result_unit" not in out:
                    out["_result_unit"] = u
                m = _KEY_VALUE_RE.match(text)
                if not m:
                    continue
                key = _norm(m.group(1))
                value = m.group(2).replace("\t", " ").strip()
                if re.fullmatch(r"[A-Za-z][\w ]*:\s*", value):  # "Equipment ID:   Validity:" — empty field
                    value = ""
                if key in keys and value and keys[key] not in out:
                    out[keys[key]] = value
        return out

    def _unit(self, result_units: set[str], note_unit: str | None, std_units: set[str]) -> str | None:
        sources = [
            (f"result column header{'s' if len(result_units) > 1 else ''}", u) for u in sorted(result_units)
        ]
        if note_unit:
            sources.append(("Note block", note_unit))
        sources += [("standards' concentration column", u) for u in sorted(std_units)]
        distinct = {normalise_unit(u) for _, u in sources}
        if len(distinct) > 1:
            said = "; ".join(f"{where}: {u}" for where, u in sources)
            raise self.error(
                f"the export names different concentration units ({said}). A wrong unit is a 1000× error: "
                "correct the protocol's Note/column names in SoftMax Pro and export again."
            )
        if not sources:
            self.warnings.append(
                "no unit in the group columns or the Note block: the assay's unit will be used"
            )
            return None
        return sources[0][1]

    def _decimal_comma(self, groups: list[GroupTable]) -> bool:
        commas = points = 0
        for g in groups:
            for _, cells in g.rows:
                commas += sum(bool(_DEC_COMMA_RE.match(c)) for c in cells)
                points += sum(bool(_DEC_POINT_RE.match(c)) for c in cells)
        return commas > points

    # ---- groups ----------------------------------------------------------------------------------------

    def _group_wells(self, g: GroupTable, roles: _Roles, groups: list[GroupTable]) -> list[_Well]:
        stype = group_sample_type(g.name)
        out: list[_Well] = []
        sample: str | None = None
        carried: dict[str, str] = {}
        sample_rows: list[_Well] = []
        sample_mean: tuple[str, int] | None = None

        def cell(cells: list[str], j: int | None) -> str:
            return cells[j] if j is not None and j < len(cells) else ""

        def close_sample() -> None:
            if sample_mean is not None and sample_rows:
                self._cross_check_mean(g, roles, sample_rows, sample_mean)

        # A Range column computed per well (``If(Value>=MinStd…,"","R")``) has a verdict on the sample's
        # other rows too: each row then keeps its own verdict instead of the sample's.
        per_row_range = roles.range is not None and any(
            cell(cells, roles.range) and not cell(cells, roles.sample) for _, cells in g.rows
        )
        for line_no, cells in g.rows:
            name = cell(cells, roles.sample)
            new_sample = bool(name) or (roles.sample is None and bool(cell(cells, roles.expected)))
            if new_sample:
                close_sample()
                sample = name or sample
                carried = {}
                sample_rows = []
                sample_mean = None
                for key, j in (
                    ("expected", roles.expected),
                    ("dilution", roles.dilution),
                    ("range", roles.range),
                    ("mean_value", roles.mean_value),
                ):
                    carried[key] = cell(cells, j)
                mean_text = cell(cells, roles.mean_result)
                sample_mean = (mean_text, line_no) if mean_text else None
            wells_text = cell(cells, roles.wells)
            if not wells_text:
                continue
            wells = _wells(wells_text)
            if wells is None:
                raise self.error(
                    f"Wells {wells_text!r} in group {g.name!r} is not a plate position (A1…P24): the row "
                    "cannot be placed. Check the group's template in SoftMax Pro and export again.",
                    line_no,
                )
            dil_text = carried.get("dilution", "")
            try:
                given = parse_dilution(
                    dil_text, column="Dilution", software="SoftMax Pro", decimal_comma=self.decimal_comma
                )
            except DilutionError as e:
                raise self.error(f"group {g.name!r}: {e}", line_no) from None
            dilution = 1.0 if given is None else given
            expected = self.num(carried.get("expected", "")) if stype in ("standard", "qc") else None
            w = _Well(
                group=g.name,
                line=line_no,
                wells=wells,
                plate_name=cell(cells, roles.plate),
                sample=sample,
                sample_type=stype,
                expected=expected,
                dilution=dilution,
                conc_text=cell(cells, roles.conc),
                adjusted=roles.adjusted,
                value_text=cell(cells, roles.value),
                range_text=cell(cells, roles.range) if per_row_range else carried.get("range", ""),
                mean_value=self.num(carried.get("mean_value", "")),
                has_conc=roles.conc is not None,
            )
            if w.value_text.strip().strip('"').casefold() == "masked":
                w.flags.append("masked: the well was excluded in SoftMax Pro (its reading is kept)")
            if roles.dilution is not None and given is None and missing_dilution_flag(stype):
                w.flags.append(DILUTION_MISSING)  # taken as 1; the pipeline holds the row with the reason
            self._apply_range(w, g, roles, groups)
            out.append(w)
            sample_rows.append(w)
        close_sample()
        return out

    def _cross_check_mean(
        self, g: GroupTable, roles: _Roles, rows: list[_Well], mean: tuple[str, int]
    ) -> None:
        """The file's MeanResult against the mean of the numbers it averages (its Average(…) column)."""
        text, line_no = mean
        file_mean = self.num(text)
        if file_mean is None or roles.mean_result is None:
            return
        formula = g.formulas.get(_norm(g.header[roles.mean_result]), "")
        m = re.match(r"\s*Average\s*\(\s*'?([^')]+?)'?\s*\)\s*$", formula, re.IGNORECASE)
        source = g.col(m.group(1)) if m else roles.conc
        if source is None:
            return
        lines = {w.line for w in rows}
        texts = [c[source] for ln, c in g.rows if ln in lines and source < len(c)]
        values = [v for t in texts if (v := self.num(t)) is not None]
        if not values:
            return
        mean_v = math.fsum(values) / len(values)
        scale = max(abs(mean_v), abs(file_mean))
        if scale > 0 and abs(mean_v - file_mean) / scale > MEAN_TOLERANCE:
            self.warnings.append(
                f"line {line_no}: group {g.name!r} MeanResult {text} differs by more than 1% from the mean "
                f"of its wells ({mean_v:.6g}); the wells are loaded and the mean is recomputed downstream"
            )

    def _apply_range(self, w: _Well, g: GroupTable, roles: _Roles, groups: list[GroupTable]) -> None:
        """Turn the sample's Range verdict into a side (flags only; the qualifier is decided later)."""
        verdict = _norm(w.range_text)
        if not verdict or roles.range is None:
            return
        inside = verdict.startswith(("in the range", "in range", "ok", "pass")) or verdict == "in"
        outside = not inside and bool(re.search(r"\bout|outside|^r$|high|low|above|below|^[<>]", verdict))
        if not outside:
            return
        side: str | None = None
        why = ""
        if re.search(r"high|above|^>", verdict):
            side, why = "above", f"Range {w.range_text!r}"
        elif re.search(r"low|below|^<", verdict):
            side, why = "below", f"Range {w.range_text!r}"
        else:
            side, why = self._side(w, g, roles, groups)
        if side is None:
            w.flags.append(f"out_of_range: side unknown (Range {w.range_text!r}; {why})")
        else:
            w.flags.append(f"out_of_range: {side} ({why})")

    def _side(
        self, w: _Well, g: GroupTable, roles: _Roles, groups: list[GroupTable]
    ) -> tuple[str | None, str]:
        formula = g.formulas.get(_norm(g.header[roles.range]), "") if roles.range is not None else ""
        tests: list[tuple[str, str, float, str]] = []  # (left column, op, limit, limit label)
        for m in _COMPARE_RE.finditer(formula):
            left = m.group("left").strip("'")
            limit, label = self._resolve(m.group("right"), g, groups)
            if limit is not None:
                tests.append((left, m.group("op"), limit, label))
        if not tests:
            lower = self._summary_like(groups, ("lower limit", "lloq", "minstd", "min std"))
            upper = self._summary_like(groups, ("upper limit", "uloq", "maxstd", "max std"))
            if lower:
                tests.append(("MeanValue", "<", lower[0], lower[1]))
            if upper:
                tests.append(("MeanValue", ">", upper[0], upper[1]))
        if not tests:
            return None, "no Lower/Upper limit to compare with"
        hits: set[str] = set()
        said: list[str] = []
        for left, op, limit, label in tests:
            j = g.col(left)
            value = w.mean_value if _norm(left) in ("meanvalue", "mean value") else None
            if value is None and j is not None:
                value = self.num(next((c[j] for ln, c in g.rows if ln == w.line and j < len(c)), ""))
            if value is None:
                continue
            true = {"<": value < limit, "<=": value <= limit, ">": value > limit, ">=": value >= limit}[op]
            if true:
                hits.add("below" if op.startswith("<") else "above")
                said.append(f"{left} {value:g} {op} {label} {limit:g}")
        if len(hits) == 1:
            return hits.pop(), "; ".join(said)
        return None, "the limits do not tell the side"

    def _resolve(self, ref: str, g: GroupTable, groups: list[GroupTable]) -> tuple[float | None, str]:
        ref = ref.strip("'")
        v = parse_number(ref)
        if v is not None:
            return v, ref
        name, _, group_name = ref.partition("@")
        targets = [x for x in groups if _norm(x.name) == _norm(group_name)] if group_name else [g, *groups]
        for t in targets:
            hit = t.summaries.get(_norm(name))
            if hit:
                return self.num(hit[0]), name.strip()
        return None, name.strip()

    def _summary_like(self, groups: list[GroupTable], names: tuple[str, ...]) -> tuple[float, str] | None:
        for t in groups:
            if group_sample_type(t.name) != "standard":
                continue
            for key, (value, written) in t.summaries.items():
                if key in names:
                    v = self.num(value)
                    if v is not None:
                        return v, written
        return None

    # ---- output ----------------------------------------------------------------------------------------

    def _result(
        self,
        wells: list[_Well],
        plates: dict[str, PlateReads],
        notes: dict[str, str],
        analyte: str,
        unit: str | None,
        platemap: PlateMap | None,
    ) -> ReadResult:
        run_id = notes.get("run_id")
        base = run_id or stem(self.file.name) or "softmax"
        readable = [p for p in plates.values() if p.signals()]
        names = [p.name for p in readable]
        names += sorted({w.plate_name for w in wells if w.plate_name and w.plate_name not in names})
        multi = len(names) > 1

        def plate_id(name: str) -> str:
            if not (multi and name):
                return base
            return f"{run_id}-{name}" if run_id else name

        if multi and any(not w.plate_name for w in wells):
            self.warnings.append("some group rows name no plate while the export has several plates")
        by_well: dict[tuple[str, str], list[_Well]] = {}
        for w in wells:
            p = self._plate_of(w, plates)
            if p is not None and p.signals() and len(w.wells) == 1:
                by_well.setdefault((p.name, w.wells[0]), []).append(w)
        used: set[int] = set()
        mismatched: list[str] = []
        records: list[dict[str, object]] = []
        for p in readable:
            signals = p.signals()
            positions = sorted(
                {pos for _, grid, _ in signals for pos in grid}, key=lambda x: (x[0], int(x[1:]))
            )
            if not positions:
                self.warnings.append(f"plate {p.name!r} (line {p.header.line}) holds no reading")
            for pos in positions:
                entry = next((w for w in by_well.get((p.name, pos), []) if id(w) not in used), None)
                if entry is not None:
                    used.add(id(entry))
                for kind, grid, primary in signals:
                    text = grid.get(pos)
                    if text is None and not (primary and entry is not None):
                        continue
                    signal = grid_number(text) if text is not None else None
                    if primary and entry is not None and signal is not None:
                        gv = self.num(entry.value_text)
                        if gv is not None and not _agrees(gv, signal, entry.value_text):
                            mismatched.append(f"{pos} (group {gv:g}, plate {signal:g})")
                    rec = self._record(entry if primary else None, p.header.line, plate_id(p.name), pos)
                    if entry is not None and not primary:
                        rec.update(self._identity(entry))
                    elif entry is None:
                        rec.update(self._map_identity(platemap, pos, grouped=bool(wells)))
                    flags = [str(rec["flags"])] if rec["flags"] else []
                    if signal is None:
                        what = (text or "").strip().strip('"') or "empty cell"
                        flags.append(f"signal_not_reported: {clean_note(what)}")
                    rec.update(signal=signal, signal_kind=kind, flags=";".join(flags) or None)
                    records.append(rec)
        fallback = self._fallback_kind(plates)
        for w in wells:
            if id(w) in used:
                continue
            rec = self._record(w, w.line, plate_id(w.plate_name), ",".join(w.wells))
            signal = self.num(w.value_text)
            kind = w.value_kind or fallback
            rec.update(signal=signal, signal_kind=kind if signal is not None else None)
            records.append(rec)
        self._analytes(records, analyte, notes.get("protocol", ""))
        if mismatched:
            self.warnings.append(
                f"group Values differ from the plate readings beyond rounding in {len(mismatched)} well(s) "
                f"(e.g. {', '.join(mismatched[:3])}); the plate readings were loaded as signal"
            )
        for r in records:
            r["unit"], r["unit_source"] = unit, "file" if unit else None
        df = conform(pl.DataFrame(records, schema=WELL_SCHEMA))
        extra = {k: v for k, v in notes.items() if not k.startswith("_") and k not in _INFO_KEYS}
        saved = next((ln for ln in self.lines if ln.startswith("Original Filename:")), None)
        if saved:
            extra["original_filename_line"] = saved.strip()
        infos = []
        for n in names if multi else names[:1] or [""]:
            p = plates.get(n)
            plate_extra = dict(extra)
            if n:
                plate_extra["plate_name"] = n
            if p is not None:
                plate_extra["read"] = f"{p.header.read_type} {p.header.read_mode}".strip()
                if p.temperature:
                    plate_extra["temperature"] = p.temperature
            infos.append(
                PlateInfo(
                    plate_id=plate_id(n),
                    protocol=notes.get("protocol"),
                    instrument=notes.get("instrument"),
                    acquired_at=notes.get("acquired_at"),
                    operator=notes.get("operator"),
                    kit_lot=notes.get("kit_lot"),
                    extra=plate_extra,
                )
            )
        return ReadResult(
            format=FORMAT, wells=df, plates=infos, companions=self.companions, warnings=self.warnings
        )

    @staticmethod
    def _fallback_kind(plates: dict[str, PlateReads]) -> str:
        modes = {p.header.base_kind() for p in plates.values()}
        return modes.pop() if len(modes) == 1 else "OD"

    @staticmethod
    def _identity(w: _Well) -> dict[str, object]:
        return {
            "sample_id": w.sample,
            "sample_type": w.sample_type,
            "expected_conc": w.expected,
            "dilution": w.dilution,
            "row_number": w.line,
        }

    @staticmethod
    def _map_identity(platemap: PlateMap | None, pos: str, *, grouped: bool) -> dict[str, object]:
        """A well no group names: its sample from the plate map, else flagged (``not_in_a_group`` when the
        export has groups, ``no_platemap`` when it has none)."""
        if platemap is None:
            return {"flags": "not_in_a_group" if grouped else "no_platemap"}
        if pos not in platemap.wells:
            return {"flags": "not_in_platemap"}
        return {
            "sample_id": platemap.sample_id(pos),
            "sample_type": platemap.sample_type(pos),
            "expected_conc": platemap.expected_conc(pos),
            "dilution": platemap.dilution(pos),
            "_analyte": platemap.analyte(pos),
        }

    def _record(self, w: _Well | None, line: int, plate_id: str, well: str) -> dict[str, object]:
        """A row: the group well's sample and concentration when ``w`` is given, else an unnamed well."""
        rec: dict[str, object] = {
            "source_file": self.file.name,
            "format": FORMAT,
            "plate_id": plate_id,
            "well": well,
            "row_number": line,
            "sample_id": None,
            "sample_type": "unknown",
            "expected_conc": None,
            "reported_text": None,
            "qualifier": "NR",
            "value": None,
            "extrapolated": False,
            "dilution": 1.0,
            "dilution_applied": False,
            "flags": None,
        }
        if w is None:
            return rec
        rec.update(self._identity(w))
        flags = list(w.flags)
        if w.has_conc:
            parsed = parse_conc(w.conc_text, decimal_comma=self.decimal_comma)
            qualifier, value = parsed.qualifier, parsed.value
            range_flag = next((f for f in flags if f.startswith("out_of_range:")), None)
            if range_flag and parsed.qualifier in ("=", "NR") and w.conc_text != "":
                if range_flag.startswith("out_of_range: below"):
                    qualifier, value = "<", None
                elif range_flag.startswith("out_of_range: above"):
                    qualifier, value = ">", None
                else:
                    qualifier, value = "NR", None
            if qualifier == "NR":
                note = parsed.note if parsed.qualifier == "NR" else "out of range on an unknown side"
                flags.append(f"result_not_reported: {(note or 'no value').replace(';', ',')}")
            rec.update(
                reported_text=w.conc_text,
                qualifier=qualifier,
                value=value,
                extrapolated=parsed.extrapolated if qualifier == "=" else False,
                dilution_applied=w.adjusted,
            )
        rec["flags"] = ";".join(f.replace(";", ",") for f in flags) or None
        return rec


_INFO_KEYS = {"protocol", "instrument", "acquired_at", "operator", "kit_lot", "analyte"}
NO_ANALYTE = "the export does not name the analyte"


def _agrees(group_value: float, plate_value: float, text: str) -> bool:
    """Whether the group's rounded Value is the plate reading rounded to the same decimals."""
    decimals = len(text.split(".", 1)[1]) if "." in text else len(text.split(",", 1)[1]) if "," in text else 0
    return abs(group_value - plate_value) <= 10.0 ** (-decimals) + 1e-9


class SoftmaxGroupReader(GuardedReader, texts=_TEXTS, recognise=_recognise, parser=_SoftmaxParse):
    """Reads a SoftMax Pro text export: its plates and its group results (see module docstring)."""

    name: ClassVar[str] = FORMAT
    label: ClassVar[str] = "SoftMax Pro text export (plates and group results)"
