"""MSD (Meso Scale Discovery) instrument data files: the ECL grids a MESO QuickPlex / Sector ("Methodical
Mind") reader writes, before any Discovery Workbench analysis (that export: readers/msd_workbench.py).

**MsdRawReader** (``msd_raw``) — the instrument's text file, as MSD documents it:

* a header of ``Key :<tab>value`` lines (``FileName``, ``Plate #``, ``Barcode1`` ``<*22M0TALA85N*>``,
  ``Type`` ``96`` / ``384`` / ``96 Multi-Spot 10``, ``Wells Per Row``, ``Wells Per Col``, ``Spots Per Well``,
  ``Read Time``, ``User``, ``Model``, ``SpotID`` …; a spot ``Legend`` drawn over several lines is ignored);
  a literal ``\\t`` written after the colon is an escaped tab, not part of the value;
* a ``==========Data====`` line, then a grid of ECL counts: a header row of column numbers and one row per
  plate row, labelled by its letter;
* then ``==========Processing`` / ``Statistics`` / ``Camera Status`` / ``Waveform/Current`` sections
  (ignored); several plates, or several spot tables of one plate, follow one another, each with its header.

What the grid may hold (all read):

* **a partial plate**: the header row names only the columns read (``1 2 3``, or ``5 6 7``), rows may be
  absent (``A C E G``); each well is read at the position its row letter and column number give. Rows come
  in plate order; a row cut short (fewer cells than the header has columns) is an error.
* **96 or 384 wells**: the plate size is the ``Type``'s number (96/384), else 384 when a column above 12
  or a row after H is printed; the plate map must be of the same size.
* **several spots per well**: a multi-spot plate prints, under each row letter, one unlabelled sub-row per
  spot position (empty ones included) — sub-row *k* is spot *k*; or the file gives one grid per spot
  (``SpotID : 3``), each its own spot table.

A grid ends at the next ``=====`` section, at the next plate's header, or at the end of the file. Ending at
the end of the file is where a cut file shows: the grid must then hold every row the header announces
(``Wells Per Col``, else every row of the plate size), and its last row every spot sub-row the other rows
have; a line cut inside (no line break after the last row) is an error too.

Signals only: one row per well × spot, ``signal_kind="ECL"``, qualifier ``NR``, no unit. plate_id = the
plate barcode (``Barcode1``, markers ``<* *>`` stripped), else ``<file stem>-P<Plate #>``; grids of the
same plate with different spots (spot tables) are one plate; the same plate read twice gets ``-2``, ``-3``…

A raw grid has no plate map: wells come out with ``sample_id`` null, ``sample_type`` "unknown" and a
warning, unless the plate map is delivered beside the export (plater format, readers/platemap.py) under
``<stem>_<plate_id>_platemap.csv``, ``<plate_id>_platemap.csv`` or ``<stem>_platemap.csv`` — then only the
wells the map names are read, with its sample_id, sample_type, expected_conc and dilution (an unknown the
map gives no dilution: 1 and the flag ``dilution_missing``). The analyte is the map's ``analyte`` for
single-spot plates, else ``Spot <n>`` (the file does not name it).

Everything a lab can fix (a row cut short, a row that is not a row letter, a grid that ends early) raises
:class:`ReaderError` with the line; any other failure is wrapped into one, so no raw exception escapes.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any, ClassVar

import polars as pl

from readers.base import FileInput, PlateInfo, ReaderError, ReadResult, Sniff
from readers.platemap import PLATE_SHAPES, ROW_LETTERS, PlateMap, find_platemap, parse_platemap
from readers.text import decode, split_lines
from readers.tokens import parse_number
from readers.toolkit.cells import stem
from readers.toolkit.dilution import DILUTION_MISSING, missing_dilution_flag
from readers.toolkit.guarded_reader import GuardedReader, ReaderTexts
from readers.toolkit.headers import KeyValue, key_value
from readers.toolkit.plates import plate_info
from readers.toolkit.records import Origin, Reading, Sample, signal_row
from readers.toolkit.text_lines import LineParse, is_blank_line, trimmed_cells
from schemas.wells import WELL_SCHEMA, conform

RAW = "msd_raw"
RAW_SCORE = 90  # must beat the generic plate-reader grid reader (10), which also sees a grid here
SIGNAL_KIND = "ECL"

_RAW_LOOKED_FOR = (
    "looked for an MSD instrument file: 'Key :<tab>value' header lines (Barcode1, Plate #, Read Time…) "
    "and a '==========Data====' line followed by a plate grid"
)
_TEXTS = ReaderTexts(
    looked_for=_RAW_LOOKED_FOR,
    what="this file as an MSD instrument data file",
    todo="Upload the unedited .txt file the MSD instrument wrote.",
)
_DATA_MARK_RE = re.compile(r"^\s*=+\s*Data\s*=*\s*$", re.IGNORECASE)
_SECTION_MARK_RE = re.compile(r"^\s*={3,}")
_PLATE_TYPE_RE = re.compile(r"^\s*(96|384)\b")
# Header keys MSD documents, as written; looked up by their lower-cased form (toolkit/headers.key_value).
_RAW_NAMES = (
    "FileName", "Stack ID", "Plate #", "Barcode1", "Barcode2", "Barcode3", "Type", "Wells Per Row",
    "Wells Per Col", "Spots Per Well", "Det Param", "Read Time", "Version", "User", "Comments", "Serial #",
    "Model", "Orient", "SpotID",
)  # fmt: skip
_RAW_KEYS = {name.lower(): name for name in _RAW_NAMES}
_PLATE_FIELDS = {"instrument": "Model", "acquired_at": "Read Time", "operator": "User"}  # the rest: extra
_RAW_SNIFF_KEYS = ("barcode1", "plate #", "stack id", "read time", "spots per well", "det param")


def _raw_value(kv: KeyValue) -> str:
    """Header value: its tab-separated cells joined by a space. A literal ``\\t`` after the colon (as
    written in some files, e.g. the public test file) is a tab that was escaped, not part of the value."""
    cells = list(kv.values)
    while cells and cells[0].startswith("\\t"):
        cells[0] = cells[0][2:].strip()
        if not cells[0]:
            cells.pop(0)
    return " ".join(c for c in cells if c)


def _barcode(text: str | None) -> str:
    return (text or "").strip().strip("<>").strip("*").strip()


def _count(text: str | None) -> int | None:
    """A positive whole number from a header value (``Wells Per Col : 8``), else None."""
    v = parse_number(text or "")
    return int(v) if v is not None and v >= 1 and v == int(v) else None


def column_numbers(cells: list[str]) -> list[int] | None:
    """The grid's header row → its column numbers (strictly increasing, 1..24; trailing empty cells
    allowed); None when the row is not such a header (its first cell must be empty)."""
    if not cells or cells[0]:
        return None
    body = cells[1:]
    while body and not body[-1]:
        body.pop()
    numbers: list[int] = []
    for c in body:
        if not c.isdigit() or not 1 <= int(c) <= 24 or (numbers and int(c) <= numbers[-1]):
            return None
        numbers.append(int(c))
    return numbers or None


def plate_columns(type_text: str | None, columns: list[int], letters: list[str]) -> int:
    """Columns of the plate (12 for 96 wells, 24 for 384): the ``Type``'s number, or what the grid prints
    when that is larger (a column above 12 or a row after H is a 384-well plate)."""
    m = _PLATE_TYPE_RE.match(type_text or "")
    declared = 24 if m and m.group(1) == "384" else 12
    printed = 24 if max(columns) > 12 or any(ROW_LETTERS.index(r) >= 8 for r in letters) else 12
    return max(declared, printed)


@dataclass
class _RawGrid:
    marker_line: int  # 1-based line of ==========Data
    header: dict[str, str]  # canonical key → value
    n_columns: int  # columns of the plate (12 or 24), not only those printed
    values: dict[tuple[str, int], tuple[str, int]]  # (well, spot) → (cell text, 1-based line)
    plate_id: str = ""


def _sniff_raw(text_head: str, file: FileInput | None = None) -> Sniff:
    lines = split_lines(text_head.lstrip("\ufeff"))[:400]
    keys = set()
    marker = None
    for i, line in enumerate(lines):
        if _DATA_MARK_RE.match(line):
            marker = i + 1
            break
        kv = key_value(line)
        if kv:
            keys.add(kv.key)
    found = [k for k in _RAW_SNIFF_KEYS if k in keys]
    if marker is not None and len(found) >= 2:
        return Sniff(
            True, f"MSD instrument header ({', '.join(found)}) and a Data grid on line {marker}", RAW_SCORE
        )
    return Sniff(False, _RAW_LOOKED_FOR)


class _Raw(LineParse):
    def grids(self) -> list[_RawGrid]:
        grids: list[_RawGrid] = []
        start = 0
        for idx, line in enumerate(self.lines):
            if idx < start or not _DATA_MARK_RE.match(line):
                continue
            header: dict[str, str] = {}
            for text in self.lines[start:idx]:
                kv = key_value(text)
                if kv and kv.key in _RAW_KEYS:
                    header[_RAW_KEYS[kv.key]] = _raw_value(kv)
            grid, end = self.grid(idx, header)
            grids.append(grid)
            start = end
        return grids

    def grid(self, marker: int, header: dict[str, str]) -> tuple[_RawGrid, int]:
        """The grid after the Data line at index ``marker``, and the index where it ends."""
        i = marker + 1
        while i < len(self.lines) and is_blank_line(self.lines[i]):
            i += 1
        if i >= len(self.lines):
            raise self.error("the Data section is empty: the file looks truncated", marker + 1)
        delimiter = "\t" if "\t" in self.lines[i] else ","
        columns = column_numbers(trimmed_cells(self.lines[i], delimiter))
        if columns is None:
            raise self.error(
                "expected the grid's header row of column numbers (1..12 or 1..24, or the columns read) "
                f"after the Data line, found {self.lines[i][:60]!r}",
                i + 1,
            )
        width = len(columns)
        rows: list[tuple[str, int]] = []  # (row letter, 1-based line of its label)
        subs: list[int] = []  # sub-rows (spot positions) printed under each row
        cells_at: dict[tuple[str, int, int], tuple[str, int]] = {}  # (letter, sub-row, column) → text, line
        j = i + 1
        while j < len(self.lines):
            line = self.lines[j]
            if _SECTION_MARK_RE.match(line) or key_value(line):
                break
            if not line.strip() and delimiter not in line:  # a separator line; an empty sub-row has cells
                j += 1
                continue
            cells = trimmed_cells(line, delimiter)
            label = cells[0].upper()
            if label:
                after = ROW_LETTERS.index(rows[-1][0]) + 1 if rows else 0
                if len(label) != 1 or label not in ROW_LETTERS[after:]:
                    nxt = ROW_LETTERS[after] if after < len(ROW_LETTERS) else None
                    raise self.error(
                        f"expected row {nxt or '(none: the grid is complete)'} (or a later row letter) of "
                        f"the grid headed on line {i + 1}, found {line[:40]!r}",
                        j + 1,
                    )
                rows.append((label, j + 1))
                subs.append(1)
            elif not rows:
                raise self.error(
                    f"an unlabelled row before the first row of the grid headed on line {i + 1}", j + 1
                )
            else:
                subs[-1] += 1
            row = cells[1:]
            letter = rows[-1][0]
            if any(row[width:]):
                raise self.error(
                    f"row {letter} has values beyond column {columns[-1]}, the last column of the grid's "
                    f"header on line {i + 1}",
                    j + 1,
                )
            if not any(row):
                if label:
                    raise self.error(f"row {label} of the grid headed on line {i + 1} is empty", j + 1)
                j += 1
                continue
            if len(row) < width:
                raise self.error(
                    f"row {letter} has {len(row)} of {width} columns: it is cut short. Upload the complete "
                    "file the instrument wrote.",
                    j + 1,
                )
            if j == len(self.lines) - 1:  # no line break after a row: the file was cut inside it
                raise self.error(
                    f"the file ends inside row {letter} of the grid headed on line {i + 1}: it looks "
                    "truncated. Upload the complete file the instrument wrote.",
                    j + 1,
                )
            for k, c in enumerate(columns):
                cells_at[(letter, subs[-1], c)] = (row[k], j + 1)
            j += 1
        if not rows:
            raise self.error(
                f"the grid headed on line {i + 1} has no rows: the file looks truncated. Upload the complete "
                "file the instrument wrote.",
                i + 1,
            )
        n_columns = plate_columns(header.get("Type"), columns, [r for r, _ in rows])
        n_rows = PLATE_SHAPES[n_columns]
        if j >= len(self.lines):
            self.check_complete_at_end(_count(header.get("Wells Per Col")) or n_rows, rows, subs, i + 1)
        declared = _PLATE_TYPE_RE.match(header.get("Type") or "")
        if declared and int(declared.group(1)) != n_columns * n_rows:
            self.warnings.append(
                f"the grid headed on line {i + 1} prints column {columns[-1]} and row {rows[-1][0]} but the "
                f"header says Type {header.get('Type')!r}: read as a {n_columns * n_rows}-well plate"
            )
        values = {(f"{r}{c}", s): v for (r, s, c), v in cells_at.items()}
        spot_id = _count(header.get("SpotID"))
        if {s for _, s in values} == {1} and spot_id is not None:
            values = {(w, spot_id): v for (w, _), v in values.items()}
        return _RawGrid(marker + 1, header, n_columns, values), j

    def check_complete_at_end(
        self, announced: int, rows: list[tuple[str, int]], subs: list[int], head_line: int
    ) -> None:
        """A grid that runs to the end of the file (no section after it) must hold every row the header
        announces (``Wells Per Col``, else the plate's rows), and its last row every spot sub-row the others
        have: otherwise the file was cut between two lines."""
        last, line = rows[-1]
        if len(rows) < announced:
            nxt = ROW_LETTERS[ROW_LETTERS.index(last) + 1] if ROW_LETTERS.index(last) + 1 < 16 else last
            raise self.error(
                f"the grid headed on line {head_line} ends before row {nxt} with the file ({len(rows)} of "
                f"{announced} rows, and no section after it): the file looks truncated. Upload the complete "
                "file the instrument wrote.",
                line,
            )
        if len(subs) > 1 and subs[-1] < max(subs[:-1]):
            raise self.error(
                f"row {last} of the grid headed on line {head_line} has {subs[-1]} of {max(subs[:-1])} spot "
                "rows and the file ends there: the file looks truncated. Upload the complete file the "
                "instrument wrote.",
                line,
            )

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
                f"'{stem(self.file.name)}_platemap.csv' with the file to identify the samples."
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
        missing = sorted({r["well"] for r in records if DILUTION_MISSING in (r["flags"] or "").split(";")})
        if missing:
            self.warnings.append(
                f"the plate map gives no dilution for {len(missing)} unknown-sample wells "
                f"({', '.join(missing[:8])}…): read as 1 and flagged dilution_missing; add the dilution "
                "block to the plate map"
            )
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
        base_name = stem(self.file.name) or "msd"
        spots_of: dict[str, set[int]] = {}
        for k, g in enumerate(grids, start=1):
            code = next(
                (b for key in ("Barcode1", "Barcode2", "Barcode3") if (b := _barcode(g.header.get(key)))), ""
            )
            plate_no = g.header.get("Plate #", "").strip() or str(k)
            base = code or f"{base_name}-P{plate_no}"
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
        """The plate map delivered for this plate (readers/platemap.py's lookup), if any."""
        base = stem(self.file.name)
        for name in (f"{base}_{plate_id}.txt", f"{plate_id}.txt", self.file.name):
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
            printed = {w for w, _ in keys}
            unread = [w for w in platemap.named_wells() if w not in printed] if platemap is not None else []
            if unread:
                self.warnings.append(
                    f"plate {plate_id}: {len(unread)} wells the plate map names are not in the file's grid "
                    f"(a partial plate), so they have no reading: {', '.join(unread[:8])}"
                    + ("…" if len(unread) > 8 else "")
                )
        origin = Origin(self.file.name, RAW, plate_id)
        out: list[dict[str, Any]] = []
        for well, spot in keys:
            if named is not None and well not in named:
                continue
            text, line = values[(well, spot)]
            signal = parse_number(text) if text else None
            analyte = platemap.analyte(well) if platemap is not None and len(spots) == 1 else None
            flags = [] if signal is not None else ["no_reading" if not text else "signal_not_numeric"]
            sample = Sample.of_platemap(platemap, well)
            if platemap is not None and platemap.value(well, "dilution") is None:
                flags.extend(f for f in [missing_dilution_flag(sample.sample_type)] if f)
            reading = Reading(well, line, analyte or f"Spot {spot}", signal, SIGNAL_KIND)
            out.append(signal_row(origin, sample, reading, flags))
        return out

    def plate_info(self, plate_id: str, group: list[_RawGrid]) -> PlateInfo:
        header: dict[str, str] = {}
        for g in group:
            for k, v in g.header.items():
                header.setdefault(k, v)
        extra = {k: v for k, v in header.items() if v and k not in _PLATE_FIELDS.values()}
        spot_ids = sorted({g.header.get("SpotID", "") for g in group} - {""})
        if len(spot_ids) > 1:
            extra["SpotID"] = ",".join(spot_ids)
        fields = {f: header.get(key, "") for f, key in _PLATE_FIELDS.items()}
        return plate_info(plate_id, fields, {"software": "MSD instrument", **extra})


class MsdRawReader(GuardedReader, texts=_TEXTS, recognise=_sniff_raw, parser=_Raw):
    """Reads the ECL grids of an MSD instrument data file (see module docstring)."""

    name: ClassVar[str] = RAW
    label: ClassVar[str] = "MSD instrument raw data file (ECL grid)"
