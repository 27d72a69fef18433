"""Resolving sample IDs through the manifest: identity columns, the unresolved queue, the plate's matrix."""

from __future__ import annotations

from collections.abc import Callable
from datetime import date

import polars as pl
from pipeline_factories import make_well, manifest_line, run_plate

from pipeline.resolve import resolve
from schemas.config import Config
from schemas.manifest import Manifest
from schemas.results import UNRESOLVED_SCHEMA


def test_known_samples_get_participant_visit_matrix_and_condition(
    config: Config, manifest_of: Callable[..., Manifest]
) -> None:
    m = manifest_of(manifest_line("CSF001", "BCT-02-0007", "W04", site="02", condition="BLOOD-CONTAMINATED"))
    res, _, _ = run_plate(config, [make_well("CSF001", "A3"), make_well("CSF001", "A4")])
    out = resolve(res, m, config)
    r = out.results.row(0, named=True)
    assert (r["participant_id"], r["site_id"], r["visit"], r["visitnum"], r["matrix"]) == (
        "BCT-02-0007",
        "02",
        "W04",
        3.0,
        "CSF",
    )
    assert r["collection_date"] == date(2019, 2, 25) and r["sample_condition"] == "BLOOD-CONTAMINATED"
    assert out.unresolved.height == 0 and out.quarantine.height == 0
    assert out.plate_matrix == {"P1": "CSF"}
    assert out.results.columns == res.columns


def test_unknown_sample_is_kept_unresolved_and_queued_once_per_plate_and_sample(
    config: Config, manifest_of: Callable[..., Manifest]
) -> None:
    m = manifest_of(manifest_line("CSF001"))
    rows = [
        make_well("CSF001", "A3"),
        make_well("CSF10029384", "B4"),
        make_well("CSF10029384", "B3"),
        make_well("CSF10029384", "B3", "Hu HGF (46)", value=80.0),
        make_well("CSF10029384", "B4", "Hu HGF (46)", value=82.0),
    ]
    res, _, _ = run_plate(config, rows)
    out = resolve(res, m, config)
    unres = out.results.filter(pl.col("sample_id") == "CSF10029384")
    assert unres.height == 2
    assert unres["participant_id"].null_count() == 2 and unres["visit"].null_count() == 2
    assert unres["matrix"].to_list() == ["CSF", "CSF"]  # the plate's matrix
    assert out.unresolved.schema == pl.Schema(UNRESOLVED_SCHEMA)
    (q,) = out.unresolved.to_dicts()
    assert (q["plate_id"], q["sample_id"], q["wells"], q["n_results"], q["source_sha256"]) == (
        "P1",
        "CSF10029384",
        "B3,B4",
        2,
        "ab" * 32,
    )
    assert q["reason"] == (
        "sample ID 'CSF10029384' is not in any sample manifest received so far (checked 1 manifest file); "
        "check the ID on the plate map or send the manifest — the results are kept and will load once the ID "
        "resolves"
    )


def test_a_sample_whose_matrix_differs_from_the_plate_is_held(
    config: Config, manifest_of: Callable[..., Manifest]
) -> None:
    m = manifest_of(
        manifest_line("CSF001"),
        manifest_line("CSF002", "BCT-01-0002"),
        manifest_line("SER009", "BCT-01-0003", matrix="SERUM"),
    )
    res, _, _ = run_plate(
        config, [make_well("CSF001", "A3"), make_well("CSF002", "A4"), make_well("SER009", "A5")]
    )
    out = resolve(res, m, config)
    assert out.plate_matrix == {"P1": "CSF"}
    odd = out.results.filter(pl.col("sample_id") == "SER009").row(0, named=True)
    assert odd["matrix"] == "SERUM" and "mixed_matrix" in odd["flags"] and odd["hold_reason"]
    assert out.results.filter(pl.col("sample_id") != "SER009")["hold_reason"].null_count() == 2
    (q,) = out.quarantine.to_dicts()
    assert (q["rule"], q["severity"], q["sample_id"], q["well"]) == ("mixed_matrix", "hold", "SER009", "A5")
    assert "SERUM in the manifest (shipment-1.csv) but the plate's other samples are CSF" in q["message"]


def test_an_even_split_of_matrices_holds_every_resolved_sample(
    config: Config, manifest_of: Callable[..., Manifest]
) -> None:
    m = manifest_of(manifest_line("CSF001"), manifest_line("SER001", matrix="SERUM"))
    res, _, _ = run_plate(config, [make_well("CSF001", "A3"), make_well("SER001", "A4")])
    out = resolve(res, m, config)
    assert out.plate_matrix == {"P1": None}
    assert out.results["hold_reason"].null_count() == 0
    assert out.quarantine.height == 2 and "split evenly between CSF and SERUM" in out.quarantine["message"][0]


def test_an_empty_manifest_leaves_everything_unresolved(config: Config) -> None:
    res, _, _ = run_plate(config, [make_well("CSF001", "A3")])
    out = resolve(res, Manifest.empty(), config)
    assert out.results["participant_id"].to_list() == [None]
    assert "checked 0 manifest files" in out.unresolved["reason"][0]
    assert out.plate_matrix == {"P1": None}
