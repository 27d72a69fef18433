"""BioTek/Agilent Gen5 exports (plate-by-plate text export, and the same layout exported to Excel).

Layout read (tab-separated text; in a workbook the same cells, row by row, on the first sheet holding it):

* a plate's header ``Key<TAB>Value`` lines: ``Software Version``, ``Experiment File Path:``, ``Protocol File
  Path:``, ``Plate Number``, ``Date``, ``Time``, ``Reader Type:``, ``Reader Serial Number:``, ``Reading
  Type``, optionally ``Analyte``/``Plate Barcode``. A file holding several plates repeats the header per plate
  (a new ``Software Version`` line, or only a new ``Plate Number`` line); each plate is read on its own and
  gets its own ``plate_id`` (``<file stem>-<Plate Number>``);
* ``Procedure Details``: the protocol's steps. Each ``Read`` step (optionally ``Read<TAB><step label>``)
  gives its read mode and type (``Absorbance Endpoint``, ``Fluorescence Endpoint``, ``Luminescence
  Endpoint``, ``Alpha Endpoint``, ``… Spectrum``, an ``Area Scan``; a read between ``Start Kinetic`` and
  ``End Kinetic`` is a kinetic read), its wavelengths (``Wavelengths:  280, 325``), filter sets
  (``Excitation: 485/20,  Emission: 528/20``; ``Emission: Full light``), ``Fluorescence Polarization`` and
  ``Pathlength Correction: 977 / 900``. From these come the names Gen5 gives the read's data sets:
  ``[<step label>:]<wavelength>`` (absorbance), ``[<label>:]<ex>,<em>`` (fluorescence; ``… [Parallel]`` /
  ``[Perpendicular]`` for polarization), ``[<label>:]Lum`` or ``<label>:<filter>`` (luminescence),
  ``Alpha``; without a step label several reads are told apart as ``Read <n>:<…>``;
* matrix blocks: a title line, a header ``<TAB>1…12`` (``…24``), then per plate row a line starting with its
  letter and continuation lines starting with a tab, each line ending with its data set's name. ``Layout``
  holds ``Well ID`` (``STD1``, ``SPL3``, ``BLK``, ``CTL1``…), ``Conc/Dil`` (a standard's/control's
  concentration, a sample's dilution) and optionally ``Name``/``Sample ID``; ``Results`` holds every data set
  of the plate; Gen5 may instead write each data set as its own block titled by its name (``660``, ``Conc``,
  ``Lum``, ``Read 1:450,490``). A partial plate writes only the rows it read (``A, D, H, L, P``);
* non-endpoint data: a kinetic read's ``Time`` table (a column per well), a spectrum's ``Wavelength`` table;
* ``Curve Fitting Results`` (``Curve Name, Curve Formula, A, B, …, R2, Fit F Prob``) → the plate's ``extra``;
  ``Actual Temperature:`` → ``extra``.

Rows (one per well × signal read, ``signal_kind`` per the reader conventions):

* each endpoint read's data set: ``OD<nm>`` (``OD630``), ``RFU <ex>/<em>`` (``RFU 485/528``; polarization
  reads add ``parallel``/``perpendicular``), ``RFU Alpha``, ``RLU`` or ``RLU <em>`` (an emission filter);
* a value Gen5 reduced from a non-endpoint read (kinetic ``Mean V [420]``, ``Max V […]``, ``Integral
  [Lum]``; a spectrum's ``Mean Max OD […]``) or a polarization (``Polarization``, ``Anisotropy``): its data
  set name as ``signal_kind``. A kinetic trace or spectrum with no such value is refused, naming the read
  type — never read as an endpoint. Other data sets Gen5 computed (``Blank 450``, ``Log Alpha``, a
  normalisation) are named in a warning, not loaded;
* a concentration data set (a name containing ``Conc``: ``[Concentration]``, ``Conc``; ``[Conc*Dil]`` is
  preferred and means ``dilution_applied``) goes on the well's row of the signal it follows (the curve's
  signal), through :func:`readers.tokens.parse_conc` (``>40.000``, ``<0.000``, ``?????`` → NR);
* a cell Gen5 could not read (``OVRFLW``) or masked (``*0.356*``) gives a null signal and a flag that keeps
  the text;
* ``sample_id``: the Layout's ``Name``/``Sample ID``, else its Well ID; ``sample_type`` from the Well ID
  (``STD``/``SPL``/``BLK``/``CTL``; ``POS``/``NEG`` → control; else unknown, flagged); ``expected_conc`` =
  a standard's/control's ``Conc/Dil``; a sample's ``Conc/Dil`` is its dilution (empty: 1 and the flag
  ``dilution_missing``); no Layout: no sample identities (a warning);
* ``analyte_as_written``: an ``Analyte`` header line; none → "" and the warning "the export does not name
  the analyte" (the pipeline takes it from configuration). ``unit``: Gen5 writes none (configuration).
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import ClassVar

import polars as pl

from readers.base import FileInput, PlateInfo, ReaderError, ReadResult, Sniff
from readers.platemap import PlateMap, find_platemap, parse_platemap
from readers.text import decode, split_lines
from readers.tokens import parse_conc, parse_number
from readers.toolkit.cells import clean_note, stem
from readers.toolkit.grid_headers import matrix_columns
from readers.toolkit.grids import PLATE_SHAPES, ROW_LETTERS, decimal_comma_of, parse_signal
from readers.toolkit.guarded_reader import GuardedReader, ParseRun, ReaderTexts
from readers.toolkit.workbook import WorkbookUnreadable, is_workbook, workbook_rows
from schemas.wells import WELL_SCHEMA, conform

FORMAT = "gen5"
SNIFF_SCORE = 60  # above the generic grid reader (10): Gen5 names its reads and carries its layout

NO_ANALYTE = "the export does not name the analyte"
_LOOKED_FOR = (
    "looked for a Gen5 export (Software Version / Plate Number / Procedure Details header lines) with a "
    "matrix block (Results, or a data set's own block)"
)
_TODO = "Export the plate again from Gen5 (File > Export, text or Excel, data sets in matrix format)."
_TEXTS = ReaderTexts(looked_for=_LOOKED_FOR, what="this Gen5 export", todo=_TODO)
_WELL_ID_TYPES: tuple[tuple[str, re.Pattern[str]], ...] = (
    ("standard", re.compile(r"^(std|st|cal)", re.IGNORECASE)),
    ("unknown", re.compile(r"^(spl|smp|sample|unk)", re.IGNORECASE)),
    ("blank", re.compile(r"^(blk|blank)", re.IGNORECASE)),
    ("qc", re.compile(r"^(ctl|ctrl|qc|control)", re.IGNORECASE)),
    ("control", re.compile(r"^(pos|neg)", re.IGNORECASE)),
)
# Data sets of the Layout (written in the Layout block, or each as its own block).
_LAYOUT_LABELS = {"well id", "conc/dil", "name", "sample id", "sample name", "sample type", "dilution"}
_CONC_DIL_RE = re.compile(r"conc.*(\*|\bx\b|×|times).*dil", re.IGNORECASE)
_GEN5_MARKERS = ("software version", "plate number", "procedure details", "reader type", "protocol file path")
_MODE_RE = re.compile(r"^(absorbance|fluorescence|luminescence|alpha)\b\s*(.*)$", re.IGNORECASE)
_EXCITATION_RE = re.compile(r"(?:^|,)\s*(?:fixed\s+)?excitation(?:\s+start)?:\s*([^,]+)", re.IGNORECASE)
_EMISSION_RE = re.compile(r"(?:^|,)\s*(?:fixed\s+)?emission(?:\s+start)?:\s*([^,]+)", re.IGNORECASE)
_NO_FILTER = {"full light", "hole", "plug", ""}
_READ_N_RE = re.compile(r"^read\s+(\d+):", re.IGNORECASE)
_FP_SUFFIX_RE = re.compile(r"\s*\[(parallel|perpendicular|test|ref)\]$", re.IGNORECASE)
# Values Gen5 reduces a kinetic trace to (its data set names), and a spectrum's / area scan's summaries.
_KINETIC_REDUCED_RE = re.compile(
    r"^(mean\s*v|max\s*v|min\s*v|vmax|mean\s+slope|slope|integral|area\s+under\s+curve|auc)\b", re.IGNORECASE
)
_SCAN_REDUCED_RE = re.compile(r"^(mean\s+max|mean\s+min|max|min|mean|peak)\b.*\[.+\]$", re.IGNORECASE)
_POLARIZATION_RE = re.compile(r"^(polarization|anisotropy)\b", re.IGNORECASE)


def _cells(line: str) -> list[str]:
    return [c.strip() for c in line.replace("\x00", "").split("\t")]


def _key(text: str) -> str:
    return re.sub(r"\s+", " ", text).strip().rstrip(":").strip().casefold()


def _num(text: str) -> str:
    """``485/20`` → ``485``; ``900/20 nm`` → ``900`` (the centre wavelength, bandwidth dropped)."""
    m = re.match(r"\s*(\d+(?:\.\d+)?)", text)
    return m.group(1) if m else text.strip()


# ---- matrix blocks ---------------------------------------------------------------------------------------


@dataclass
class Matrix:
    """A Gen5 matrix block: per data set label, well → (cell text, 1-based line)."""

    title: str
    line: int  # 1-based line of the title
    n_columns: int
    values: dict[str, dict[str, tuple[str, int]]] = field(default_factory=dict)
    labels: list[str] = field(default_factory=list)  # in order of first appearance
    rows: list[str] = field(default_factory=list)  # row letters seen
    end: int = 0  # 0-based index of the first line after the block

    def get(self, label: str, well: str) -> tuple[str, int] | None:
        return self.values.get(label, {}).get(well)


def parse_matrix(lines: list[str], title_index: int) -> Matrix:
    """The matrix block titled on ``lines[title_index]`` (``Layout``, ``Results``, a data set's name). Raises
    ValueError with a reason when the block is malformed (the caller adds file and line). Rows may be absent
    (a partial plate) but each row present carries the same data sets as the first."""
    title = _cells(lines[title_index])[0]
    k = title_index + 1
    while k < len(lines) and not lines[k].strip():
        k += 1
    if k >= len(lines):
        raise ValueError(f"the {title} block has no column header (the file ends)")
    header = matrix_columns(_cells(lines[k]))
    if header is None:
        raise ValueError(
            f"the {title} block's header is not 1..12 (or 1..24, or the columns of a partial plate)"
        )
    n, columns = header
    partial = len(columns) != n
    m = Matrix(title, title_index + 1, n)
    letter = ""
    row_labels: dict[str, list[tuple[str, int]]] = {}
    k += 1
    while k < len(lines) and lines[k].strip():
        cells = _cells(lines[k])
        first = cells[0].upper()
        if len(first) == 1 and first in ROW_LETTERS[: 16 if partial else PLATE_SHAPES[n]]:
            if first in m.rows:
                raise ValueError(f"line {k + 1}: row {first} appears twice in the {title} block")
            letter = first
            m.rows.append(letter)
        elif first or not letter:
            raise ValueError(
                f"line {k + 1}: this line of the {title} block is neither a row "
                f"A..{ROW_LETTERS[PLATE_SHAPES[n] - 1]} nor its continuation"
            )
        width = len(columns)
        if len(cells) < width + 2 or not cells[width + 1]:
            raise ValueError(
                f"line {k + 1}: this line of the {title} block has {len(cells)} cells: a row needs its "
                f"letter, {width} values and its label — it is cut short"
            )
        label = cells[width + 1]
        if label not in m.values:
            m.values[label] = {}
            m.labels.append(label)
        for c, column in enumerate(columns):
            m.values[label][f"{letter}{column}"] = (cells[1 + c], k + 1)
        row_labels.setdefault(letter, []).append((label, k + 1))
        k += 1
    m.end = k
    if partial and any(r not in ROW_LETTERS[: PLATE_SHAPES[12]] for r in m.rows):
        m.n_columns = 24  # a partial read of a 384-well plate: rows beyond H
    # Gen5 writes every data set for every row (in any order): a row with other labels was cut or edited.
    want = sorted(lb for lb, _ in row_labels.get(m.rows[0], [])) if m.rows else []
    for letter in m.rows[1:]:
        got = row_labels[letter]
        if sorted(lb for lb, _ in got) != want:
            raise ValueError(
                f"line {got[-1][1]}: row {letter} of the {title} block has the data sets "
                f"{[lb for lb, _ in got]} but row {m.rows[0]} has {want} — the block is cut short or edited"
            )
    return m


# ---- procedure details -------------------------------------------------------------------------------------


@dataclass
class ReadStep:
    """One ``Read`` step of the Procedure Details."""

    index: int  # 1-based among the Read steps
    kinetic: bool  # inside Start Kinetic … End Kinetic
    label: str | None = None  # the step label (``Read<TAB>630nmAbsRead``)
    mode: str = ""  # absorbance | fluorescence | luminescence | alpha
    scan: str = ""  # "" (endpoint) | spectrum | area scan
    wavelengths: list[str] = field(default_factory=list)
    filters: list[tuple[str, str]] = field(default_factory=list)  # (excitation, emission) as written
    polarization: bool = False
    pathlength: tuple[str, str] | None = None

    @property
    def read_type(self) -> str:
        if self.scan:
            return self.scan
        return "kinetic" if self.kinetic else "endpoint"

    def describe(self) -> str:
        mode = self.mode or "plate"
        what = {
            "spectrum": f"{mode} spectrum (a reading per wavelength)",
            "area scan": f"{mode} area scan (several readings per well)",
            "kinetic": f"kinetic {mode} read (a reading per time point)",
            "endpoint": f"{mode} endpoint read",
        }[self.read_type]
        return f"read {self.index}{f' {self.label!r}' if self.label else ''}: {what}"

    def data_sets(self) -> dict[str, str]:
        """Data set name Gen5 gives this read → signal kind."""
        specs: list[tuple[str, str]] = []  # (name without prefix, kind)
        if self.mode == "absorbance":
            specs = [(wl, f"OD{_num(wl)}") for wl in self.wavelengths]
            if self.pathlength:
                test, ref = self.pathlength
                specs += [(f"{test} [Test]", f"OD{_num(test)} test"), (f"{ref} [Ref]", f"OD{_num(ref)} ref")]
        elif self.mode == "alpha":
            specs = [("Alpha", "RFU Alpha")]
        elif self.mode == "fluorescence":
            if self.polarization and self.filters:
                ex, em = self.filters[0]
                kind = f"RFU {_num(ex)}/{_num(em)}"
                specs = [(f"{ex},{em} [Parallel]", f"{kind} parallel")]
                ex2, em2 = self.filters[1] if len(self.filters) > 1 else self.filters[0]
                specs.append((f"{ex2},{em2} [Perpendicular]", f"{kind} perpendicular"))
            else:
                for ex, em in self.filters:
                    kind = f"RFU {_num(ex)}/{_num(em)}"
                    specs += [(f"{ex},{em}", kind), (f"{_num(ex)},{_num(em)}", kind)]
        elif self.mode == "luminescence":
            for _, em in self.filters or [("", "")]:
                specs.append(("Lum", "RLU") if em.casefold() in _NO_FILTER else (em, f"RLU {_num(em)}"))
        out: dict[str, str] = {}
        for name, kind in specs:
            out.setdefault(f"{self.label}:{name}" if self.label else name, kind)
            out.setdefault(f"Read {self.index}:{name}", kind)
        return out


def parse_procedure(lines: list[str]) -> list[ReadStep]:
    """The Read steps of a Procedure Details block (its lines, without the title)."""
    steps: list[ReadStep] = []
    cur: ReadStep | None = None
    kinetic = False
    for line in lines:
        cells = _cells(line)
        key = cells[0].casefold()
        if key.startswith("start kinetic"):
            kinetic, cur = True, None
        elif key.startswith("end kinetic"):
            kinetic, cur = False, None
        elif key == "read":
            cur = ReadStep(index=len(steps) + 1, kinetic=kinetic)
            steps.append(cur)
            rest = next((c for c in cells[1:] if c), "")
            if rest and not _MODE_RE.match(rest):
                cur.label = rest
            else:
                _step_detail(cur, rest)
        elif key:
            cur = None  # another step (Shake, Dispense, Set Temperature…)
        elif cur is not None:
            for c in cells[1:]:
                if c:
                    _step_detail(cur, c)
    return steps


def _step_detail(step: ReadStep, text: str) -> None:
    m = _MODE_RE.match(text)
    low = text.casefold()
    if m and not step.mode:
        step.mode = m.group(1).casefold()
        rest = m.group(2).casefold()
        if "spectrum" in rest:
            step.scan = "spectrum"
        elif "area scan" in rest:
            step.scan = "area scan"
        return
    if low.startswith("fluorescence polarization"):
        step.polarization = True
    elif "area scan" in low:
        step.scan = "area scan"
    elif low.startswith("wavelengths:"):
        step.wavelengths = [w.strip() for w in text.split(":", 1)[1].split(",") if w.strip()]
    elif low.startswith("pathlength correction:"):
        parts = [p.strip() for p in text.split(":", 1)[1].split("/")]
        if len(parts) == 2:
            step.pathlength = (parts[0], parts[1])
    else:
        ex = _EXCITATION_RE.search(text)
        em = _EMISSION_RE.search(text)
        if em:
            step.filters.append(((ex.group(1).strip() if ex else ""), em.group(1).strip()))


def kind_from_name(name: str) -> str | None:
    """The signal kind a data set's own name implies when the Procedure Details do not list it (``450``,
    ``Read 1:485/20,528/20``, ``Lum``, ``Alpha``); None for names of computed data sets."""
    s = _READ_N_RE.sub("", name.strip())
    suffix = _FP_SUFFIX_RE.search(s)
    if suffix:
        s = s[: suffix.start()]
    prefix, _, spec = s.rpartition(":")
    if prefix.casefold().startswith("blank"):
        return None
    kind: str | None = None
    if re.fullmatch(r"\d{3,4}", spec):
        kind = f"OD{spec}"
    elif m := re.fullmatch(r"(\d{3,4})(?:/\d+)?,(\d{3,4})(?:/\d+)?", spec):
        kind = f"RFU {m.group(1)}/{m.group(2)}"
    elif spec.casefold() == "lum":
        kind = "RLU"
    elif spec == "Alpha":
        kind = "RFU Alpha"
    if kind and suffix:
        kind += f" {suffix.group(1).casefold()}"
    return kind


# ---- one plate -------------------------------------------------------------------------------------------


@dataclass
class _Section:
    """What one plate's part of the file holds."""

    head: dict[str, str]
    steps: list[ReadStep]
    layout: Matrix | None
    data: list[Matrix]
    series: list[tuple[str, str, int]]  # (title, "kinetic"/"spectrum", 1-based line) of non-endpoint tables
    temperature: str | None


