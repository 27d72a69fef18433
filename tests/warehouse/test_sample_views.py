"""Study data management (issue 20): the assay plan as validated configuration, the planned grid, the
sample_status / reassay_candidates views over a hand-built snapshot, and the 80-column reconcile text."""

from __future__ import annotations

import shutil
from pathlib import Path

import duckdb
import polars as pl
import pytest
import yaml

from biomarkers.commands_data import WIDTH, missing_lines, summary_lines
from schemas.config import DEFAULT_CONFIG_DIR, ConfigError, load_config
from warehouse.sample_views import plan_rows


def _config_with(tmp_path: Path, plan: list[dict[str, object]]) -> Path:
    d = tmp_path / "config"
    shutil.copytree(DEFAULT_CONFIG_DIR, d, dirs_exist_ok=True)
    study = yaml.safe_load((d / "study.yaml").read_text())
    study["assay_plan"] = plan
    (d / "study.yaml").write_text(yaml.safe_dump(study))
    return d


def test_the_shipped_plan_expects_every_luminex_panel_in_both_matrices_and_elisa_in_csf() -> None:
    rows = plan_rows(load_config())
    by_assay: dict[str, set[str]] = {}
    for assay, _visit, matrix, analytes in rows:
        by_assay.setdefault(assay, set()).add(matrix)
        assert analytes
    assert by_assay == {
        "LX-NTF": {"CSF", "SERUM"},
        "LX-CYT": {"CSF", "SERUM"},
        "LX-NDG": {"CSF", "SERUM"},
        "ELISA-VEGF": {"CSF"},
        "ELISA-HGF": {"CSF"},
    }
    assert len(rows) == 3 * 14 + 2 * 7  # 7 visits, both matrices at each


def test_a_plan_limited_to_some_visits(tmp_path: Path) -> None:
    d = _config_with(tmp_path, [{"assay_id": "ELISA-VEGF", "matrices": ["CSF"], "visits": ["W00", "W20"]}])
    assert [(a, v, m) for a, v, m, _ in plan_rows(load_config(d))] == [
        ("ELISA-VEGF", "W00", "CSF"),
        ("ELISA-VEGF", "W20", "CSF"),
    ]


@pytest.mark.parametrize(
    ("plan", "named"),
    [
        ({"assay_id": "ELISA-XYZ", "matrices": ["CSF"]}, "ELISA-XYZ"),
        ({"assay_id": "ELISA-VEGF", "matrices": ["PLASMA"]}, "PLASMA"),
        ({"assay_id": "ELISA-VEGF", "matrices": ["CSF"], "visits": ["W99"]}, "W99"),
        ({"assay_id": "ELISA-VEGF", "matrices": ["CSF"], "visit": ["W00"]}, "visit"),
    ],
)
def test_a_bad_plan_is_refused_naming_what(tmp_path: Path, plan: dict[str, object], named: str) -> None:
    with pytest.raises(ConfigError, match=named):
        load_config(_config_with(tmp_path, [plan]))


def test_reconcile_text_fits_80_columns() -> None:
    summary = [("W04", "SERUM", "ELISA-VEGF-LONGNAME", 12345, 12000, 11999, 11000, 12, 1345)]
    missing = [
        ("BCT-01-1001-XYZ", "W04", "SERUM", "ELISA-VEGF", "CSF0110300041", "partial", "x " * 100),
        ("BCT-01-1002", "W04", "CSF", "LX-NTF", None, "not received", "no CSF sample"),
    ]
    lines = summary_lines(summary) + missing_lines(missing)
    assert all(len(line) <= WIDTH for line in lines), max(lines, key=len)
    assert lines[2].split()[:3] == ["W04", "SERUM", "ELISA-VEGF-"]
    assert lines[3].startswith("BCT-01-1001-XYZ W04") and lines[3].endswith("partial")
    assert lines[4] == "    " + "x " * 37 + "x" and lines[-1] == "    no CSF sample"
    assert next(line for line in lines if line.startswith("BCT-01-1002")).endswith("not received")


def _snapshot(root: Path) -> None:
    """A tiny published snapshot: two samples in the manifest, one measured (VEGF-A above ULOQ, current;
    LIF only in a failed run), the other received and never measured."""
    con = duckdb.connect()
    con.execute(
        f"""
        COPY (SELECT * FROM (VALUES
            ('m1', 'S1', 'P-1', '01', 'W04', 'CSF', DATE '2019-01-01', NULL, '1', 0, NULL, 'SHP-1',
             'ship.csv', 2, TIMESTAMPTZ '2026-01-01 00:00:00+00', 'run'),
            ('m1', 'S2', 'P-2', '01', 'W04', 'CSF', DATE '2019-01-01', NULL, '1', 0, NULL, 'SHP-1',
             'ship.csv', 3, TIMESTAMPTZ '2026-01-01 00:00:00+00', 'run'))
          AS t(manifest_sha256, sample_id, participant_id, site_id, visit, matrix, collection_date,
               collection_time, aliquot, freeze_thaw_count, condition, shipment_id, manifest_file,
               manifest_line, recorded_at, run_id))
        TO '{root}/manifest_samples.parquet' (FORMAT parquet)
        """
    )
    con.close()


