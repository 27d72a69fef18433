"""The analyst's side on real ingestions (Prefect test harness, real DuckDB and Parquet files): the wide,
baseline, censoring and lineage views, the SDTM LB and Parquet exports, and `biomarkers query` as typed."""

from __future__ import annotations

import csv
import hashlib
import io
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import duckdb
import polars as pl
import pytest
import yaml

from flows.ingest import ingest_flow
from schemas.config import DEFAULT_CONFIG_DIR, Config, load_config
from schemas.sdtm import LB_COLUMNS, LbModel
from warehouse.analyst import connect_analyst
from warehouse.analyst_sql import wide_columns
from warehouse.paths import WarehousePaths
from warehouse.sdtm_lb import SdtmExportError, build_lb, fmt_number, read_xpt

pytestmark = [pytest.mark.integration, pytest.mark.usefixtures("prefect_harness")]

BIN = Path(sys.executable).parent / "biomarkers"


def run(*args: str, wh: Path, ok: bool = True, columns: int = 200) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("BIOMARKERS_")}
    env.update(BIOMARKERS_WAREHOUSE=str(wh), COLUMNS=str(columns))
    p = subprocess.run([str(BIN), *args], capture_output=True, text=True, env=env, timeout=300)
    assert "Traceback" not in p.stdout + p.stderr, p.stdout + p.stderr
    assert (p.returncode == 0) is ok, p.stdout + p.stderr
    return p


def one(con: duckdb.DuckDBPyConnection, sql: str, params: list[object] | None = None) -> object:
    return con.execute(sql, params or []).fetchall()[0][0]


