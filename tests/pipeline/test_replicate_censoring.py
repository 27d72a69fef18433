"""Replicates → one result per plate × sample × analyte: mean, CV, and each censoring rule."""

from __future__ import annotations

import hashlib
import math
from typing import Any

import polars as pl
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from pipeline_factories import SHA, make_well, run_plate, standards

from pipeline.validate import set_status, validate_results
from schemas.config import Config

LLOQ = 10000 / 4**6  # LX-NTF VEGF-A kit series: 10,000 pg/mL top, step 4, 7 levels
ULOQ = 10000.0


def one(res: pl.DataFrame) -> dict[str, Any]:
    assert res.height == 1, res
    return res.row(0, named=True)


def test_all_numeric_replicates_give_their_mean_and_cv(config: Config) -> None:
    res, q, _ = run_plate(config, [make_well(well="A3", value=10.0), make_well(well="A4", value=12.0)])
    r = one(res)
    assert r["qualifier"] == "=" and r["conc_pg_ml"] == pytest.approx(11.0)
    assert r["cv_pct"] == pytest.approx(math.sqrt(2) / 11 * 100)
    assert (r["n_replicates"], r["n_wells"], r["wells"], r["reported_texts"]) == (2, 2, "A3,A4", "10.0|12.0")
    assert r["lloq_pg_ml"] == pytest.approx(LLOQ) and r["uloq_pg_ml"] == pytest.approx(ULOQ)
    assert r["flags"] is None and r["hold_reason"] is None and r["extrapolated"] is False
    assert (r["assay_id"], r["platform"], r["kit_lot"], r["analyte_class"]) == (
        "LX-NTF",
        "luminex",
        "NTF-24A117",
        "neurotrophic",
    )
    assert r["result_id"] == hashlib.sha256(f"{SHA}|P1|CSF001|VEGF-A|LX-NTF".encode()).hexdigest()[:32]
    assert q.height == 0


def test_all_below_gives_below_with_the_limit_times_dilution(config: Config) -> None:
    rows = [make_well(well=w, qualifier="<", value=None, dilution=2.0) for w in ("A3", "A4")]
    r = one(run_plate(config, rows)[0])
    assert r["qualifier"] == "<"
    assert r["conc_pg_ml"] == pytest.approx(LLOQ * 2)
    assert r["lloq_pg_ml"] == pytest.approx(LLOQ * 2) and r["uloq_pg_ml"] == pytest.approx(ULOQ * 2)
    assert (r["n_replicates"], r["n_wells"], r["cv_pct"]) == (0, 2, None)
    assert r["reported_texts"] == "OOR <|OOR <"


def test_the_limit_comes_from_the_plate_standards_before_the_kit(config: Config) -> None:
    rows = [*standards(top=5000.0), make_well(qualifier="<", value=None, dilution=2.0)]
    res, _, prep = run_plate(config, rows)
    r = one(res)
    assert r["conc_pg_ml"] == pytest.approx(5000 / 4**6 * 2)
    assert prep.limits.row(0, named=True)["limit_source"] == "standards"
    filled = prep.wells.filter(pl.col("sample_type") == "unknown").row(0, named=True)
    assert filled["value"] == pytest.approx(5000 / 4**6) and "limit_from_standards" in filled["flags"]


def test_all_above_gives_above_with_the_limit(config: Config) -> None:
    rows = [make_well(well=w, qualifier=">", value=None) for w in ("A3", "A4")]
    r = one(run_plate(config, rows)[0])
    assert (r["qualifier"], r["conc_pg_ml"]) == (">", pytest.approx(ULOQ))


def test_a_limit_written_in_the_file_is_kept(config: Config) -> None:
    rows = [make_well(well="A3", qualifier="<", value=3.0), make_well(well="A4", qualifier="<", value=3.5)]
    r = one(run_plate(config, rows)[0])
    assert (r["qualifier"], r["conc_pg_ml"]) == ("<", 3.5)  # the higher of two limits: the safe bound


