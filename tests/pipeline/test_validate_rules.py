"""Validation: Pandera failures mapped to their rows, plausibility holds with the ×1000 hint, statuses."""

from __future__ import annotations

import polars as pl
import pytest
from pipeline_factories import SHA, make_well, make_wells, run_plate

from pipeline.validate import (
    HOLD,
    check_results,
    check_wells,
    plausibility_message,
    set_status,
    validate_results,
)
from schemas.config import Config


def resolved(res: pl.DataFrame, matrix: str) -> pl.DataFrame:
    return res.with_columns(participant_id=pl.lit("BCT-01-0001"), visit=pl.lit("W00"), matrix=pl.lit(matrix))


def test_serum_bdnf_in_ng_ml_under_a_pg_ml_header_is_held_with_the_hint(config: Config) -> None:
    res, _, _ = run_plate(
        config,
        [make_well("SER001", analyte="BDNF", value=28.1), make_well("SER001", "A4", "BDNF", value=28.1)],
    )
    out, q = check_results(resolved(res, "SERUM"), config)
    r = out.row(0, named=True)
    expected = (
        "serum BDNF 28.1 pg/mL is far below the plausible range 1,000–150,000 pg/mL for serum; "
        "×1000 it would be 28,100 — the file probably reports ng/mL under a pg/mL header. "
        "Check the unit with the lab and re-export."
    )
    assert r["hold_reason"] == expected
    assert r["flags"] == "plausible_range"
    (row,) = q.to_dicts()
    assert row["message"] == "Plate P1 sample SER001: " + expected
    assert (row["rule"], row["severity"], row["well"], row["value_text"], row["row_number"]) == (
        "plausible_range",
        "hold",
        "A3,A4",
        "28.1",
        10,
    )
    assert set_status(out)["status"].to_list() == ["held"]


def test_far_above_says_divide_by_1000(config: Config) -> None:
    msg = plausibility_message("CSF", "NfL", 5_000_000.0, 50, 100_000, "ng/mL")
    assert msg.startswith("CSF NfL 5,000,000 pg/mL is far above the plausible range 50–100,000 pg/mL for CSF")
    assert "÷1000 it would be 5,000 " in msg and "pg/mL under a ng/mL header" in msg


def test_plainly_out_of_range_has_no_unit_hint(config: Config) -> None:
    msg = plausibility_message("serum", "BDNF", 500.0, 1000, 150_000, "pg/mL")
    assert msg == (
        "serum BDNF 500 pg/mL is below the plausible range 1,000–150,000 pg/mL for serum. "
        "Check the value and the sample with the lab; if it is right, release the hold."
    )


def test_in_range_at_the_bounds_and_censored_values_are_not_held(config: Config) -> None:
    rows = [
        make_well("S1", "A3", "BDNF", value=1000.0),  # exactly at the bound: in range
        make_well("S2", "A4", "BDNF", value=150000.0),
        make_well("S3", "A5", "BDNF", "<", 3.0),  # a censored limit is not range-checked
    ]
    res, _, _ = run_plate(config, rows)
    out, q = check_results(resolved(res, "SERUM"), config)
    assert q.height == 0 and out["hold_reason"].null_count() == 3


def test_unresolved_results_stay_unresolved_but_keep_the_hold_reason(config: Config) -> None:
    res, _, _ = run_plate(config, [make_well("SER001", analyte="BDNF", value=28.1)])
    out, _ = check_results(res.with_columns(matrix=pl.lit("SERUM")), config)
    final = set_status(out)
    assert final["status"].to_list() == ["unresolved"] and final["hold_reason"][0]


