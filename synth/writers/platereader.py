"""Synthetic single-plex ELISA plate: an OD grid export plus its plater-format plate map.

Lays one SynthPlate out the way a plate reader's plain text export and the lab's plate map would look, so
the demo and the tests exercise readers/platereader.py on the same shape as real uploads: a few
``Key: value`` lines, a blank line, a tab-separated grid (CRLF, OD with 3 decimals), and a plate map in a
separate file named ``<stem>_platemap.csv`` that the reader pairs with it.
"""

from __future__ import annotations

import csv
import io
import math
from collections.abc import Callable
from pathlib import Path

from readers.units import factor_to_pg_ml
from synth.model import SynthPlate, SynthWell

_ROWS = "ABCDEFGHIJKLMNOP"
_WAVELENGTH_NM = 450
_EMPTY_WELL_OD = 0.040  # an unused, empty well still reads the plastic's background


def _shape(plate: SynthPlate) -> tuple[int, int]:
    """(rows, columns): 8×12, or 16×24 when a well lies beyond H12."""
    big = any(w.well[0] > "H" or int(w.well[1:]) > 12 for w in plate.wells)
    return (16, 24) if big else (8, 12)


def _number(value: float) -> str:
    return format(value, ".10g")


def _grid_text(plate: SynthPlate, analyte: str) -> str:
    n_rows, n_cols = _shape(plate)
    by_well = {w.well: w for w in plate.wells}
    protocol = plate.assay.protocol_names[0] if plate.assay.protocol_names else plate.assay.assay_id
    lines = [
        f"Plate: {plate.plate_id}",
        f"Assay: {protocol}",
        f"Analyte: {plate.labels.get(analyte, analyte)}",
        f"Wavelength: {_WAVELENGTH_NM} nm",
        f"Read date: {plate.run_started:%Y-%m-%d %H:%M:%S}",
        f"Operator: {plate.operator}",
        "",
        "\t" + "\t".join(str(c) for c in range(1, n_cols + 1)),
    ]
    for r in _ROWS[:n_rows]:
        cells = []
        for c in range(1, n_cols + 1):
            well = by_well.get(f"{r}{c}")
            if well is None:
                cells.append(f"{_EMPTY_WELL_OD:.3f}")  # a reader prints every well, used or not
                continue
            cell = well.cells.get(analyte)
            # A well without a finite signal is an injected "no reading": the export leaves it empty.
            cells.append(f"{cell.signal:.3f}" if cell and math.isfinite(cell.signal) else "")
        lines.append(r + "\t" + "\t".join(cells))
    return "\r\n".join(lines) + "\r\n"


def _platemap_text(plate: SynthPlate, analyte: str) -> str:
    n_rows, n_cols = _shape(plate)
    by_well = {w.well: w for w in plate.wells}
    # Nominal concentrations are pg/mL in the model; the map states them in the assay's configured unit.
    factor = factor_to_pg_ml(plate.assay.unit) or 1.0

    def expected(w: SynthWell) -> str:
        v = w.expected_conc.get(analyte)
        return "" if v is None else _number(v / factor)

    blocks: dict[str, Callable[[SynthWell], str]] = {
        "sample_id": lambda w: w.sample_id,
        "sample_type": lambda w: w.sample_type,
        "expected_conc": expected,
        "dilution": lambda w: _number(w.dilution),
    }
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    for index, (variable, cell) in enumerate(blocks.items()):
        if index:
            writer.writerow([])
        writer.writerow([variable, *range(1, n_cols + 1)])
        for r in _ROWS[:n_rows]:
            row = [by_well.get(f"{r}{c}") for c in range(1, n_cols + 1)]
            writer.writerow([r, *(cell(w) if w else "" for w in row)])
    return out.getvalue()


def write_platereader(plate: SynthPlate, out_dir: Path) -> list[Path]:
    """Write ``<stem>.txt`` (the OD grid export) and ``<stem>_platemap.csv``; return both paths.

    One analyte per ELISA plate: the assay's first.
    """
    analyte = plate.assay.analytes[0]
    stem = plate.file_stem or plate.plate_id
    out_dir.mkdir(parents=True, exist_ok=True)
    grid_path = out_dir / f"{stem}.txt"
    map_path = out_dir / f"{stem}_platemap.csv"
    grid_path.write_bytes(_grid_text(plate, analyte).encode("utf-8"))
    map_path.write_bytes(_platemap_text(plate, analyte).encode("utf-8"))
    return [grid_path, map_path]