@pytest.fixture(scope="module")
def wh(small_study: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("analyst_wh")
    ingest_flow(
        inbox=str(small_study / "inbox"), manifest=str(small_study / "manifest.csv"), warehouse=str(out),
        trigger="test",
    )  # fmt: skip
    return out


@pytest.fixture
def con(wh: Path) -> duckdb.DuckDBPyConnection:
    # the full store: these tests check values the blinded store withholds (post-dose CSF NfL, VEGF-A)
    c = connect_analyst(WarehousePaths.at(wh), full=True)
    yield c
    c.close()


# --- views ------------------------------------------------------------------------------------------------


def test_results_wide_has_one_row_per_participant_visit_matrix(
    con: duckdb.DuckDBPyConnection, config: Config
) -> None:
    keys = one(
        con,
        "select count(distinct (participant_id, visit, matrix)) from results "
        "where participant_id is not null and visit is not null",
    )
    assert keys and one(con, "select count(*) from results_wide") == keys
    assert (
        one(con, "select count(*) from (select distinct participant_id, visit, matrix from results_wide)")
        == keys
    )
    # every result lands in its own column, by qualifier, and nowhere else
    for c in wide_columns(config):
        by_q = dict(
            con.execute(
                "select qualifier, count(*) from results where analyte = ? and assay_id = ? "
                "and participant_id is not null group by all",
                [c.analyte, c.assay_id],
            ).fetchall()
        )
        got = con.execute(
            f'select count("{c.name}"), count("{c.name}_q"), count("{c.name}_limit") from results_wide'
        ).fetchall()[0]
        assert got == (by_q.get("=", 0), sum(by_q.values()), by_q.get("<", 0) + by_q.get(">", 0)), c
    # platforms are never merged: VEGF-A has a column per assay
    names = {c.name for c in wide_columns(config)}
    assert {"vegf_a__lx_ntf", "vegf_a__elisa_vegf", "nfl"} <= names


def test_a_censored_value_stays_censored_in_every_view(con: duckdb.DuckDBPyConnection, wh: Path) -> None:
    rid, pid, visit, matrix, analyte, assay, limit, sample = con.execute(
        "select result_id, participant_id, visit, matrix, analyte, assay_id, conc_pg_ml, sample_id "
        "from results where qualifier = '<' and assay_id like 'LX-%' "
        "order by analyte = 'NfL' desc, result_id limit 1"
    ).fetchall()[0]
    col = next(c.name for c in wide_columns(load_config()) if (c.analyte, c.assay_id) == (analyte, assay))
    wide = con.execute(
        f'select "{col}", "{col}_q", "{col}_limit" from results_wide '
        "where participant_id = ? and visit = ? and matrix = ?",
        [pid, visit, matrix],
    ).fetchall()
    assert wide == [(None, "<", limit)]
    bc = con.execute(
        "select qualifier, value_pg_ml, chg, pchg, log2_ratio, coalesce(change_qualifier, 'none') "
        "from baseline_change where result_id = ?",
        [rid],
    ).fetchall()
    assert bc[0][:5] == ("<", limit, None, None, None) and bc[0][5] != "="
    n_below = one(
        con,
        "select n_below_lloq from censoring_summary where analyte = ? and matrix = ? and visit = ? "
        "and assay_id = ?",
        [analyte, matrix, visit, assay],
    )
    assert n_below == one(
        con,
        "select count(*) from results where qualifier = '<' and analyte = ? and matrix = ? and visit = ? "
        "and assay_id = ?",
        [analyte, matrix, visit, assay],
    )
    lineage = con.execute("select distinct result_qualifier from sample_lineage where result_id = ?", [rid])
    assert lineage.fetchall() == [("<",)]
    # nowhere is a censored value a number that looks measured
    assert one(con, "select count(*) from baseline_change where chg is not null and (qualifier <> '=' or "
                    "baseline_qualifier <> '=')") == 0  # fmt: skip
    leaks = " + ".join(
        f'count(*) filter (where "{c.name}" is not null and "{c.name}_q" <> \'=\')'
        for c in wide_columns(load_config())
    )
    assert one(con, f"select {leaks} from results_wide") == 0
    # and the SDTM export says "<limit" with no numeric result
    config = load_config()
    code = config.catalogue.get(analyte).sdtm.testcd  # type: ignore[union-attr]
    lb = build_lb(con, config).filter(
        pl.col("LBREFID") == sample,
        pl.col("LBTESTCD") == code,
        pl.col("LBMETHOD") == config.assays.get(assay).method,  # type: ignore[union-attr]
    )
    assert lb.select("LBORRES", "LBSTRESC", "LBSTRESN", "LBLLOQ").rows() == [
        (f"<{fmt_number(limit)}", f"<{fmt_number(limit)}", None, lb["LBLLOQ"][0])
    ]
    assert lb["LBLLOQ"][0] is not None


def test_baseline_change_arithmetic_and_bounds(con: duckdb.DuckDBPyConnection) -> None:
    bad = one(
        con,
        "select count(*) from baseline_change where change_qualifier = '=' and ("
        "abs(chg - (value_pg_ml - baseline_pg_ml)) > 1e-9 * greatest(1, abs(chg)) or "
        "(baseline_pg_ml > 0 and abs(pchg - 100 * chg / baseline_pg_ml) > 1e-6) or "
        "(baseline_pg_ml > 0 and value_pg_ml > 0 and "
        " abs(log2_ratio - log2(value_pg_ml / baseline_pg_ml)) > 1e-9))",
    )
    assert bad == 0
    # a value below LLOQ against an exact baseline: the true change is below the bound
    dirs = con.execute(
        "select qualifier, baseline_qualifier, change_qualifier, count(*) from baseline_change "
        "where not is_baseline and baseline_result_id is not null and qualifier <> 'NR' group by all"
    ).fetchall()
    expect = {("<", "="): "<", ("=", "<"): ">", (">", "="): ">", ("=", ">"): "<", ("<", "<"): None,
              ("=", "="): "="}  # fmt: skip
    for q, bq, cq, _ in dirs:
        if (q, bq) in expect:
            assert cq == expect[(q, bq)], (q, bq, cq)
    assert {(q, bq) for q, bq, _, _ in dirs} >= {("=", "="), ("<", "<")}
    # the baseline comes from a candidate visit (W00 in study.yaml), never from a later pre-dose visit
    assert {r[0] for r in con.execute("select distinct baseline_visit from baseline_change").fetchall()} <= {
        "W00",
        None,
    }


def test_sample_lineage_reaches_every_well_and_the_raw_file(con: duckdb.DuckDBPyConnection, wh: Path) -> None:
    short = one(
        con,
        "select count(*) from results r where r.n_wells <> (select count(well) from sample_lineage l "
        "where l.result_id = r.result_id)",
    )
    assert short == 0
    assert one(con, "select count(*) from results_all") == one(
        con, "select count(distinct result_id) from sample_lineage"
    )
    rows = con.execute(
        "select distinct raw_file, source_file_sha256 from sample_lineage where is_current limit 3"
    ).fetchall()
    for raw, sha in rows:
        assert hashlib.sha256((wh / raw).read_bytes()).hexdigest() == sha
    failed = one(con, "select count(*) from sample_lineage where status = 'run_rejected' and run_accepted")
    assert failed == 0


def test_every_new_view_is_documented(con: duckdb.DuckDBPyConnection) -> None:
    comments = dict(
        con.execute("select view_name, comment from duckdb_views() where not internal").fetchall()
    )
    for v in ("results_wide", "baseline_change", "censoring_summary", "sample_lineage", "visit_schedule"):
        assert comments.get(v), v
    col = one(
        con,
        "select comment from duckdb_columns() where table_name = 'results_wide' and column_name = 'nfl_q'",
    )
    assert "qualifier" in str(col)


# --- baseline when a later visit is loaded first -----------------------------------------------------------

MANIFEST = """\
sample_id,participant_id,site_id,visit,matrix,collection_date,collection_time,aliquot,freeze_thaw_count,condition,shipment_id
CSF9000100,BCT-01-90001,01,W00,CSF,2019-01-07,09:30,1,0,,SHIP-T1
CSF9000104,BCT-01-90001,01,W04,CSF,2019-02-04,09:30,1,0,,SHIP-T1
CSF9000108,BCT-01-90001,01,W08,CSF,2019-03-04,09:30,1,0,,SHIP-T1
CSF9000200,BCT-01-90002,01,W00,CSF,2019-01-08,10:00,1,0,,SHIP-T1
CSF9000208,BCT-01-90002,01,W08,CSF,2019-03-05,10:00,1,0,HEMOLYZED,SHIP-T1
CSF9000300,BCT-01-90003,01,W00,CSF,2019-01-09,11:00,1,0,,SHIP-T1
CSF9000304,BCT-01-90003,01,W04,CSF,2019-02-06,11:00,1,0,,SHIP-T1
"""
HEADER = "plate_id,well,sample_id,sample_type,analyte,concentration,unit,protocol\n"
# Loaded first: W04 and W08 (W08 is pre-dose too — the second dose — but after the first: never a baseline).
LATER = (
    HEADER
    + """\
LATER-01,A1,CSF9000104,unknown,NfL,5200,pg/mL,LX-NDG
LATER-01,A2,CSF9000104,unknown,NfL,5400,pg/mL,LX-NDG
LATER-01,B1,CSF9000108,unknown,NfL,6100,pg/mL,LX-NDG
LATER-01,B2,CSF9000108,unknown,NfL,6300,pg/mL,LX-NDG
LATER-01,C1,CSF9000208,unknown,NfL,7000,pg/mL,LX-NDG
LATER-01,C2,CSF9000208,unknown,NfL,7200,pg/mL,LX-NDG
LATER-01,D1,CSF9000304,unknown,NfL,900,pg/mL,LX-NDG
LATER-01,D2,CSF9000304,unknown,NfL,1100,pg/mL,LX-NDG
"""
)
# Loaded second: the week-0 samples (one in range, one not reported, one below LLOQ).
BASELINE = (
    HEADER
    + """\
BASE-01,A1,CSF9000100,unknown,NfL,4000,pg/mL,LX-NDG
BASE-01,A2,CSF9000100,unknown,NfL,4200,pg/mL,LX-NDG
BASE-01,B1,CSF9000200,unknown,NfL,***,pg/mL,LX-NDG
BASE-01,B2,CSF9000200,unknown,NfL,***,pg/mL,LX-NDG
BASE-01,C1,CSF9000300,unknown,NfL,<50,pg/mL,LX-NDG
BASE-01,C2,CSF9000300,unknown,NfL,<50,pg/mL,LX-NDG
"""
)


@pytest.fixture(scope="module")
def late_baseline(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("late_baseline")
    (root / "manifest.csv").write_text(MANIFEST)
    inbox, out = root / "inbox", root / "wh"
    inbox.mkdir()
    (inbox / "later_visits.csv").write_text(LATER)
    kw = {"manifest": str(root / "manifest.csv"), "warehouse": str(out), "trigger": "test"}
    first = ingest_flow(inbox=str(inbox), **kw)
    (inbox / "baseline.csv").write_text(BASELINE)
    second = ingest_flow(inbox=str(inbox), **kw)
    assert first.files_new == 1 and second.files_new == 1
    return out


def test_baseline_is_the_pre_dose_value_even_when_loaded_last(late_baseline: Path) -> None:
    c = connect_analyst(
        WarehousePaths.at(late_baseline), full=True
    )  # post-dose CSF NfL: withheld when blinded
    rows = c.execute(
        "select participant_id, visit, baseline_visit, baseline_pg_ml, baseline_qualifier, chg, "
        "change_qualifier, chg_bound, change_note from baseline_change order by participant_id, visitnum"
    ).fetchall()
    by = {(r[0], r[1]): r[2:] for r in rows}
    # loaded after W04/W08, still the baseline; W08 (pre-dose 2) never is
    assert by[("BCT-01-90001", "W00")][:3] == ("W00", 4100.0, "=")
    assert by[("BCT-01-90001", "W04")][3:5] == (1200.0, "=")
    assert by[("BCT-01-90001", "W08")][:5] == ("W00", 4100.0, "=", 2100.0, "=")
    # week 0 not reported: no baseline at all rather than a later visit
    assert by[("BCT-01-90002", "W08")] == (None, None, None, None, None, None, "no baseline value")
    # baseline below LLOQ: the change is only known to be above the bound
    assert by[("BCT-01-90003", "W04")] == (
        "W00",
        50.0,
        "<",
        None,
        ">",
        950.0,
        by[("BCT-01-90003", "W04")][-1],
    )
    # the not-reported result goes to SDTM as NOT DONE with the reason
    lb = build_lb(c, load_config())
    nd = lb.filter(pl.col("LBREFID") == "CSF9000200").row(0, named=True)
    assert (nd["LBORRES"], nd["LBSTAT"], nd["LBSTRESN"]) == (None, "NOT DONE", None)
    assert "***" in nd["LBREASND"]
    assert lb.filter(pl.col("LBREFID") == "CSF9000208")["LBSPCCND"].to_list() == ["HEMOLYZED"]
    c.close()


# --- exports ------------------------------------------------------------------------------------------------


def test_sdtm_export_passes_its_schema_and_round_trips_xpt(wh: Path, tmp_path: Path) -> None:
    p = run("export", "sdtm", "--out", str(tmp_path / "sdtm"), wh=wh)
    assert "lb.xpt" in p.stdout
    out = tmp_path / "sdtm"
    con = connect_analyst(WarehousePaths.at(wh))
    n_current = one(
        con, "select count(*) from results where participant_id is not null and visit is not null"
    )
    con.close()
    schema = {c: pl.String for c in LB_COLUMNS} | {
        "LBSEQ": pl.Int64, "LBSTRESN": pl.Float64, "LBLLOQ": pl.Float64, "VISITNUM": pl.Float64,
    }  # fmt: skip
    from_csv = pl.read_csv(out / "lb.csv", schema=schema)
    assert from_csv.height == n_current
    LbModel.validate(from_csv, lazy=True)
    from_xpt = read_xpt(out / "lb.xpt")
    assert from_xpt.columns == list(LB_COLUMNS)
    text = [c for c in LB_COLUMNS if schema[c] == pl.String]
    norm_csv = from_csv.with_columns(pl.col(text).fill_null(""), pl.col("LBSEQ").cast(pl.Float64))
    norm_xpt = from_xpt.with_columns(
        pl.col(text).fill_null(""), pl.col(["LBSTRESN", "LBLLOQ"]).fill_nan(None)
    )
    assert norm_xpt.equals(norm_csv)
    with open(out / "define_lb.csv", newline="") as fh:
        listed = [r["Variable"] for r in csv.DictReader(fh)]
    assert listed == list(LB_COLUMNS)
    with open(out / "define_lb_tests.csv", newline="") as fh:
        codes = {r["LBTESTCD"] for r in csv.DictReader(fh)}
    assert codes == set(from_csv["LBTESTCD"].unique())
    assert "INTLK6" in codes and all(len(c) <= 8 for c in codes)


def test_an_analyte_without_a_test_code_stops_the_export_naming_it(
    con: duckdb.DuckDBPyConnection, tmp_path: Path
) -> None:
    cfg = tmp_path / "config"
    shutil.copytree(DEFAULT_CONFIG_DIR, cfg)
    data = yaml.safe_load((cfg / "analytes.yaml").read_text())
    for a in data["analytes"]:
        if a["name"] == "NfL":
            del a["sdtm"]
    (cfg / "analytes.yaml").write_text(yaml.safe_dump(data))
    with pytest.raises(SdtmExportError, match=r"NfL.*config/analytes.yaml"):
        build_lb(con, load_config(cfg))


def test_parquet_export_is_one_dataset_partitioned_by_matrix(wh: Path, tmp_path: Path) -> None:
    out = tmp_path / "pq"
    run("export", "parquet", "--out", str(out), wh=wh)
    assert sorted(p.name for p in out.iterdir()) == ["matrix=CSF", "matrix=SERUM"]
    df = pl.read_parquet(out, hive_partitioning=True)
    con = connect_analyst(WarehousePaths.at(wh))
    assert df.height == one(con, "select count(*) from results")
    assert df.filter(pl.col("qualifier") == "<")["conc_pg_ml"].is_not_null().all()
    con.close()
    refused = run("export", "parquet", "--out", str(out), wh=wh, ok=False)
    assert "not an empty folder" in refused.stderr


# --- biomarkers query -------------------------------------------------------------------------------------

Q200 = (
    "select participant_id, visit, matrix, analyte, assay_id, conc_pg_ml, qualifier, lloq, "
    "source_file_sha256 from results order by all limit 200"
)


def test_query_table_is_readable_in_80_columns(wh: Path) -> None:
    p = run("query", Q200, wh=wh, columns=80)
    lines = p.stdout.splitlines()
    assert max(len(line) for line in lines) <= 80, max(lines, key=len)
    body = [line for line in lines if line.startswith("BCT-")]
    assert len(body) == 200  # one line per row: nothing folded over several lines
    assert "200 rows × 9 columns" in p.stdout and "source_file_sha256" in p.stdout  # named as not shown
    assert "12.309999999" not in p.stdout  # no float noise


def test_query_formats_and_out_file(wh: Path, tmp_path: Path) -> None:
    sql = "select participant_id, visit, analyte, conc_pg_ml, qualifier from results order by all limit 25"
    rows = list(csv.DictReader(io.StringIO(run("query", sql, "--format", "csv", wh=wh).stdout)))
    assert len(rows) == 25 and rows[0].keys() == {
        "participant_id",
        "visit",
        "analyte",
        "conc_pg_ml",
        "qualifier",
    }
    assert len(json.loads(run("query", sql, "--format", "json", wh=wh).stdout)) == 25
    target = tmp_path / "q.parquet"
    run("query", sql, "--out", str(target), wh=wh)  # format from the suffix
    assert pl.read_parquet(target).height == 25
    bare = run("query", sql, "--format", "parquet", wh=wh, ok=False)
    assert "--out" in bare.stderr


def test_query_error_says_what_is_wrong_and_lists_views(wh: Path) -> None:
    p = run("query", "select * from resultz", wh=wh, ok=False)
    assert "resultz" in p.stderr and "results" in p.stderr
    assert "available views:" in p.stderr
    for v in ("results_wide", "baseline_change", "censoring_summary", "sample_lineage"):
        assert v in p.stderr


# --- study data management (issue 20) ----------------------------------------------------------------------


def test_reconcile_lists_the_samples_without_a_result_and_why(wh: Path) -> None:
    blind = connect_analyst(WarehousePaths.at(wh))
    try:
        # the hand join the issue made: W04 CSF samples with a current ELISA VEGF result
        received = one(blind, "select count(*) from samples where visit = 'W04' and matrix = 'CSF'")
        with_result = one(
            blind,
            "select count(distinct s.sample_id) from samples s join results r using (sample_id) "
            "where s.visit = 'W04' and s.matrix = 'CSF' and r.assay_id = 'ELISA-VEGF'",
        )
        vegf = blind.execute(
            "select count(*) filter (where received), count(*) filter (where current_result) "
            "from sample_status "
            "where visit = 'W04' and matrix = 'CSF' and assay_id = 'ELISA-VEGF'"
        ).fetchall()[0]
        # the visit x matrix x assay with the most samples lacking a result (failed runs, missing samples)
        visit, matrix, assay = blind.execute(
            "select visit, matrix, assay_id from sample_status where missing group by all "
            "order by count(*) desc, visit, matrix, assay_id limit 1"
        ).fetchall()[0]
        where = f"from sample_status where visit = '{visit}' and matrix = '{matrix}' and assay_id = '{assay}'"
        row = blind.execute(
            "select count(*), count(*) filter (where received), count(*) filter (where current_result), "
            f"count(*) filter (where missing) {where}"
        ).fetchall()[0]
        missing = blind.execute(
            f"select participant_id, sample_id, status, reason {where} and missing"
        ).fetchall()
        sql = "select column_name from duckdb_columns() where table_name = 'samples'"
        cols = {r[0] for r in blind.execute(sql).fetchall()}
    finally:
        blind.close()
    assert received > 0 and vegf == (received, with_result)
    assert row[3] == len(missing) > 0 and all(reason for *_, reason in missing)
    assert not any(w in c for c in cols for w in ("arm", "treat", "alloc", "random"))
    p = run("reconcile", "--visit", visit, "--matrix", matrix, "--limit", "1000", wh=wh, columns=80)
    lines = p.stdout.splitlines()
    assert all(len(line) <= 80 for line in lines), max(lines, key=len)
    summary = next(line for line in lines if line.startswith(f"{visit:<6}{matrix:<7}{assay[:11]:<12}"))
    counts = [int(x) for x in summary.split()[3:]]  # expected received assayed complete failed missing
    assert (counts[0], counts[1], counts[3], counts[5]) == row
    listed = [line for line in lines if line.startswith("BCT-") and f" {assay} " in line]
    assert len(listed) == len(missing)
    for participant, sample, status, _ in missing:
        assert any(line.startswith(participant) and line.endswith(status) for line in listed)
        assert sample is None or any(sample in line for line in listed)


def test_worklist_lists_every_above_uloq_sample_with_a_dilution(wh: Path, tmp_path: Path) -> None:
    full = connect_analyst(WarehousePaths.at(wh), full=True)
    try:
        above = {
            (s, a, float(d))
            for s, a, d in full.execute(
                "select sample_id, assay_id, dilution from results where qualifier = '>'"
            ).fetchall()
        }
        failed = one(
            full,
            "select count(distinct (r.sample_id, r.assay_id, r.plate_id)) from results_all r "
            "where r.status = 'run_rejected' and not exists (select 1 from results c where "
            "c.sample_id = r.sample_id and c.analyte = r.analyte and c.assay_id = r.assay_id)",
        )
    finally:
        full.close()
    target = tmp_path / "worklist.csv"
    p = run("worklist", "--out", str(target), wh=wh)
    assert "items" in p.stderr
    with open(target, newline="") as fh:
        items = list(csv.DictReader(fh))
    assert items, "the generated study has failed runs and censored samples: the worklist cannot be empty"
    assert "participant_id" not in items[0] and "visit" not in items[0]  # a lab gets sample IDs only
    listed = {
        (i["sample_id"], i["assay_id"], float(i["dilution"])) for i in items if i["reason"] == "above_uloq"
    }
    assert listed == above
    assert all(
        float(i["suggested_dilution"]) == 10 * float(i["dilution"])
        for i in items
        if i["reason"] == "above_uloq"
    )
    assert sum(1 for i in items if i["reason"] == "run_failed") == failed


def _isr_picks(wh: Path) -> list[tuple[str, str, str]]:
    con = connect_analyst(WarehousePaths.at(wh), full=True)
    try:
        return con.execute(
            "select plate_id, assay_id, sample_id from reassay_candidates where reason = 'isr' order by all"
        ).fetchall()
    finally:
        con.close()


def test_isr_picks_are_each_participants_peak_samples_a_stable_tenth_per_assay(
    con: duckdb.DuckDBPyConnection, config: Config
) -> None:
    """study.yaml isr (fraction 0.10, prefer near_cmax): per assay ceil(10 %) of the samples with an
    in-range current result, each one its participant's highest in-range value of some analyte (matrix x
    analyte); in the worklist (reason isr)."""
    assert config.study.isr.prefer == "near_cmax" and config.study.isr.fraction == pytest.approx(0.10)
    rows = con.execute(
        "select participant_id, matrix, analyte, assay_id, sample_id, conc_pg_ml from results "
        "where qualifier = '='"
    ).fetchall()
    eligible: dict[str, set[str]] = {}
    peak: dict[tuple[str, str, str, str], float] = {}
    for p, m, a, assay, sample, conc in rows:
        eligible.setdefault(assay, set()).add(sample)
        peak[(p, m, a, assay)] = max(conc, peak.get((p, m, a, assay), conc))
    peaks = {(assay, sample) for p, m, a, assay, sample, conc in rows if conc == peak[(p, m, a, assay)]}
    picks = con.execute(
        "select distinct assay_id, sample_id from reassay_candidates where reason = 'isr'"
    ).fetchall()
    by_assay: dict[str, int] = {}
    for assay, _ in picks:
        by_assay[assay] = by_assay.get(assay, 0) + 1
    assert by_assay == {a: -(-len(s) // 10) for a, s in eligible.items()}
    assert set(picks) <= peaks  # 12 participants x 7 visits: enough peaks to fill every assay's tenth


def test_isr_on_the_generated_study_a_seeded_bad_repeat_fails_its_run(
    wh: Path, small_study: Path, tmp_path: Path
) -> None:
    """Two ISR runs of the worklist's picks (synth.generator.isr_plate): one with half its repeats read
    0.6 x the original (50 % off the mean of the two, ICH M10 allows 30 %), one faithful. The bad run
    fails, the other passes; the repeats are stored beside the originals, never current; the repeated
    picks leave the worklist, the others stay as they were."""
    from synth.generator import isr_plate

    before = _isr_picks(wh)
    on_plate: dict[str, list[str]] = {}
    for plate, _assay, sample in before:
        on_plate.setdefault(plate, []).append(sample)
    bad, good = sorted((p for p, s in on_plate.items() if len(s) >= 3), key=lambda p: (-len(on_plate[p]), p))[
        :2
    ]
    inbox = tmp_path / "isr_inbox"
    isr_plate(inbox, bad, on_plate[bad], seed=11, participants=12, bad_fraction=0.5)
    isr_plate(inbox, good, on_plate[good], seed=11, participants=12)
    copy = tmp_path / "wh"
    shutil.copytree(wh, copy)
    src = connect_analyst(WarehousePaths.at(wh), full=True)
    try:
        current_before = src.execute("select result_id, conc_pg_ml from results order by 1").fetchall()
    finally:
        src.close()
    ingest_flow(
        inbox=str(inbox), manifest=str(small_study / "manifest.csv"), warehouse=str(copy), trigger="test"
    )
    full = connect_analyst(WarehousePaths.at(copy), full=True)
    try:
        runs = {
            plate: (passed, n_eval, n_within, verdict)
            for plate, passed, n_eval, n_within, verdict in full.execute(
                "select repeat_plate_id, passed, n_evaluable, n_within, verdict from isr_runs"
            ).fetchall()
        }
        pairs = full.execute(
            "select repeat_plate_id, sample_id, pct_difference, original_result_id from isr_pairs"
        ).fetchall()
        repeats = full.execute(
            "select is_current, superseded_by, superseded_reason from results_all "
            "where regexp_matches(plate_id, '-ISR$')"
        ).fetchall()
        current_after = full.execute("select result_id, conc_pg_ml from results order by 1").fetchall()
    finally:
        full.close()
    assert set(runs) == {f"{bad}-ISR", f"{good}-ISR"}
    failed, n_eval, n_within, verdict = runs[f"{bad}-ISR"]
    assert failed is False and verdict.startswith("failed: only") and 0 < n_within < 2 / 3 * n_eval
    off = [d for plate, _, d, _ in pairs if plate == f"{bad}-ISR" and d is not None and abs(d) > 30]
    assert len(off) > n_eval / 3
    assert runs[f"{good}-ISR"][0] is True and runs[f"{good}-ISR"][3].startswith("passed:")
    assert {s for plate, s, _, _ in pairs} == set(on_plate[bad]) | set(on_plate[good])
    # stored beside the originals, never replacing them: the current results are exactly as before
    assert repeats and all(not cur and by is None and "never replaces" in why for cur, by, why in repeats)
    assert current_after == current_before
    assert {o for *_, o in pairs} <= {r for r, _ in current_after}
    # the report says which run failed (exit status 1); the repeated picks left the worklist, the rest stayed
    p = run("isr", wh=copy, ok=False, columns=80)
    assert f"FAIL  {bad}-ISR" in p.stdout and f"PASS  {good}-ISR" in p.stdout
    assert "2 repeat run(s), 1 failed" in p.stdout
    assert _isr_picks(copy) == [k for k in before if k[0] not in (bad, good)]


def test_the_data_dictionary_is_complete_and_up_to_date(wh: Path) -> None:
    from warehouse.data_dictionary import markdown, undocumented

    blind = connect_analyst(WarehousePaths.at(wh))
    try:
        assert undocumented(blind) == []
        text = markdown(blind)
    finally:
        blind.close()
    shipped = (Path(__file__).resolve().parents[2] / "docs" / "data-dictionary.md").read_text(
        encoding="utf-8"
    )
    assert text == shipped, "docs/data-dictionary.md is out of date: run python -m warehouse.data_dictionary"
