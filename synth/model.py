"""What the synthetic study generator hands to the format writers.

The generator decides every number and every text (signals, reported concentrations, tokens, injected
defects); a writer only lays a plate out the way one instrument family exports it. That keeps the
"what is measured" logic in one place and lets each writer be checked against its real-file reader.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime

from schemas.config import Assay


@dataclass(frozen=True)
class SynthCell:
    """One analyte in one well."""

    signal: float  # MFI (Luminex) or OD (plate reader)
    reported_text: str | None  # concentration cell as the instrument would print it; None: no analysis
    true_conc_pg_ml: float | None = None  # in-well truth before dilution (tests compare against it)


@dataclass(frozen=True)
class SynthWell:
    well: str  # "A1"
    sample_id: str  # sample barcode for unknowns; "Standard1", "Background0", "Control1"... otherwise
    sample_type: str  # unknown | standard | qc | blank
    dilution: float
    cells: dict[str, SynthCell]  # canonical analyte → cell
    expected_conc: dict[str, float] = field(default_factory=dict)  # standards/QCs: nominal, pg/mL in-well
    level: str | None = None  # "S1".."S8", "QC-L"/"QC-M"/"QC-H"


@dataclass(frozen=True)
class SynthPlate:
    plate_id: str
    assay: Assay
    matrix: str  # CSF or SERUM (a plate holds one matrix)
    wells: list[SynthWell]
    run_started: datetime
    operator: str
    labels: dict[str, str]  # canonical analyte → name as the kit/instrument writes it ("Hu VEGF (45)")
    unit_label: str = "pg/mL"  # unit as printed in the export (a defect may mislabel it)
    file_stem: str = ""  # file name stem the writer uses
    extra: dict[str, str] = field(default_factory=dict)
