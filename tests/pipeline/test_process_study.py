"""End to end over real files: a tiny generated study through the real readers, curve and process_file.
Every defect the generator injected (defects.json) must come out with the right rule."""

from __future__ import annotations

import hashlib
import json
from typing import Any

import polars as pl
import pytest

from pipeline.manifest import load_manifest
from pipeline.process import process_file
from readers.base import FileInput
from schemas.config import Config
from schemas.outcome import FileOutcome
from schemas.results import ResultModel
from synth.generator import build_study, generate_study

SEED, PARTICIPANTS = 3, 8


@pytest.fixture(scope="module")
def study(tmp_path_factory: pytest.TempPathFactory, config: Config) -> dict[str, Any]:
    out = tmp_path_factory.mktemp("study")
    summary = generate_study(out, seed=SEED, participants=PARTICIPANTS)
    manifest = load_manifest(summary.manifest, config)
    files = {p.name: p.read_bytes() for p in sorted(summary.inbox.iterdir())}
    outcomes: dict[str, FileOutcome] = {}
    for name, data in files.items():
        siblings = {k: v for k, v in files.items() if k != name}
        outcomes[name] = process_file(
            FileInput(name, data, siblings), hashlib.sha256(data).hexdigest(), config, manifest
        )
    defects = json.loads(summary.defects_json.read_text())["defects"]
    return {"outcomes": outcomes, "defects": defects}


def _cat(outcomes: dict[str, FileOutcome], attr: str) -> pl.DataFrame:
    frames = [getattr(o, attr) for o in outcomes.values() if getattr(o, attr) is not None]
    return pl.concat([f for f in frames if f.height], how="vertical")


def test_every_export_loads_and_plate_maps_are_companions(study: dict[str, Any]) -> None:
    outcomes: dict[str, FileOutcome] = study["outcomes"]
    for name, o in outcomes.items():
        expected = {"companion"} if name.endswith("_platemap.csv") else {"loaded", "loaded_with_issues"}
        assert o.status in expected, (name, o.message)
        if o.status != "companion":
            assert o.message.startswith("Plate ") and o.message.endswith(".")
            assert all(p.assay_id and p.matrix for p in o.plates)
    elisa = [o for n, o in outcomes.items() if "ELISA" in n and o.status != "companion"]
    assert elisa and all(o.companions for o in elisa)
    assert all(o.plates[0].curve_note and "4PL" in o.plates[0].curve_note for o in elisa)


def test_results_obey_the_result_rules_and_only_expected_rules_fire(study: dict[str, Any]) -> None:
    results = _cat(study["outcomes"], "results")
    ResultModel.validate(results, lazy=True)
    q = _cat(study["outcomes"], "quarantine")
    assert set(q["rule"]) <= {"high_cv", "plausible_range", "standards_off_scale"}


def test_each_injected_defect_is_caught_with_the_right_rule(study: dict[str, Any]) -> None:
    outcomes: dict[str, FileOutcome] = study["outcomes"]
    results, wells = _cat(outcomes, "results"), _cat(outcomes, "wells")
    unresolved, q = _cat(outcomes, "unresolved"), _cat(outcomes, "quarantine")
    kinds = {d["kind"] for d in study["defects"]}
    assert {"sample_id_typo", "high_cv_duplicate", "unit_mislabel", "not_reported"} <= kinds
    for d in study["defects"]:
        plate = results.filter(pl.col("plate_id") == d["plate_id"])
        kind = d["kind"]
        if kind == "sample_id_typo":
            got = unresolved.filter(
                (pl.col("plate_id") == d["plate_id"]) & (pl.col("sample_id") == d["sample_id"])
            )
            assert got.height == 1 and got["wells"][0] == ",".join(sorted(d["wells"])), d
            assert set(plate.filter(pl.col("sample_id") == d["sample_id"])["status"]) == {"unresolved"}
        elif kind == "high_cv_duplicate":
            r = plate.filter((pl.col("sample_id") == d["sample_id"]) & (pl.col("analyte") == d["analyte"]))
            assert "high_cv" in r["flags"][0] and r["status"][0] in ("loaded", "unresolved"), d
            w = q.filter((pl.col("plate_id") == d["plate_id"]) & (pl.col("sample_id") == d["sample_id"]))
            assert w.filter(pl.col("rule") == "high_cv")["severity"].to_list() == ["warning"], d
        elif kind == "unit_mislabel":
            r = plate.filter(pl.col("analyte") == d["analyte"])
            touched = wells.filter(
                (pl.col("plate_id") == d["plate_id"])
                & pl.col("well").is_in(d["wells"])
                & (pl.col("analyte") == d["analyte"])
            )["sample_id"].unique()
            hit = r.filter(pl.col("sample_id").is_in(touched.to_list()))
            assert hit.height == touched.len() > 0
            assert all("plausible_range" in f for f in hit["flags"]), d
            assert set(hit["status"]) <= {"held", "unresolved"}
            assert all("×1000" in h for h in hit["hold_reason"])
            # every result of the analyte on that plate, censored ones included, is held: its scale is wrong
            assert all("standards_off_scale" in f for f in r["flags"])
        elif kind == "sample_condition":
            r = plate.filter(pl.col("sample_id") == d["sample_id"])
            assert r.height > 0 and set(r["sample_condition"]) == {d["detail"]["condition"]}, d
        elif kind == "not_reported":
            w = wells.filter(
                (pl.col("plate_id") == d["plate_id"])
                & (pl.col("well") == d["wells"][0])
                & (pl.col("analyte") == d["analyte"])
            )
            assert w["qualifier"].to_list() == ["NR"] and w["reported_text"].to_list() == ["***"], d
        else:
            pytest.fail(f"defect kind {kind} has no expectation here")


def test_luminex_concentrations_match_the_truth_so_the_dilution_is_applied_once(
    study: dict[str, Any], config: Config
) -> None:
    truth = build_study(seed=SEED, participants=PARTICIPANTS, config=config).truth
    t = pl.DataFrame(
        [(m, a, s, v) for (m, a), per in truth.items() for s, v in per.items()],
        schema=["matrix", "analyte", "sample_id", "truth"],
        orient="row",
    )
    results = _cat(study["outcomes"], "results")
    j = results.filter(
        (pl.col("qualifier") == "=") & (pl.col("platform") == "luminex") & (pl.col("status") == "loaded")
    )
    ratio = j.join(t, on=["matrix", "analyte", "sample_id"]).select(
        (pl.col("conc_pg_ml") / pl.col("truth")).alias("r")
    )
    assert ratio.height > 500
    assert 0.95 < float(ratio["r"].median()) < 1.05  # type: ignore[arg-type]  # × dilution twice would be 2, none 0.5 on serum


def test_a_grid_uploaded_without_its_plate_map_is_quarantined_saying_so(
    tmp_path_factory: pytest.TempPathFactory, config: Config
) -> None:
    out = tmp_path_factory.mktemp("nomap")
    summary = generate_study(out, seed=SEED + 100, participants=6)
    grid = sorted(summary.inbox.glob("*ELISA-*[0-9].txt"))[0]
    data = grid.read_bytes()
    o = process_file(
        FileInput(grid.name, data),
        hashlib.sha256(data).hexdigest(),
        config,
        load_manifest(summary.manifest, config),
    )
    assert o.status == "quarantined"
    assert o.quarantine is not None and o.quarantine["rule"].to_list() == ["no_sample_identities"]
    assert "plate map" in o.message
