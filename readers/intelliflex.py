"""Luminex INTELLIFLEX per-well CSV export ("single dataset"): one row per well, MFI per bead region.

INTELLIFLEX writes two kinds of CSV. One is xPONENT's batch layout (``"Program","xPONENT","","Intelliflex"``
and ``DataType:`` sections), read by :mod:`readers.xponent`. This module reads the other, the instrument's
own per-well table (Luminex INTELLIFLEX software 2.x; the layout allotropy's INTELLIFLEX parser takes):

* one header line, then one line per acquired well, then an optional ``--DOCUMENT SIGNATURE--`` footer
  (serial number and data signature lines, ignored). Comma-delimited (``;`` and tab are taken too);
* per-well columns found by name, in any order, most optional: ``WELL LOCATION`` (required), ``SAMPLE ID``,
  ``PLATE NAME``, ``PLATE START``, ``WELL TYPE`` (``U1`` unknown, ``S2`` standard, ``C1`` control, ``B``
  background), ``DILUTION``, ``INSTRUMENT TYPE``, ``MODEL NAME``, ``SERIAL NUMBER``, ``SOFTWARE VERSION``,
  ``PROTOCOL NAME``, ``PANEL NAME``, ``ACTIVE USER``, ``PLATE STATUS`` …;
* per bead region and reporter channel, columns ``R<region>: RP<n> <statistic>``: ``MEDIAN`` (the MFI),
  ``COUNT`` (beads), and in version 2.2 ``ANALYTE NAME`` and ``REGION``; other statistics (``MEAN``,
  ``%CV``, ``NET MEDIAN``, ``AVERAGE MFI``, ``BACKGROUND`` …) are recomputed downstream and not read.

One output row per well × region/reporter (a dual-reporter instrument measures a different analyte on RP2):
``MEDIAN`` → ``signal`` (``signal_kind="MFI"``; ``NaN`` → null with ``signal_not_reported: …``);
``analyte_as_written`` = the channel's ``ANALYTE NAME`` (the first one the file gives: a dry well writes
``NaN``), else the channel label as written (``R25: RP1``, with a warning that the analyte is named only by
its bead region). ``COUNT`` below 35 beads → ``low_bead_count`` (the export gives no Min Events).
``DILUTION`` → ``dilution``: an empty/``NaN`` cell is 1 for standards, blanks and controls and 1 plus the
``dilution_missing`` flag for an unknown sample (:mod:`readers.toolkit.dilution`); no DILUTION column at
all → 1 with a warning (signals only, so nothing downstream is scaled by it before a curve is fitted).
This export carries no concentrations: every row has qualifier ``NR`` and no ``reported_text``.
``PLATE NAME`` → ``plate_id`` (several plates in one file each keep their own; none → the file stem).

Everything a lab can fix (no WELL LOCATION column, a location that is not a well, a row cut short, the same
well twice on a plate, a dilution that is not a positive number) raises :class:`ReaderError` with the line.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import ClassVar

import polars as pl

from readers.base import FileInput, PlateInfo, ReaderError, ReadResult, Sniff
from readers.text import decode, split_lines
from readers.tokens import parse_conc, parse_number
from readers.toolkit.cells import clean_note, delimiter_of, split_line, stem
from readers.toolkit.delimited import is_blank, norm_key, trim_cells, uses_decimal_comma
from readers.toolkit.dilution import (
    NOT_GIVEN,
    DilutionError,
    missing_dilution_flag,
    missing_dilution_warning,
    parse_dilution,
)
from readers.toolkit.guarded_reader import GuardedReader, ParseRun, ReaderTexts
from readers.toolkit.sample_codes import sample_type_from_code, sample_type_from_name
from readers.toolkit.wells import normalise_well
from schemas.wells import WELL_SCHEMA, conform

FORMAT = "intelliflex"
SNIFF_SCORE = 100
MIN_BEADS = 35.0  # bead-count floor: the per-well export states none (common kit guidance, as xPONENT's)

_CHANNEL_RE = re.compile(r"^\s*(R\d+\s*:\s*RP\d+)\s+(.+?)\s*$", re.IGNORECASE)
_SIGNATURE_RE = re.compile(r"^\s*-+\s*DOCUMENT\s+SIGNATURE\s*-+", re.IGNORECASE)

_LOOKED_FOR = (
    "looked for a Luminex INTELLIFLEX per-well CSV: a header line naming WELL LOCATION, SAMPLE ID and "
    "'R<region>: RP<n> MEDIAN' columns"
)


@dataclass
class _Channel:
    label: str  # "R25: RP1" as written
    median: int | None = None
    count: int | None = None
    name: int | None = None  # ANALYTE NAME column


def _channels(header: list[str]) -> dict[str, _Channel]:
    out: dict[str, _Channel] = {}
    for j, cell in enumerate(header):
        m = _CHANNEL_RE.match(cell)
        if not m:
            continue
        label = re.sub(r"\s*:\s*", ": ", m.group(1).strip()).upper()
        ch = out.setdefault(label, _Channel(label))
        stat = norm_key(m.group(2))
        if stat == "median" and ch.median is None:
            ch.median = j
        elif stat == "count" and ch.count is None:
            ch.count = j
        elif stat == "analyte name" and ch.name is None:
            ch.name = j
    return {k: c for k, c in out.items() if c.median is not None}


_TEXTS = ReaderTexts(
    looked_for=_LOOKED_FOR,
    what="this file as a Luminex INTELLIFLEX per-well CSV export",
    todo="Check that it is an unedited INTELLIFLEX CSV export and export it again.",
)


def _recognise(text_head: str, file: FileInput) -> Sniff:
    lines = [ln for ln in split_lines(text_head.lstrip("\ufeff"))[:5] if ln.strip()]
    if not lines:
        return Sniff(False, _LOOKED_FOR)
    header = [norm_key(c) for c in split_line(lines[0], delimiter_of(lines[0]))]
    if "well location" in header and "sample id" in header and _channels(header):
        return Sniff(
            True, "INTELLIFLEX per-well header (WELL LOCATION, R<region>: RP<n> MEDIAN)", SNIFF_SCORE
        )
    return Sniff(False, _LOOKED_FOR)


class _Parse(ParseRun):
    def __init__(self, file: FileInput) -> None:
        super().__init__(file)
        self.col: dict[str, int] = {}
        lines = split_lines(decode(file.data).lstrip("\ufeff"))
        self.lines = lines
        first = next((i for i, ln in enumerate(lines) if ln.strip()), None)
        if first is None:
            raise self.error("the file is empty. Export the plate again from the INTELLIFLEX software.")
        self.header_at = first
        self.delimiter = delimiter_of(lines[first])
        self.decimal_comma = uses_decimal_comma("\n".join(lines), self.delimiter)

    def error(self, message: str, line: int | None = None) -> ReaderError:
        return ReaderError(message, file=self.file.name, line=line)

    def number(self, text: str) -> float | None:
        return parse_number(text, decimal_comma=self.decimal_comma)

    def run(self) -> ReadResult:
        header = trim_cells([c.strip() for c in split_line(self.lines[self.header_at], self.delimiter)])
        keys = [norm_key(c) for c in header]
        col = {k: j for j, k in reversed(list(enumerate(keys)))}  # first occurrence wins
        self.col = col
        if "well location" not in col:
            raise self.error(
                "the header has no WELL LOCATION column, so no value can be placed on the plate. Export the "
                "plate again from the INTELLIFLEX software without editing the columns.",
                self.header_at + 1,
            )
        channels = _channels(header)
        if not channels:
            raise self.error(
                "the header has no 'R<region>: RP<n> MEDIAN' column, so there is no MFI to read. Export the "
                "plate with the Median statistic selected.",
                self.header_at + 1,
            )
        width = len(header)
        body: list[tuple[int, list[str]]] = []
        for i in range(self.header_at + 1, len(self.lines)):
            line = self.lines[i]
            if _SIGNATURE_RE.match(line):
                break
            cells = split_line(line, self.delimiter)
            if is_blank(cells):
                continue
            if len(cells) < width:
                raise self.error(
                    f"this row has {len(cells)} fields but the header has {width}: the row is cut short, so "
                    "the file looks truncated or edited. Export the plate again.",
                    i + 1,
                )
            body.append((i + 1, cells))
        if not body:
            raise self.error(
                "the export lists no wells under its header. Export the plate again after the run."
            )

        names = self.analyte_names(channels, body)
        rows: list[dict[str, object]] = []
        seen: dict[tuple[str, str], int] = {}
        plates: dict[str, list[str]] = {}
        n_missing = n_default = 0
        for line_no, cells in body:
            loc = self.cell(cells, "well location")
            well = normalise_well(loc)
            if well is None:
                raise self.error(
                    f"WELL LOCATION {loc!r} is not a plate well (expected A1…P24). Check that the export is "
                    "not damaged and export it again.",
                    line_no,
                )
            plate_id = self.cell(cells, "plate name") or stem(self.file.name)
            if (plate_id, well) in seen:
                raise self.error(
                    f"well {well} of plate {plate_id!r} appears twice (lines {seen[(plate_id, well)]} and "
                    f"{line_no}); the file looks edited. Export the plate again.",
                    line_no,
                )
            seen[(plate_id, well)] = line_no
            plates.setdefault(plate_id, cells)
            sample_id = self.cell(cells, "sample id") or None
            flags: list[str] = []
            code = self.cell(cells, "well type")
            stype = sample_type_from_code(code, unknown_letters="UX") if code else None
            if stype is None:
                if code:
                    flags.append(f"type_unrecognised: {clean_note(code)}")
                stype = sample_type_from_name(sample_id)
            dilution = self.dilution(self.cell(cells, "dilution"), line_no) if "dilution" in col else 1.0
            if dilution is None:
                dilution = 1.0
                if (flag := missing_dilution_flag(stype)) is not None:
                    flags.append(flag)
                    n_missing += 1
                else:
                    n_default += 1
            for ch in channels.values():
                rows.append(
                    self.row(
                        line_no, cells, ch, names[ch.label], plate_id, well, sample_id, stype, dilution, flags
                    )
                )
        if "dilution" not in col:
            self.warnings.append("the export has no DILUTION column: dilution 1 assumed for every well")
        if (warning := missing_dilution_warning(n_missing, n_default)) is not None:
            self.warnings.append(warning)
        self.warnings.append("the INTELLIFLEX per-well export carries MFI only: no concentrations are read")
        df = pl.DataFrame(rows, schema=WELL_SCHEMA)
        return ReadResult(
            format=FORMAT,
            wells=conform(df),
            plates=[self.plate(pid, cells) for pid, cells in plates.items()],
            warnings=self.warnings,
        )

    def analyte_names(
        self, channels: dict[str, _Channel], body: list[tuple[int, list[str]]]
    ) -> dict[str, str]:
        """Channel label → analyte name: the first ANALYTE NAME the file gives (dry wells write NaN), else
        the label itself."""
        out: dict[str, str] = {}
        unnamed: list[str] = []
        for label, ch in channels.items():
            given = (
                [c[ch.name].strip() for _, c in body if c[ch.name].strip().casefold() not in NOT_GIVEN]
                if ch.name is not None
                else []
            )
            if given:
                out[label] = given[0]
                if len(set(given)) > 1:
                    self.warnings.append(
                        f"{label} is named {', '.join(sorted(set(given)))} in different wells; "
                        f"{given[0]!r} (the first) is used"
                    )
            else:
                out[label] = label
                unnamed.append(label)
        if unnamed:
            shown = ", ".join(unnamed[:6]) + (f" … ({len(unnamed)})" if len(unnamed) > 6 else "")
            self.warnings.append(
                f"the export names {shown} only by bead region and reporter: map them to analytes in the "
                "assay configuration"
            )
        return out

    def dilution(self, text: str, line_no: int) -> float | None:
        try:
            return parse_dilution(
                text, column="DILUTION", software="the INTELLIFLEX software", decimal_comma=self.decimal_comma
            )
        except DilutionError as exc:
            raise self.error(str(exc), line_no) from exc

    def row(
        self,
        line_no: int,
        cells: list[str],
        ch: _Channel,
        analyte: str,
        plate_id: str,
        well: str,
        sample_id: str | None,
        stype: str,
        dilution: float,
        well_flags: list[str],
    ) -> dict[str, object]:
        flags = list(well_flags)
        assert ch.median is not None  # _channels keeps only channels with a MEDIAN column
        mtext = cells[ch.median].strip()
        signal = self.number(mtext)
        if signal is None:
            flags.append("signal_not_reported: " + clean_note(parse_conc(mtext).note or "not a number"))
        if ch.count is not None:
            count = self.number(cells[ch.count])
            if count is not None and count < MIN_BEADS:
                flags.append("low_bead_count")
        return {
            "source_file": self.file.name,
            "format": FORMAT,
            "plate_id": plate_id,
            "well": well,
            "row_number": line_no,
            "sample_id": sample_id,
            "sample_type": stype,
            "analyte_as_written": analyte,
            "signal": signal,
            "signal_kind": "MFI",
            "qualifier": "NR",
            "extrapolated": False,
            "dilution": dilution,
            "dilution_applied": False,
            "flags": ";".join(flags) or None,
        }

    def cell(self, cells: list[str], key: str) -> str:
        j = self.col.get(key)
        return cells[j].strip() if j is not None else ""

    def plate(self, plate_id: str, cells: list[str]) -> PlateInfo:
        def first(*keys: str) -> str | None:
            for k in keys:
                v = self.cell(cells, k)
                if v and v.casefold() not in NOT_GIVEN:
                    return v
            return None

        extra = {
            k: v
            for k, key in (
                ("serial_number", "serial number"),
                ("software_version", "software version"),
                ("panel", "panel name"),
                ("plate_status", "plate status"),
                ("plate_end", "plate end"),
            )
            if (v := first(key))
        }
        if (extra.get("plate_status") or "").casefold() == "partial":
            self.warnings.append(
                f"plate {plate_id!r} is marked Partial by the instrument (not every well was read)"
            )
        return PlateInfo(
            plate_id=plate_id,
            protocol=first("protocol name", "panel name"),
            instrument=first("model name", "instrument type"),
            acquired_at=first("plate start"),
            operator=first("active user", "authorized user"),
            extra=extra,
        )


class IntelliflexReader(GuardedReader, texts=_TEXTS, recognise=_recognise, parser=_Parse):
    """Reads a Luminex INTELLIFLEX per-well CSV export into the canonical well table (module docstring)."""

    name: ClassVar[str] = FORMAT
    label: ClassVar[str] = "Luminex INTELLIFLEX per-well CSV export"