def test_mixed_below_and_numeric_under_the_lloq_is_below_lloq(config: Config) -> None:
    rows = [make_well(well="A3", qualifier="<", value=None), make_well(well="A4", value=2.0)]
    r = one(run_plate(config, rows)[0])
    assert r["qualifier"] == "<" and r["conc_pg_ml"] == pytest.approx(LLOQ)
    # The numeric replicate under the LLOQ is itself censored at the well (issue 14), so both replicates
    # are below: no mixed censoring left, the result marked as carrying an extrapolated instrument value.
    assert r["flags"] == "extrapolated" and r["extrapolated"] is True
    assert r["n_replicates"] == 0 and r["cv_pct"] is None  # no quantified replicate


def test_mixed_below_and_numeric_above_the_lloq_is_the_mean(config: Config) -> None:
    rows = [make_well(well="A3", qualifier="<", value=None), make_well(well="A4", value=10.0)]
    r = one(run_plate(config, rows)[0])
    assert r["qualifier"] == "=" and r["conc_pg_ml"] == pytest.approx((LLOQ + 10.0) / 2)
    assert r["flags"] == "mixed_censoring"
    assert r["hold_reason"] is None


def test_mixed_above_and_numeric_is_checked_against_the_uloq(config: Config) -> None:
    r = one(
        run_plate(
            config, [make_well(well="A3", qualifier=">", value=None), make_well(well="A4", value=9000.0)]
        )[0]
    )
    assert (r["qualifier"], r["conc_pg_ml"], r["flags"]) == ("=", pytest.approx(9500.0), "mixed_censoring")
    r = one(
        run_plate(
            config, [make_well(well="A3", qualifier=">", value=None), make_well(well="A4", value=12000.0)]
        )[0]
    )
    assert (r["qualifier"], r["conc_pg_ml"]) == (">", pytest.approx(ULOQ))


def test_below_and_above_in_one_group_is_nr_and_held(config: Config) -> None:
    rows = [make_well(well="A3", qualifier="<", value=None), make_well(well="A4", qualifier=">", value=None)]
    res, q, _ = run_plate(config, rows)
    r = one(res)
    assert (r["qualifier"], r["conc_pg_ml"]) == ("NR", None)
    assert "conflicting_censoring" in r["flags"] and "below and above" in r["hold_reason"]
    (row,) = q.to_dicts()
    assert (row["rule"], row["severity"], row["well"], row["sample_id"]) == (
        "conflicting_censoring",
        "hold",
        "A3,A4",
        "CSF001",
    )


def test_all_not_reported_is_nr(config: Config) -> None:
    rows = [make_well(well=w, qualifier="NR", value=None) for w in ("A3", "A4")]
    r = one(run_plate(config, rows)[0])
    assert (r["qualifier"], r["conc_pg_ml"], r["n_replicates"], r["n_wells"]) == ("NR", None, 0, 2)
    assert r["hold_reason"] is None and r["reported_texts"] == "***|***"


def test_a_not_reported_replicate_is_left_out_of_the_mean(config: Config) -> None:
    rows = [make_well(well="A3", qualifier="NR", value=None), make_well(well="A4", value=8.0)]
    r = one(run_plate(config, rows)[0])
    assert (r["qualifier"], r["conc_pg_ml"], r["n_replicates"], r["n_wells"], r["cv_pct"]) == (
        "=",
        8.0,
        1,
        2,
        None,
    )


def test_high_cv_is_flagged_and_warned_not_held(config: Config) -> None:
    res, q, _ = run_plate(config, [make_well(well="A3", value=10.0), make_well(well="A4", value=20.0)])
    r = one(res)
    assert r["cv_pct"] == pytest.approx(47.14, abs=0.01)
    assert r["flags"] == "high_cv" and r["hold_reason"] is None
    (row,) = q.to_dicts()
    assert (row["rule"], row["severity"], row["well"], row["row_number"]) == (
        "high_cv",
        "warning",
        "A3,A4",
        10,
    )
    assert "47.1%" in row["message"] and row["message"].endswith("re-assay the sample if needed.")


