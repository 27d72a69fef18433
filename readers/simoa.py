"""Quanterix Simoa HD-X "Run History" CSV exports: one row per replicate, AEB and concentration.

**No public Simoa export exists** (shared/corpus/README.md, "Simoa (no file)"): this reader is built from
the documented HD-X Run History column list, not from a real file, and its tests use inline fixtures of
that layout. When the first real export arrives, check it against the rules below before trusting it.

Layout read (column names are matched case-insensitively, ignoring a trailing ``.``; order is free):

* an optional preamble, then a header row holding ``Assay`` and ``Replicate AEB`` / ``Replicate Conc.``;
  the delimiter (``,`` ``;`` or tab) is taken from that row;
* ``Sample Barcode, Assay, Plex, Location, Carrier Barcode, Unit, Completion Date, Batch Name, Sample Type,
  Dilution Factor, Replicate AEB, Replicate Conc., Mean AEB, SD AEB, CV AEB, Mean Conc., SD Conc., CV Conc.,
  Flags, Errors, Curve Name …`` (required: ``Sample Barcode``, ``Assay``, ``Sample Type``,
  ``Replicate Conc.``; every other column is optional and columns not listed here are ignored);
* **replicate rows** carry ``Replicate AEB``/``Replicate Conc.``; **statistics rows** carry ``Mean …``,
  ``SD …``, ``CV …`` with both replicate cells empty. Replicate rows are the wells; a statistics row is only
  used to cross-check: its ``Mean Conc.`` is compared with the mean of the numeric replicates of the same
  sample × assay × dilution above it, and a difference over 1 % is a read warning (the mean itself is
  recomputed downstream, so the file's is never loaded). A row with both replicate cells and ``Mean Conc.``
  filled is a replicate row whose mean is cross-checked the same way.

One output row per replicate:

* ``well`` from ``Location`` when it names a plate position (``A1``, ``A01``, ``Plate 1 A01``,
  ``Plate 2 - B3``); otherwise a stable position is synthesised — the first position, in row-major order
  of a 384-well layout (A1…A24, B1…), not used by a real Location of the same plate, taken in row order —
  and the row is flagged ``position_synthesised`` (with the Location as written), because the well table
  only accepts A1…P24;
* ``signal`` = Replicate AEB (``signal_kind`` ``AEB``); ``reported_text`` = Replicate Conc. exactly as
  written, through :func:`readers.tokens.parse_conc`. Simoa words without a number (``< LLOQ``, ``> ULOQ``,
  ``<LOD``…) are censored ``<``/``>`` with no value (the pipeline fills the limit), because parse_conc
  would otherwise call them unrecognised; ``NaN`` and empty cells are ``NR`` with the reason;
* ``unit`` = Unit as written (``unit_source`` "file"; an empty cell leaves it to the assay configuration);
* ``dilution`` = Dilution Factor. Simoa reports concentrations already multiplied by the dilution factor,
  so ``dilution_applied`` is True on every row — a limit printed in a cell (``< 0.24``) is taken to be in
  sample terms like every other Simoa number (unverified: no public file). An empty Dilution Factor is
  recorded as 1 and flagged ``dilution_not_reported`` (it only matters for limits the pipeline fills in);
  a Dilution Factor that is not a positive number is an error;
* ``sample_type``: Calibrator → standard, Control → qc, Specimen/Sample/Unknown → unknown, Blank → blank;
  anything else → unknown, flagged ``sample_type_unrecognised``;
* ``analyte_as_written`` = Assay (``NF-light``, ``NfL``…). In a multiplex run the ``Plex`` cell names the
  analyte and ``Assay`` the panel: a ``Plex`` cell that is text (not a number, not ``4-Plex``) is the
  analyte and the Assay becomes the plate's protocol;
* ``Flags``/``Errors`` text → ``instrument_flag: …`` / ``instrument_error: …`` in ``flags``;
* plate: ``Batch Name``, else ``Carrier Barcode``, else the file name's stem. A Location naming several
  plates (``Plate 1 …``, ``Plate 2 …``) gives one plate per number, ``<batch>-P<n>``.

Every problem a lab can fix (no header, a missing required column, a cut-short row, a bad dilution, an
empty Assay) raises :class:`ReaderError` with the line; anything else is wrapped into one, so no raw
exception escapes :meth:`SimoaReader.read`.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import ClassVar

import polars as pl

from readers.base import FileInput, PlateInfo, ReadResult, Sniff
from readers.text import split_lines
from readers.toolkit.cells import clean_note, delimiter_of, norm_header, split_line, stem
from readers.toolkit.dilution import DilutionError
from readers.toolkit.guarded_reader import GuardedReader, ReaderTexts
from readers.toolkit.records import Origin
from readers.toolkit.replicates import (
    Positions,
    Replicate,
    column_decimal_comma,
    place_unpositioned,
    replicate_dilution,
    replicate_mean_gap,
    replicate_row,
    typed_sample,
)
from readers.toolkit.text_lines import LineParse
from readers.toolkit.wells import well_of
from schemas.wells import WELL_SCHEMA, conform

FORMAT = "simoa"
SNIFF_SCORE = 100

_LOOKED_FOR = (
    "looked for an HD-X Run History header row with Sample Barcode, Assay, Sample Type and "
    "Replicate AEB / Replicate Conc. columns"
)

_PLEX_COUNT_RE = re.compile(r"^\s*\d+\s*(?:-?\s*plex)?\s*$", re.IGNORECASE)

# Canonical column key → header names accepted (normalised with _norm).
_COLUMNS: dict[str, tuple[str, ...]] = {
    "sample": ("sample barcode", "sample id", "sample name"),
    "assay": ("assay", "assay name"),
    "plex": ("plex",),
    "location": ("location", "well", "position"),
    "carrier": ("carrier barcode", "carrier"),
    "unit": ("unit", "units"),
    "completed": ("completion date", "completion time", "completed"),
    "batch": ("batch name", "batch"),
    "sample_type": ("sample type",),
    "dilution": ("dilution factor", "dilution"),
    "rep_aeb": ("replicate aeb",),
    "rep_conc": ("replicate conc", "replicate concentration"),
    "mean_aeb": ("mean aeb",),
    "sd_aeb": ("sd aeb",),
    "cv_aeb": ("cv aeb",),
    "mean_conc": ("mean conc", "mean concentration"),
    "sd_conc": ("sd conc", "sd concentration"),
    "cv_conc": ("cv conc", "cv concentration"),
    "flags": ("flags", "flag"),
    "errors": ("errors", "error"),
    "curve": ("curve name",),
}
_REQUIRED = ("sample", "assay", "sample_type", "rep_conc")
_STATS = ("mean_aeb", "sd_aeb", "cv_aeb", "mean_conc", "sd_conc", "cv_conc")
_CORRECT_DILUTION = (
    "Correct the dilution in the HD-X software (or ask the lab data manager) and export again."
)
_POSITIONS = Positions(
    label="Location",
    too_many="plate {plate} has more replicates without a plate position than a 384-well layout holds; "
    "export one run per file",
    warning="{n} replicate(s) have no plate position in Location; positions were synthesised from the row "
    "order (flag position_synthesised) — they identify the row, not a physical well",
    absent=": no Location",
)
_TEXTS = ReaderTexts(
    looked_for=_LOOKED_FOR,
    what="this file as a Simoa HD-X Run History export",
    todo="Export the run again from the HD-X software (Run History, CSV) without editing it.",
)

# ---- the reader ------------------------------------------------------------------------------------------


def _find_header(lines: list[str], limit: int = 60) -> tuple[int, str, dict[str, int]] | None:
    """(0-based index, delimiter, column key → index) of the Run History header row, if any."""
    for i, line in enumerate(lines[:limit]):
        low = line.casefold()
        if "assay" not in low or ("replicate aeb" not in low and "replicate conc" not in low):
            continue
        delim = delimiter_of(line)
        cols = _columns([norm_header(c) for c in split_line(line, delim)])
        if "assay" in cols and ("rep_conc" in cols or "rep_aeb" in cols):
            return i, delim, cols
    return None


def _columns(norm: list[str]) -> dict[str, int]:
    out: dict[str, int] = {}
    for key, names in _COLUMNS.items():
        for j, h in enumerate(norm):
            if h in names:
                out[key] = j
                break
    return out


@dataclass(frozen=True)
class _Row:
    """One data row's cells, read by column key ("" when the column is absent)."""

    cells: list[str]
    cols: dict[str, int]

    def get(self, key: str) -> str:
        j = self.cols.get(key)
        return self.cells[j].strip() if j is not None and j < len(self.cells) else ""


