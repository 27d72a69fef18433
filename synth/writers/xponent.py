"""Lay one synthetic plate out as a Luminex xPONENT batch CSV export.

Modelled on the real exports in shared/corpus/xponent (example02 and the NaN file): a quoted
``"Key","Value"`` header block (Program/Build/Date/SN/Batch/ProtocolName/BatchStartTime…), calibration
lines, the ``Samples`` line, then ``DataType:`` sections — Median, Net MFI, Count, Result, Range,
Avg Result, %CV Replicates, Units, Standard (and Control) Expected Concentration, Dilution Factor — every
cell quoted, CRLF line endings, closed by ``-- CRC --``. The generator decides every number and text; this
module only prints them where xPONENT would. Bead counts (which the generator does not model) are drawn
from a generator seeded by the plate id, always at or above the header's Min Events, so the file is the
same on every run.

Result, Range, Avg Result, %CV Replicates and the expected-concentration sections are written only when
some cell has a ``reported_text`` (analysis on), as xPONENT does.
"""

from __future__ import annotations

import math
import random
import re
import statistics
import zlib
from collections.abc import Iterable, Sequence
from datetime import datetime, timedelta
from pathlib import Path

from readers.tokens import parse_conc
from synth.model import SynthCell, SynthPlate, SynthWell

MIN_EVENTS = 50
_REGION_RE = re.compile(r"\((\d{1,3})\)\s*$")
_BEAD_REGIONS = (12, 13, 14, 15, 18, 19, 20, 21, 22, 25, 26, 27, 28, 29, 33, 34, 35, 36, 37, 38, 39, 42, 43)


def _q(cell: object) -> str:
    return '"' + str(cell).replace('"', '""') + '"'


def _line(cells: Iterable[object]) -> str:
    return ",".join(_q(c) for c in cells)


def _num(x: float | None) -> str:
    """A number as xPONENT prints it: no trailing ``.0``; full precision so a reader gets it back exactly."""
    if x is None:
        return ""
    if not math.isfinite(x):
        return "NaN"
    return str(int(x)) if float(x).is_integer() and abs(x) < 1e15 else repr(float(x))


def _clock(dt: datetime, *, seconds: bool) -> str:
    hour = dt.hour % 12 or 12
    ampm = "AM" if dt.hour < 12 else "PM"
    return f"{hour}:{dt.minute:02d}:{dt.second:02d} {ampm}" if seconds else f"{hour}:{dt.minute:02d} {ampm}"


def _stamp(dt: datetime) -> str:
    """``5/17/2023 6:42:29 PM``, as in BatchStartTime."""
    return f"{dt.month}/{dt.day}/{dt.year} {_clock(dt, seconds=True)}"


def _analytes(plate: SynthPlate) -> list[str]:
    seen = dict.fromkeys(plate.labels)
    for w in plate.wells:
        seen.update(dict.fromkeys(w.cells))
    return list(seen)


def _bead_ids(labels: Sequence[str]) -> list[str]:
    """Bead regions: the one in the label ("VEGF (45)") when there is one, else a free MagPlex region."""
    taken = {m.group(1) for lab in labels if (m := _REGION_RE.search(lab))}
    free = (str(r) for r in _BEAD_REGIONS if str(r) not in taken)
    return [m.group(1) if (m := _REGION_RE.search(lab)) else next(free, "0") for lab in labels]


def _range_text(cell: SynthCell | None) -> str:
    if cell is None or cell.reported_text is None:
        return ""
    p = parse_conc(cell.reported_text)
    if p.qualifier == "<":
        return "Below Range"
    if p.qualifier == ">":
        return "Above Range"
    if p.qualifier == "=":
        return "Extrapolated" if p.extrapolated else "In Range"
    return ""


