"""The synthetic xPONENT writer against the real xPONENT reader: what is written is what is read."""

from __future__ import annotations

from datetime import datetime
from pathlib import Path

import polars as pl
import pytest

from readers.base import FileInput, ReadResult
from readers.xponent import XponentReader
from schemas.config import Config
from schemas.wells import WellModel
from synth.model import SynthCell, SynthPlate, SynthWell
from synth.writers.xponent import write_xponent

# A few analytes of LX-NTF, with the names the kit prints (bead region in parentheses).
LABELS = {"VEGF-A": "VEGF (45)", "HGF": "Hu HGF (62)", "BDNF": "BDNF (72)"}
# Every token the generator prints, spread over the unknown wells (one row per well, one per analyte).
UNKNOWN_TEXTS = [
    ("123.45", "OOR <", "*12.3"),
    ("***", "OOR >", "---"),
    ("< 0.105", "> 3450", "0.0421"),
    ("8876.2", None, "15"),
]


def ntf_plate(config: Config, *, analysis: bool = True) -> SynthPlate:
    assay = config.assays.get("LX-NTF")
    assert assay is not None
    analytes = list(LABELS)

    def row(signals: tuple[float, ...], texts: tuple[str | None, ...]) -> dict[str, SynthCell]:
        return {
            a: SynthCell(s, t if analysis else None) for a, s, t in zip(analytes, signals, texts, strict=True)
        }

    wells = [
        SynthWell("A1", "Background0", "blank", 1.0, row((21.0, 18.5, 30.0), ("NaN", "NaN", "NaN"))),
        SynthWell("B1", "Background0", "blank", 1.0, row((23.0, 19.0, 28.0), ("NaN", "NaN", "NaN"))),
    ]
    for i in range(3):
        top = {a: assay.standards.series(a)[i] for a in analytes}
        wells.append(
            SynthWell(
                f"{'CDE'[i]}1",
                f"Standard{i + 1}",
                "standard",
                1.0,
                row(
                    (15000.5 / (i + 1), 9000.0 / (i + 1), 12345.25 / (i + 1)),
                    tuple(f"{top[a]:g}" for a in analytes),
                ),
                expected_conc=top,
                level=f"S{i + 1}",
            )
        )
    wells.append(
        SynthWell(
            "F1",
            "Control1",
            "qc",
            1.0,
            row((2500.0, 1200.0, 800.0), ("410.5", "1602", "2010")),
            expected_conc={"VEGF-A": 400.0, "HGF": 1600.0, "BDNF": 2000.0},
            level="QC-M",
        )
    )
    for i, texts in enumerate(UNKNOWN_TEXTS):
        wells.append(
            SynthWell(
                f"{'ABCD'[i]}2",
                f"BCT-{1001 + i}",
                "unknown",
                2.0 if i % 2 == 0 else 4.0,
                row((812.0 + i, 33.25 * (i + 1), 40000.0 - i), texts),
            )
        )
    return SynthPlate(
        plate_id="BCT003-LX-NTF-SERUM-P009",
        assay=assay,
        matrix="SERUM",
        wells=wells,
        run_started=datetime(2024, 3, 1, 14, 5, 9),
        operator="jdoe",
        labels=LABELS,
        unit_label="pg/mL",
        file_stem="BCT003-LX-NTF-SERUM-P009_20240301",
        extra={"instrument": "MAGPIX", "serial_number": "MAGPX16145704"},
    )


def write_and_read(plate: SynthPlate, out: Path) -> tuple[Path, ReadResult]:
    path = write_xponent(plate, out)
    return path, XponentReader().read(FileInput(path.name, path.read_bytes()))


def test_file_looks_like_xponent(config: Config, tmp_path: Path) -> None:
    path = write_xponent(ntf_plate(config), tmp_path / "inbox")
    assert path == tmp_path / "inbox" / "BCT003-LX-NTF-SERUM-P009_20240301.csv"
    data = path.read_bytes()
    assert data.startswith(b'"Program","xPONENT","","MAGPIX"\r\n')
    assert b"\n" not in data.replace(b"\r\n", b"")  # CRLF throughout
    text = data.decode()
    for section in ("Median", "Net MFI", "Count", "Result", "Range", "Avg Result", "%CV Replicates", "Units"):
        assert f'"DataType:","{section}"\r\n' in text
    assert '"DataType:","Standard Expected Concentration"' in text
    assert '"DataType:","Dilution Factor"' in text
    assert '"Location","Sample","VEGF (45)","Hu HGF (62)","BDNF (72)","Total Events"' in text
    assert '"BeadID:","45","62","72"' in text
    assert '"1(1,A1)","Background0"' in text
    assert text.endswith("\r\n") and "-- CRC --\r\nCRC32: " in text
    sniff = XponentReader().sniff(text[:20_000], FileInput(path.name, data))
    assert sniff.matched


