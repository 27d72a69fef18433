"""Single-plex ELISA plate-reader exports: an optical-density grid, read together with its plate map.

Plate readers (SoftMax Pro, Gen5, Magellan, plain CSV/TXT exports) all print the plate as a grid: a header
row of column numbers 1..12 (1..24 for 384 wells) followed by rows A..H (A..P). What surrounds the grid
varies too much between vendors and versions to key on, so the grid is found by content. SoftMax Pro's
"PlateFormat" block is the one common variant without row letters: its header carries a
``Temperature(°C)`` column and the first data row the temperature.

What a file may hold: a partial plate (rows or columns absent: the wells printed are read, a warning names
what is missing; a file that ends inside the grid is refused as cut short), several plates (a ``Plate:``
line between grids starts the next; each its own ``plate_id``, the file's plate name or ``<stem>-<n>``),
several wavelengths or read modes (a grid per ``Wavelength:``, or SoftMax grids side by side on the same
lines: each its own ``signal_kind``), decimal commas (per file, or in any cell where the comma cannot
separate thousands: ``0,02``). SoftMax blocks that are not endpoint reads (kinetic, spectrum, well scan,
time-resolved) are refused by name, never read as OD. No analyte named: ``analyte_as_written`` "" and a
warning (the assay comes from configuration).

The grid says nothing about what is in each well, and carries no concentration and no unit: the sample
layout comes from the plate map uploaded beside it (readers/platemap.py) and concentrations come later from
the standard curve (assay/curves.py), in the assay's configured unit.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import ClassVar

import polars as pl

from readers.base import FileInput, PlateInfo, ReaderError, ReadResult, Sniff, read_guarded
from readers.platemap import (
    PLATE_SHAPES,
    PLATEMAP_SUFFIXES,
    ROW_LETTERS,
    PlateMap,
    find_platemap,
    looks_like_platemap,
    parse_platemap,
)
from readers.text import decode, split_lines
from readers.tokens import parse_number
from readers.toolkit.cells import delimiter_of, split_line, stem
from readers.toolkit.grids import decimal_comma_of, parse_signal
from readers.toolkit.headers import HEADER_FIELDS, key_value
from readers.toolkit.records import Origin, Reading, Sample, signal_row
from schemas.wells import conform

FORMAT = "platereader_grid"
SNIFF_SCORE = 10  # a generic layout: any vendor-specific reader that also matches should win

NO_ANALYTE = "the export does not name the analyte"
_GRID_REASON = (
    "looked for a header row of column numbers 1..12 (or 1..24) followed by rows labelled A..H (A..P), "
    "or a SoftMax Pro PlateFormat grid"
)
_PLATE_LINE_RE = re.compile(r"^\s*Plate\b[^:\t]{0,12}:")  # "Plate:", "Plate #  :", "Plate ID:" start a plate
_WAVELENGTH_RE = re.compile(r"(\d{3,4})")


@dataclass(frozen=True)
class Grid:
    """One plate grid as found in the text: raw cell texts by well, and where each row was read. A partial
    plate holds only the rows (and columns) the export printed."""

    header_line: int  # 1-based
    n_columns: int  # the plate's columns (12 or 24), whatever the grid prints
    values: dict[str, str]  # well → cell text (stripped; "" = no reading), wells of the grid only
    row_lines: dict[str, int]  # row letter → 1-based line
    lettered: bool  # False: SoftMax PlateFormat (no row letters)
    decimal_comma: bool
    temperature: str | None = None
    printed_columns: int = 0  # columns 1..printed_columns are in the grid (0: all of the plate's)
    block: int = 0  # SoftMax prints one grid per wavelength side by side on the same lines: which one
    blocks: int = 1  # how many grids the header line holds side by side

    @property
    def n_rows(self) -> int:
        return PLATE_SHAPES[self.n_columns]

    @property
    def end_line(self) -> int:
        return max(self.row_lines.values())

    @property
    def partial(self) -> str | None:
        """What a partial grid lacks (``rows H`` / ``columns 11..12``), None for a whole plate."""
        missing = [r for r in ROW_LETTERS[: self.n_rows] if r not in self.row_lines]
        parts = []
        if missing:
            parts.append(f"row{'s' if len(missing) > 1 else ''} {', '.join(missing)}")
        if self.printed_columns and self.printed_columns < self.n_columns:
            parts.append(f"columns {self.printed_columns + 1}..{self.n_columns}")
        return " and ".join(parts) or None

    def signal(self, well: str) -> float | None:
        return parse_signal(self.values.get(well, ""), decimal_comma=self.decimal_comma).value


@dataclass(frozen=True)
class _Miss:
    """Why a candidate header did not turn into a grid (kept for the error message)."""

    line: int
    reason: str


_delimiter = delimiter_of


def _split(line: str, delimiter: str) -> list[str]:
    """Cells of one line with quotes and padding dropped."""
    return [c.strip().strip('"').strip() for c in split_line(line, delimiter)]


def _header_start(cells: list[str]) -> tuple[int, int] | None:
    """(index of the "1" cell, number of columns printed) when ``cells`` is a grid header, else None. A
    partial plate prints fewer columns (1..8); a whole plate 1..12 or 1..24."""
    for k in range(1, min(len(cells), 4)):
        if cells[k : k + 4] != ["1", "2", "3", "4"]:
            continue
        n = 4
        while n < 24 and k + n < len(cells) and cells[k + n] == str(n + 1):
            n += 1
        return k, n
    return None


def _unlettered_prefix(prefix: list[str], header_prefix: list[str]) -> bool:
    """SoftMax PlateFormat rows: no row letter; only a temperature column (when the header has one) may
    hold a number. Anything else before column 1 means the line is not a row of this grid."""
    if not all(not c or c.startswith("temperature") for c in header_prefix):
        return False
    if not any(c.startswith("temperature") for c in header_prefix):
        return all(not c for c in prefix)
    return all(
        not c or parse_number(c) is not None or parse_number(c, decimal_comma=True) is not None
        for c in prefix
    )


# Cells "1", "2", "3", "4" side by side: what every grid header has. A cell is its characters between two
# delimiters with csv's quotes (and NULs) dropped and whitespace (and stray quotes) stripped, so with quotes
# removed the line shows 1, 2, 3, 4 separated by one delimiter each and whitespace only.
_HEADER_HINT_RE = re.compile(r"1\s*[\t,;]\s*2\s*[\t,;]\s*3\s*[\t,;]\s*4")


def _may_be_header(line: str) -> bool:
    """False when ``line`` cannot be a grid header, decided without parsing it (see ``_HEADER_HINT_RE``).
    Most lines of an export fail this, which makes scanning a file for grids cheap."""
    if '"' in line or "\x00" in line:
        line = line.replace('"', "").replace("\x00", "")
    return _HEADER_HINT_RE.search(line) is not None


def _grid_at(lines: list[str], i: int, block: int = 0) -> Grid | _Miss | None:
    """The grid whose header is line ``i`` (0-based), a miss saying why it is not one, or None when the
    line is not a grid header at all. Lettered rows may be absent (a partial plate: rows A, D, H or A..G);
    a file that ends inside the grid is cut short, not partial."""
    if not _may_be_header(lines[i]):
        return None
    delimiter = _delimiter(lines[i])
    header = _split(lines[i], delimiter)
    start = _header_start(header)
    if start is None:
        return None
    k, printed = start
    blocks = 1
    while header[k + blocks * (printed + 1) : k + blocks * (printed + 1) + printed] == [
        str(c) for c in range(1, printed + 1)
    ]:
        blocks += 1  # another grid side by side, after one empty separator cell
    block = min(block, blocks - 1)
    offset = k + block * (printed + 1)
    if not (printed in PLATE_SHAPES or lettered_row(lines, i + 1, delimiter, k)):
        return None  # a partial header (1..8) counts only when a lettered row follows
    header_prefix = [c.lower() for c in header[:k]]
    values: dict[str, str] = {}
    row_lines: dict[str, int] = {}
    first = _split(lines[i + 1], delimiter) if i + 1 < len(lines) else []
    lettered = bool(first) and lettered_row(lines, i + 1, delimiter, k) is not None
    temperature = None if lettered or not first else next((c for c in first[:k] if c), None)
    if not lettered and printed not in PLATE_SHAPES:
        return None
    n_rows = PLATE_SHAPES.get(printed, 8)
    last = -1
    j = i + 1
    while j < len(lines) and len(row_lines) < 16:
        cells = _split(lines[j], delimiter)
        if lettered:
            letter = lettered_row(lines, j, delimiter, k)
            if letter is None or ROW_LETTERS.index(letter) <= last:
                break
            last = ROW_LETTERS.index(letter)
        else:
            if len(row_lines) == n_rows:
                break
            letter = ROW_LETTERS[len(row_lines)]
            if not _unlettered_prefix(cells[:k], header_prefix):
                return _Miss(j + 1, f"line {j + 1} should be row {letter} of the grid headed on line {i + 1}")
        row = (cells[offset : offset + printed] + [""] * printed)[:printed]
        if not lettered and not any(row):
            return _Miss(j + 1, f"line {j + 1} (row {letter} of the grid headed on line {i + 1}) is empty")
        for c, text in enumerate(row, start=1):
            values[f"{letter}{c}"] = text
        row_lines[letter] = j + 1
        j += 1
    if lettered and j < len(lines) and row_lines:
        after = _split(lines[j], delimiter)
        if not any(after[:k]) and any(after[k:]):
            return _Miss(
                j + 1,
                f"the grid headed on line {i + 1} continues row {letter} on line {j + 1} (several data sets "
                "per row, as in a Gen5 matrix): not a plain grid",
            )
    n_columns = 24 if printed > 12 or last >= 8 else 12
    expected_rows = PLATE_SHAPES[n_columns]
    if not row_lines or (j >= len(lines) and len(row_lines) < expected_rows and last < expected_rows - 1):
        nxt = ROW_LETTERS[last + 1] if last + 1 < expected_rows else ROW_LETTERS[0]
        return _Miss(j + 1, f"the grid whose header is on line {i + 1} ends before row {nxt}")
    filled = [t for t in values.values() if t]
    decimal_comma = delimiter != "," and decimal_comma_of(filled)
    numeric = sum(parse_signal(t, decimal_comma=decimal_comma).value is not None for t in filled)
    if numeric == 0 or numeric * 2 < len(filled):
        return _Miss(i + 1, f"the grid headed on line {i + 1} holds text, not readings")
    return Grid(
        i + 1, n_columns, values, row_lines, lettered, decimal_comma, temperature, printed, block, blocks
    )


def lettered_row(lines: list[str], j: int, delimiter: str, k: int) -> str | None:
    """The row letter (A..P) line ``j`` starts with, in the ``k`` cells before column 1, else None."""
    if j >= len(lines):
        return None
    prefix = [c.upper() for c in _split(lines[j], delimiter)[:k]]
    return next((c for c in prefix if len(c) == 1 and c in ROW_LETTERS), None)


def first_grid(lines: list[str]) -> Grid | None:
    """The first grid of the text (``find_grids(lines)[0][0]``), without looking further."""
    for i in range(len(lines)):
        found = _grid_at(lines, i)
        if isinstance(found, Grid):
            return found
    return None


def find_grids(lines: list[str]) -> tuple[list[Grid], list[_Miss]]:
    """Every grid in the text, in order, and the candidate headers that were not grids."""
    grids: list[Grid] = []
    misses: list[_Miss] = []
    i = 0
    while i < len(lines):
        found = _grid_at(lines, i)
        if isinstance(found, Grid):
            grids.append(found)
            for b in range(1, found.blocks):
                beside = _grid_at(lines, i, b)
                if isinstance(beside, Grid):
                    grids.append(beside)
            i = found.end_line
            continue
        if isinstance(found, _Miss):
            misses.append(found)
        i += 1
    return grids, misses


@dataclass(frozen=True)
class _Header:
    fields: dict[str, str]  # PlateInfo field / "analyte" / "wavelength" → value
    extra: dict[str, str]
    softmax_mode: str | None  # "Absorbance", "Luminescence", … from a SoftMax "Plate:" block line
    softmax_wavelengths: list[str]
    softmax_read_type: str | None = None  # "Endpoint", "Kinetic", "Spectrum", "Well Scan"


# Reads a grid cannot hold as one endpoint value per well (SoftMax read types and modes, lower-cased).
_NOT_ENDPOINT = {
    "kinetic": "a kinetic read (a reading per time point)",
    "spectrum": "a spectrum (a reading per wavelength)",
    "well scan": "a well scan (several readings per well)",
    "time resolved": "a time-resolved fluorescence read",
}


def _not_endpoint(header: _Header) -> str | None:
    """What a SoftMax block holds when it is not an endpoint read, else None."""
    for word in (header.softmax_read_type, header.softmax_mode):
        if word and word.casefold() in _NOT_ENDPOINT:
            return _NOT_ENDPOINT[word.casefold()]
    return None


def _parse_header(lines: list[str]) -> _Header:
    """Key: value lines above the grid (``Plate:``, ``Assay:``, ``Analyte:``, ``Wavelength:``…)."""
    fields: dict[str, str] = {}
    extra: dict[str, str] = {}
    mode: str | None = None
    read_type: str | None = None
    wavelengths: list[str] = []
    for line in lines:
        kv = key_value(line)
        if kv is None:
            continue
        rest, values = kv.cells, kv.values
        if kv.key == "plate" and any(c in ("PlateFormat", "TimeFormat") for c in rest):
            # SoftMax Pro block header: Plate:<tab>name<tab>version<tab>PlateFormat<tab>Endpoint<tab>mode…
            if rest and rest[0]:
                fields.setdefault(
                    "block_name", rest[0]
                )  # SoftMax's plate name ("Plate1": unique in the file only)
            if len(rest) > 3:
                read_type = rest[3] or read_type
            if len(rest) > 4:
                mode = rest[4] or mode
            if len(rest) > 14:
                wavelengths = _WAVELENGTH_RE.findall(rest[14])
            continue
        if not values:
            continue
        value = values[0] if kv.key != "wavelength" else " ".join(values)
        target = HEADER_FIELDS.get(kv.key)
        if target is None:
            extra.setdefault(kv.name, value)
        else:
            fields.setdefault(target, value)
    return _Header(fields, extra, mode, wavelengths, read_type)


def _signal_kind(header: _Header, block: int = 0) -> str:
    """OD450 from ``Wavelength: 450 nm`` (``RFU 485/528`` from ``Wavelength: 485/528`` in a fluorescence
    block); SoftMax blocks name their read mode and list their wavelengths (``block``: the n-th grid printed
    side by side); plain OD otherwise."""
    wl = header.fields.get("wavelength")
    found = _WAVELENGTH_RE.findall(wl) if wl else []
    mode = (header.softmax_mode or "").lower()
    if mode.startswith("lum"):
        return "RLU"
    if mode.startswith("fluor"):
        return f"RFU {found[0]}/{found[1]}" if len(found) == 2 else "RFU"
    found = found or header.softmax_wavelengths
    if block < len(found):
        return f"OD{found[block]}"
    return f"OD{found[0]}" if found else "OD"


def _no_signal_flag(text: str) -> str:
    """``no_reading`` for an empty cell; a cell holding text (``#SAT``, ``Range?``) is kept apart so that a
    saturated well is not mistaken for a missing one (the text itself is in the read warnings)."""
    return "no_reading" if not text else "signal_not_numeric"


class PlateReaderGridReader:
    """Reads an OD grid (any plate reader's text export) and joins it to the plate map beside it."""

    name: ClassVar[str] = FORMAT
    label: ClassVar[str] = "Plate-reader grid export (OD) with plate map"

    def sniff(self, text_head: str, file: FileInput) -> Sniff:
        try:
            if looks_like_platemap(text_head):
                return Sniff(False, "this is a plate map (plater format): it is read with its export")
            g = first_grid(split_lines(text_head))
        except Exception:  # sniffing is a guess: a malformed head is simply not ours
            return Sniff(False, _GRID_REASON)
        if g is None:
            return Sniff(False, _GRID_REASON)
        last = ROW_LETTERS[g.n_rows - 1]
        return Sniff(
            True,
            f"found a 1..{g.n_columns} header row on line {g.header_line} followed by rows A..{last}",
            SNIFF_SCORE,
        )

    def read(self, file: FileInput) -> ReadResult:
        return read_guarded(
            file,
            lambda: self._read(file),
            what="this plate-reader export",
            todo=(
                "Re-export the plate as a text grid (header row 1..12, rows A..H) and upload it again with "
                "its plate map."
            ),
        )

    def _read(self, file: FileInput) -> ReadResult:
        text = decode(file.data)
        if looks_like_platemap(text):
            raise ReaderError(
                "this file is a plate map, not a plate-reader export: upload it together with the export "
                f"it describes, named like '<export name>{PLATEMAP_SUFFIXES[0]}'",
                file=file.name,
            )
        lines = split_lines(text)
        grids, misses = find_grids(lines)
        if not grids:
            if misses:
                m = misses[0]
                raise ReaderError(
                    f"{m.reason}; {_GRID_REASON}. Re-export the full plate grid.", file=file.name, line=m.line
                )
            raise ReaderError(
                f"no plate grid found: {_GRID_REASON}. Export the plate as a grid (not a list or kinetic "
                "table).",
                file=file.name,
            )
        warnings: list[str] = []
        plates = self._plates(lines, grids, file.name, warnings)
        platemap: PlateMap | None = None
        companions: list[str] = []
        try:
            map_name, map_bytes = find_platemap(file)
        except ReaderError as missing:
            # Still show what the grids hold (inspect, the upload verdict); with no sample identities the
            # pipeline quarantines the plate with the same reason.
            warnings.append(missing.reason)
        else:
            platemap = parse_platemap(decode(map_bytes), name=map_name)
            companions = [map_name]
            warnings += list(platemap.warnings)
            if len(plates) > 1:
                warnings.append(
                    f"the plate map {map_name!r} was applied to each of the {len(plates)} plates of this "
                    f"file ({', '.join(p.plate_id for p in plates)}): check that they share one layout"
                )
        frames: list[pl.DataFrame] = []
        analyte_missing = False
        for plate in plates:
            for kind, grid in plate.grids:
                if grid.partial:
                    warnings.append(
                        f"plate {plate.plate_id}: the grid on line {grid.header_line} is a partial plate (no "
                        f"{grid.partial}); the wells it has were read"
                    )
                if platemap is None:
                    frames.append(self._grid_only_rows(file.name, grid, plate, kind))
                    analyte_missing |= not plate.header.fields.get("analyte")
                else:
                    df, no_analyte = self._rows(file.name, grid, platemap, plate, kind, warnings)
                    frames.append(df)
                    analyte_missing |= no_analyte
        if analyte_missing:
            warnings.append(
                f"{NO_ANALYTE}: add an 'Analyte: <name>' line above the grid, or an 'analyte' block to the "
                "plate map; otherwise the assay comes from configuration (--assay, config/assays.yaml)"
            )
        infos = [
            PlateInfo(
                plate_id=p.plate_id,
                protocol=p.header.fields.get("protocol"),
                instrument=p.header.fields.get("instrument"),
                acquired_at=p.header.fields.get("acquired_at"),
                operator=p.header.fields.get("operator"),
                kit_lot=p.header.fields.get("kit_lot"),
                extra={
                    **p.header.extra,
                    **({"temperature": p.grids[0][1].temperature} if p.grids[0][1].temperature else {}),
                },
            )
            for p in plates
        ]
        return ReadResult(
            format=FORMAT, wells=pl.concat(frames), plates=infos, companions=companions, warnings=warnings
        )

    @staticmethod
    def _plates(lines: list[str], grids: list[Grid], name: str, warnings: list[str]) -> list[_Plate]:
        """Grids → plates: a ``Plate:`` line between two grids starts another plate; within a plate each
        grid of another wavelength/read mode is its own signal, a repeat of the same one (SoftMax's reduced
        copy) is only reported."""
        plates: list[_Plate] = []
        skipped: list[tuple[int, str]] = []  # (header line, what the grid holds)
        shared = _parse_header(lines[: grids[0].header_line - 1])
        prev_end = 0
        for g in grids:
            between = lines[prev_end : g.header_line - 1]
            own = _parse_header(between) if prev_end else shared
            header = _Header(
                {**shared.fields, **own.fields},
                {**shared.extra, **own.extra},
                own.softmax_mode or shared.softmax_mode,
                own.softmax_wavelengths or shared.softmax_wavelengths,
                own.softmax_read_type or shared.softmax_read_type,
            )
            prev_end = g.end_line
            if (what := _not_endpoint(header)) is not None:
                skipped.append((g.header_line, what))
                continue
            kind = _signal_kind(header, g.block)
            if g.block and any(k == kind for k, _ in (plates[-1].grids if plates else [])):
                kind = f"{kind} #{g.block + 1}"  # the same wavelength read again, side by side
            new_plate = not plates or any(_PLATE_LINE_RE.match(ln) for ln in between)
            if new_plate:
                plates.append(_Plate(header, []))
            plate = plates[-1]
            same = next((h for k, h in plate.grids if k == kind), None)
            if same is None:
                plate.grids.append((kind, g))
            elif g.values != same.values:
                warnings.append(
                    f"a second {kind} grid on line {g.header_line} (reduced data?) differs from the one on "
                    f"line {same.header_line}; the first was read"
                )
        if skipped and not plates:
            raise ReaderError(
                f"this export holds {skipped[0][1]}, not an endpoint reading per well: the grid reader does "
                "not load it. Export an endpoint read, or the instrument's reduced values.",
                file=name,
                line=skipped[0][0],
            )
        if skipped:
            warnings.append(
                "grids that are not endpoint readings, not loaded: "
                + "; ".join(f"line {line}: {what}" for line, what in skipped)
            )
        stem_name = stem(name)
        used: set[str] = set()
        for n, p in enumerate(plates, start=1):
            pid = p.header.fields.get("plate_id") or (
                stem_name if len(plates) == 1 else p.header.fields.get("block_name") or f"{stem_name}-{n}"
            )
            while pid in used:
                pid = f"{pid}-{n}"
            used.add(pid)
            p.plate_id = pid
        return plates

    @staticmethod
    def _grid_only_rows(name: str, grid: Grid, plate: _Plate, kind: str) -> pl.DataFrame:
        """Every well of a grid without a plate map: signals only, no sample identities."""
        origin = Origin(name, FORMAT, plate.plate_id)
        unknown = Sample(None, "unknown")
        analyte = plate.header.fields.get("analyte") or ""
        records = []
        for w in grid.values:
            signal = grid.signal(w)
            flag = "no_platemap" if signal is not None else _no_signal_flag(grid.values[w])
            reading = Reading(w, grid.row_lines[w[0]], analyte, signal, kind)
            records.append(signal_row(origin, unknown, reading, [flag]))
        return conform(pl.DataFrame(records, infer_schema_length=None))

    @staticmethod
    def _rows(
        name: str, grid: Grid, platemap: PlateMap, plate: _Plate, kind: str, warnings: list[str]
    ) -> tuple[pl.DataFrame, bool]:
        """The mapped wells of one grid, and whether some have no analyte (neither export nor map names
        it: the analyte is then left to configuration)."""
        if platemap.n_columns != grid.n_columns:
            raise ReaderError(
                f"the plate map {platemap.name!r} describes a {platemap.n_columns * platemap.n_rows}-well "
                f"plate but the export's grid has {grid.n_columns * grid.n_rows} wells; upload the map of "
                "this plate",
                file=name,
                line=grid.header_line,
            )
        header_analyte = plate.header.fields.get("analyte")
        named = platemap.named_wells()
        if not named:
            raise ReaderError(
                "the plate map names no sample in any well (give a sample_id or sample_type block)",
                file=platemap.name,
            )
        no_std_conc = [
            w for w in named if platemap.sample_type(w) == "standard" and platemap.expected_conc(w) is None
        ]
        if no_std_conc:
            warnings.append(f"standard wells without expected_conc (not usable for the curve): {no_std_conc}")
        unreadable = {w: grid.values[w] for w in named if grid.values.get(w) and grid.signal(w) is None}
        if unreadable:
            warnings.append(f"cells that are not readings (kept as not reported): {unreadable}")
        outside = [w for w in named if w not in grid.values]
        if outside:
            warnings.append(
                f"plate {plate.plate_id}: mapped wells outside the partial grid (no reading): {outside[:12]}"
            )
        origin = Origin(name, FORMAT, plate.plate_id)
        records = []
        for w in named:
            signal = grid.signal(w)
            text = grid.values.get(w)
            flags = [] if signal is not None else ["not_in_grid" if text is None else _no_signal_flag(text)]
            analyte = header_analyte or platemap.analyte(w) or ""
            reading = Reading(w, grid.row_lines.get(w[0], grid.header_line), analyte, signal, kind)
            records.append(signal_row(origin, Sample.of_platemap(platemap, w), reading, flags))
        no_analyte = header_analyte is None and any(platemap.analyte(w) is None for w in named)
        return conform(pl.DataFrame(records, infer_schema_length=None)), no_analyte


@dataclass
class _Plate:
    """One plate of the file: its header (shared lines above the first grid, then its own) and its grids,
    one per signal kind."""

    header: _Header
    grids: list[tuple[str, Grid]]
    plate_id: str = ""
