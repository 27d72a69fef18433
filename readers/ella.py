"""ProteinSimple Ella (Simple Plex Runner/Explorer) result exports: triplicate GNR results per sample.

**No public Ella export exists** (shared/corpus/README.md): this reader is built from the documented
Simple Plex layout, and its tests use inline fixtures of the two forms defined here. Check the first real
export against these rules before trusting it.

An Ella cartridge reads each sample inlet in three glass nanoreactors (GNRs) per analyte, so a result is
a *triplicate*. Two table forms are read (CSV, ``;``-separated or tab-separated text; column names are
matched case-insensitively, a trailing ``.``/``:`` and the units in parentheses ignored):

**Wide (one row per sample × analyte)**::

    Sample, [Sample Type], Analyte, [Well | Position | Well/Position | Inlet], [Dilution Factor],
    Signal 1 (RFU) … Signal 3 (RFU)            (or GNR 1…3, Glass Nanoreactor (GNR) replicate 1…3 (RFU)),
    Calculated Concentration 1 (pg/mL) … 3     (or Calc Conc 1…3, Concentration 1…3),
    [Mean (pg/mL)], [SD], [CV], [Flags], [Cartridge ID]

**Long (one row per replicate)**::

    Sample, [Sample Type], Analyte, Replicate, [Well …], [Dilution Factor], Signal (RFU),
    Calculated Concentration (pg/mL), [Mean (pg/mL)], [Flags], [Cartridge ID]

  where ``Replicate`` is 1, 2, 3… (``GNR 2``, ``Rep 2`` too); a row whose Replicate is
  ``Mean``/``Average``/``Avg`` (or empty, with no replicate values) is a statistics row.

Lines above the header are ``key,value`` / ``key: value`` metadata: ``Cartridge ID``/``Cartridge
Barcode``/``Cartridge Serial`` (→ plate_id), ``Cartridge Lot``/``Lot`` (→ kit_lot), ``Cartridge
Type``/``Assay`` (→ protocol), ``Run Date``/``Date`` (→ acquired_at), ``Operator``/``User``,
``Instrument``/``Serial Number``. A ``Cartridge ID`` column overrides the preamble row by row (several
cartridges → several plates); with neither, the plate is the file name's stem.

What each replicate becomes (one output row per replicate):

* ``signal`` = its RFU (``signal_kind`` ``RFU``); ``reported_text`` = its concentration cell as written,
  through :func:`readers.toolkit.cells.parse_cell` (parse_conc plus ``< LLOQ``/``> ULOQ`` words → censored
  without a number, which the pipeline fills); ``NaN``/empty → ``NR`` with the reason;
* ``unit`` from the concentration columns' header, e.g. ``(pg/mL)`` (``unit_source`` "file"); headers that
  disagree are an error; without one, a ``Unit`` column; else left to the assay configuration;
* Ella concentrations are dilution-corrected: ``dilution_applied`` is True; ``dilution`` = Dilution Factor
  (an absent/empty one is recorded as 1 and flagged ``dilution_not_reported``; a non-positive one is an
  error);
* ``well``: the sample inlet (Well/Position) when it is a plate position — all GNR replicates of a sample
  share it, because they are one inlet read three times; without one, a stable position is synthesised
  per inlet (sample × its n-th occurrence for the analyte, first-seen order, avoiding real wells) and
  flagged ``position_synthesised`` — giving each GNR its own made-up well would invent plate positions;
* ``sample_type`` from Sample Type (Sample → unknown, Control/QC → qc, Standard/Calibrator → standard,
  Blank → blank); without the column, names starting ``QC``/``Control`` are qc, ``Blank``/``Buffer``
  blank, the rest unknown (Ella cartridges carry factory-calibrated curves: no standards on the
  cartridge);
* ``Flags`` text → ``instrument_flag: …``.

Ignored: SD and CV columns (recomputed downstream), mean signals, any unlisted column. The file's Mean is
only cross-checked: more than 1 % away from the mean of the numeric replicates is a read warning.

Every problem a lab can fix raises :class:`ReaderError` with the line; anything else is wrapped into one.
"""

from __future__ import annotations

import re
from collections.abc import Hashable
from dataclasses import dataclass, field
from typing import ClassVar

import polars as pl