def _install(
    con: duckdb.DuckDBPyConnection, root: Path, extra: list[dict[str, object]] | None = None
) -> None:
    from warehouse.sample_views import sample_views_sql

    config = load_config(_config_with(root.parent, [{"assay_id": "LX-NTF", "matrices": ["CSF"]}]))
    con.execute("CREATE VIEW visit_schedule AS SELECT 'W04' AS visit, 3.0 AS visitnum")
    con.execute("CREATE VIEW plates AS SELECT 'sha' AS source_sha256, 'P1' AS plate_id, 'lab-a' AS lab")
    analytes = config.assays.get("LX-NTF").analytes  # type: ignore[union-attr]
    rows = [
        {
            "result_id": f"r{i}",
            "sample_id": "S1",
            "participant_id": "P-1",
            "visit": "W04",
            "matrix": "CSF",
            "analyte": a,
            "assay_id": "LX-NTF",
            "plate_id": "P1",
            "source_file": "p1.csv",
            "source_file_sha256": "sha",
            "qualifier": ">" if a == "VEGF-A" else "=",
            "conc_pg_ml": 10000.0 if a == "VEGF-A" else 100.0 + i,
            "uloq": 10000.0,
            "dilution": 1.0,
            "cv_pct": 5.0,
            "flags": None,
            "status": "run_rejected" if a == "LIF" else "loaded",
            "hold_reason": "run failed acceptance: QC-L 0 of 2" if a == "LIF" else None,
            "is_current": a != "LIF",
            "exclusion_id": None,
            "superseded_reason": None,
        }
        for i, a in enumerate(analytes)
    ]
    rows += [{**rows[1], **e} for e in extra or []]
    con.register("_r", pl.DataFrame(rows).to_arrow())
    con.execute("CREATE TABLE results_all AS SELECT * FROM _r")
    con.execute(sample_views_sql(config, root))


def test_sample_status_and_the_worklist_over_a_tiny_snapshot(tmp_path: Path) -> None:
    root = tmp_path / "snap"
    root.mkdir()
    _snapshot(root)
    con = duckdb.connect()
    _install(con, root)
    status = con.execute(
        "SELECT sample_id, received, assayed, n_current, n_analytes, failed, missing, status, reason "
        "FROM sample_status WHERE visit = 'W04' ORDER BY participant_id"
    ).fetchall()
    s1, s2 = status
    assert s1[:8] == ("S1", True, True, 7, 8, True, True, "partial")
    assert s1[8] == "7 of 8 analytes current, none for LIF; run failed acceptance: QC-L 0 of 2"
    assert s2[:8] == ("S2", True, False, 0, 8, False, True, "not assayed")
    assert "SHP-1" in s2[8] and "LX-NTF" in s2[8]
    items = con.execute(
        "SELECT lab, sample_id, reason, analytes, dilution, suggested_dilution FROM reassay_candidates "
        "WHERE reason <> 'isr' ORDER BY priority"
    ).fetchall()
    assert items == [
        ("lab-a", "S1", "above_uloq", "VEGF-A", 1.0, 10.0),
        ("lab-a", "S1", "run_failed", "LIF", 1.0, 1.0),
    ]


def test_an_older_snapshot_without_manifests_still_opens(tmp_path: Path) -> None:
    root = tmp_path / "snap"
    root.mkdir()
    con = duckdb.connect()
    _install(con, root)
    assert con.execute("SELECT count(*) FROM samples").fetchall() == [(0,)]
    assert con.execute("SELECT count(*) FROM sample_status").fetchall() == [(0,)]


def test_list_columns_reach_a_csv_joined_and_escaped() -> None:
    from warehouse.csv_safe import write_csv

    df = pl.DataFrame({"flags": [["high_cv", "resolved_late"], None, ["=cmd|' /C calc'!A0"]], "n": [1, 2, 3]})
    lines = write_csv(df).splitlines()
    assert lines == ["flags,n", "high_cv;resolved_late,1", ",2", "'=cmd|' /C calc'!A0,3"]


