"""Sample manifests: one file or a folder of shipments, checked against study.yaml, conflicts named."""

from __future__ import annotations

import hashlib
from datetime import date
from pathlib import Path

import polars as pl
import pytest
from pipeline_factories import manifest_line, write_manifest

from pipeline.manifest import ManifestError, load_manifest
from schemas.config import Config
from schemas.manifest import MANIFEST_SCHEMA, Manifest


def test_one_file_is_typed_and_keyed_by_sample(tmp_path: Path, config: Config) -> None:
    p = write_manifest(
        tmp_path / "m.csv",
        [manifest_line("CSF001", condition="HEMOLYZED"), manifest_line("SER001", matrix="SERUM", ft="2")],
    )
    m = load_manifest(p, config)
    assert m.samples.schema == pl.Schema(MANIFEST_SCHEMA)
    assert m.samples["sample_id"].to_list() == ["CSF001", "SER001"]
    row = m.samples.row(0, named=True)
    assert row["site_id"] == "01"  # never read as the number 1
    assert row["collection_date"] == date(2019, 2, 25)
    assert row["condition"] == "HEMOLYZED"
    assert row["manifest_file"] == "m.csv" and row["manifest_line"] == 2
    assert m.samples["freeze_thaw_count"].to_list() == [0, 2]
    assert m.samples.row(1, named=True)["condition"] is None
    assert m.files == [("m.csv", hashlib.sha256(p.read_bytes()).hexdigest())]
    ((name, sha, n),) = m.sources  # unpacks as (name, sha256, n_rows)
    assert (name, n) == ("m.csv", 2) and len(sha) == 64
    assert len(m) == 2 and "CSF001" in m and "NOPE" not in m


def test_a_folder_reads_every_csv_sorted_and_identical_repeats_are_fine(
    tmp_path: Path, config: Config
) -> None:
    d = tmp_path / "manifests"
    d.mkdir()
    write_manifest(
        d / "shipment-2.csv",
        [manifest_line("CSF002", shipment="SHP-2"), manifest_line("CSF001", shipment="SHP-2")],
    )
    write_manifest(d / "shipment-1.csv", [manifest_line("CSF001")])
    (d / "notes.txt").write_text("not a manifest")
    m = load_manifest(d, config)
    assert [s.name for s in m.sources] == ["shipment-1.csv", "shipment-2.csv"]
    assert sorted(m.samples["sample_id"].to_list()) == ["CSF001", "CSF002"]
    first = m.samples.filter(pl.col("sample_id") == "CSF001").row(0, named=True)
    assert first["manifest_file"] == "shipment-1.csv"  # the first listing is kept


def test_conflicting_repeat_across_shipments_names_both_files_sample_and_fields(
    tmp_path: Path, config: Config
) -> None:
    d = tmp_path / "manifests"
    d.mkdir()
    write_manifest(d / "shipment-1.csv", [manifest_line("CSF001"), manifest_line("CSF002")])
    write_manifest(
        d / "shipment-2.csv",
        [manifest_line("CSF009"), manifest_line("CSF001", visit="W04", date="2019-03-25", shipment="SHP-2")],
    )
    with pytest.raises(ManifestError) as err:
        load_manifest(d, config)
    (p,) = err.value.problems
    assert p.rule == "conflicting_sample"
    assert (p.file, p.line) == ("shipment-2.csv", 3)
    text = str(err.value)
    for part in (
        "CSF001",
        "shipment-1.csv (line 2)",
        "shipment-2.csv (line 3)",
        "visit ('W00' vs 'W04')",
        "collection_date",
    ):
        assert part in text
    assert "shipment_id" not in p.message  # a different shipment is not a conflict


def test_bad_rows_name_file_line_value_rule_and_what_to_do(tmp_path: Path, config: Config) -> None:
    p = write_manifest(
        tmp_path / "ship.csv",
        [
            manifest_line("CSF001"),
            manifest_line("CSF002", visit="W03"),
            manifest_line("CSF003", matrix="PLASMA"),
            manifest_line("CSF004", date="3/5/2019"),
            manifest_line("CSF005", participant=""),
            manifest_line("CSF006", ft="-1"),
            manifest_line("CSF007", time="25:99"),
            manifest_line("CSF008", site="99"),
            manifest_line("CSF009", ft="two"),
        ],
    )
    with pytest.raises(ManifestError) as err:
        load_manifest(p, config)
    got = {(x.line, x.column, x.rule, x.value) for x in err.value.problems}
    assert got == {
        (3, "visit", "unknown_visit", "W03"),
        (4, "matrix", "unknown_matrix", "PLASMA"),
        (5, "collection_date", "bad_date", "3/5/2019"),
        (6, "participant_id", "missing_value", None),
        (7, "freeze_thaw_count", "bad_number", "-1"),
        (8, "collection_time", "bad_format", "25:99"),
        (9, "site_id", "unknown_site", "99"),
        (10, "freeze_thaw_count", "bad_number", "two"),
    }
    assert all(x.file == "ship.csv" for x in err.value.problems)
    assert all("manifest" in x.message or "study.yaml" in x.message for x in err.value.problems)
    assert "ship.csv, line 3: visit 'W03' (sample CSF002) is not a visit code in study.yaml" in str(err.value)


def test_missing_columns_and_missing_path(tmp_path: Path, config: Config) -> None:
    p = tmp_path / "m.csv"
    p.write_text("sample_id,participant_id\nCSF001,BCT-01-0001\n")
    with pytest.raises(ManifestError, match="lacks the column"):
        load_manifest(p, config)
    with pytest.raises(ManifestError, match="no such file"):
        load_manifest(tmp_path / "nope", config)


def test_headers_are_matched_loosely_and_dates_may_be_dd_mon_yyyy(tmp_path: Path, config: Config) -> None:
    p = tmp_path / "m.csv"
    header = (
        "Sample ID,Participant ID,Site ID,Visit,Matrix,Collection Date,Collection Time,Aliquot,"
        "Freeze-Thaw Count,Condition,Shipment ID"
    )
    p.write_bytes(
        ("\ufeff" + header + "\r\n" + "CSF001,BCT-01-0001,01,W00,CSF,25-Feb-2019,,1,0,,S1\r\n\r\n").encode()
    )
    m = load_manifest(p, config)
    assert m.samples.row(0, named=True)["collection_date"] == date(2019, 2, 25)


def test_an_empty_folder_is_an_empty_manifest(tmp_path: Path, config: Config) -> None:
    m = load_manifest(tmp_path, config)
    assert len(m) == 0 and m.n_files == 0
    assert Manifest.empty().samples.schema == m.samples.schema