def test_extrapolated_replicate_marks_the_result(config: Config) -> None:
    rows = [
        make_well(well="A3", value=2.0, extrapolated=True, reported_text="*2.0"),
        make_well(well="A4", value=2.1),
    ]
    r = one(run_plate(config, rows)[0])
    assert r["extrapolated"] is True and r["flags"] == "extrapolated"


def test_standards_qcs_and_blanks_are_not_results(config: Config) -> None:
    rows = [
        *standards(),
        make_well("QC-L", "A11", qualifier="=", value=50.0, sample_type="qc", expected_conc=48.0),
        make_well("Background0", "A12", qualifier="NR", value=None, sample_type="blank"),
        make_well("CSF001", "B11"),
    ]
    res, _, prep = run_plate(config, rows)
    assert res["sample_id"].to_list() == ["CSF001"]
    assert prep.wells.height == len(rows)  # they stay in the well table


def test_one_result_per_sample_and_analyte(config: Config) -> None:
    rows = [
        make_well(s, w, a, value=v)
        for s, w, a, v in (
            ("CSF001", "A3", "VEGF-A", 5.0),
            ("CSF001", "A4", "VEGF-A", 5.0),
            ("CSF001", "A3", "Hu HGF (46)", 50.0),
            ("CSF001", "A4", "Hu HGF (46)", 52.0),
            ("CSF002", "B3", "VEGF-A", 7.0),
            ("CSF002", "B4", "VEGF-A", 7.0),
        )
    ]
    res = run_plate(config, rows)[0]
    assert sorted(zip(res["sample_id"], res["analyte"], strict=True)) == [
        ("CSF001", "HGF"),
        ("CSF001", "VEGF-A"),
        ("CSF002", "VEGF-A"),
    ]
    assert res["result_id"].n_unique() == 3


def test_a_sample_well_without_id_is_rejected(config: Config) -> None:
    res, q, _ = run_plate(config, [make_well(None, "C3"), make_well("CSF001", "A3")])
    assert res["sample_id"].to_list() == ["CSF001"]
    (row,) = q.to_dicts()
    assert (row["rule"], row["severity"], row["well"]) == ("missing_sample_id", "reject", "C3")


def test_replicates_at_different_dilutions_are_held(config: Config) -> None:
    rows = [make_well(well="A3", value=10.0, dilution=1.0), make_well(well="A4", value=5.0, dilution=2.0)]
    res, q, _ = run_plate(config, rows)
    r = one(res)
    assert "mixed_dilution" in r["flags"] and "different dilutions (1, 2)" in r["hold_reason"]
    assert r["conc_pg_ml"] == pytest.approx(10.0)  # each well already in pg/mL of the sample
    assert q["rule"].to_list() == ["mixed_dilution"]


QUALIFIER = st.sampled_from(["=", "<", ">", "NR"])
VALUE = st.one_of(st.none(), st.floats(min_value=-50, max_value=1e6, allow_nan=False))


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    wells=st.lists(st.tuples(QUALIFIER, VALUE, st.booleans()), min_size=1, max_size=4),
    dilution=st.sampled_from([1.0, 2.0, 10.0]),
    with_standards=st.booleans(),
)
def test_random_replicates_never_give_a_bare_censored_result_or_a_negative_conc(
    config: Config, wells: list[tuple[str, float | None, bool]], dilution: float, with_standards: bool
) -> None:
    rows = [
        make_well("CSF001", f"C{i + 3}", qualifier=q, value=v, dilution=dilution, dilution_applied=applied)
        for i, (q, v, applied) in enumerate(wells)
    ]
    if with_standards:
        rows += standards()
    res, _, _ = run_plate(config, rows)
    r = one(res)
    if r["qualifier"] in ("<", ">"):
        assert r["conc_pg_ml"] is not None
    assert (r["qualifier"] == "NR") == (r["conc_pg_ml"] is None)
    assert r["conc_pg_ml"] is None or r["conc_pg_ml"] >= 0
    # the same row passes the result rules once resolved
    resolved = set_status(res.with_columns(participant_id=pl.lit("BCT-01-0001"), visit=pl.lit("W00")))
    kept, q = validate_results(resolved)
    assert q.height == 0 and kept.height == 1