@dataclass(kw_only=True)
class _Rep(Replicate):
    """A replicate and where it belongs in this export."""

    plate_no: int | None
    assay: str
    batch: str | None
    carrier: str | None
    completed: str | None
    curve: str | None


def _recognise(text_head: str, file: FileInput) -> Sniff:
    found = _find_header(split_lines(text_head.lstrip("\ufeff")))
    if found is None:
        return Sniff(False, _LOOKED_FOR)
    _, _, cols = found
    if "sample" in cols and "sample_type" in cols:
        return Sniff(True, "HD-X Run History header (Assay, Replicate AEB/Conc., Sample Type)", SNIFF_SCORE)
    return Sniff(True, "Replicate AEB/Conc. columns beside Assay (no Sample Barcode/Type)", SNIFF_SCORE - 20)


class _SimoaParse(LineParse):
    def run(self) -> ReadResult:
        hi, delim, cols = self.found(
            _find_header(self.lines),
            f"no Simoa Run History header found: {_LOOKED_FOR}. Export the run from the HD-X software "
            "(Run History → Export, CSV) and upload that file unedited.",
        )
        missing = [k for k in _REQUIRED if k not in cols]
        if missing:
            names = ", ".join(_COLUMNS[k][0].title() for k in missing)
            raise self.error(
                f"the header has no {names} column: a Simoa Run History export always has Sample Barcode, "
                "Assay, Sample Type and Replicate Conc. Export the run again with all columns.",
                hi + 1,
            )
        decimal_comma = delim == ";" and column_decimal_comma(self.lines[hi + 1 :], delim, [cols["rep_conc"]])
        reps: list[_Rep] = []
        pending: dict[tuple[object, ...], list[_Rep]] = {}
        for line_no, cells in self.table_rows(hi, delim, "Export the run again from the HD-X software."):
            row = _Row(cells, cols)
            rep_filled = bool(row.get("rep_aeb") or row.get("rep_conc"))
            stats_filled = any(row.get(k) for k in _STATS)
            rep = None if (stats_filled and not rep_filled) else self._replicate(line_no, row)
            key = tuple(row.get(k) for k in ("batch", "carrier", "sample", "assay", "plex", "dilution"))
            if rep is not None:
                reps.append(rep)
                pending.setdefault(key, []).append(rep)
            if row.get("mean_conc"):
                self._cross_check(line_no, row.get("mean_conc"), pending.pop(key, []), decimal_comma)
        if not reps:
            raise self.error(
                "the export has a header but no replicate rows (rows with Replicate AEB / Replicate Conc.); "
                "export the run again after it has completed.",
                hi + 1,
            )
        return self._result(reps, decimal_comma)

    def _replicate(self, line_no: int, row: _Row) -> _Rep:
        c = row.get
        assay = c("assay")
        if not assay:
            raise self.error(
                "this replicate row has no Assay: the analyte cannot be known. Export the run again (the "
                "HD-X writes the assay on every row).",
                line_no,
            )
        plex = c("plex")
        analyte = (
            plex if plex and not _PLEX_COUNT_RE.match(plex) and plex.casefold() != assay.casefold() else assay
        )
        stype, type_flag = typed_sample(c("sample_type"))
        location = c("location")
        where = well_of(location)
        try:
            dilution, dil_flag = replicate_dilution(c("dilution"), _CORRECT_DILUTION)
        except DilutionError as e:
            raise self.error(str(e), line_no) from None
        flags = [f for f in (type_flag, dil_flag) if f]
        for key, code in (("flags", "instrument_flag"), ("errors", "instrument_error")):
            text = c(key)
            if text:
                flags.append(f"{code}: {clean_note(text)}")
        return _Rep(
            line=line_no,
            plate_no=where[0] if where else None,
            well=where[1] if where else None,
            location=location,
            sample=c("sample") or None,
            sample_type=stype,
            analyte=analyte,
            assay=assay,
            signal_text=c("rep_aeb"),
            conc_text=c("rep_conc"),
            unit=c("unit") or None,
            dilution=dilution,
            batch=c("batch") or None,
            carrier=c("carrier") or None,
            completed=c("completed") or None,
            curve=c("curve") or None,
            flags=flags,
        )

    def _cross_check(self, line_no: int, mean_text: str, reps: list[_Rep], decimal_comma: bool) -> None:
        """Compare the file's Mean Conc. with the mean of the numeric replicates it summarises."""
        mean = replicate_mean_gap(mean_text, [r.conc_text for r in reps], decimal_comma)
        if mean is not None:
            lines = ", ".join(str(r.line) for r in reps)
            self.warnings.append(
                f"line {line_no}: the file's Mean Conc. {mean_text} differs by more than 1% from the mean of "
                f"its numeric replicates ({mean:.6g}, lines {lines}); the replicates are loaded and the mean "
                "is recomputed downstream — check the run in the HD-X software"
            )

    def _result(self, reps: list[_Rep], decimal_comma: bool) -> ReadResult:
        base = next((r.batch for r in reps if r.batch), None) or next(
            (r.carrier for r in reps if r.carrier), None
        )
        base = base or stem(self.file.name) or "simoa"
        batches = {r.batch for r in reps if r.batch}
        if len(batches) > 1:
            self.warnings.append(
                f"the export holds {len(batches)} batches ({', '.join(sorted(batches))}): each is a plate"
            )
        plate_nos = sorted({r.plate_no for r in reps if r.plate_no is not None})

        def plate_id(r: _Rep) -> str:
            b = r.batch if len(batches) > 1 and r.batch else base
            if len(plate_nos) > 1:
                return f"{b}-P{r.plate_no if r.plate_no is not None else plate_nos[0]}"
            return b

        # Synthesised positions: per plate, in row order, avoiding the plate's real wells.
        by_plate: dict[str, list[_Rep]] = {}
        for r in reps:
            by_plate.setdefault(plate_id(r), []).append(r)
        place_unpositioned(by_plate, lambda r: r.line, _POSITIONS, self.error, self.warnings)
        if any(r.unit is None for r in reps):
            self.warnings.append("rows without a Unit: their unit will come from the assay configuration")

        records = [
            replicate_row(r, Origin(self.file.name, FORMAT, plate_id(r)), "AEB", decimal_comma=decimal_comma)
            for r in reps
        ]
        wells = conform(pl.DataFrame(records, schema=WELL_SCHEMA))
        return ReadResult(format=FORMAT, wells=wells, plates=self._plates(by_plate), warnings=self.warnings)

    @staticmethod
    def _plates(by_plate: dict[str, list[_Rep]]) -> list[PlateInfo]:
        out = []
        for pid, rs in by_plate.items():
            assays = sorted({r.assay for r in rs})
            panel = sorted({r.assay for r in rs if r.analyte != r.assay})
            protocol = panel[0] if len(panel) == 1 else assays[0] if len(assays) == 1 else None
            extra: dict[str, str] = {}
            carriers = sorted({r.carrier for r in rs if r.carrier})
            curves = sorted({r.curve for r in rs if r.curve})
            if carriers:
                extra["carrier_barcode"] = ", ".join(carriers)
            if curves:
                extra["curve_name"] = ", ".join(curves)
            if len(assays) > 1:
                extra["assays"] = ", ".join(assays)
            out.append(
                PlateInfo(
                    plate_id=pid,
                    protocol=protocol,
                    acquired_at=next((r.completed for r in rs if r.completed), None),
                    extra=extra,
                )
            )
        return out


class SimoaReader(GuardedReader, texts=_TEXTS, recognise=_recognise, parser=_SimoaParse):
    """Reads one Quanterix Simoa HD-X Run History CSV into the canonical well table (module docstring)."""

    name: ClassVar[str] = FORMAT
    label: ClassVar[str] = "Quanterix Simoa HD-X run export"