def _title_at(lines: list[str], i: int) -> str | None:
    cells = _cells(lines[i])
    if cells[0] and not any(cells[1:]):
        return cells[0]
    return None


def _next_filled(lines: list[str], i: int, end: int) -> int | None:
    while i < end and not lines[i].strip():
        i += 1
    return i if i < end else None


def _looks_gen5(lines: list[str]) -> bool:
    keys = {_key(_cells(ln)[0]) for ln in lines[:80] if ln.strip()}
    return "software version" in keys and sum(k in keys for k in _GEN5_MARKERS) >= 2


def _has_matrix(lines: list[str]) -> bool:
    return any(
        matrix_columns(_cells(ln)) is not None for ln in lines if ln.startswith("\t") and ln[1:2].isdigit()
    )


def _plate_bounds(lines: list[str]) -> list[tuple[int, int]]:
    """Each plate's [start, end) lines: a plate starts at its ``Software Version`` line (or, when the file
    repeats only ``Plate Number``, at that line)."""
    for key in ("software version", "plate number"):
        starts = [i for i, ln in enumerate(lines) if _key(_cells(ln)[0]) == key]
        if len(starts) > 1:
            return list(zip([0, *starts[1:]], [*starts[1:], len(lines)], strict=True))
    return [(0, len(lines))]


