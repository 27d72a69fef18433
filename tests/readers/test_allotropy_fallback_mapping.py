"""The fallback's ASM → well-table mapping on allotropy's own expected outputs (the JSONs beside the
exports in ../shared/corpus/allotropy; no subprocess): one row per read, MSD spots kept apart, spectra
and kinetic traces named, never read as endpoint values."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import polars as pl
import pytest

from readers.allotropy_fallback import NotEndpointError, map_asm

pytestmark = pytest.mark.corpus


def _asm(corpus: Path, rel: str) -> dict[str, Any]:
    return json.loads((corpus / "allotropy" / rel).read_text(encoding="utf-8"))


def test_two_reads_of_a_well_are_two_rows_named_by_wavelength(corpus: Path) -> None:
    rr = map_asm(
        _asm(corpus, "agilent_gen5/multi_read_modes/two_same_read_modes.json"),
        vendor="AGILENT_GEN5",
        display_name="Gen5",
        file_name="two_same_read_modes.txt",
    )
    a1 = rr.wells.filter(pl.col("well") == "A1").sort("signal_kind")
    assert a1.select("signal_kind", "signal").rows() == [("OD280", 418.0), ("OD600", 0.052)]
    assert rr.wells.height == 192  # 96 wells x 2 reads, none merged into flags


def test_msd_spots_without_an_assay_name_stay_apart(corpus: Path) -> None:
    rr = map_asm(
        _asm(corpus, "methodical_mind/methodical_test_2.json"),
        vendor="METHODICAL_MIND",
        display_name="Methodical Mind",
        file_name="methodical_test_2.txt",
    )
    a1 = rr.wells.filter(pl.col("well") == "A1")
    assert a1.height == a1["analyte_as_written"].n_unique() > 1  # one row per spot
    assert set(a1["signal_kind"].to_list()) == {"ECL"}


def test_a_spectrum_only_file_is_refused_naming_the_read_type(corpus: Path) -> None:
    with pytest.raises(NotEndpointError, match="spectrum") as info:
        map_asm(
            _asm(corpus, "agilent_gen5/luminescence/spectral_scan.json"),
            vendor="AGILENT_GEN5",
            display_name="Gen5",
            file_name="spectral_scan.txt",
        )
    assert "not endpoint values" in info.value.reason and len(info.value.reason) < 400


def test_a_kinetic_trace_is_never_an_endpoint_od(corpus: Path) -> None:
    asm = _asm(corpus, "moldev_softmax_pro/spectramax340_kinetic_partial_plate.json")
    try:
        rr = map_asm(asm, vendor="MOLDEV_SOFTMAX_PRO", display_name="SoftMax Pro", file_name="k.txt")
    except NotEndpointError as exc:
        assert "kinetic" in exc.reason
        return
    kinds = set(rr.wells["signal_kind"].drop_nulls().to_list())
    assert not any(k.startswith("OD") for k in kinds), kinds  # only the reduced values, named as such
