"""The synthetic ELISA writer against the real grid reader: what is written is what is read."""

from __future__ import annotations

import math
from datetime import datetime
from pathlib import Path

import polars as pl
import pytest

from assay.curves import CurveFit, concentrations_from_signal
from readers.base import FileInput
from readers.detect import is_companion
from readers.platereader import PlateReaderGridReader
from schemas.config import Config
from schemas.wells import WellModel
from synth.model import SynthCell, SynthPlate, SynthWell
from synth.writers.platereader import write_platereader

CURVE = CurveFit(a=0.045, b=1.2, c=400.0, d=3.1, r_squared=1.0, weighting="none", converged=True, message="")


def cell(conc: float) -> SynthCell:
    return SynthCell(signal=CURVE.predict(conc), reported_text=None, true_conc_pg_ml=conc)


def elisa_plate(config: Config, *, no_reading: str | None = None) -> SynthPlate:
    assay = config.assays.get("ELISA-VEGF")
    assert assay is not None
    analyte = assay.analytes[0]
    wells: list[SynthWell] = []
    for i, level in enumerate(assay.standards.series(analyte)):
        for col in (1, 2):
            wells.append(
                SynthWell(
                    f"{'ABCDEFGH'[i]}{col}",
                    f"Standard{i + 1}",
                    "standard",
                    1.0,
                    {analyte: cell(level)},
                    expected_conc={analyte: level},
                    level=f"S{i + 1}",
                )
            )
    wells.append(SynthWell("A3", "Background0", "blank", 1.0, {analyte: cell(0.0)}))
    wells.append(SynthWell("B3", "QC-M", "qc", 1.0, {analyte: cell(250.0)}, expected_conc={analyte: 250.0}))
    for i, conc in enumerate((40.0, 120.0, 600.0, 1500.0)):
        well = f"{'CDEF'[i]}4"
        signal = math.nan if well == no_reading else CURVE.predict(conc)
        wells.append(
            SynthWell(well, f"BCT-{i:04d}", "unknown", 2.0, {analyte: SynthCell(signal, None, conc)})
        )
    return SynthPlate(
        plate_id="ELISA-VEGF-0007",
        assay=assay,
        matrix="SERUM",
        wells=wells,
        run_started=datetime(2024, 3, 1, 9, 30),
        operator="jdoe",
        labels={analyte: "Human VEGF"},
        file_stem="site01_vegf_plate7",
    )


def read_back(paths: list[Path]) -> tuple[FileInput, PlateReaderGridReader]:
    grid, platemap = paths
    return FileInput(
        grid.name, grid.read_bytes(), {platemap.name: platemap.read_bytes()}
    ), PlateReaderGridReader()


def test_writes_the_grid_and_its_plate_map(config: Config, tmp_path: Path) -> None:
    paths = write_platereader(elisa_plate(config), tmp_path)
    assert [p.name for p in paths] == ["site01_vegf_plate7.txt", "site01_vegf_plate7_platemap.csv"]
    grid = paths[0].read_bytes()
    assert b"\r\n" in grid and grid.count(b"\n") == grid.count(b"\r\n")
    text = grid.decode()
    assert text.startswith("Plate: ELISA-VEGF-0007\r\nAssay: VEGF ELISA\r\nAnalyte: Human VEGF\r\n")
    assert "Wavelength: 450 nm" in text and "\r\n\t1\t2\t3\t4\t5\t6\t7\t8\t9\t10\t11\t12\r\n" in text
    assert is_companion(FileInput(paths[1].name, paths[1].read_bytes()))
    assert not is_companion(FileInput(paths[0].name, grid))


def test_round_trip_through_the_reader(config: Config, tmp_path: Path) -> None:
    plate = elisa_plate(config)
    file, reader = read_back(write_platereader(plate, tmp_path))
    assert reader.sniff(file.data.decode(), file).matched
    result = reader.read(file)
    df = result.wells
    WellModel.validate(df)
    assert result.companions == ["site01_vegf_plate7_platemap.csv"]
    assert result.plates[0].plate_id == "ELISA-VEGF-0007" and result.plates[0].protocol == "VEGF ELISA"
    assert sorted(df["well"].to_list()) == sorted(w.well for w in plate.wells)
    got = {r["well"]: r for r in df.iter_rows(named=True)}
    for w in plate.wells:
        row = got[w.well]
        assert row["signal"] == pytest.approx(w.cells["VEGF-A"].signal, abs=5e-4)  # 3 decimals
        assert row["sample_id"] == w.sample_id and row["sample_type"] == w.sample_type
        assert row["dilution"] == w.dilution
        assert row["expected_conc"] == w.expected_conc.get("VEGF-A")
    assert df["analyte_as_written"].unique().to_list() == ["Human VEGF"]
    assert df["signal_kind"].unique().to_list() == ["OD450"]


def test_concentrations_from_the_written_plate_match_the_truth(config: Config, tmp_path: Path) -> None:
    plate = elisa_plate(config)
    file, reader = read_back(write_platereader(plate, tmp_path))
    out, fits = concentrations_from_signal(reader.read(file).wells, unit=plate.assay.unit)
    assert fits["Human VEGF"].converged
    unknowns = out.filter(pl.col("sample_type") == "unknown").sort("well")
    truth = {w.well: w.cells["VEGF-A"].true_conc_pg_ml for w in plate.wells if w.sample_type == "unknown"}
    for row in unknowns.iter_rows(named=True):
        assert row["qualifier"] == "="
        assert row["value"] == pytest.approx(truth[row["well"]], rel=0.03)  # in-well, OD rounded to 3 dp


def test_a_missing_reading_round_trips_as_not_reported(config: Config, tmp_path: Path) -> None:
    file, reader = read_back(write_platereader(elisa_plate(config, no_reading="D4"), tmp_path))
    d4 = reader.read(file).wells.row(by_predicate=pl.col("well") == "D4", named=True)
    assert d4["signal"] is None and d4["qualifier"] == "NR" and d4["flags"] == "no_reading"
