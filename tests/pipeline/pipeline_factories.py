"""Hand-built canonical well tables and manifests for the pipeline tests (no reader involved).

Imported by the tests as ``pipeline_factories`` (tests/pipeline is on sys.path: no __init__.py here)."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import polars as pl

from schemas.manifest import MANIFEST_COLUMNS
from schemas.wells import conform

SHA = "ab" * 32

WellsFactory = Callable[..., pl.DataFrame]
AUTO: Any = object()


def make_well(
    sample_id: str | None = "CSF001",
    well: str = "A3",
    analyte: str = "VEGF-A",
    qualifier: str = "=",
    value: float | None = 10.0,
    *,
    sample_type: str = "unknown",
    reported_text: Any = AUTO,
    **kw: Any,
) -> dict[str, Any]:
    """One canonical well row; ``reported_text`` defaults to what an export would print (pass None for a
    signal-only row)."""
    if reported_text is AUTO:
        reported_text = {"<": "OOR <", ">": "OOR >", "NR": "***"}.get(
            qualifier, "" if value is None else str(value)
        )
        if qualifier in ("<", ">") and value is not None:
            reported_text = f"{qualifier} {value}"
    row: dict[str, Any] = {
        "source_file": "plate1.csv",
        "format": "xponent",
        "plate_id": "P1",
        "well": well,
        "row_number": kw.pop("row_number", None),
        "sample_id": sample_id,
        "sample_type": sample_type,
        "analyte_as_written": kw.pop("analyte_as_written", analyte),
        "analyte": None,
        "reported_text": reported_text,
        "qualifier": qualifier,
        "value": value,
        "extrapolated": False,
        "unit": "pg/mL",
        "unit_source": "file",
        "dilution": 1.0,
        "dilution_applied": False,
    }
    row.update(kw)
    return row


def make_wells(rows: list[dict[str, Any]]) -> pl.DataFrame:
    """Canonical well table from rows of :func:`make_well`; row numbers default to 10, 11, ..."""
    for i, r in enumerate(rows):
        if r.get("row_number") is None:
            r["row_number"] = 10 + i
    return conform(pl.DataFrame(rows, infer_schema_length=None))


def standards(
    analyte: str = "VEGF-A", top: float = 10000.0, levels: int = 7, step: float = 4.0
) -> list[dict[str, Any]]:
    """A standard series in duplicate (columns 1–2), values as reported."""
    rows = []
    for i in range(levels):
        conc = top / step**i
        for col in (1, 2):
            rows.append(
                make_well(
                    f"Standard{i + 1}",
                    f"{'ABCDEFGH'[i]}{col}",
                    analyte,
                    "=",
                    conc,
                    sample_type="standard",
                    expected_conc=conc,
                )
            )
    return rows


MANIFEST_HEADER = ",".join(MANIFEST_COLUMNS)


def manifest_line(
    sample_id: str,
    participant: str = "BCT-01-0001",
    visit: str = "W00",
    matrix: str = "CSF",
    *,
    site: str = "01",
    date: str = "2019-02-25",
    time: str = "10:16",
    aliquot: str = "1",
    ft: str = "0",
    condition: str = "",
    shipment: str = "SHP-1",
) -> str:
    return ",".join(
        [sample_id, participant, site, visit, matrix, date, time, aliquot, ft, condition, shipment]
    )


def write_manifest(path: Path, lines: list[str]) -> Path:
    path.write_text(MANIFEST_HEADER + "\n" + "\n".join(lines) + "\n", encoding="utf-8")
    return path


def run_plate(
    config: Any,
    rows: list[dict[str, Any]],
    assay_id: str = "LX-NTF",
    *,
    assay: Any = None,
    plate: Any = None,
) -> tuple[pl.DataFrame, pl.DataFrame, Any]:
    """prepare → check wells → aggregate for one hand-built plate: (results, quarantine, PreparedPlate)."""
    from pipeline.prepare import prepare_plate, resolve_analytes
    from pipeline.replicates import aggregate
    from pipeline.validate import check_wells
    from readers.base import PlateInfo

    plate = plate or PlateInfo(plate_id="P1")
    assay = assay or config.assays.get(assay_id)
    wells = resolve_analytes(make_wells(rows), config)
    prep = prepare_plate(wells, plate, assay, config, SHA)
    checked = check_wells(prep.wells, SHA)
    res, q = aggregate(checked.wells, prep.limits, plate, assay, config, SHA, prep.analyte_holds)
    quarantine = pl.concat([prep.quarantine, checked.quarantine, q], how="vertical")
    return res, quarantine, prep
