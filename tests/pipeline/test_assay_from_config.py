"""Exports that do not name their analyte or assay (plate readers), several reads per well, and unknown
samples without a dilution: the pipeline takes what the file lacks from configuration, or holds with the
reason (issue 13, items 1 and 3)."""

from __future__ import annotations

import polars as pl
import pytest
from pipeline_factories import make_well, make_wells, run_plate, standards
from pydantic import ValidationError

from pipeline.prepare import analyte_from_assay, no_assay_message, select_signal
from readers.base import PlateInfo
from schemas.config import Assay, Config


def _with(config: Config, assay_id: str, **update: object) -> Assay:
    a = config.assays.get(assay_id)
    assert a is not None
    return Assay.model_validate({**a.model_dump(), **update})


def test_file_patterns_name_the_assay_case_insensitively(config: Config) -> None:
    vegf = _with(config, "ELISA-VEGF", file_patterns=["*vegf*elisa*.txt"])
    cat = config.assays.model_copy(
        update={"assays": [vegf if a.assay_id == "ELISA-VEGF" else a for a in config.assays.assays]}
    )
    assert [a.assay_id for a in cat.by_file_name(r"C:\runs\2026-12-01 VEGF ELISA plate3.TXT")] == [
        "ELISA-VEGF"
    ]
    assert cat.by_file_name("HGF ELISA.txt") == []


@pytest.mark.parametrize("bad", [{"signal_kind": ""}, {"signal_kind": " OD450"}, {"file_patterns": [""]}])
def test_config_refuses_empty_signal_kind_or_pattern(config: Config, bad: dict[str, object]) -> None:
    with pytest.raises(ValidationError):
        _with(config, "ELISA-VEGF", **bad)


def test_an_unnamed_analyte_takes_the_single_analyte_assays(config: Config) -> None:
    wells = make_wells([make_well(analyte="", signal=0.5, signal_kind="OD450")])
    vegf = config.assays.get("ELISA-VEGF")
    ntf = config.assays.get("LX-NTF")
    assert vegf is not None and ntf is not None
    assert analyte_from_assay(wells, vegf)["analyte"].to_list() == ["VEGF-A"]
    assert analyte_from_assay(wells, ntf)["analyte"].to_list() == [None]  # 8 analytes: not guessed


def test_no_assay_for_an_unnamed_export_says_how_to_give_one(config: Config) -> None:
    wells = make_wells([make_well(analyte="")])
    msg = no_assay_message(PlateInfo(plate_id="P1"), wells, config)
    assert "does not name its analyte or assay" in msg and "--assay" in msg and "file_patterns" in msg


def test_one_read_per_well_needs_no_setting(config: Config) -> None:
    wells = make_wells(
        [make_well(signal=0.5, signal_kind="OD450"), make_well(well="A4", signal_kind="OD450")]
    )
    vegf = config.assays.get("ELISA-VEGF")
    assert vegf is not None
    fitted, others, why = select_signal(wells, vegf)
    assert (fitted.height, others.height, why) == (2, 0, None)


def test_several_reads_without_a_setting_hold_the_plate_with_the_reason(config: Config) -> None:
    wells = make_wells(
        [make_well(signal=0.5, signal_kind="OD450"), make_well(signal=0.1, signal_kind="OD650")]
    )
    vegf = config.assays.get("ELISA-VEGF")
    assert vegf is not None
    _, _, why = select_signal(wells, vegf)
    assert why is not None and "OD450, OD650" in why and "signal_kind" in why
    _, _, why = select_signal(wells, _with(config, "ELISA-VEGF", signal_kind="OD405"))
    assert why is not None and "'OD405'" in why


def test_the_configured_read_is_fitted_and_the_others_kept_flagged(config: Config) -> None:
    wells = make_wells(
        [make_well(signal=0.5, signal_kind="OD450"), make_well(signal=0.1, signal_kind="OD650")]
    )
    fitted, others, why = select_signal(wells, _with(config, "ELISA-VEGF", signal_kind="OD450"))
    assert why is None
    assert fitted["signal_kind"].to_list() == ["OD450"]
    assert others["signal_kind"].to_list() == ["OD650"]
    assert others["flags"].to_list() == ["not_fitted: assay ELISA-VEGF fits OD450"]


def test_an_unknown_without_dilution_is_held_per_well_not_the_file(config: Config) -> None:
    rows = [
        *standards(),
        make_well("CSF001", "A3", value=120.0, flags="dilution_missing"),
        make_well("CSF002", "A5", value=140.0),
    ]
    res, quarantine, _ = run_plate(config, rows)
    held = quarantine.filter(pl.col("rule") == "dilution_missing")
    assert held["sample_id"].to_list() == ["CSF001"]
    assert held["severity"].to_list() == ["hold"]
    assert "no dilution factor for this sample: CSF001" in held["message"][0]
    reason = dict(zip(res["sample_id"].to_list(), res["hold_reason"].to_list(), strict=True))
    assert reason["CSF001"] == "no dilution factor for this sample in the export"
    assert reason["CSF002"] is None  # the other wells of the file are loaded as usual