def _isr_repeat(rid: str, analyte: str, conc: float, plate: str = "P1-ISR") -> dict[str, object]:
    return {
        "result_id": rid,
        "analyte": analyte,
        "plate_id": plate,
        "conc_pg_ml": conc,
        "qualifier": "=",
        "is_current": False,
        "status": "loaded",
        "hold_reason": None,
        "source_file": f"{plate}.csv",
        "source_file_sha256": "sha-isr",
    }


def test_isr_picks_then_a_seeded_bad_repeat_fails_the_run(tmp_path: Path) -> None:
    root = tmp_path / "snap"
    root.mkdir()
    _snapshot(root)
    con = duckdb.connect()
    _install(con, root)
    # one sample with in-range results: ceil(10 % of 1) = 1 pick, all its in-range analytes
    picks = con.execute(
        "SELECT sample_id, assay_id, analytes FROM reassay_candidates WHERE reason = 'isr'"
    ).fetchall()
    assert len(picks) == 1 and picks[0][:2] == ("S1", "LX-NTF") and "VEGF-A" not in picks[0][2]
    con.close()
    # originals HGF 101, GDNF 103, BDNF 104 (the fixture's 100 + i); repeats: two close, one 50 % off
    con = duckdb.connect()
    _install(
        con,
        root,
        [
            _isr_repeat("x1", "HGF", 110.0),  # +8.5 %
            _isr_repeat("x2", "GDNF", 95.0),  # -8.1 %
            _isr_repeat("x3", "BDNF", 170.0),  # +48 %: the seeded bad repeat
            _isr_repeat("x4", "HGF", 300.0, plate="P1-RA"),  # a plain re-assay: no ISR pair
        ],
    )
    pairs = dict(con.execute("SELECT analyte, round(pct_difference, 1) FROM isr_pairs ORDER BY 1").fetchall())
    assert pairs == {"BDNF": 48.2, "GDNF": -8.1, "HGF": 8.5}
    run = con.execute("SELECT n_evaluable, n_within, passed, verdict FROM isr_runs").fetchall()
    assert run == [(3, 2, True, "passed: 2 of 3 repeats within 30.0 % of the mean")]
    assert con.execute("SELECT count(*) FROM reassay_candidates WHERE reason = 'isr'").fetchall() == [(0,)]
    con.close()
    con = duckdb.connect()
    _install(con, root, [_isr_repeat("x1", "HGF", 110.0), _isr_repeat("x3", "BDNF", 170.0)])
    run = con.execute("SELECT n_evaluable, n_within, passed, verdict FROM isr_runs").fetchall()
    assert run[0][:3] == (2, 1, False) and run[0][3].startswith("failed: only 1 of 2 repeats within 30.0 %")


def test_isr_report_lines_fit_80_columns() -> None:
    from biomarkers.commands_data import isr_lines

    rows = [
        (
            "BCT011-LX-NTF-CSF-P001-ISR",
            "LX-NTF",
            "BDNF, GDNF, HGF, LIF, NGF-beta",
            False,
            "failed: " + "x" * 150,
        )
    ]
    lines = isr_lines(rows)
    assert lines[0].startswith("FAIL  BCT011-LX-NTF-CSF-P001-ISR  LX-NTF")
    assert all(len(line) <= WIDTH for line in lines) and len(lines) == 4


def test_an_isr_repeat_never_replaces_the_original() -> None:
    from warehouse.currency import decide

    base = {"sample_id": "S1", "analyte": "HGF", "assay_id": "LX-NTF", "qualifier": "=", "wells": "A1"}
    base |= {"participant_id": "P-1", "exclusion_id": None, "exclusion_reason": None, "excluded_by": None}
    cand = pl.DataFrame(
        [
            {**base, "result_id": "orig", "plate_id": "P1", "source_file": "p1.csv", "load_seq": 1},
            {**base, "result_id": "isr", "plate_id": "P1-ISR", "source_file": "p1-isr.csv", "load_seq": 2},
        ]
    )
    pattern = load_config().study.isr.plate_id_pattern
    state = {r["result_id"]: r for r in decide(cand, {}, pattern).iter_rows(named=True)}
    assert state["orig"]["is_current"] and not state["isr"]["is_current"]
    assert state["isr"]["superseded_by"] is None and "never replaces it" in state["isr"]["reason"]
    # without the ISR rule the later run would have won (the 'latest' re-assay rule)
    assert {r["result_id"] for r in decide(cand, {}).iter_rows(named=True) if r["is_current"]} == {"isr"}
    # a plate ID that merely contains the letters is no ISR plate
    assert not pl.Series(["DISRUPT-01", "P1-RA"]).str.contains(pattern).any()
