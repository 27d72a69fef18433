"""Plate maps in plater format (ropensci/plater): which sample sits in which well of a plate-reader grid.

A plate-reader export holds only optical densities laid out as the plate; what each well *is* (sample,
standard level, dilution) lives in a separate plate map the lab uploads with it. plater is the one
published, tool-supported layout for such maps, so it is the format we ask labs for:

    sample_id,1,2,3,...,12
    A,S1,S1,P-0001,...
    ...
    H,...
    <one blank line>
    sample_type,1,2,...,12
    ...

One block per variable, rows A–H (A–P for 384 wells), an empty cell is a missing well, and two blank
lines in a row would start a second plate — an error here as in plater, because a grid export describes
one plate and a second map could only be silently ignored.
"""

from __future__ import annotations

import csv
import io
import re
from collections.abc import Mapping
from dataclasses import dataclass, field

from readers.base import FileInput, ReaderError
from readers.text import split_lines

ROW_LETTERS = "ABCDEFGHIJKLMNOP"
PLATE_SHAPES = {12: 8, 24: 16}  # columns → rows (96- and 384-well plates)
PLATEMAP_SUFFIXES = ("_platemap.csv", ".platemap.csv", "-platemap.csv")  # beside the export's stem

# Recognised variables: canonical name → the spellings labs use (compared after _variable_key).
_VARIABLE_ALIASES = {
    "sample_id": ("sample_id", "sample", "sampleid", "sample_name"),
    "sample_type": ("sample_type", "sampletype"),
    "expected_conc": ("expected_conc", "expected_concentration", "expectedconc"),
    "dilution": ("dilution", "dilution_factor"),
    "analyte": ("analyte",),
}
_CANONICAL_VARIABLE = {alias: canon for canon, aliases in _VARIABLE_ALIASES.items() for alias in aliases}

# sample_type values (lower-cased) → canonical sample type of the well table (schemas/wells.py).
_SAMPLE_TYPES = {
    "standard": "standard",
    "std": "standard",
    "s": "standard",
    "calibrator": "standard",
    "blank": "blank",
    "b": "blank",
    "background": "blank",
    "qc": "qc",
    "quality control": "qc",
    "unknown": "unknown",
    "x": "unknown",
    "sample": "unknown",
    "control": "control",
    "c": "control",
}

_FRACTION_RE = re.compile(r"^\s*1\s*[/:]\s*(\d+(?:\.\d+)?)\s*$")


@dataclass(frozen=True)
class PlateMap:
    """One plate's layout: ``wells`` maps a well ("A1") to its variables (name → text as written).

    Only wells with at least one non-empty cell are present (plater: an empty cell is a missing well).
    Recognised variables carry their canonical names (``sample_id``, ``sample_type``, ``expected_conc``,
    ``dilution``, ``analyte``); any other variable is kept under the name the lab gave it. The typed
    accessors never fail: :func:`parse_platemap` has already checked every value.
    """

    name: str
    variables: tuple[str, ...]
    wells: Mapping[str, Mapping[str, str]]
    n_columns: int = 12
    warnings: tuple[str, ...] = ()
    cell_lines: Mapping[tuple[str, str], int] = field(default_factory=dict, repr=False)

    @property
    def n_rows(self) -> int:
        return PLATE_SHAPES[self.n_columns]

    def value(self, well: str, variable: str) -> str | None:
        return self.wells.get(well, {}).get(variable)

    def sample_id(self, well: str) -> str | None:
        return self.value(well, "sample_id")

    def sample_type(self, well: str) -> str:
        """Canonical sample type; a well without one is an unknown (a study sample)."""
        raw = self.value(well, "sample_type")
        return "unknown" if raw is None else _SAMPLE_TYPES[raw.strip().lower()]

    def expected_conc(self, well: str) -> float | None:
        raw = self.value(well, "expected_conc")
        return None if raw is None else _parse_float(raw)

    def dilution(self, well: str) -> float:
        """Dilution factor (≥ 1); 1 when the map does not give one."""
        raw = self.value(well, "dilution")
        parsed = None if raw is None else parse_dilution(raw)
        return 1.0 if parsed is None else parsed

    def analyte(self, well: str) -> str | None:
        return self.value(well, "analyte")

    def named_wells(self) -> list[str]:
        """Wells that hold a sample (a sample_id or a sample_type), in plate order A1, A2, … H12."""
        return [
            w
            for w in plate_wells(self.n_columns)
            if w in self.wells and (self.sample_id(w) is not None or self.value(w, "sample_type") is not None)
        ]

    def line_of(self, well: str, variable: str) -> int | None:
        return self.cell_lines.get((variable, well))


def plate_wells(n_columns: int) -> list[str]:
    """Every well of a plate in row-major order ("A1", "A2", …)."""
    return [f"{r}{c}" for r in ROW_LETTERS[: PLATE_SHAPES[n_columns]] for c in range(1, n_columns + 1)]