def _header(plate: SynthPlate, n_analytes: int) -> list[str]:
    start = plate.run_started
    stop = start + timedelta(minutes=24, seconds=30)
    instrument = plate.extra.get("instrument", "FlexMAP 3D")
    serial = plate.extra.get("serial_number", "FM3DD20137021")
    protocol = plate.assay.protocol_names[0] if plate.assay.protocol_names else plate.assay.assay_id
    analysis = (
        "On" if any(c.reported_text is not None for w in plate.wells for c in w.cells.values()) else "Off"
    )
    cal = (start - timedelta(hours=9)).strftime("%m/%d/%Y %H:%M:%S")
    return [
        _line(["Program", "xPONENT", "", instrument]),
        _line(["Build", "4.3.229.0"]),
        _line(["Date", start.strftime("%m/%d/%Y"), _clock(start, seconds=False)]),
        "",
        _line(["SN", serial]),
        _line(["Batch", plate.plate_id]),
        _line(["Version", "1"]),
        _line(["Operator", plate.operator]),
        _line(["ComputerName", "LAB-XPONENT-01"]),
        _line(["Country Code", "409"]),
        _line(["ProtocolName", protocol]),
        _line(["ProtocolVersion", "1"]),
        _line(["ProtocolDescription", f"{plate.assay.name}; kit lot {plate.assay.kit_lot}"]),
        _line(["ProtocolDevelopingCompany", ""]),
        _line(["SampleVolume", "50 uL"]),
        _line(["DDGate", "7500 to 25000"]),
        _line(["SampleTimeout", "60 sec"]),
        _line(["BatchStartTime", _stamp(start)]),
        _line(["BatchStopTime", _stamp(stop)]),
        _line(["BatchDescription", "<None>"]),
        _line(["ProtocolPlate", "Name", "Current 96-well plate", "Type", "96", "Plates", "1"]),
        _line(
            ["ProtocolMicrosphere", "Map", f"{instrument} Map", "Type", "MagPlex", "Count", str(n_analytes)]
        ),
        _line(["ProtocolReporterGain", "Standard PMT"]),
        _line(["ProtocolAnalysis", analysis]),
        _line(["NormBead", "None"]),
        _line(["ProtocolHeater", "Off"]),
        "",
        _line(["Most Recent Calibration and Verification Results:"]),
        _line(["Last CAL Calibration", f"Passed {cal}"]),
        _line(["Last VER Verification", f"Passed {cal}"]),
        _line(["Last Fluidics Test", f"Passed {cal}"]),
        _line([""]),
        _line(["CALInfo:"]),
        _line(["Calibrator"]),
        _line(["Lot", "ExpirationDate", "CalibrationTime", "Result", "MachineSerialNo"]),
        _line(["B93260", "02/08/2030", cal, "Pass", serial]),
        "",
        "",
        _line(["Samples", str(len(plate.wells)), "Min Events", str(MIN_EVENTS), "Per Bead"]),
        "",
        _line(["Results"]),
        "",
    ]


def _per_well(
    name: str,
    wells: Sequence[SynthWell],
    labels: Sequence[str],
    values: Sequence[Sequence[str]],
    totals: Sequence[int] | None,
) -> list[str]:
    out = [
        _line(["DataType:", name]),
        _line(["Location", "Sample", *labels, *(["Total Events"] if totals else [])]),
    ]
    for i, (w, row) in enumerate(zip(wells, values, strict=True)):
        tail = [str(totals[i])] if totals else []
        out.append(_line([f"{i + 1}(1,{w.well})", w.sample_id, *row, *tail]))
    return [*out, ""]


def _by_sample(
    name: str, wells: Sequence[SynthWell], labels: Sequence[str], values: dict[str, list[str]]
) -> list[str]:
    out = [_line(["DataType:", name]), _line(["Sample", *labels])]
    seen: list[str] = []
    for w in wells:
        if w.sample_id not in seen:
            seen.append(w.sample_id)
            out.append(_line([w.sample_id, *values[w.sample_id]]))
    return [*out, ""]


