"""Small hand-built FileOutcomes for warehouse tests (readable, no reader involved)."""

from __future__ import annotations

import hashlib
from datetime import date

import polars as pl

from schemas.outcome import FileOutcome, PlateRecord
from schemas.results import QUARANTINE_SCHEMA, RESULT_SCHEMA, UNRESOLVED_SCHEMA
from schemas.wells import WELL_SCHEMA


def sha(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()


def result_row(
    src: str, plate: str, sample: str, analyte: str, conc: float | None, **kw: object
) -> dict[str, object]:
    rid = hashlib.sha256(
        f"{src}|{plate}|{sample}|{analyte}|{kw.get('assay_id', 'LX-NTF')}".encode()
    ).hexdigest()
    row: dict[str, object] = {
        "result_id": rid[:32],
        "study_id": "BCT-002-US",
        "participant_id": "BCT-01-0001",
        "site_id": "01",
        "visit": "W00",
        "visitnum": 1.0,
        "matrix": "CSF",
        "collection_date": date(2019, 1, 2),
        "sample_id": sample,
        "sample_condition": None,
        "analyte": analyte,
        "analyte_class": "neurotrophic",
        "assay_id": "LX-NTF",
        "platform": "luminex",
        "kit_lot": "L1",
        "plate_id": plate,
        "conc_pg_ml": conc,
        "qualifier": "=" if conc is not None else "NR",
        "lloq_pg_ml": 2.4,
        "uloq_pg_ml": 10000.0,
        "cv_pct": 3.0,
        "n_replicates": 2,
        "n_wells": 2,
        "dilution": 1.0,
        "wells": "A3,A4",
        "reported_texts": f"{conc}|{conc}",
        "unit_as_written": "pg/mL",
        "extrapolated": False,
        "flags": None,
        "status": "loaded",
        "hold_reason": None,
        "source_file": f"{plate}.csv",
        "source_sha256": src,
    }
    row.update(kw)
    return row


def outcome(
    name: str,
    rows: list[dict[str, object]],
    *,
    plate: str = "P1",
    status: str = "loaded",
    src: str | None = None,
) -> FileOutcome:
    """A processed file; ``src`` (its SHA-256) defaults to a hash of the name — give another to make a
    different file with the same name."""
    src = src or sha(name)
    res = pl.DataFrame([{**r, "source_sha256": src} for r in rows], schema=RESULT_SCHEMA)
    wells = pl.DataFrame(
        [
            {
                "source_file": name,
                "format": "xponent",
                "plate_id": plate,
                "well": w,
                "row_number": i + 1,
                "sample_id": r["sample_id"],
                "sample_type": "unknown",
                "analyte_as_written": r["analyte"],
                "analyte": r["analyte"],
                "qualifier": r["qualifier"],
                "value": r["conc_pg_ml"],
                "extrapolated": False,
                "dilution": 1.0,
                "dilution_applied": True,
            }
            for i, r in enumerate(rows)
            for w in ("A3", "A4")
        ],
        schema=WELL_SCHEMA,
    )
    return FileOutcome(
        source_file=name,
        source_sha256=src,
        size_bytes=123,
        format="xponent",
        status=status,
        message=f"{len(rows)} results accepted",
        plates=[
            PlateRecord(plate, "LX-NTF", "luminex", "CSF", "LX-NTF", "MAGPIX", None, "L1", 2 * len(rows))
        ],
        wells=wells,
        results=res,
        quarantine=pl.DataFrame(schema=QUARANTINE_SCHEMA),
        unresolved=pl.DataFrame(schema=UNRESOLVED_SCHEMA),
    )
