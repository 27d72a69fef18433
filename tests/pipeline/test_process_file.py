"""process_file over hand-built reads (a stand-in reader): statuses, messages, tables, plate records."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, ClassVar

import polars as pl
import pytest
from pipeline_factories import SHA, make_well, make_wells, manifest_line, standards

import readers.detect
from pipeline.process import WELL_OUTPUT_COLUMNS, process_file
from readers.base import FileInput, PlateInfo, ReaderError, ReadResult, Sniff
from schemas.config import Config
from schemas.manifest import Manifest
from schemas.results import QUARANTINE_SCHEMA, RESULT_SCHEMA, UNRESOLVED_SCHEMA
from schemas.wells import WELL_COLUMNS


class StandIn:
    """A reader returning a prepared ReadResult (or raising), so process_file sees exactly these wells."""

    name: ClassVar[str] = "standin"
    label: ClassVar[str] = "stand-in"

    def __init__(self, result: ReadResult | Exception) -> None:
        self.result = result

    def sniff(self, text_head: str, file: FileInput) -> Sniff:
        return Sniff(True, "always")

    def read(self, file: FileInput) -> ReadResult:
        if isinstance(self.result, Exception):
            raise self.result
        return self.result


@pytest.fixture
def reader_returns(monkeypatch: pytest.MonkeyPatch) -> Callable[..., None]:
    def install(
        rows: list[dict[str, Any]] | Exception,
        plates: list[PlateInfo] | None = None,
        warnings: tuple[str, ...] = (),
    ) -> None:
        if isinstance(rows, Exception):
            result: ReadResult | Exception = rows
        else:
            result = ReadResult(
                format="standin",
                wells=make_wells(rows),
                plates=plates
                or [PlateInfo("P1", protocol="BCT NTF 8-plex", instrument="FM3D", kit_lot="LOT9")],
                warnings=list(warnings),
            )
        monkeypatch.setattr(readers.detect, "detect", lambda file: StandIn(result))
        monkeypatch.setattr(readers.detect, "is_companion", lambda file: False)

    return install


FILE = FileInput("plate1.csv", b"bytes of the export")


@pytest.fixture
def manifest(manifest_of: Callable[..., Manifest]) -> Manifest:
    return manifest_of(
        manifest_line("CSF001"),
        manifest_line("CSF002", "BCT-01-0002"),
        manifest_line("SER001", "BCT-01-0003", matrix="SERUM"),
    )


def test_a_clean_plate_loads_with_every_table_in_its_contract(
    config: Config, manifest: Manifest, reader_returns: Callable[..., None]
) -> None:
    reader_returns(
        [
            *standards(),
            make_well("CSF001", "A3"),
            make_well("CSF001", "A4"),
            make_well("CSF002", "B3", value=20.0),
        ],
        warnings=("a reader remark",),
    )
    out = process_file(FILE, SHA, config, manifest)
    assert (out.status, out.format, out.size_bytes) == ("loaded", "standin", len(FILE.data))
    # the reader's remark reaches the verdict and the quarantine table (issue 14), without making a
    # clean file need attention
    assert out.message == "Plate P1: 2 results accepted. Reader warnings: a reader remark."
    assert out.quarantine is not None
    assert out.quarantine.select("rule", "severity").rows() == [("reader_warning", "warning")]
    assert out.wells is not None and out.wells.columns == WELL_OUTPUT_COLUMNS
    assert [
        "source_file",
        "source_sha256",
        *WELL_COLUMNS[1:],
        "recomputed_conc",
        "recomputed_diff_pct",
    ] == WELL_OUTPUT_COLUMNS
    assert out.wells["source_sha256"].unique().to_list() == [SHA] and out.wells.height == 17
    assert out.results is not None and out.results.schema == pl.Schema(RESULT_SCHEMA)
    assert out.results["status"].to_list() == ["loaded", "loaded"]
    assert out.quarantine is not None and out.quarantine.schema == pl.Schema(QUARANTINE_SCHEMA)
    assert out.unresolved is not None and out.unresolved.schema == pl.Schema(UNRESOLVED_SCHEMA)
    (p,) = out.plates
    assert (p.plate_id, p.assay_id, p.platform, p.matrix, p.instrument, p.kit_lot, p.n_wells) == (
        "P1",
        "LX-NTF",
        "luminex",
        "CSF",
        "FM3D",
        "LOT9",
        17,
    )
    assert p.curve_note == "concentrations as reported by the instrument software"
    assert out.warnings == [
        "a reader remark",
        "VEGF-A: no calibrator signals in the export, so the run cannot be judged",
    ]
    assert out.results["kit_lot"].to_list() == ["LOT9", "LOT9"]


def test_issues_are_counted_in_one_sentence(
    config: Config, manifest: Manifest, reader_returns: Callable[..., None]
) -> None:
    reader_returns(
        [
            make_well("SER001", "A3", "BDNF", value=28.1),
            make_well("SER001", "A3", "VEGF-A", value=40.0),
            make_well("SER404", "A4", "VEGF-A", value=40.0),
            make_well("SER001", "A5", "Hu FOO (12)", value=1.0),
        ]
    )
    out = process_file(FILE, SHA, config, manifest)
    assert out.status == "loaded_with_issues"
    assert out.message == (
        "Plate P1: 1 result accepted, 1 held (plausibility), 1 sample not in the manifest, "
        "1 value rejected (unknown analyte)."
    )
    assert out.results is not None and sorted(out.results["status"].to_list()) == [
        "held",
        "loaded",
        "unresolved",
    ]
    assert out.unresolved is not None and out.unresolved["sample_id"].to_list() == ["SER404"]
    assert out.quarantine is not None and sorted(out.quarantine["rule"].to_list()) == [
        "plausible_range",
        "unknown_analyte",
    ]
    assert out.plates[0].matrix == "SERUM"


def test_a_well_breaking_the_well_rules_is_left_out_and_reported(
    config: Config, manifest: Manifest, reader_returns: Callable[..., None]
) -> None:
    reader_returns([make_well("CSF001", "A3"), make_well("CSF001", "Z9", value=99.0)])
    out = process_file(FILE, SHA, config, manifest)
    assert out.status == "loaded_with_issues"
    assert out.wells is not None and out.wells["well"].to_list() == ["A3"]
    assert out.results is not None and out.results["conc_pg_ml"].to_list() == [10.0]
    assert out.quarantine is not None and out.quarantine["well"].to_list() == ["Z9"]
    assert "1 value rejected (unreadable values)" in out.message


def test_pipeline_remarks_are_appended_to_the_well_flags(
    config: Config, manifest: Manifest, reader_returns: Callable[..., None]
) -> None:
    reader_returns(
        [
            make_well("CSF001", "A3", qualifier="<", value=None, flags="low_bead_count"),
            make_well("CSF001", "A4", "Hu FOO"),
        ]
    )
    out = process_file(FILE, SHA, config, manifest)
    assert out.wells is not None
    assert out.wells["flags"].to_list() == ["low_bead_count;limit_from_kit", "unknown_analyte"]


def test_no_assay_quarantines_the_file_with_the_reason(
    config: Config, manifest: Manifest, reader_returns: Callable[..., None]
) -> None:
    reader_returns([make_well("CSF001", "A3", "Hu FOO")], plates=[PlateInfo("P1", protocol="Mystery 3-plex")])
    out = process_file(FILE, SHA, config, manifest)
    assert out.status == "quarantined"
    assert out.message.startswith("Plate P1 has protocol 'Mystery 3-plex' and no analyte from the catalogue")
    assert out.quarantine is not None and out.quarantine["rule"].to_list() == ["unknown_assay"]
    assert out.wells is None and out.results is not None and out.results.height == 0
    assert out.plates[0].assay_id is None


def test_one_unknown_plate_in_a_file_does_not_stop_the_other(
    config: Config, manifest: Manifest, reader_returns: Callable[..., None]
) -> None:
    rows = [make_well("CSF001", "A3"), make_well("CSF002", "A3", "Hu FOO", plate_id="P2")]
    reader_returns(rows, plates=[PlateInfo("P1", protocol="LX-NTF"), PlateInfo("P2", protocol="Mystery")])
    out = process_file(FILE, SHA, config, manifest)
    assert out.status == "loaded_with_issues"
    assert out.message == "Plate P1: 1 result accepted; Plate P2: not loaded (no configured assay matches)."
    assert out.wells is not None and sorted(out.wells["plate_id"].unique().to_list()) == ["P1", "P2"]
    assert [p.assay_id for p in out.plates] == ["LX-NTF", None]


def test_a_reader_error_quarantines_the_file_with_its_message(
    config: Config, manifest: Manifest, reader_returns: Callable[..., None]
) -> None:
    reader_returns(ReaderError("no Result section; export again with analysis on", file="plate1.csv", line=7))
    out = process_file(FILE, SHA, config, manifest)
    assert (out.status, out.format) == ("quarantined", "standin")
    assert out.message == "plate1.csv, line 7: no Result section; export again with analysis on"
    assert out.quarantine is not None
    (q,) = out.quarantine.to_dicts()
    assert (q["rule"], q["severity"], q["source_sha256"], q["message"]) == (
        "unreadable_file",
        "reject",
        SHA,
        out.message,
    )


@pytest.mark.parametrize(
    "data",
    [
        b"",
        b"\x00\xff" * 300,
        b"hello,world\n1,2\n",
        b'"Program","xPONENT"\r\n"DataType:","Result"\r\n"Location"\r\n',
    ],
)
def test_unknown_or_broken_bytes_never_raise(config: Config, data: bytes) -> None:
    out = process_file(FileInput("odd.csv", data), SHA, config, Manifest.empty())
    assert out.status == "quarantined" and out.message
    assert out.quarantine is not None and out.quarantine.height == 1
    assert out.quarantine["rule"][0] in ("unknown_format", "unreadable_file", "empty_file", "not_an_export")


@pytest.mark.parametrize(
    ("sample_id", "why"),
    [
        ("CSF\U0001f600", "non-ASCII"),
        ("S" * 10_000, "10000 characters long"),
        ("CSF\t001", "control character"),
    ],
)
def test_an_id_the_sdtm_export_cannot_take_is_held_at_ingest(
    config: Config, manifest: Manifest, reader_returns: Callable[..., None], sample_id: str, why: str
) -> None:
    """Issue 14: an emoji or a 10,000-character ID used to load, then block the whole SDTM export."""
    reader_returns(
        [*standards(), make_well("CSF001", "A3"), make_well(sample_id, "B3"), make_well(sample_id, "B4")]
    )
    out = process_file(FILE, SHA, config, manifest)
    assert out.results is not None and out.quarantine is not None
    bad = out.results.filter(pl.col("sample_id") == sample_id).row(0, named=True)
    assert bad["status"] != "loaded" and "id_not_exportable" in bad["flags"]
    assert "SDTM export" in bad["hold_reason"]
    (row,) = out.quarantine.filter(pl.col("rule") == "id_not_exportable").to_dicts()
    assert why in row["message"] and row["severity"] == "hold" and len(row["message"]) < 600
    assert out.results.filter(pl.col("sample_id") == "CSF001")["status"].to_list() == ["loaded"]