from readers.base import FileInput, PlateInfo, ReadResult, Sniff
from readers.text import split_lines
from readers.toolkit import replicates
from readers.toolkit.cells import clean_note, delimiter_of, norm_header, split_line, stem
from readers.toolkit.dilution import DilutionError
from readers.toolkit.guarded_reader import GuardedReader, ReaderTexts
from readers.toolkit.records import Origin
from readers.toolkit.text_lines import LineParse
from readers.toolkit.wells import well_of
from readers.units import is_known_unit, normalise_unit
from schemas.wells import WELL_SCHEMA, conform

FORMAT = "ella"
SNIFF_SCORE = 90
SNIFF_SCORE_WEAK = 75  # the table shape without any Ella/Simple Plex word in the head

_LOOKED_FOR = (
    "looked for a Simple Plex results table: Sample and Analyte columns with numbered GNR/Signal and "
    "Calculated Concentration 1..3 columns (wide form), or a Replicate column with Signal and "
    "Calculated Concentration (long form)"
)
_ELLA_WORDS = re.compile(r"simple\s*plex|\bella\b|cartridge|nanoreactor|\bgnr\b", re.IGNORECASE)
_CORRECT_DILUTION = "Correct it in Simple Plex Runner (or ask the lab data manager) and export again."
_TEXTS = ReaderTexts(
    looked_for=_LOOKED_FOR,
    what="this file as an Ella (Simple Plex) results export",
    todo="Export the cartridge results again from Simple Plex Explorer without editing them.",
)
_POSITIONS = replicates.Positions(
    label="Well",
    too_many="cartridge {plate} has more sample inlets without a position than a 384-well layout holds; "
    "export one cartridge per file",
    warning="{n} replicate(s) have no sample inlet position; positions were synthesised per inlet from the "
    "row order (flag position_synthesised) — they identify the sample, not a physical well",
)
_PAREN_RE = re.compile(r"\(([^)]*)\)")
_STATS_WORDS = ("mean", "average", "avg", "summary")

_PREAMBLE_KEYS = {
    "cartridge id": "plate_id",
    "cartridge barcode": "plate_id",
    "cartridge serial": "plate_id",
    "cartridge serial number": "plate_id",
    "cartridge lot": "kit_lot",
    "lot": "kit_lot",
    "cartridge type": "protocol",
    "assay": "protocol",
    "cartridge name": "protocol",
    "run date": "acquired_at",
    "date": "acquired_at",
    "operator": "operator",
    "user": "operator",
    "instrument": "instrument",
    "serial number": "instrument",
    "instrument serial": "instrument",
}


@dataclass(frozen=True)
class _Col:
    index: int
    kind: str  # sample, sample_type, analyte, well, replicate, dilution, signal, conc, mean, flags, …
    rep: int | None  # replicate number of a wide column
    unit: str | None  # unit written in the header's parentheses


def classify(header: str, index: int = 0) -> _Col:
    """What one header cell is: kind, replicate number (wide columns) and unit in parentheses."""
    unit = next((u.strip() for u in _PAREN_RE.findall(header) if is_known_unit(u)), None)
    text = norm_header(_PAREN_RE.sub(" ", header))
    text = re.sub(r"\s+", " ", text).strip()
    numbers = re.findall(r"\b(\d{1,2})\b", text)
    rep = int(numbers[0]) if len(numbers) == 1 else None
    bare = re.sub(r"\b\d{1,2}\b", "", text).strip()
    words = set(re.findall(r"[a-z]+", bare))
    kind = "other"
    if bare in ("sample", "sample name", "sample id", "sample barcode"):
        kind = "sample"
    elif bare in ("sample type", "type"):
        kind = "sample_type"
    elif bare in ("analyte", "analyte name"):
        kind = "analyte"
    elif bare in (
        "well",
        "position",
        "well/position",
        "well position",
        "inlet",
        "sample inlet",
        "sample well",
    ):
        kind = "well"
    elif bare in ("replicate", "rep", "gnr", "gnr replicate", "replicate #", "replicate number"):
        kind = "replicate"
    elif bare in ("dilution factor", "dilution", "df"):
        kind = "dilution"
    elif bare in ("flags", "flag", "warnings", "warning"):
        kind = "flags"
    elif bare in (
        "cartridge id",
        "cartridge barcode",
        "cartridge",
        "cartridge serial",
        "cartridge serial number",
    ):
        kind = "cartridge"
    elif bare in ("unit", "units"):
        kind = "unit"
    elif words & {"sd", "cv", "stdev", "std"} or "std dev" in bare or "%cv" in bare:
        kind = "other"
    elif words & {"mean", "average", "avg"}:
        kind = (
            "mean"
            if ("conc" in bare or "concentration" in bare or unit or bare in ("mean", "average"))
            else "other"
        )
    elif "conc" in bare:
        kind = "conc"
    elif words & {"signal", "rfu", "gnr", "nanoreactor"}:
        kind = "signal"
    if kind not in ("conc", "signal"):
        rep = None
    return _Col(index, kind, rep, unit)