def _recognise(text_head: str, file: FileInput) -> Sniff:
    lines = _workbook_lines(file.data) if is_workbook(file.data) else split_lines(text_head.lstrip("\ufeff"))
    if not _looks_gen5(lines):
        return Sniff(False, _LOOKED_FOR)
    if _has_matrix(lines) or (
        len(file.data) > len(text_head.encode("utf-8"))  # the blocks may lie beyond the head
        and not file.data.startswith(b"PK")
        and _has_matrix(split_lines(decode(file.data)))
    ):
        return Sniff(True, "Gen5 header lines and a matrix block", SNIFF_SCORE)
    return Sniff(False, "a Gen5 header without any matrix block; " + _LOOKED_FOR)


def _workbook_lines(data: bytes) -> list[str]:
    """The first sheet that holds a Gen5 export, as tab-joined lines."""
    sheets = workbook_rows(data)
    for _, rows in sheets:
        lines = ["\t".join(r) for r in rows]
        if _looks_gen5(lines):
            return lines
    return ["\t".join(r) for r in sheets[0][1]] if sheets else []


class _Gen5Parse(ParseRun):
    def __init__(self, file: FileInput) -> None:
        super().__init__(file)
        if is_workbook(file.data):
            try:
                self.lines = _workbook_lines(file.data)
            except WorkbookUnreadable as exc:
                raise ReaderError(f"{exc} {_TODO}", file=file.name) from None
            self.where = "row"
        else:
            self.lines = split_lines(decode(file.data).lstrip("\ufeff"))
            self.where = "line"
        self.companions: list[str] = []
        self._map: PlateMap | bool | None = False  # False: not looked for yet

    def platemap(self) -> PlateMap | None:
        """The plate map delivered beside an export whose plate has no Layout (plater format)."""
        if self._map is False:
            try:
                name, data = find_platemap(self.file)
            except ReaderError:
                self._map = None
            else:
                self._map = parse_platemap(decode(data), name=name)
                self.companions.append(name)
                self.warnings += list(self._map.warnings)
        return self._map if isinstance(self._map, PlateMap) else None

    def error(self, message: str, line: int | None = None) -> ReaderError:
        return ReaderError(message, file=self.file.name, line=line)

    def run(self) -> ReadResult:
        if not _looks_gen5(self.lines):
            raise self.error(f"this is not a Gen5 export: {_LOOKED_FOR}.")
        bounds = _plate_bounds(self.lines)
        analyte = ""
        frames: list[pl.DataFrame] = []
        plates: list[PlateInfo] = []
        refusals: list[str] = []
        used: set[str] = set()
        unnamed = False
        for a, b in bounds:
            section = self._section(a, b)
            analyte = section.head.get("analyte") or analyte
            pid = section.head.get("plate barcode") or section.head.get("barcode") or stem(self.file.name)
            pid = pid or "gen5"
            if len(bounds) > 1 and not (section.head.get("plate barcode") or section.head.get("barcode")):
                pid = f"{pid}-{section.head.get('plate number') or len(plates) + 1}"
            base, n = pid, 1
            while pid in used:
                n += 1
                pid = f"{base}-{n}"
            used.add(pid)
            try:
                info, df = self._plate(a, b, section, pid)
            except _NotEndpoint as exc:
                refusals.append(str(exc))
                continue
            plates.append(info)
            frames.append(df.with_columns(pl.lit(analyte).alias("analyte_as_written")))
            unnamed = unnamed or not analyte
        if not frames:
            raise self.error(refusals[0] if refusals else "no plate with readings in this Gen5 export")
        for r in refusals:
            self.warnings.append(f"not loaded: {r}")
        wells = pl.concat(frames)
        if unnamed:
            self.warnings.append(
                f"{NO_ANALYTE}: no 'Analyte' line; the assay is taken from configuration (--assay, the plate "
                "map or the file-name pattern in config/assays.yaml)"
            )
        return ReadResult(
            format=FORMAT,
            wells=conform(wells),
            plates=plates,
            companions=self.companions,
            warnings=self.warnings,
        )

    # ---- sections ----

    def _section(self, a: int, b: int) -> _Section:
        head: dict[str, str] = {}
        steps: list[ReadStep] = []
        layout: Matrix | None = None
        data: list[Matrix] = []
        series: list[tuple[str, str, int]] = []
        temperature: str | None = None
        in_header = True
        i = a
        while i < b:
            cells = _cells(self.lines[i])
            key = _key(cells[0])
            if key == "procedure details":
                in_header = False
                j = _next_filled(self.lines, i + 1, b)
                k = j if j is not None else b
                while k < b and self.lines[k].strip():
                    k += 1
                steps = parse_procedure(self.lines[j:k]) if j is not None else []
                i = k
                continue
            values = [c for c in cells[1:] if c]
            if key == "actual temperature" and values:
                temperature = temperature or values[0]
            elif in_header and cells[0] and values:
                head.setdefault(key, values[0])
            title = _title_at(self.lines, i)
            j = _next_filled(self.lines, i + 1, b) if title else None
            if title and j is not None:
                nxt = _cells(self.lines[j])
                if matrix_columns(nxt) is not None:
                    in_header = False
                    m = self._matrix(i, b)
                    if title.casefold() == "layout" or all(
                        lb.casefold() in _LAYOUT_LABELS for lb in m.labels
                    ):
                        layout = _merge_layout(layout, m)
                    else:
                        data.append(m)
                    i = m.end
                    continue
                if nxt[0].casefold() in ("time", "wavelength"):
                    in_header = False
                    series.append((title, "kinetic" if nxt[0].casefold() == "time" else "spectrum", i + 1))
            i += 1
        return _Section(head, steps, layout, data, series, temperature)

    def _matrix(self, index: int, end: int) -> Matrix:
        try:
            return parse_matrix(self.lines[:end], index)
        except ValueError as exc:
            m = re.match(r"line (\d+): (.*)$", str(exc), re.DOTALL)
            raise self.error(
                f"{m.group(2) if m else exc}. {_TODO}", int(m.group(1)) if m else index + 1
            ) from None

    # ---- rows ----

    def _classify(self, section: _Section) -> tuple[dict[str, str], list[str], list[str]]:
        """(row data set → signal kind, concentration data sets, computed data sets not loaded)."""
        expected: dict[str, str] = {}
        for step in section.steps:
            for name, kind in step.data_sets().items():
                expected.setdefault(name, kind)
        prefixes = {s.label for s in section.steps if s.label} | {f"Read {s.index}" for s in section.steps}
        scans = bool(section.series) or any(s.read_type != "endpoint" for s in section.steps)
        signals: dict[str, str] = {}
        concs: list[str] = []
        derived: list[str] = []
        for m in section.data:
            for lb in m.labels:
                if lb in signals or lb in concs or lb in derived:
                    continue
                bare = _FP_SUFFIX_RE.sub("", _READ_N_RE.sub("", lb))
                prefix = bare.rpartition(":")[0]
                guess = kind_from_name(lb)
                if lb in expected:
                    signals[lb] = expected[lb]
                elif "conc" in lb.casefold():
                    concs.append(lb)
                elif _is_reduced(lb, scans):
                    signals[lb] = lb
                elif guess and (not section.steps or not prefix or prefix in prefixes):
                    signals[lb] = guess
                else:
                    derived.append(lb)
        return signals, concs, derived

    def _plate(self, a: int, b: int, section: _Section, pid: str) -> tuple[PlateInfo, pl.DataFrame]:
        head = section.head
        signals, concs, derived = self._classify(section)
        not_endpoint = [s for s in section.steps if s.read_type != "endpoint"]
        # a reduced value Gen5 left empty in every well is no reading (a spectrum without its summary)
        signals = {
            lb: k
            for lb, k in signals.items()
            if any(t for m in section.data for t, _ in m.values.get(lb, {}).values())
        }
        if not signals and not concs:
            if not_endpoint or section.series:
                what = (
                    "; ".join(s.describe() for s in not_endpoint)
                    if not_endpoint
                    else ", ".join(f"{kind} data {title!r}" for title, kind, _ in section.series)
                )
                raise _NotEndpoint(
                    f"plate {pid}: this Gen5 export holds {what}, and no value Gen5 reduced from it (such as "
                    "Mean V, Max V or a spectrum's Mean Max): a trace is not an endpoint reading and is not "
                    "loaded. Add the reduced value (or the concentration) to the export in Gen5, or export "
                    "an endpoint read."
                )
            if not section.data:
                raise self.error(
                    "no Results block (and no data set block) in this Gen5 export: export the plate again "
                    "with its data sets (matrix format).",
                    a + 1,
                )
            raise self.error(
                "no data set of this Gen5 export is a reading or a concentration (data sets: "
                f"{', '.join(derived)}). {_TODO}",
                section.data[0].line,
            )
        values: dict[str, dict[str, tuple[str, int]]] = {}
        order: list[str] = []
        n_columns = section.data[0].n_columns if section.data else 12
        for m in section.data:
            if m.n_columns != n_columns:
                raise self.error(
                    f"the {m.title} block has {m.n_columns} columns but the first data block has "
                    f"{n_columns}: the blocks do not describe one plate.",
                    m.line,
                )
            for lb in m.labels:
                if lb not in values:
                    values[lb] = m.values[lb]
                    order.append(lb)
        layout = section.layout
        platemap = self.platemap() if layout is None else None
        if layout is None and platemap is None:
            self.warnings.append(
                f"plate {pid}: no Layout block and no plate map beside the export: sample IDs and types are "
                "unknown (export the Layout from Gen5, or upload a plate map named like the export)"
            )
        elif platemap is not None and platemap.n_columns != n_columns:
            raise self.error(
                f"the plate map {platemap.name!r} describes a {platemap.n_columns}-column plate but the "
                f"export has {n_columns} columns; upload the map of this plate."
            )
        data_rows = {w[0] for lb in order for w in values[lb]}
        if layout is not None:
            missing = [
                r
                for r in layout.rows
                if r not in data_rows and any(c for (w, (c, _)) in _ids(layout).items() if w[0] == r)
            ]
            if missing:
                raise self.error(
                    f"the data blocks have no row {missing[0]} although the Layout has it: the export looks "
                    f"truncated. {_TODO}",
                    section.data[0].line if section.data else None,
                )
        conc = next((lb for lb in concs if _CONC_DIL_RE.search(lb)), concs[0] if concs else None)
        applied = bool(conc and _CONC_DIL_RE.search(conc))
        row_sets: list[str | None] = [lb for lb in order if lb in signals]
        target = None
        if conc is not None:
            before = [lb for lb in order[: order.index(conc)] if lb in signals]
            target = before[-1] if before else (row_sets[0] if row_sets else None)
        decimal_comma = decimal_comma_of([t for lb in order for t, _ in values[lb].values()])
        ids = _ids(layout)
        id_label, cd_label, name_label = _layout_labels(layout)
        n_rows = PLATE_SHAPES[n_columns]
        records = []
        for r in ROW_LETTERS[:n_rows]:
            for c in range(1, n_columns + 1):
                well = f"{r}{c}"
                for data_set in row_sets or [
                    None
                ]:  # no signal data set: a row per well for its concentration
                    rec = self._record(
                        well,
                        data_set,
                        signals,
                        values,
                        conc if data_set == target else None,
                        layout,
                        ids,
                        pid,
                        (id_label, cd_label, name_label),
                        decimal_comma,
                        applied,
                        platemap,
                    )
                    if rec is not None:
                        records.append(rec)
        if not records:
            raise self.error(
                f"plate {pid}: the data blocks hold no reading and the Layout names no well: nothing to read",
                section.data[0].line if section.data else a + 1,
            )
        if derived:
            self.warnings.append(
                f"plate {pid}: data sets Gen5 computed that are not loaded (the readings are): "
                + ", ".join(derived)
            )
        if len(concs) > 1:
            self.warnings.append(f"plate {pid}: several concentration data sets; {conc!r} was read")
        traces = [s for s in not_endpoint if not any(k in signals for k in s.data_sets())]
        if traces and row_sets:
            self.warnings.append(
                f"plate {pid}: not loaded as readings: "
                + "; ".join(s.describe() for s in traces)
                + " (only the values Gen5 reduced from it, where the export has them)"
            )
        if conc is not None:
            self.warnings.append(
                f"plate {pid}: Gen5 does not export the concentration unit; the assay's configured unit will "
                "be used"
            )
        extra = self._curves(a, b, pid)
        for key in ("software version", "reader serial number", "experiment file path", "protocol file path"):
            if head.get(key):
                extra[key] = head[key]
        if section.temperature:
            extra["actual temperature"] = section.temperature
        if head.get("plate number"):
            extra["plate number"] = head["plate number"]
        reader = head.get("reader type")
        info = PlateInfo(
            plate_id=pid,
            protocol=stem(head["protocol file path"]) if head.get("protocol file path") else None,
            instrument=reader if reader and reader.casefold() != "n/a" else None,
            acquired_at=" ".join(v for v in (head.get("date"), head.get("time")) if v) or None,
            extra=extra,
        )
        return info, pl.DataFrame(records, schema=WELL_SCHEMA)

    def _record(
        self,
        well: str,
        label: str | None,
        signals: dict[str, str],
        values: dict[str, dict[str, tuple[str, int]]],
        conc: str | None,
        layout: Matrix | None,
        ids: dict[str, tuple[str, int]],
        pid: str,
        layout_labels: tuple[str | None, str | None, str | None],
        decimal_comma: bool,
        applied: bool,
        platemap: PlateMap | None = None,
    ) -> dict[str, object] | None:
        _, cd_label, name_label = layout_labels
        cell = values[label].get(well) if label else None
        conc_cell = values[conc].get(well) if conc else None
        id_cell = ids.get(well)
        wid = id_cell[0] if id_cell else ""
        text = cell[0] if cell else ""
        conc_text = conc_cell[0] if conc_cell else None
        if not text and not wid and not conc_text:
            return None
        if cell is None and conc_cell is None and layout is not None and well[0] not in _data_rows(values):
            return None  # a row of the Layout the partial plate did not read
        flags: list[str] = []
        cd_cell = _at(layout, cd_label, well)
        cd_text = cd_cell[0] if cd_cell else ""
        name_cell = _at(layout, name_label, well)
        name = name_cell[0] if name_cell else ""
        stype = next((t for t, rx in _WELL_ID_TYPES if rx.match(wid)), None) if wid else None
        if stype is None:
            flags.append(f"sample_type_unrecognised: Well ID {clean_note(wid)}" if wid else "no_layout_id")
            stype = "unknown"
        expected: float | None = None
        dilution = 1.0
        cd = parse_number(cd_text, decimal_comma=decimal_comma) if cd_text else None
        if stype in ("standard", "qc", "control"):
            expected = cd
        elif cd_text:
            if cd is None or cd <= 0:
                raise self.error(
                    f"the Layout's Conc/Dil {cd_text!r} for sample well {well} is not a positive dilution; "
                    "correct the plate layout in Gen5 and export again.",
                    cd_cell[1] if cd_cell else None,
                )
            dilution = cd
        elif stype == "unknown" and wid:
            flags.append("dilution_missing")
        if platemap is not None:  # no Layout: the plate map beside the export names the wells
            flags = []
            name = platemap.sample_id(well) or ""
            stype = platemap.sample_type(well)
            expected = platemap.expected_conc(well) if stype in ("standard", "qc", "control") else None
            dilution = platemap.dilution(well)
            if not name and platemap.value(well, "sample_type") is None:
                flags.append("not_in_platemap")
        signal: float | None = None
        if label is not None:
            sig = parse_signal(text, decimal_comma=decimal_comma)
            signal = sig.value
            if sig.value is None:
                if sig.masked:
                    flags.append(f"signal_masked: {clean_note(sig.note or text)}")
                elif text:
                    flags.append(f"signal_not_reported: {clean_note(sig.note or text)}")
                else:
                    flags.append("no_reading")
        parsed = parse_conc(conc_text, decimal_comma=decimal_comma) if conc else None
        if parsed is not None and parsed.qualifier == "NR" and conc_text:
            flags.append(f"result_not_reported: {clean_note(parsed.note or 'no value')}")
        line_no = (cell or conc_cell or id_cell or (None, None))[1]
        return {
            "source_file": self.file.name,
            "format": FORMAT,
            "plate_id": pid,
            "well": well,
            "row_number": line_no,
            "sample_id": name or wid or None,
            "sample_type": stype,
            "expected_conc": expected,
            "analyte_as_written": "",
            "analyte": None,
            "signal": signal,
            "signal_kind": signals.get(label) if label else None,
            "reported_text": conc_text if conc else None,
            "qualifier": parsed.qualifier if parsed else "NR",
            "value": parsed.value if parsed else None,
            "extrapolated": parsed.extrapolated if parsed else False,
            "unit": None,
            "unit_source": None,
            "conc_pg_ml": None,
            "dilution": dilution,
            "dilution_applied": applied and parsed is not None and parsed.qualifier == "=",
            "flags": ";".join(flags) or None,
        }

    def _curves(self, a: int, b: int, pid: str) -> dict[str, str]:
        """``… Fitting Results`` tables → plate extra; a ``?????`` statistic is a warning."""
        out: dict[str, str] = {}
        ci = next(
            (
                i
                for i in range(a, b)
                if (t := _title_at(self.lines, i)) and t.casefold().endswith("fitting results")
            ),
            None,
        )
        if ci is None:
            return out
        k = _next_filled(self.lines, ci + 1, b)
        if k is None:
            return out
        header = _cells(self.lines[k])
        rows = []
        k += 1
        while k < b and self.lines[k].strip():
            rows.append(_cells(self.lines[k]))
            k += 1
        for cells in rows:
            curve = cells[0] or "Curve"
            prefix = "curve" if len(rows) == 1 else f"curve {curve}"
            for name, value in zip(header[1:], cells[1:], strict=False):
                if not name:
                    continue
                out[f"{prefix} {name}"] = value
                if value.strip() == "?????":
                    self.warnings.append(
                        f"plate {pid}: curve {curve!r} statistic {name!r} failed in Gen5 (?????)"
                    )
        return out