def test_pandera_well_failures_are_mapped_to_their_rows(config: Config) -> None:
    rows = [
        make_well(well="A3"),
        make_well(well="Z9"),  # not a plate position
        make_well(well="A5"),
        make_well(well="A6", dilution=0.0),  # not a dilution
        make_well(well="A7", sample_type="patient"),
    ]
    wells = make_wells(rows)
    checked = check_wells(wells, SHA)
    assert checked.whole_file is None
    assert checked.wells[HOLD].to_list() == [None, "well_schema", None, "well_schema", "well_schema"]
    q = checked.quarantine
    assert q["row_number"].to_list() == [11, 13, 14]
    assert q["well"].to_list() == ["Z9", "A6", "A7"]
    assert set(q["rule"]) == {"well_schema"} and set(q["severity"]) == {"reject"}
    assert "well 'Z9' is not a plate position" in q["message"][0]
    assert "dilution '0.0' is not a dilution factor above 0" in q["message"][1]


def test_a_negative_value_is_held_not_dropped(config: Config) -> None:
    res, q, _ = run_plate(config, [make_well(well="A3", value=-3.2), make_well(well="A4", value=4.0)])
    r = res.row(0, named=True)
    assert (r["qualifier"], r["conc_pg_ml"], r["n_wells"]) == ("=", 4.0, 2)
    assert "negative_value" in r["flags"] and "(well A3)" in r["hold_reason"]
    (row,) = q.to_dicts()
    assert (row["rule"], row["severity"], row["well"], row["value_text"]) == (
        "negative_value",
        "hold",
        "A3",
        "-3.2",
    )


def test_result_rule_failures_reject_only_their_rows(config: Config) -> None:
    res, _, _ = run_plate(config, [make_well("S1", "A3"), make_well("S2", "A4"), make_well("S3", "A5")])
    broken = resolved(res, "CSF").with_columns(
        qualifier=pl.when(pl.col("sample_id") == "S2").then(pl.lit("<")).otherwise(pl.col("qualifier")),
        conc_pg_ml=pl.when(pl.col("sample_id") == "S2").then(None).otherwise(pl.col("conc_pg_ml")),
    )
    kept, q = validate_results(set_status(broken))
    assert kept["sample_id"].to_list() == ["S1", "S3"]
    assert q["sample_id"].to_list() == ["S2"] and q["well"].to_list() == ["A4"]
    assert q["rule"].to_list() == ["result_schema"] and "censored_values_carry_their_limit" in q["message"][0]


def test_a_table_level_result_failure_rejects_everything(config: Config) -> None:
    res, _, _ = run_plate(config, [make_well("S1", "A3")])
    kept, q = validate_results(set_status(resolved(res, "CSF")).drop("kit_lot"))
    assert kept.height == 0
    assert q["rule"].to_list() == ["result_schema"] and q["plate_id"].to_list() == [None]


@pytest.mark.parametrize(
    ("participant", "hold", "status"), [(None, None, "unresolved"), ("P", "x", "held"), ("P", None, "loaded")]
)
def test_status(participant: str | None, hold: str | None, status: str) -> None:
    df = pl.DataFrame(
        {"participant_id": [participant], "hold_reason": [hold]},
        schema={"participant_id": pl.String, "hold_reason": pl.String},
    )
    assert set_status(df)["status"].to_list() == [status]


@pytest.mark.parametrize("text", ["Infinity", "-inf", "1e309", "*1E400"])
def test_a_non_finite_value_is_held_naming_it(config: Config, text: str) -> None:
    """Issue 14: an infinite or overflowing replicate used to vanish (the result was the other replicate,
    n=1, no quarantine row)."""
    rows = [
        make_well(well="A3", qualifier="NR", value=None, reported_text=text),
        make_well(well="A4", value=4.0),
    ]
    res, q, _ = run_plate(config, rows)
    r = res.row(0, named=True)
    assert "non_finite_value" in (r["flags"] or "") and r["n_wells"] == 2  # a hold code: the result is held
    assert "infinite or overflowing" in r["hold_reason"]
    row = q.filter(pl.col("rule") == "non_finite_value").row(0, named=True)
    assert row["well"] == "A3" and repr(text) in row["message"] and row["severity"] == "hold"


def test_nan_stays_not_reported(config: Config) -> None:
    rows = [make_well(well="A3", qualifier="NR", value=None, reported_text="NaN"), make_well(well="A4")]
    _, q, _ = run_plate(config, rows)
    assert q.filter(pl.col("rule") == "non_finite_value").height == 0