@dataclass
class _Layout:
    header_index: int  # 0-based line
    delimiter: str
    cols: list[_Col]
    wide: bool

    def one(self, kind: str) -> _Col | None:
        return next((c for c in self.cols if c.kind == kind and c.rep is None), None)

    def reps(self, kind: str) -> dict[int, _Col]:
        out: dict[int, _Col] = {}
        for c in self.cols:
            if c.kind == kind and c.rep is not None:
                out.setdefault(c.rep, c)
        return out


def find_layout(lines: list[str], limit: int = 60) -> _Layout | None:
    """The results header (wide or long form) within the first ``limit`` lines, if any."""
    for i, line in enumerate(lines[:limit]):
        low = line.casefold()
        if "sample" not in low or "analyte" not in low:
            continue
        delim = delimiter_of(line)
        cols = [classify(h, j) for j, h in enumerate(split_line(line, delim))]
        kinds = {c.kind for c in cols}
        if not {"sample", "analyte"} <= kinds:
            continue
        wide_conc = [c for c in cols if c.kind == "conc" and c.rep is not None]
        if wide_conc:
            return _Layout(i, delim, cols, wide=True)
        if "replicate" in kinds and any(c.kind == "conc" and c.rep is None for c in cols):
            return _Layout(i, delim, cols, wide=False)
    return None


@dataclass
class _Set:
    """The replicates of one sample inlet × analyte, with the file's mean for them (if written)."""

    key: tuple[str, ...]
    inlet: tuple[Hashable, ...]
    reps: list[_Rep] = field(default_factory=list)
    last_rep: int = 0
    mean_text: str | None = None
    mean_line: int = 0


@dataclass(kw_only=True)
class _Rep(replicates.Replicate):
    """A replicate and where it belongs in this export."""

    plate: str
    inlet: tuple[Hashable, ...]  # identifies the sample inlet for a synthesised position


def _recognise(text_head: str, file: FileInput) -> Sniff:
    lines = split_lines(text_head.lstrip("\ufeff"))
    layout = find_layout(lines)
    if layout is None:
        return Sniff(False, _LOOKED_FOR)
    form = "wide (numbered replicate columns)" if layout.wide else "long (Replicate column)"
    if _ELLA_WORDS.search("\n".join(lines[: layout.header_index + 1])):
        return Sniff(True, f"Simple Plex results table, {form}", SNIFF_SCORE)
    return Sniff(True, f"Sample/Analyte results table, {form}, without a Simple Plex word", SNIFF_SCORE_WEAK)


