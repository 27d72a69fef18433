"""SoftMax Pro text exports: the concentrations of their ``Group:`` blocks (Standards, Unknowns, Controls…).

The plate-grid reader (readers/platereader.py) reads the raw *plate* of a SoftMax export and needs a plate
map; this reader reads the *results* SoftMax Pro already computed in its group tables, so a file that
has them needs neither a plate map nor a curve fit here.

File layout (shared/corpus/README.md, "Plate readers"): UTF-16LE with BOM (any encoding readers.text can
decode is accepted), CRLF or mixed line ends, a ``##BLOCKS= N`` line, then N blocks each closed by a line
starting ``~End``: ``Note:`` blocks (free text), ``Plate:`` blocks (PlateFormat grid or TimeFormat — one
line per read, columns A1…H12) and ``Group: <name>`` blocks. A group block is:

* a header row (tab-separated) and one row per well; the sample's own cells (name, concentration,
  dilution, mean, CV, range) are written on its first well's row only and are carried down to its other
  wells ("partial rows");
* ``Group Column / Formula Name / Formula`` lines saying how each column was computed, used to recognise
  columns whatever they are called (``!SampleNames``, ``!WellIDs``, ``!WellValues``, ``!SampleDescriptor``,
  ``InterpX(…)``, ``Result*Dilution``, ``Average(…)``);
* ``Group Summaries`` lines: ``name, description, value, formula…`` (e.g. ``Lower limit … 0.186``).

What is read, per well row of every group that has a Wells column and a concentration column:

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
* ``sample_type`` from the group name: Standard/Std/Calibrator → standard, Control/QC → qc,
  Blank/Background → blank, anything else (Unknowns…) → unknown; ``expected_conc`` = the standards' and
  controls' ``Concentration`` column;
* ``unit``: written in a result column's name (``Result (pg/mL)``), else in the Note block (``Results …
  expressed in ng/mL``), else in the standards' concentration column (``Concentration ng/mL``): results
  interpolated on that curve are in its unit. Sources that disagree are an error (a 1000× risk); none →
  left to the assay configuration. Units are kept as written (``ng/mL``), ``unit_source`` "file";
* ``signal``: the plate block's reading for the well (matched by ``WellPlateName``, else the only plate):
  the reduced value when the block has one (verified against the raw reads: ``OD450-650`` when it equals
  450 − 650 nm, ``OD450`` when it equals the 450 nm read), else the first wavelength's raw read; without a
  usable plate reading, the group's ``Value`` column. A group Value that disagrees with the plate reading
  beyond its rounding is a read warning;
* ``MeanResult`` is not loaded (replicates are recomputed downstream) but is cross-checked against the
  mean of the numeric values it averages: more than 1 % apart is a read warning.

Ignored: CV, SD, Rec.%, Status columns, ``Int2``-style helper columns, the remaining summaries.

Plate metadata: Note block ``Run ID`` (→ plate_id, else the file name's stem; several plates →
``<id>-<plate name>``), ``Method name`` (→ protocol), ``Operator``, ``Date``, ``Equipment ID``, an
``Analyte:`` line. The analyte is the Note block's ``Analyte:`` line, else its ``Method name`` (with a
warning); a file naming neither is an error.

A block without ``~End``, fewer blocks than ``##BLOCKS`` declares, an unreadable well or dilution raise
:class:`ReaderError` with the line; anything else is wrapped into one.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass, field
from typing import ClassVar

import polars as pl

from readers.base import FileInput, PlateInfo, ReaderError, ReadResult, Sniff, read_guarded
from readers.text import decode, split_lines
from readers.tokens import parse_conc, parse_number
from readers.units import is_known_unit, normalise_unit
from schemas.wells import WELL_SCHEMA, conform

FORMAT = "softmax_pro"
SNIFF_SCORE = 60  # above the generic grid reader (10): the group results are the better reading
MEAN_TOLERANCE = 0.01

_LOOKED_FOR = (
    "looked for a SoftMax Pro text export (##BLOCKS=, blocks closed by ~End) with a Group: block holding "
    "a Wells column and a Result column"
)
_BLOCK_START_RE = re.compile(r"^\s*(Note|Plate|Group|Cuvette|CuvetteSet|Graph)\s*:", re.IGNORECASE)
_END_RE = re.compile(r"^\s*~End", re.IGNORECASE)
_BLOCKS_RE = re.compile(r"^\s*##BLOCKS\s*=\s*(\d+)", re.IGNORECASE)
_WELL_RE = re.compile(r"^([A-Pa-p])0*([1-9]|1\d|2[0-4])$")
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


def normalise_well(text: str) -> str | None:
    m = _WELL_RE.match(text.strip())
    return f"{m.group(1).upper()}{int(m.group(2))}" if m else None


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


@dataclass
class PlateReads:
    name: str
    mode: str
    read_type: str
    wavelengths: list[str]
    raw: list[dict[str, float]]  # per wavelength (endpoint reads only)
    reduced: dict[str, float] | None

    def signal(self) -> tuple[dict[str, float], str] | None:
        """(well → signal, signal_kind) or None when the block gives no single reading per well."""
        mode = self.mode.casefold()
        if mode.startswith("lum"):
            base = "RLU"
        elif mode.startswith("fluor"):
            base = "RFU"
        else:
            base = "OD"
        w = self.wavelengths
        if self.reduced:
            kind = f"{base} (reduced)"
            if (
                base == "OD"
                and len(self.raw) >= 2
                and len(w) >= 2
                and _close(self.reduced, self.raw[0], self.raw[1])
            ):
                kind = f"OD{w[0]}-{w[1]}"
            elif self.raw and _close(self.reduced, self.raw[0], None):
                kind = f"OD{w[0]}" if base == "OD" and w else base
            return self.reduced, kind
        if self.raw:
            return self.raw[0], (f"OD{w[0]}" if base == "OD" and w else base)
        return None


def _close(reduced: dict[str, float], a: dict[str, float], b: dict[str, float] | None) -> bool:
    """Whether every reduced value equals a − b (or a) to the 4th decimal."""
    common = [k for k in reduced if k in a and (b is None or k in b)]
    if not common:
        return False
    return all(abs(reduced[k] - (a[k] - (b[k] if b else 0.0))) < 5e-4 for k in common)


def parse_plate(lines: list[str], block: Block) -> PlateReads:
    head = _cells(lines[block.start])
    rest = head[1:]
    name = rest[0] if rest else ""
    fmt = rest[2] if len(rest) > 2 else ""
    read_type = rest[3] if len(rest) > 3 else ""
    mode = rest[4] if len(rest) > 4 else ""
    wavelengths = re.findall(r"\d{3,4}", rest[14]) if len(rest) > 14 else []
    body = list(range(block.start + 1, block.end))
    raw: list[dict[str, float]] = []
    reduced: dict[str, float] | None = None
    if fmt.casefold() == "timeformat":
        raw, reduced = _time_format(lines, body)
    elif fmt.casefold() == "plateformat":
        raw, reduced = _plate_format(lines, body)
    if read_type.casefold() != "endpoint":
        raw = []  # kinetic/spectral reads: no single reading per well
    return PlateReads(name, mode, read_type, wavelengths, raw, reduced)


def _numbers(cells: list[str], wells: list[str]) -> dict[str, float]:
    out: dict[str, float] = {}
    for w, text in zip(wells, cells, strict=False):
        v = parse_number(text) if text else None
        if w and v is not None:
            out[w] = v
    return out


def _time_format(lines: list[str], body: list[int]) -> tuple[list[dict[str, float]], dict[str, float] | None]:
    """TimeFormat: a header of well names (after time and temperature cells) and one line per read; the
    raw section's header has ``Temperature``, a reduced section's does not."""
    raw: list[dict[str, float]] = []
    reduced: dict[str, float] | None = None
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
        values = _numbers(cells[2:], wells)
        if section == "raw":
            raw.append(values)
        elif section == "reduced" and reduced is None:
            reduced = values
    return raw, reduced


def _plate_format(
    lines: list[str], body: list[int]
) -> tuple[list[dict[str, float]], dict[str, float] | None]:
    """PlateFormat: a header ``1..12`` (repeated once per wavelength, side by side) and 8 (16) rows
    without letters; a second header without ``Temperature`` starts the reduced grid."""
    raw: list[dict[str, float]] = []
    reduced: dict[str, float] | None = None
    k = 0
    while k < len(body):
        cells = _cells(lines[body[k]])
        starts = _runs(cells)
        if not starts:
            k += 1
            continue
        n = starts[0][1]
        n_rows = 16 if n == 24 else 8
        is_raw = any(c.casefold().startswith("temperature") for c in cells[: starts[0][0]])
        grids: list[dict[str, float]] = [{} for _ in starts]
        for r in range(n_rows):
            if k + 1 + r >= len(body):
                break
            row = _cells(lines[body[k + 1 + r]])
            for g, (s, width) in enumerate(starts):
                for c in range(width):
                    text = row[s + c] if s + c < len(row) else ""
                    v = parse_number(text) if text else None
                    if v is not None:
                        grids[g][f"{'ABCDEFGHIJKLMNOP'[r]}{c + 1}"] = v
        if is_raw:
            raw += grids
        elif reduced is None:
            reduced = grids[0]
        k += 1 + n_rows
    return raw, reduced


def _runs(cells: list[str]) -> list[tuple[int, int]]:
    """(start index, width) of each ``1..12``/``1..24`` run in a header row."""
    out: list[tuple[int, int]] = []
    j = 0
    while j < len(cells):
        if cells[j] == "1":
            for n in (24, 12):
                if cells[j : j + n] == [str(i) for i in range(1, n + 1)]:
                    out.append((j, n))
                    j += n - 1
                    break
        j += 1
    return out


# ---- sniffing --------------------------------------------------------------------------------------------


def _has_results(lines: list[str]) -> bool:
    _, blocks = split_blocks(lines)
    for b in blocks:
        if b.kind != "group":
            continue
        g = parse_group(lines, b)
        roles = _roles(g)
        if roles.wells is None or roles.conc is None:
            continue
        if any(roles.wells < len(c) and _wells(c[roles.wells]) for _, c in g.rows):
            return True
    return False


def _wells(text: str) -> list[str] | None:
    parts = [p for p in re.split(r"[,\s;]+", text.strip()) if p]
    if not parts:
        return None
    wells = [normalise_well(p) for p in parts]
    return [w for w in wells if w] if all(wells) else None


class SoftmaxGroupReader:
    """Reads the Group-block results of a SoftMax Pro text export (see module docstring)."""

    name: ClassVar[str] = FORMAT
    label: ClassVar[str] = "SoftMax Pro export with group results (concentrations)"

    def sniff(self, text_head: str, file: FileInput) -> Sniff:
        try:
            head = text_head.lstrip("\ufeff")
            lines = split_lines(head)
            softmax = any(_BLOCKS_RE.match(ln) for ln in lines[:5]) or (
                any(_END_RE.match(ln) for ln in lines) and any(ln.startswith("Group:") for ln in lines)
            )
            if not softmax:
                return Sniff(False, _LOOKED_FOR)
            if _has_results(lines):
                return Sniff(True, "SoftMax Pro blocks with a Group: results table", SNIFF_SCORE)
            beyond = len(file.data) > len(head.encode("utf-8"))  # the groups may lie beyond the head
            if beyond and _has_results(split_lines(decode(file.data).lstrip("\ufeff"))):
                return Sniff(True, "SoftMax Pro blocks with a Group: results table", SNIFF_SCORE)
        except Exception:  # a sniff must never stop the other readers from being tried
            return Sniff(False, _LOOKED_FOR)
        return Sniff(
            False,
            "a SoftMax Pro export whose Group: blocks hold no well results (read its plate as a grid with a "
            "plate map); " + _LOOKED_FOR,
        )

    def read(self, file: FileInput) -> ReadResult:
        return read_guarded(
            file,
            lambda: _SoftmaxParse(file).run(),
            what="the group results of this SoftMax Pro export",
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
    flags: list[str] = field(default_factory=list)


class _SoftmaxParse:
    def __init__(self, file: FileInput) -> None:
        self.file = file
        self.lines = split_lines(decode(file.data).lstrip("\ufeff"))
        self.warnings: list[str] = []
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
        for b in blocks:
            if not b.closed:
                raise self.error(
                    f"the {b.kind.title()}: {b.title} block (line {b.start + 1}) has no closing ~End: the "
                    "file looks truncated or edited. Export the experiment from SoftMax Pro again.",
                    b.end + 1 if b.end < len(self.lines) else len(self.lines),
                )
        if declared is not None and len(blocks) < declared:
            raise self.error(
                f"##BLOCKS= {declared} but the file holds {len(blocks)} blocks: it looks truncated. "
                "Export the experiment from SoftMax Pro again.",
                len(self.lines),
            )
        if declared is not None and len(blocks) > declared:
            self.warnings.append(f"##BLOCKS= {declared} but {len(blocks)} blocks were found; all were read")
        notes = self._notes([b for b in blocks if b.kind == "note"])
        plates = {p.name: p for p in (parse_plate(self.lines, b) for b in blocks if b.kind == "plate")}
        groups = [parse_group(self.lines, b) for b in blocks if b.kind == "group"]
        self.decimal_comma = self._decimal_comma(groups)
        wells: list[_Well] = []
        result_units: set[str] = set()
        std_units: set[str] = set()
        for g in groups:
            roles = _roles(g)
            if roles.expected is not None and group_sample_type(g.name) in ("standard", "qc"):
                u = unit_in(g.header[roles.expected])
                if u:
                    std_units.add(u)
            if roles.wells is None or roles.conc is None:
                if g.rows:
                    self.warnings.append(
                        f"group {g.name!r} (line {g.line}) has no "
                        f"{'Wells' if roles.wells is None else 'Result'} column: its rows were not read"
                    )
                continue
            u = unit_in(g.header[roles.conc])
            if u:
                result_units.add(u)
            wells += self._group_wells(g, roles, groups)
        if not wells:
            raise self.error(
                f"no Group: block with Wells and Result columns holds a well: {_LOOKED_FOR}. Export the "
                "experiment with its group tables (or upload the plate grid with a plate map instead)."
            )
        unit = self._unit(result_units, notes.get("_result_unit"), std_units)
        analyte = notes.get("analyte")
        if not analyte:
            analyte = notes.get("protocol")
            if not analyte:
                raise self.error(
                    "the export does not name the analyte: add a line 'Analyte: <name>' to the protocol's "
                    "Note block in SoftMax Pro (or give it a Method name) and export again."
                )
            self.warnings.append(
                f"no 'Analyte:' line in the Note block: the analyte is the Method name {analyte!r}"
            )
        return self._result(wells, plates, notes, analyte, unit)

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
            dilution = 1.0
            dil_text = carried.get("dilution", "")
            if dil_text:
                d = self.num(dil_text)
                if d is None or d <= 0:
                    raise self.error(
                        f"Dilution {dil_text!r} in group {g.name!r} is not a positive number. Correct the "
                        "sample descriptor in SoftMax Pro and export again.",
                        line_no,
                    )
                dilution = d
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
                range_text=carried.get("range", ""),
                mean_value=self.num(carried.get("mean_value", "")),
            )
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
    ) -> ReadResult:
        base = notes.get("run_id") or _stem(self.file.name) or "softmax"
        names = sorted({w.plate_name for w in wells if w.plate_name})
        multi = len(names) > 1

        def plate_id(name: str) -> str:
            return f"{base}-{name}" if multi and name else base

        signals: dict[str, tuple[dict[str, float], str]] = {}
        for pname, p in plates.items():
            s = p.signal()
            if s is not None:
                signals[pname] = s
        only = next(iter(signals.values())) if len(plates) == 1 and signals else None
        modes = {p.mode.casefold()[:3] for p in plates.values()}
        fallback_kind = "RLU" if modes == {"lum"} else "RFU" if modes == {"flu"} else "OD"
        if multi and any(not w.plate_name for w in wells):
            self.warnings.append("some group rows name no plate while the export has several plates")
        mismatched: list[str] = []
        records = []
        for w in wells:
            src = signals.get(w.plate_name) or only
            signal: float | None = None
            kind: str | None = None
            if src is not None and len(w.wells) == 1 and w.wells[0] in src[0]:
                signal, kind = src[0][w.wells[0]], src[1]
                gv = self.num(w.value_text)
                if gv is not None and not _agrees(gv, signal, w.value_text):
                    mismatched.append(f"{w.wells[0]} (group {gv:g}, plate {signal:g})")
            else:
                signal = self.num(w.value_text)
                kind = fallback_kind if signal is not None else None
            parsed = parse_conc(w.conc_text, decimal_comma=self.decimal_comma)
            qualifier, value = parsed.qualifier, parsed.value
            flags = list(w.flags)
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
            records.append(
                {
                    "source_file": self.file.name,
                    "format": FORMAT,
                    "plate_id": plate_id(w.plate_name),
                    "well": ",".join(w.wells),
                    "row_number": w.line,
                    "sample_id": w.sample,
                    "sample_type": w.sample_type,
                    "expected_conc": w.expected,
                    "analyte_as_written": analyte,
                    "signal": signal,
                    "signal_kind": kind,
                    "reported_text": w.conc_text,
                    "qualifier": qualifier,
                    "value": value,
                    "extrapolated": parsed.extrapolated if qualifier == "=" else False,
                    "unit": unit,
                    "unit_source": "file" if unit else None,
                    "dilution": w.dilution,
                    "dilution_applied": w.adjusted,
                    "flags": ";".join(f.replace(";", ",") for f in flags) or None,
                }
            )
        if mismatched:
            self.warnings.append(
                f"group Values differ from the plate readings beyond rounding in {len(mismatched)} well(s) "
                f"(e.g. {', '.join(mismatched[:3])}); the plate readings were loaded as signal"
            )
        df = conform(pl.DataFrame(records, schema=WELL_SCHEMA))
        extra = {k: v for k, v in notes.items() if not k.startswith("_") and k not in _INFO_KEYS}
        saved = next((ln for ln in self.lines if ln.startswith("Original Filename:")), None)
        if saved:
            extra["original_filename_line"] = saved.strip()
        infos = [
            PlateInfo(
                plate_id=plate_id(n),
                protocol=notes.get("protocol"),
                instrument=notes.get("instrument"),
                acquired_at=notes.get("acquired_at"),
                operator=notes.get("operator"),
                kit_lot=notes.get("kit_lot"),
                extra=extra,
            )
            for n in (names if multi else [""])
        ]
        return ReadResult(format=FORMAT, wells=df, plates=infos, warnings=self.warnings)


_INFO_KEYS = {"protocol", "instrument", "acquired_at", "operator", "kit_lot", "analyte"}


def _agrees(group_value: float, plate_value: float, text: str) -> bool:
    """Whether the group's rounded Value is the plate reading rounded to the same decimals."""
    decimals = len(text.split(".", 1)[1]) if "." in text else len(text.split(",", 1)[1]) if "," in text else 0
    return abs(group_value - plate_value) <= 10.0 ** (-decimals) + 1e-9


def _stem(name: str) -> str:
    base = re.split(r"[\\/]", name)[-1]
    return base.rsplit(".", 1)[0] if "." in base else base