def parse_dilution(text: str) -> float | None:
    """A dilution factor as labs write it: ``50``, ``1/50`` or ``1:50`` all mean a 1-in-50 dilution (50).

    None when the text is not a dilution or the factor is below 1 (``0.02`` is ambiguous — a fraction or a
    concentrating step — so it is refused rather than guessed).
    """
    s = text.strip()
    m = _FRACTION_RE.match(s)
    value = _parse_float(m.group(1)) if m else _parse_float(s)
    if value is None or value < 1:
        return None
    return value


def _parse_float(text: str) -> float | None:
    try:
        v = float(text.strip())
    except ValueError:
        return None
    return v if v == v and v not in (float("inf"), float("-inf")) else None


def _variable_key(name: str) -> str:
    return re.sub(r"[\s\-.]+", "_", name.strip().lower())


def _delimiter(line: str) -> str:
    return ";" if line.count(";") > line.count(",") else ","


def _cells(line: str, delimiter: str) -> list[str]:
    try:
        cells = next(csv.reader(io.StringIO(line.replace("\x00", "")), delimiter=delimiter), [])
    except csv.Error:  # e.g. a cell beyond csv's field size limit: fall back to a plain split
        cells = line.split(delimiter)
    return [c.strip() for c in cells]


def _is_blank(line: str) -> bool:
    return not line.strip(" \t,;\"'\ufeff")


def _header_columns(cells: list[str]) -> int | None:
    """12 or 24 when ``cells`` is a block header ``<variable>,1,…,N`` (trailing empty cells allowed)."""
    for n in (24, 12):
        header = len(cells) > n and cells[1 : n + 1] == [str(i) for i in range(1, n + 1)]
        if header and all(not c for c in cells[n + 1 :]):
            return n
    return None


@dataclass(frozen=True)
class _Block:
    variable: str  # as written (may be empty)
    header_line: int  # 1-based
    n_columns: int
    rows: list[tuple[int, list[str]]]  # (line, cells of the columns 1..N) for rows A, B, …


def _blocks(text: str, name: str, *, truncated_ok: bool = False) -> list[_Block]:
    """Split a plater file into its blocks, or raise ReaderError naming the line that breaks the layout.

    ``truncated_ok``: the text is only the head of a file (sniffing), so a block cut off by the end of the
    text ends the parse instead of failing it.
    """
    lines = split_lines(text.lstrip("\ufeff"))
    first = next((i for i, ln in enumerate(lines) if not _is_blank(ln)), None)
    if first is None:
        raise ReaderError("the plate map is empty", file=name)
    delimiter = _delimiter(lines[first])
    blocks: list[_Block] = []
    i = first
    while i < len(lines):
        cells = _cells(lines[i], delimiter)
        n = _header_columns(cells)
        if n is None and truncated_ok and blocks and i == len(lines) - 1:
            return blocks
        if n is None:
            raise ReaderError(
                f"expected a block header '<variable>{delimiter}1{delimiter}2…{delimiter}12' "
                f"(or …24), found {lines[i][:60]!r}. A plater plate map has one block per variable.",
                file=name,
                line=i + 1,
            )
        n_rows = PLATE_SHAPES[n]
        rows: list[tuple[int, list[str]]] = []
        for r in range(n_rows):
            j = i + 1 + r
            letter = ROW_LETTERS[r]
            at_end = j >= len(lines) - 1  # a head may end inside a block, its last line cut short
            if j >= len(lines) or _is_blank(lines[j]):
                if truncated_ok and at_end:
                    return blocks
                raise ReaderError(
                    f"block {cells[0] or '(unnamed)'!r} ends before row {letter}: "
                    f"a block needs rows A–{ROW_LETTERS[n_rows - 1]}",
                    file=name,
                    line=j + 1,
                )
            row = _cells(lines[j], delimiter)
            if not row or row[0].upper() != letter:
                if truncated_ok and at_end:
                    return blocks
                raise ReaderError(
                    f"expected row {letter} of block {cells[0] or '(unnamed)'!r}, found {lines[j][:40]!r}",
                    file=name,
                    line=j + 1,
                )
            extra = [c for c in row[n + 1 :] if c]
            if extra:
                raise ReaderError(
                    f"row {letter} has values beyond column {n}: {extra[:3]}", file=name, line=j + 1
                )
            values = (row[1 : n + 1] + [""] * n)[:n]
            rows.append((j + 1, values))
        blocks.append(_Block(cells[0], i + 1, n, rows))
        i += 1 + n_rows
        blanks = 0
        while i < len(lines) and _is_blank(lines[i]):
            blanks += 1
            i += 1
        if i < len(lines) and blanks >= 2:
            raise ReaderError(
                "two blank lines between blocks start a second plate; a plate map describes one plate. "
                "Separate blocks with one blank line, and upload one plate map per plate.",
                file=name,
                line=i - blanks + 1,
            )
    return blocks