class _EllaParse(LineParse):
    def run(self) -> ReadResult:
        layout = self.found(
            find_layout(self.lines),
            f"no Simple Plex results table found: {_LOOKED_FOR}. Export the cartridge's results table "
            "from Simple Plex Explorer (CSV or text) and upload it unedited.",
        )
        meta = self._preamble(layout)
        unit = self._unit(layout)
        decimal_comma = layout.delimiter == ";" and self._decimal_comma(layout)
        sets: list[_Set] = []
        occurrences: dict[tuple[str, str | None, str], int] = {}
        cur: _Set | None = None

        def new_set(key: tuple[str, ...], plate: str, sample: str | None, analyte: str) -> _Set:
            k = occurrences.get((plate, sample, analyte), 0)
            occurrences[(plate, sample, analyte)] = k + 1
            made = _Set(key=key, inlet=(plate, sample, k))
            sets.append(made)
            return made

        rows = self.table_rows(
            layout.header_index, layout.delimiter, "Export the results again from Simple Plex Explorer."
        )
        for line_no, cells in rows:
            row = _RowView(cells, layout)
            sample = row.text("sample") or None
            analyte = row.text("analyte")
            plate = row.text("cartridge") or meta.get("plate_id") or stem(self.file.name) or "ella"
            mean_text = row.text("mean")
            key = (plate, sample or "", analyte, row.text("well"))
            if not layout.wide:
                rep_text = row.text("replicate")
                is_stats = rep_text.casefold().startswith(_STATS_WORDS) or (
                    not rep_text and not row.text("conc") and not row.text("signal")
                )
                if is_stats:
                    text = row.text("conc") or mean_text
                    same = cur is not None and cur.key[:3] == key[:3] and key[3] in ("", cur.key[3])
                    if cur is not None and same and text:
                        cur.mean_text, cur.mean_line = text, line_no
                    continue
                m = re.fullmatch(r"(?:gnr|rep(?:licate)?|#)?\s*#?\s*(\d{1,2})", rep_text.casefold())
                rep_no = int(m.group(1)) if m else None
                if rep_no is None or rep_no < 1:
                    raise self.error(
                        f"Replicate {rep_text!r} is not a replicate number (1, 2, 3…) nor Mean: the row "
                        "cannot be placed. Export the results again from Simple Plex Explorer.",
                        line_no,
                    )
            if not analyte:
                raise self.error(
                    "this row has no Analyte: the result cannot be attributed. Export the results again.",
                    line_no,
                )
            if layout.wide:
                cur = new_set(key, plate, sample, analyte)
                base = self._base(row, line_no, plate, sample, analyte, cur.inlet, unit)
                conc_cols, sig_cols = layout.reps("conc"), layout.reps("signal")
                for n in sorted(set(conc_cols) | set(sig_cols)):
                    rep = _copy(base)
                    conc_col, sig_col = conc_cols.get(n), sig_cols.get(n)
                    rep.conc_text = cells[conc_col.index].strip() if conc_col else None
                    rep.signal_text = (cells[sig_col.index].strip() or None) if sig_col else None
                    if conc_col is None:
                        rep.flags.append("result_missing")
                    cur.reps.append(rep)
            else:
                n = int(rep_no or 0)
                if cur is None or cur.key != key or n <= cur.last_rep:
                    cur = new_set(key, plate, sample, analyte)
                cur.last_rep = n
                rep = self._base(row, line_no, plate, sample, analyte, cur.inlet, unit)
                rep.conc_text = row.text("conc")
                rep.signal_text = row.text("signal") or None
                cur.reps.append(rep)
            if mean_text and cur.mean_text is None:
                cur.mean_text, cur.mean_line = mean_text, line_no
        reps = [r for st in sets for r in st.reps]
        if not reps:
            raise self.error(
                "the results table has a header but no result rows; export the results after the run has "
                "been analysed.",
                layout.header_index + 1,
            )
        for st in sets:
            if st.mean_text:
                self._cross_check(st.mean_line, st.mean_text, st.reps, decimal_comma)
        return self._result(reps, meta, decimal_comma)

    # ---- pieces ----------------------------------------------------------------------------------------

    def _preamble(self, layout: _Layout) -> dict[str, str]:
        meta: dict[str, str] = {}
        for line in self.lines[: layout.header_index]:
            cells = [c.strip() for c in split_line(line, layout.delimiter)]
            cells = [c for c in cells if c]
            if not cells:
                continue
            if len(cells) >= 2:
                key, value = cells[0], cells[1]
            elif ":" in cells[0]:
                key, value = cells[0].split(":", 1)
            else:
                continue
            target = _PREAMBLE_KEYS.get(norm_header(key))
            value = value.strip()
            if target and value and target not in meta:
                meta[target] = value
            elif value:
                meta.setdefault("extra:" + key.strip().rstrip(":"), value)
        return meta

    def _unit(self, layout: _Layout) -> str | None:
        units = {c.unit for c in layout.cols if c.kind == "conc" and c.unit}
        if len({normalise_unit(u) for u in units}) > 1:
            raise self.error(
                f"the concentration columns name different units ({', '.join(sorted(units))}); one export "
                "holds one unit. Export the results again.",
                layout.header_index + 1,
            )
        return sorted(units)[0] if units else None

    def _decimal_comma(self, layout: _Layout) -> bool:
        idx = [c.index for c in layout.cols if c.kind in ("conc", "signal")]
        return replicates.column_decimal_comma(self.lines[layout.header_index + 1 :], layout.delimiter, idx)

    def _base(
        self,
        row: _RowView,
        line_no: int,
        plate: str,
        sample: str | None,
        analyte: str,
        inlet: tuple[Hashable, ...],
        unit: str | None,
    ) -> _Rep:
        location = row.text("well")
        where = well_of(location)
        type_flag = None
        if row.layout.one("sample_type") is not None:
            stype, type_flag = replicates.typed_sample(row.text("sample_type"))
        else:
            stype = _type_by_name(sample)
        try:
            dilution, dil_flag = replicates.replicate_dilution(row.text("dilution"), _CORRECT_DILUTION)
        except DilutionError as e:
            raise self.error(str(e), line_no) from None
        flags = [f for f in (type_flag, dil_flag) if f]
        text = row.text("flags")
        if text:
            flags.append(f"instrument_flag: {clean_note(text)}")
        return _Rep(
            line=line_no,
            plate=plate,
            sample=sample,
            analyte=analyte,
            inlet=inlet,
            well=where[1] if where else None,
            location=location,
            sample_type=stype,
            signal_text=None,
            conc_text=None,
            unit=unit or row.text("unit") or None,
            dilution=dilution,
            flags=flags,
        )

    def _cross_check(self, line_no: int, text: str, group: list[_Rep], decimal_comma: bool) -> None:
        mean = replicates.replicate_mean_gap(text, [r.conc_text for r in group], decimal_comma)
        if mean is not None:
            self.warnings.append(
                f"line {line_no}: the file's Mean {text} differs by more than 1% from the mean of its "
                f"numeric replicates ({mean:.6g}); the replicates are loaded and the mean is recomputed "
                "downstream — check the cartridge in Simple Plex Explorer"
            )

    def _result(self, reps: list[_Rep], meta: dict[str, str], decimal_comma: bool) -> ReadResult:
        by_plate: dict[str, list[_Rep]] = {}
        for r in reps:
            by_plate.setdefault(r.plate, []).append(r)
        replicates.place_unpositioned(by_plate, lambda r: r.inlet, _POSITIONS, self.error, self.warnings)
        if any(r.unit is None for r in reps):
            self.warnings.append(
                "no unit in the concentration headers or a Unit column: the unit will come from the assay "
                "configuration"
            )
        records = [
            replicates.replicate_row(
                r, Origin(self.file.name, FORMAT, r.plate), "RFU", decimal_comma=decimal_comma
            )
            for r in reps
        ]
        plates = [
            PlateInfo(
                plate_id=pid,
                protocol=meta.get("protocol"),
                instrument=meta.get("instrument"),
                acquired_at=meta.get("acquired_at"),
                operator=meta.get("operator"),
                kit_lot=meta.get("kit_lot"),
                extra={k.removeprefix("extra:"): v for k, v in meta.items() if k.startswith("extra:")},
            )
            for pid in by_plate
        ]
        wells = conform(pl.DataFrame(records, schema=WELL_SCHEMA))
        return ReadResult(format=FORMAT, wells=wells, plates=plates, warnings=self.warnings)


class EllaReader(GuardedReader, texts=_TEXTS, recognise=_recognise, parser=_EllaParse):
    """Reads one Simple Plex (Ella) results export, wide or long form (see module docstring)."""

    name: ClassVar[str] = FORMAT
    label: ClassVar[str] = "ProteinSimple Ella (Simple Plex) export"


@dataclass(frozen=True)
class _RowView:
    cells: list[str]
    layout: _Layout

    def text(self, kind: str) -> str:
        col = self.layout.one(kind)
        if col is None or col.index >= len(self.cells):
            return ""
        return self.cells[col.index].strip()


def _copy(r: _Rep) -> _Rep:
    return _Rep(**{**r.__dict__, "flags": list(r.flags)})


def _type_by_name(sample: str | None) -> str:
    s = (sample or "").strip().casefold()
    if re.match(r"(qc|control|ctrl)", s):
        return "qc"
    if re.match(r"(blank|buffer)", s):
        return "blank"
    return "unknown"
