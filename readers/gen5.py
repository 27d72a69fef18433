"""BioTek/Agilent Gen5 text exports: the concentrations Gen5 computed, with the plate layout.

The plate-grid reader reads raw optical densities and needs a plate map; a Gen5 export that carries its
``Layout`` and its ``Results`` needs neither, so this reader takes the results Gen5 already computed.

Layout read (tab-separated; shared/corpus/README.md, "Plate readers"):

* header ``Key<TAB>Value`` lines (``Software Version``, ``Experiment File Path:``, ``Protocol File Path:``,
  ``Plate Number``, ``Date``, ``Time``, ``Reader Type:``, ``Reader Serial Number:`` …). A file holding several
  plates repeats a ``Plate Number`` line per plate; each plate's section is read on its own;
* ``Layout``: a matrix block — a header ``<TAB>1…12`` (24), then per plate row a line starting with its letter
  and continuation lines starting with a tab, each ending with the line's label: ``Well ID`` (``STD1``,
  ``SPL3``, ``BLK``, ``CTL1``), ``Conc/Dil`` (a standard's/control's concentration, a sample's dilution),
  optionally ``Name``/``Sample ID``; the block ends at a blank line;
* ``Results``: a matrix block of the same shape whose labels name data sets (``Mean V [420]``,
  ``[Concentration]``, ``Blank 450`` …);
* reading blocks (kinetic ``Time`` tables, endpoint grids) — not read: a kinetic run has no single reading
  per well, and the results already hold what the curve used;
* ``Curve Fitting Results``: a table (``Curve Name, Curve Formula, A, B, C, D, R2, Fit F Prob``) kept in the
  plate's ``extra``; a statistic written ``?????`` (failed) is a read warning.

One output row per well that has a Layout ID or a concentration cell:

* ``reported_text`` = the concentration data set's cell (a label containing ``Conc``), through
  :func:`readers.tokens.parse_conc`: ``>40.000`` → ``>`` 40, ``<0.000`` → ``<`` 0, ``?????`` → ``NR``
  (statistic failed). Gen5's ``[Concentration]`` is the curve's reading, not multiplied by the dilution,
  so ``dilution_applied`` is False and ``dilution`` comes from the Layout (``Conc/Dil`` of a sample well;
  1 when none is defined); a data set whose label multiplies by the dilution (``[Conc*Dil]``,
  ``Concentration x Dil``) is preferred when present and gives ``dilution_applied`` True;
* ``signal``: the first other Results data set (e.g. ``Mean V [420]``, a kinetic mean slope), its label as
  ``signal_kind``;
* ``sample_id``: the Layout's ``Name``/``Sample ID`` when it has one, else the Well ID; ``sample_type`` from
  the ID: ``STD``→standard, ``SPL``→unknown, ``BLK``→blank, ``CTL``/``QC``→qc (anything else unknown,
  flagged); ``expected_conc`` = a standard's/control's ``Conc/Dil``;
* ``unit``: Gen5 text exports do not write the concentration unit, so it is left to the assay configuration
  (``unit`` null) — a warning says so;
* ``analyte_as_written``: an ``Analyte`` header line, else the protocol file's name (``Kinetic
  B-Galactosidase``, with a warning), else the experiment file's name; a plate's ``plate_id``: a ``Plate
  Barcode``/``Barcode`` line, else the file name's stem (``<stem>-<Plate Number>`` for several plates).

No Results block, a Results block cut short (rows missing that the Layout has, a row without its label or
with other data sets than the first row, a repeated row) or a bad dilution raise :class:`ReaderError` with
the line; anything else is wrapped into one.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import ClassVar

import polars as pl

from readers.base import FileInput, PlateInfo, ReaderError, ReadResult, Sniff, read_guarded
from readers.text import decode, split_lines
from readers.tokens import parse_conc, parse_number
from schemas.wells import WELL_SCHEMA, conform

FORMAT = "gen5"
SNIFF_SCORE = 60  # above the generic grid reader (10): the computed results are the better reading

_LOOKED_FOR = (
    "looked for a Gen5 text export (Software Version / Plate Number header lines) with a Results matrix "
    "holding a concentration data set ([Concentration])"
)
ROWS = "ABCDEFGHIJKLMNOP"
_WELL_ID_TYPES: tuple[tuple[str, re.Pattern[str]], ...] = (
    ("standard", re.compile(r"^(std|st|cal)", re.IGNORECASE)),
    ("unknown", re.compile(r"^(spl|smp|sample|unk)", re.IGNORECASE)),
    ("blank", re.compile(r"^(blk|blank)", re.IGNORECASE)),
    ("qc", re.compile(r"^(ctl|ctrl|qc|control)", re.IGNORECASE)),
)
_CONC_DIL_RE = re.compile(r"conc.*(\*|\bx\b|×|times).*dil", re.IGNORECASE)
_GEN5_MARKERS = ("software version", "plate number", "procedure details", "reader type", "protocol file path")


def _cells(line: str) -> list[str]:
    return [c.strip() for c in line.replace("\x00", "").split("\t")]


def _key(text: str) -> str:
    return re.sub(r"\s+", " ", text).strip().rstrip(":").strip().casefold()


@dataclass
class Matrix:
    """A Gen5 matrix block: per label, well → (cell text, 1-based line)."""

    title: str
    line: int  # 1-based line of the title
    n_columns: int
    values: dict[str, dict[str, tuple[str, int]]] = field(default_factory=dict)
    labels: list[str] = field(default_factory=list)  # in order of first appearance
    rows: list[str] = field(default_factory=list)  # row letters seen

    def get(self, label: str, well: str) -> tuple[str, int] | None:
        return self.values.get(label, {}).get(well)


def parse_matrix(lines: list[str], title_index: int) -> Matrix:
    """The matrix block titled on ``lines[title_index]`` (``Layout``, ``Results``). Raises ValueError with
    a reason when the block is malformed (the caller adds file and line)."""
    title = _cells(lines[title_index])[0]
    k = title_index + 1
    while k < len(lines) and not lines[k].strip():
        k += 1
    if k >= len(lines):
        raise ValueError(f"the {title} block has no column header (the file ends)")
    header = _cells(lines[k])
    n = 24 if header[1:25] == [str(i) for i in range(1, 25)] else 12
    if header[1 : n + 1] != [str(i) for i in range(1, n + 1)]:
        raise ValueError(f"the {title} block's header is not 1..12 (or 1..24)")
    m = Matrix(title, title_index + 1, n)
    letter = ""
    row_labels: dict[str, list[tuple[str, int]]] = {}
    k += 1
    while k < len(lines) and lines[k].strip():
        cells = _cells(lines[k])
        first = cells[0].upper()
        if len(first) == 1 and first in ROWS:
            if first in m.rows:
                raise ValueError(f"line {k + 1}: row {first} appears twice in the {title} block")
            letter = first
            m.rows.append(letter)
        elif first or not letter:
            raise ValueError(
                f"line {k + 1}: this line of the {title} block is neither a row A..P nor its continuation"
            )
        if len(cells) < n + 2 or not cells[n + 1]:
            raise ValueError(
                f"line {k + 1}: this line of the {title} block has {len(cells)} cells: a row needs its "
                f"letter, {n} values and its label — it is cut short"
            )
        label = cells[n + 1]
        if label not in m.values:
            m.values[label] = {}
            m.labels.append(label)
        for c in range(n):
            m.values[label][f"{letter}{c + 1}"] = (cells[1 + c], k + 1)
        row_labels.setdefault(letter, []).append((label, k + 1))
        k += 1
    # Gen5 writes every data set for every row: a row with other labels was cut (or edited).
    want = [lb for lb, _ in row_labels.get(m.rows[0], [])] if m.rows else []
    for letter in m.rows[1:]:
        got = row_labels[letter]
        if [lb for lb, _ in got] != want:
            raise ValueError(
                f"line {got[-1][1]}: row {letter} of the {title} block has the data sets "
                f"{[lb for lb, _ in got]} but row {m.rows[0]} has {want} — the block is cut short or edited"
            )
    return m


def _find_title(lines: list[str], title: str, start: int = 0, end: int | None = None) -> int | None:
    t = title.casefold()
    for i in range(start, len(lines) if end is None else end):
        cells = _cells(lines[i])
        if cells[0].casefold() == t and not any(cells[1:]):
            return i
    return None


def _looks_gen5(lines: list[str]) -> bool:
    keys = {_key(_cells(ln)[0]) for ln in lines[:60] if ln.strip()}
    return "software version" in keys and sum(k in keys for k in _GEN5_MARKERS) >= 2


def _results_have_conc(lines: list[str]) -> bool:
    i = _find_title(lines, "Results")
    if i is None:
        return False
    try:
        m = parse_matrix(lines, i)
    except ValueError:
        return False
    return any("conc" in lb.casefold() for lb in m.labels)


class Gen5Reader:
    """Reads the Layout and Results of a Gen5 text export (see module docstring)."""

    name: ClassVar[str] = FORMAT
    label: ClassVar[str] = "BioTek Gen5 text export with results (concentrations)"

    def sniff(self, text_head: str, file: FileInput) -> Sniff:
        try:
            lines = split_lines(text_head.lstrip("\ufeff"))
            if not _looks_gen5(lines):
                return Sniff(False, _LOOKED_FOR)
            if _results_have_conc(lines) or (
                len(file.data) > len(text_head.encode("utf-8"))  # Results may lie beyond the head
                and _results_have_conc(split_lines(decode(file.data).lstrip("\ufeff")))
            ):
                return Sniff(
                    True, "Gen5 header lines and a Results matrix with a concentration data set", SNIFF_SCORE
                )
        except Exception:  # a sniff must never stop the other readers from being tried
            return Sniff(False, _LOOKED_FOR)
        return Sniff(False, "a Gen5 export without a concentration data set in Results; " + _LOOKED_FOR)

    def read(self, file: FileInput) -> ReadResult:
        return read_guarded(
            file,
            lambda: _Gen5Parse(file).run(),
            what="the results of this Gen5 export",
            todo=(
                "Export the plate again from Gen5 (File > Export, text, with Layout and Results in matrix "
                "format)."
            ),
        )


class _Gen5Parse:
    def __init__(self, file: FileInput) -> None:
        self.file = file
        self.lines = split_lines(decode(file.data).lstrip("\ufeff"))
        self.warnings: list[str] = []

    def error(self, message: str, line: int | None = None) -> ReaderError:
        return ReaderError(message, file=self.file.name, line=line)

    def run(self) -> ReadResult:
        if not _looks_gen5(self.lines):
            raise self.error(f"this is not a Gen5 text export: {_LOOKED_FOR}.")
        starts = [i for i, ln in enumerate(self.lines) if _key(_cells(ln)[0]) == "plate number"]
        bounds = (
            list(zip(starts, [*starts[1:], len(self.lines)], strict=True))
            if starts
            else [(0, len(self.lines))]
        )
        shared = self._header(0, starts[0] if starts else len(self.lines))
        analyte = self._analyte(shared)
        frames: list[pl.DataFrame] = []
        plates: list[PlateInfo] = []
        for a, b in bounds:
            head = {**shared, **self._header(a, b)}
            pid = head.get("plate barcode") or head.get("barcode") or _stem(self.file.name) or "gen5"
            if len(bounds) > 1 and not (head.get("plate barcode") or head.get("barcode")):
                pid = f"{pid}-{head.get('plate number') or len(plates) + 1}"
            info, df = self._plate(a, b, head, pid, analyte)
            plates.append(info)
            frames.append(df)
        wells = pl.concat(frames) if frames else pl.DataFrame()
        return ReadResult(format=FORMAT, wells=wells, plates=plates, warnings=self.warnings)

    def _header(self, a: int, b: int) -> dict[str, str]:
        """``Key<TAB>Value`` lines of a section (up to its first block)."""
        out: dict[str, str] = {}
        for line in self.lines[a:b]:
            cells = _cells(line)
            if cells[0].casefold() in ("layout", "results", "procedure details"):
                break
            values = [c for c in cells[1:] if c]
            if cells[0] and values:
                out.setdefault(_key(cells[0]), values[0])
        return out

    def _analyte(self, head: dict[str, str]) -> str:
        if head.get("analyte"):
            return head["analyte"]
        for key in ("protocol file path", "experiment file path"):
            path = head.get(key)
            if path:
                name = _stem(path)
                if name:
                    self.warnings.append(
                        f"no 'Analyte' line: the analyte is taken from the {key.split()[0]} file name "
                        f"{name!r}; add it to the analyte catalogue's aliases if it does not resolve"
                    )
                    return name
        raise self.error(
            "the export does not name the analyte (no Analyte line, no protocol or experiment file path): "
            "add an 'Analyte' line to the export in Gen5 and export again."
        )

    def _plate(
        self, a: int, b: int, head: dict[str, str], pid: str, analyte: str
    ) -> tuple[PlateInfo, pl.DataFrame]:
        ri = _find_title(self.lines, "Results", a, b)
        if ri is None:
            raise self.error(
                "no Results block in this Gen5 export: export the plate again with the Results (matrix) "
                "section ticked, or upload the raw grid with a plate map instead.",
                a + 1,
            )
        results = self._matrix(ri)
        li = _find_title(self.lines, "Layout", a, b)
        layout = self._matrix(li) if li is not None else None
        if layout is None:
            self.warnings.append("no Layout block: sample IDs and types are unknown")
        conc_labels = [lb for lb in results.labels if "conc" in lb.casefold()]
        if not conc_labels:
            raise self.error(
                f"the Results block has no concentration data set (labels: {', '.join(results.labels)}); "
                "add the standard curve's concentration to the export in Gen5.",
                results.line,
            )
        conc_label = next((lb for lb in conc_labels if _CONC_DIL_RE.search(lb)), conc_labels[0])
        applied = bool(_CONC_DIL_RE.search(conc_label))
        signal_label = next((lb for lb in results.labels if "conc" not in lb.casefold()), None)
        if layout is not None:
            missing = [r for r in layout.rows if r not in results.rows]
            if missing:
                raise self.error(
                    f"the Results block has no row {missing[0]} although the Layout has it: the export looks "
                    "truncated. Export the plate again from Gen5.",
                    results.line,
                )
        decimal_comma = self._decimal_comma(results, conc_label)
        id_label, conc_dil_label, name_label = self._layout_labels(layout)
        n = results.n_columns
        all_wells = [f"{r}{c}" for r in ROWS[: 16 if n == 24 else 8] for c in range(1, n + 1)]
        records = []
        for well in all_wells:
            cell = results.get(conc_label, well)
            text = cell[0] if cell else None
            id_cell = _at(layout, id_label, well)
            wid = id_cell[0] if id_cell else ""
            if not wid and not text:
                continue
            flags: list[str] = []
            cd_cell = _at(layout, conc_dil_label, well)
            cd_text = cd_cell[0] if cd_cell else ""
            name_cell = _at(layout, name_label, well)
            name = name_cell[0] if name_cell else ""
            stype = next((t for t, rx in _WELL_ID_TYPES if rx.match(wid)), None) if wid else None
            if stype is None:
                flags.append(f"sample_type_unrecognised: Well ID {wid!r}" if wid else "no_layout_id")
                stype = "unknown"
            expected: float | None = None
            dilution = 1.0
            cd = parse_number(cd_text, decimal_comma=decimal_comma) if cd_text else None
            if stype in ("standard", "qc"):
                expected = cd
            elif cd_text:
                if cd is None or cd <= 0:
                    raise self.error(
                        f"the Layout's Conc/Dil {cd_text!r} for sample well {well} is not a positive "
                        "dilution; correct the plate layout in Gen5 and export again.",
                        cd_cell[1] if cd_cell else None,
                    )
                dilution = cd
            parsed = parse_conc(text, decimal_comma=decimal_comma)
            if text is None:
                flags.append("result_missing")
            elif parsed.qualifier == "NR":
                flags.append(f"result_not_reported: {(parsed.note or 'no value').replace(';', ',')}")
            sig_cell = _at(results, signal_label, well)
            signal = (
                parse_number(sig_cell[0], decimal_comma=decimal_comma) if sig_cell and sig_cell[0] else None
            )
            if sig_cell and sig_cell[0] and signal is None:
                flags.append(f"signal_not_reported: {(parse_conc(sig_cell[0]).note or '').replace(';', ',')}")
            line_no = cell[1] if cell else id_cell[1] if id_cell else None
            records.append(
                {
                    "source_file": self.file.name,
                    "format": FORMAT,
                    "plate_id": pid,
                    "well": well,
                    "row_number": line_no,
                    "sample_id": name or wid or None,
                    "sample_type": stype,
                    "expected_conc": expected,
                    "analyte_as_written": analyte,
                    "signal": signal,
                    "signal_kind": signal_label if signal is not None else None,
                    "reported_text": text,
                    "qualifier": parsed.qualifier,
                    "value": parsed.value,
                    "extrapolated": parsed.extrapolated,
                    "unit": None,
                    "unit_source": None,
                    "dilution": dilution,
                    "dilution_applied": applied,
                    "flags": ";".join(flags) or None,
                }
            )
        if not records:
            raise self.error(
                "the Results block holds no concentration and the Layout names no well: nothing to read",
                results.line,
            )
        self.warnings.append(
            f"plate {pid}: Gen5 does not export the concentration unit; the assay's configured unit will be "
            "used"
        )
        extra = self._curves(a, b, pid)
        for key in ("software version", "reader serial number", "experiment file path", "protocol file path"):
            if head.get(key):
                extra[key] = head[key]
        reader = head.get("reader type")
        info = PlateInfo(
            plate_id=pid,
            protocol=_stem(head["protocol file path"]) if head.get("protocol file path") else None,
            instrument=reader if reader and reader.casefold() != "n/a" else None,
            acquired_at=" ".join(v for v in (head.get("date"), head.get("time")) if v) or None,
            extra=extra,
        )
        return info, conform(pl.DataFrame(records, schema=WELL_SCHEMA))

    def _matrix(self, index: int) -> Matrix:
        try:
            return parse_matrix(self.lines, index)
        except ValueError as exc:
            m = re.match(r"line (\d+): (.*)$", str(exc), re.DOTALL)
            raise self.error(
                f"{m.group(2) if m else exc}. Export the plate again from Gen5 (matrix format).",
                int(m.group(1)) if m else index + 1,
            ) from None

    @staticmethod
    def _layout_labels(layout: Matrix | None) -> tuple[str | None, str | None, str | None]:
        if layout is None:
            return None, None, None
        by_key = {lb.casefold(): lb for lb in layout.labels}
        id_label = by_key.get("well id") or (layout.labels[0] if layout.labels else None)
        conc_dil = next(
            (lb for lb in layout.labels if "conc" in lb.casefold() or "dil" in lb.casefold()), None
        )
        name = next((by_key[k] for k in ("name", "sample id", "sample name", "sample") if k in by_key), None)
        return id_label, conc_dil, name

    @staticmethod
    def _decimal_comma(results: Matrix, label: str) -> bool:
        texts = [t.lstrip("<>") for t, _ in results.values.get(label, {}).values()]
        commas = sum(bool(re.fullmatch(r"-?\d+,\d+", t)) for t in texts)
        points = sum(bool(re.fullmatch(r"-?\d+\.\d+", t)) for t in texts)
        return commas > points

    def _curves(self, a: int, b: int, pid: str) -> dict[str, str]:
        """``Curve Fitting Results`` → plate extra; a ``?????`` statistic is a warning."""
        out: dict[str, str] = {}
        ci = _find_title(self.lines, "Curve Fitting Results", a, b)
        if ci is None:
            return out
        k = ci + 1
        while k < b and not self.lines[k].strip():
            k += 1
        if k >= b:
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


def _at(m: Matrix | None, label: str | None, well: str) -> tuple[str, int] | None:
    """(cell text, line) of ``well`` under ``label`` in an optional block."""
    return m.get(label, well) if m is not None and label is not None else None


def _stem(path: str) -> str:
    base = re.split(r"[\\/]", path.strip())[-1]
    return base.rsplit(".", 1)[0] if "." in base else base