def test_round_trip_every_well_and_analyte(config: Config, tmp_path: Path) -> None:
    plate = ntf_plate(config)
    path, res = write_and_read(plate, tmp_path)
    df = WellModel.validate(res.wells)
    assert df.height == len(plate.wells) * len(LABELS)
    rows = {(r["well"], r["analyte_as_written"]): r for r in df.iter_rows(named=True)}
    for w in plate.wells:
        for analyte, c in w.cells.items():
            r = rows[(w.well, plate.labels[analyte])]
            assert r["sample_id"] == w.sample_id
            assert r["sample_type"] == w.sample_type
            assert r["signal"] == c.signal and r["signal_kind"] == "MFI"
            # An empty Result cell is still a cell: it reads back as "" (not reported), not as "no cell".
            assert r["reported_text"] == (c.reported_text or "")
            assert r["dilution"] == w.dilution
            assert (r["unit"], r["unit_source"]) == ("pg/mL", "file")
            assert r["expected_conc"] == (
                w.expected_conc.get(analyte) if w.sample_type in ("standard", "qc") else None
            )
            assert r["source_file"] == path.name
    (info,) = res.plates
    assert info.plate_id == plate.plate_id
    assert info.protocol == "BCT NTF 8-plex"
    assert info.instrument == "MAGPIX"
    assert info.operator == "jdoe"
    assert info.acquired_at == "3/1/2024 2:05:09 PM"
    assert not any("low" in w or "CRC" in w for w in res.warnings)


def test_round_trip_tokens_and_dilution_flag(config: Config, tmp_path: Path) -> None:
    _, res = write_and_read(ntf_plate(config), tmp_path)
    df = res.wells.filter(pl.col("sample_type") == "unknown")
    got = {
        (r["reported_text"], r["qualifier"], r["value"], r["extrapolated"], r["dilution_applied"])
        for r in df.iter_rows(named=True)
    }
    assert ("123.45", "=", 123.45, False, True) in got
    assert ("*12.3", "=", 12.3, True, True) in got
    assert ("OOR <", "<", None, False, False) in got
    assert ("< 0.105", "<", 0.105, False, False) in got
    assert ("> 3450", ">", 3450.0, False, False) in got
    assert ("***", "NR", None, False, False) in got
    outlier = df.filter(pl.col("reported_text") == "---")
    assert outlier["flags"].to_list() == ["outlier"]


def test_analysis_off_writes_no_result_section(config: Config, tmp_path: Path) -> None:
    plate = ntf_plate(config, analysis=False)
    path, res = write_and_read(plate, tmp_path)
    assert '"DataType:","Result"' not in path.read_text()
    df = WellModel.validate(res.wells)
    assert df["reported_text"].is_null().all() and set(df["qualifier"]) == {"NR"}
    assert df.filter(pl.col("well") == "C1")["signal"].to_list() == [15000.5, 9000.0, 12345.25]


@pytest.mark.parametrize("unit_label", ["ng/mL", "pg/ml"])
def test_units_section_prints_the_plate_unit_label(config: Config, tmp_path: Path, unit_label: str) -> None:
    plate = ntf_plate(config)
    plate = SynthPlate(**{**plate.__dict__, "unit_label": unit_label})
    _, res = write_and_read(plate, tmp_path)
    assert set(res.wells["unit"]) == {unit_label}


def test_file_name_falls_back_to_plate_id_and_output_is_deterministic(config: Config, tmp_path: Path) -> None:
    plate = SynthPlate(**{**ntf_plate(config).__dict__, "file_stem": ""})
    a = write_xponent(plate, tmp_path / "a")
    b = write_xponent(plate, tmp_path / "b")
    assert a.name == "BCT003-LX-NTF-SERUM-P009.csv"
    assert a.read_bytes() == b.read_bytes()