def render_xponent(plate: SynthPlate) -> str:
    """The whole export as text (CRLF), for writers and tests that want it in memory."""
    analytes = _analytes(plate)
    labels = [plate.labels.get(a, a) for a in analytes]
    wells = plate.wells
    rng = random.Random(f"xponent:{plate.plate_id}")
    cells = [[w.cells.get(a) for a in analytes] for w in wells]

    counts = [[rng.randint(MIN_EVENTS, 3 * MIN_EVENTS) for _ in analytes] for _ in wells]
    totals = [sum(row) + rng.randint(40, 400) for row in counts]
    medians = [[_num(c.signal) if c else "" for c in row] for row in cells]

    blanks = [w for w in wells if w.sample_type == "blank"]
    background = [
        statistics.fmean(s) if (s := [w.cells[a].signal for w in blanks if a in w.cells]) else 0.0
        for a in analytes
    ]
    net = [
        [
            _num(round(c.signal - bg, 2)) if c and math.isfinite(c.signal) else "NaN"
            for c, bg in zip(row, background, strict=True)
        ]
        for row in cells
    ]
    lines = _header(plate, len(analytes))
    lines += _per_well("Median", wells, labels, medians, totals)
    lines += _per_well("Net MFI", wells, labels, net, totals)
    lines += _per_well("Count", wells, labels, [[str(n) for n in row] for row in counts], totals)

    analysis = any(c is not None and c.reported_text is not None for row in cells for c in row)
    if analysis:
        results = [[(c.reported_text or "") if c else "" for c in row] for row in cells]
        lines += _per_well("Result", wells, labels, results, totals)
        lines += _per_well("Range", wells, labels, [[_range_text(c) for c in row] for row in cells], totals)
        avg: dict[str, list[str]] = {}
        cv: dict[str, list[str]] = {}
        for w in wells:
            if w.sample_id in avg:
                continue
            reps = [x for x in wells if x.sample_id == w.sample_id]
            avg[w.sample_id], cv[w.sample_id] = [], []
            for a in analytes:
                parsed = [parse_conc(x.cells[a].reported_text) for x in reps if a in x.cells]
                nums = [p.value for p in parsed if p.qualifier == "=" and p.value is not None]
                ok = bool(parsed) and len(nums) == len(parsed)
                avg[w.sample_id].append(_num(round(statistics.fmean(nums), 4)) if ok else "N/A")
                sd_ok = ok and len(nums) > 1 and statistics.fmean(nums) != 0
                cv[w.sample_id].append(
                    _num(round(100 * statistics.stdev(nums) / statistics.fmean(nums), 2)) if sd_ok else "NaN"
                )
        lines += _by_sample("Avg Result", wells, labels, avg)
        lines += _by_sample("%CV Replicates", wells, labels, cv)

    lines += [
        _line(["DataType:", "Units"]),
        _line(["Analyte:", *labels]),
        _line(["BeadID:", *_bead_ids(labels)]),
        _line(["Units:", *[plate.unit_label] * len(analytes)]),
        "",
    ]
    if analysis:
        for section, kind in (
            ("Standard Expected Concentration", "standard"),
            ("Control Expected Concentration", "qc"),
        ):
            named = [w for w in wells if w.sample_type == kind and w.expected_conc]
            if not named:
                continue
            lines += [_line(["DataType:", section]), _line(["Reagent", *labels])]
            done: set[str] = set()
            for w in named:
                if w.sample_id not in done:
                    done.add(w.sample_id)
                    lines.append(_line([w.sample_id, *[_num(w.expected_conc.get(a)) for a in analytes]]))
            lines.append("")
    lines += [_line(["DataType:", "Dilution Factor"]), _line(["Location", "Sample", "Dilution Factor"])]
    lines += [_line([f"{i + 1}(1,{w.well})", w.sample_id, _num(w.dilution)]) for i, w in enumerate(wells)]
    lines += [
        "",
        "",
        _line(["DataType:", "Analysis Types"]),
        _line(["Analyte:", *labels]),
        _line(["AnalysisType", *(["5PL Regression" if analysis else "None"] * len(analytes))]),
        "",
        _line(["DataType:", "Audit Logs"]),
        _line(["UserId", "Date", "Message"]),
        "",
        _line(["DataType:", "Warnings/Errors"]),
        _line(["Location", "Status", "Message"]),
        "",
    ]
    body = "\r\n".join(lines) + "\r\n"
    crc = zlib.crc32(body.encode("utf-8")) & 0xFFFFFFFF
    return body + f"-- CRC --\r\nCRC32: {crc:08X}\r\n"


def write_xponent(plate: SynthPlate, out_dir: Path) -> Path:
    """Write the plate to ``out_dir/<file_stem or plate_id>.csv`` and return the path."""
    out_dir.mkdir(parents=True, exist_ok=True)
    path = out_dir / f"{plate.file_stem or plate.plate_id}.csv"
    path.write_bytes(render_xponent(plate).encode("utf-8"))
    return path
