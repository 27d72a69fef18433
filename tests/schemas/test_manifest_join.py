"""The one join of results to the sample manifest (pipeline/resolve.py and warehouse/late_resolution.py)."""

from __future__ import annotations

from datetime import date

import polars as pl

from schemas.manifest import MANIFEST_SCHEMA
from schemas.manifest_join import FROM_MANIFEST, join_manifest

VISITNUM = {"W00": 1.0, "W04": 3.0}


def _samples() -> pl.DataFrame:
    rows = [
        ("S1", "BCT-01-0001", "01", "W00", "CSF", date(2026, 1, 5), None, "HEMOLYZED", "SH-1", "m1.csv"),
        ("S2", "BCT-01-0002", "01", "W04", "SERUM", date(2026, 2, 2), "09:30", None, None, "m2.csv"),
        ("S3", "BCT-01-0003", "01", "W99", "CSF", date(2026, 3, 2), None, None, "SH-2", "m2.csv"),
    ]
    return pl.DataFrame(
        [
            {
                "sample_id": s, "participant_id": p, "site_id": site, "visit": v, "matrix": mx,
                "collection_date": d, "collection_time": t, "aliquot": None, "freeze_thaw_count": 0,
                "condition": cond, "shipment_id": ship, "manifest_file": f, "manifest_line": i + 2,
            }
            for i, (s, p, site, v, mx, d, t, cond, ship, f) in enumerate(rows)
        ],
        schema=MANIFEST_SCHEMA,
    )  # fmt: skip


def _results() -> pl.DataFrame:
    # what a result held before: a stale participant and the plate's matrix, which the join replaces
    return pl.DataFrame(
        {
            "sample_id": ["S2", "NOPE", "S1", "S3", "S2"],
            "value": [1.0, 2.0, 3.0, 4.0, 5.0],
            "participant_id": ["stale", None, None, None, None],
            "matrix": ["CSF", "CSF", None, None, None],
        }
    )


def test_left_keeps_every_result_in_order_and_fills_what_the_manifest_says() -> None:
    out = join_manifest(_results(), _samples(), VISITNUM, how="left")
    assert out["sample_id"].to_list() == ["S2", "NOPE", "S1", "S3", "S2"]
    assert out["value"].to_list() == [1.0, 2.0, 3.0, 4.0, 5.0]
    assert out["participant_id"].to_list() == [
        "BCT-01-0002",
        None,
        "BCT-01-0001",
        "BCT-01-0003",
        "BCT-01-0002",
    ]
    assert out["matrix"].to_list() == ["SERUM", None, "CSF", "CSF", "SERUM"]  # the plate's value replaced
    assert out["sample_condition"].to_list() == [None, None, "HEMOLYZED", None, None]
    assert out["collection_date"].to_list()[2] == date(2026, 1, 5)
    assert out["visitnum"].to_list() == [3.0, None, 1.0, None, 3.0]  # W99 is not in the schedule: null
    assert out["manifest_file"].to_list() == ["m2.csv", None, "m1.csv", "m2.csv", "m2.csv"]
    assert out["shipment_id"].to_list() == [None, None, "SH-1", "SH-2", None]
    assert set(out.columns) == {
        *_results().columns,
        *FROM_MANIFEST,
        "visitnum",
        "manifest_file",
        "shipment_id",
    }


def test_inner_keeps_only_the_listed_samples() -> None:
    out = join_manifest(_results(), _samples(), VISITNUM, how="inner")
    assert out["sample_id"].to_list() == ["S2", "S1", "S3", "S2"]
    assert out["participant_id"].null_count() == 0


def test_an_empty_manifest_resolves_nothing() -> None:
    out = join_manifest(_results(), pl.DataFrame(schema=MANIFEST_SCHEMA), VISITNUM)
    assert out.height == 5 and out["participant_id"].null_count() == 5 and out["visitnum"].null_count() == 5