def looks_like_platemap(text: str) -> bool:
    """True when the whole text is plater blocks — a companion file, never an export on its own.

    A lone unnamed block of numbers (``,1,…,12`` then rows of values) is what a bare CSV plate-reader
    export looks like, so it is *not* taken for a plate map: a map whose only content is anonymous
    numbers would say nothing about the wells anyway.
    """
    try:
        blocks = _blocks(text, "", truncated_ok=True)
    except ReaderError:
        return False
    except Exception:  # looks_like_* must never fail: any malformed text simply is not a plate map
        return False
    if not blocks:
        return False
    if len(blocks) == 1 and blocks[0].variable.strip() in ("", "<>"):
        cells = [c for _, row in blocks[0].rows for c in row if c]
        if cells and all(_parse_float(c.replace(",", ".")) is not None for c in cells):
            return False
    return True


def parse_platemap(text: str, *, name: str) -> PlateMap:
    """Parse a plater-format plate map, checking every recognised value; errors name the line and say
    how to fix the map."""
    blocks = _blocks(text, name)
    sizes = {b.n_columns for b in blocks}
    if len(sizes) > 1:
        raise ReaderError(
            "blocks disagree on the plate size (some have 12 columns, some 24); one map describes one plate",
            file=name,
        )
    n_columns = sizes.pop()
    wells: dict[str, dict[str, str]] = {}
    lines: dict[tuple[str, str], int] = {}
    variables: list[str] = []
    warnings: list[str] = []
    for index, block in enumerate(blocks, start=1):
        written = block.variable.strip()
        if written:
            variable = _CANONICAL_VARIABLE.get(_variable_key(written), written)
        else:
            variable = f"variable_{index}"
            warnings.append(f"block at line {block.header_line} has no variable name; kept as {variable!r}")
        if variable in variables:
            raise ReaderError(
                f"variable {written or variable!r} appears twice; each variable needs exactly one block",
                file=name,
                line=block.header_line,
            )
        variables.append(variable)
        for r, (line_no, values) in enumerate(block.rows):
            for c, cell in enumerate(values):
                if not cell:
                    continue
                well = f"{ROW_LETTERS[r]}{c + 1}"
                _check_value(variable, cell, well, name, line_no)
                wells.setdefault(well, {})[variable] = cell
                lines[(variable, well)] = line_no
    return PlateMap(
        name=name,
        variables=tuple(variables),
        wells=wells,
        n_columns=n_columns,
        warnings=tuple(warnings),
        cell_lines=lines,
    )


def _check_value(variable: str, cell: str, well: str, name: str, line: int) -> None:
    problem = _value_problem(variable, cell)
    if problem:
        raise ReaderError(f"well {well}: {variable} {cell!r} {problem}", file=name, line=line)


def _value_problem(variable: str, cell: str) -> str | None:
    """What is wrong with a plate-map cell of ``variable``, said for the lab; None when it is fine."""
    if variable == "sample_type" and cell.strip().lower() not in _SAMPLE_TYPES:
        return "is not one of standard, blank, qc, unknown, control (or S, B, QC, X, C)"
    if variable == "expected_conc" and _parse_float(cell) is None:
        return "is not a number (write the nominal concentration in the assay's unit, with a decimal point)"
    if variable == "dilution" and parse_dilution(cell) is None:
        return "is not a dilution factor ≥ 1 (write 50, 1/50 or 1:50 for a 1-in-50 dilution)"
    return None


def _stem(name: str) -> str:
    base = re.split(r"[\\/]", name)[-1]
    return base.rsplit(".", 1)[0] if "." in base else base


def platemap_names(export_name: str) -> list[str]:
    """The sibling names a plate map for ``export_name`` may have (compared case-insensitively)."""
    stem = _stem(export_name)
    return [stem + suffix for suffix in PLATEMAP_SUFFIXES]


def find_platemap(file: FileInput) -> tuple[str, bytes]:
    wanted = [n.lower() for n in platemap_names(file.name)]
    by_name = {re.split(r"[\\/]", s)[-1].lower(): s for s in file.siblings}
    for w in wanted:
        if w in by_name:
            sibling = by_name[w]
            return sibling, file.siblings[sibling]
    raise ReaderError(
        "no plate map was delivered with this plate-reader export (looked for "
        + ", ".join(repr(n) for n in platemap_names(file.name))
        + "). A grid holds only optical densities: the lab must upload the plate map (plater format: "
        "sample_id, sample_type, expected_conc, dilution blocks) together with the export, under one of "
        "those names.",
        file=file.name,
    )