def _is_reduced(label: str, scans: bool) -> bool:
    """A value Gen5 reduced from a kinetic trace, a polarization read or (``scans``) a spectrum/area scan."""
    if _KINETIC_REDUCED_RE.match(label) or _POLARIZATION_RE.match(label):
        return True
    return scans and _SCAN_REDUCED_RE.match(label) is not None


def _merge_layout(layout: Matrix | None, block: Matrix) -> Matrix:
    """The Layout, with a block Gen5 wrote on its own (``Well ID``, ``Conc/Dil`` as separate matrices)."""
    if layout is None:
        return block
    for lb in block.labels:
        if lb not in layout.values:
            layout.values[lb] = block.values[lb]
            layout.labels.append(lb)
    layout.rows += [r for r in block.rows if r not in layout.rows]
    return layout


class _NotEndpoint(Exception):
    """A plate holding only non-endpoint data (a trace, a spectrum) with no reduced value to read."""


def _ids(layout: Matrix | None) -> dict[str, tuple[str, int]]:
    id_label = _layout_labels(layout)[0]
    return layout.values.get(id_label, {}) if layout is not None and id_label else {}


def _data_rows(values: dict[str, dict[str, tuple[str, int]]]) -> set[str]:
    return {w[0] for cells in values.values() for w in cells}


def _layout_labels(layout: Matrix | None) -> tuple[str | None, str | None, str | None]:
    if layout is None:
        return None, None, None
    by_key = {lb.casefold(): lb for lb in layout.labels}
    id_label = by_key.get("well id") or (layout.labels[0] if layout.labels else None)
    conc_dil = next((lb for lb in layout.labels if "conc" in lb.casefold() or "dil" in lb.casefold()), None)
    name = next((by_key[k] for k in ("name", "sample id", "sample name", "sample") if k in by_key), None)
    return id_label, conc_dil, name


def _at(m: Matrix | None, label: str | None, well: str) -> tuple[str, int] | None:
    """(cell text, line) of ``well`` under ``label`` in an optional block."""
    return m.get(label, well) if m is not None and label is not None else None


class Gen5Reader(GuardedReader, texts=_TEXTS, recognise=_recognise, parser=_Gen5Parse):
    """Reads a Gen5 text or Excel export (see module docstring)."""

    name: ClassVar[str] = FORMAT
    label: ClassVar[str] = "BioTek/Agilent Gen5 export (text or Excel)"
