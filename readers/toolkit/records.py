"""Rows of the canonical well table (schemas/wells.py), built from a few small typed records instead of a
twenty-keyword dict in every reader.

A row is: where it comes from (:class:`Origin`: file, reader, plate — the same for a whole plate), what the
well holds (:class:`Sample`), what was read there (:class:`Reading`: well, line, analyte, signal) and, when
the file reports one, its concentration (:class:`Reported`). Each reader fills the records at the point it
knows their parts; :func:`signal_row` and :func:`result_row` lay them out as the table's columns, so the
columns every row has (``analyte`` and ``conc_pg_ml`` left to the pipeline, the unit's source, the flags
joined with ``;``) are written once.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from readers.platemap import PlateMap
from readers.tokens import ParsedConc


@dataclass(frozen=True)
class Origin:
    """The file, reader and plate a row comes from: one per plate of a file."""

    source_file: str
    format: str
    plate_id: str


@dataclass(frozen=True)
class Sample:
    """What a well holds, as the file or its plate map says. ``dilution`` is the factor the well was diluted
    by (1 when not given: the reader flags an unknown without one)."""

    sample_id: str | None
    sample_type: str
    expected_conc: float | None = None
    dilution: float = 1.0

    @classmethod
    def of_platemap(cls, platemap: PlateMap | None, well: str) -> Sample:
        """The well as a plate map describes it; without a map, a study sample of unknown identity."""
        if platemap is None:
            return cls(None, "unknown")
        return cls(
            platemap.sample_id(well),
            platemap.sample_type(well),
            platemap.expected_conc(well),
            platemap.dilution(well),
        )


@dataclass(frozen=True)
class Reading:
    """One value read: the well and file line it stands at, the analyte as the file (or map) writes it, the
    signal and its kind (``MFI``, ``ECL``, ``OD450``…; None when the file has no signal column)."""

    well: str
    row_number: int | None
    analyte_as_written: str
    signal: float | None
    signal_kind: str | None


@dataclass(frozen=True)
class Reported:
    """A concentration the file reports: the cell as written, what it was read as (qualifier, number or
    limit, extrapolated), whether the well's dilution is already multiplied in, and the unit the file
    names (None: the assay configuration gives it)."""

    text: str | None
    conc: ParsedConc
    dilution_applied: bool
    unit: str | None = None


# A reading without a concentration (a plate reader's grid, an instrument's raw counts): the curve computes
# it later, so the row is "not reported" with no unit and the dilution not yet applied.
_UNQUANTIFIED = Reported(None, ParsedConc("NR", None), dilution_applied=False)


def result_row(
    origin: Origin, sample: Sample, reading: Reading, reported: Reported, flags: Iterable[str]
) -> dict[str, object]:
    """One row of the canonical well table, its columns in the table's order; the unit's source is "file"
    when the file names the unit, the flags are joined the way the table keeps them (None when none)."""
    return {
        "source_file": origin.source_file,
        "format": origin.format,
        "plate_id": origin.plate_id,
        "well": reading.well,
        "row_number": reading.row_number,
        "sample_id": sample.sample_id,
        "sample_type": sample.sample_type,
        "expected_conc": sample.expected_conc,
        "analyte_as_written": reading.analyte_as_written,
        "analyte": None,  # the pipeline maps the name to the catalogue
        "signal": reading.signal,
        "signal_kind": reading.signal_kind,
        "reported_text": reported.text,
        "qualifier": reported.conc.qualifier,
        "value": reported.conc.value,
        "extrapolated": reported.conc.extrapolated,
        "unit": reported.unit,
        "unit_source": "file" if reported.unit else None,
        "conc_pg_ml": None,  # the pipeline converts, dilution applied exactly once
        "dilution": sample.dilution,
        "dilution_applied": reported.dilution_applied,
        "flags": ";".join(flags) or None,
    }


def signal_row(origin: Origin, sample: Sample, reading: Reading, flags: Iterable[str]) -> dict[str, object]:
    """A row for a reading the file gives no concentration for (see :data:`_UNQUANTIFIED`)."""
    return result_row(origin, sample, reading, _UNQUANTIFIED, flags)
