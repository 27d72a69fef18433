"""The `biomarkers` command as a user runs it: real subprocesses, a real warehouse, a real Prefect run."""

from __future__ import annotations

import csv
import io
from pathlib import Path

import pytest

from tests.processes import cli_env, run

pytestmark = pytest.mark.integration

INSPECT_COLUMNS = [
    "plate", "well", "sample_id", "sample_type", "analyte", "signal", "reported_text", "qualifier", "value",
    "unit", "conc_pg_ml", "dilution",
]  # fmt: skip


@pytest.fixture(scope="module")
def env(tmp_path_factory: pytest.TempPathFactory, prefect_harness: str) -> dict[str, str]:
    return cli_env(tmp_path_factory.mktemp("data"), prefect_api_url=prefect_harness)


@pytest.fixture(scope="module")
def study(env: dict[str, str]) -> Path:
    out = Path(env["BIOMARKERS_DATA"]) / "study"
    run("generate", "--out", str(out), "--participants", "8", "--seed", "21", env=env)
    return out


def _one(study: Path, pattern: str) -> Path:
    return sorted((study / "inbox").glob(pattern))[0]


@pytest.mark.parametrize(
    ("pattern", "fmt"), [("*LX-*.csv", "xponent"), ("*ELISA-*[0-9].txt", "platereader_grid")]
)
def test_inspect_csv_prints_canonical_rows(study: Path, env: dict[str, str], pattern: str, fmt: str) -> None:
    p = run("inspect", str(_one(study, pattern)), "--csv", env=env)
    assert f"format: {fmt}" in p.stderr
    assert "format:" not in p.stdout
    rows = list(csv.DictReader(io.StringIO(p.stdout)))
    assert rows and set(INSPECT_COLUMNS) <= set(rows[0])
    unknown = [r for r in rows if r["sample_type"] == "unknown"]
    assert unknown and all(r["qualifier"] in {"=", "<", ">", "NR"} for r in unknown)
    assert any(r["conc_pg_ml"] for r in unknown)


def test_inspect_refuses_a_file_it_cannot_read(tmp_path: Path, env: dict[str, str]) -> None:
    bad = tmp_path / "notes.csv"
    bad.write_text("hello,world\n1,2\n")
    p = run("inspect", str(bad), env={**env, "COLUMNS": "80"}, ok=False)
    assert p.returncode == 1 and "notes.csv" in p.stderr and "Tried" not in p.stderr
    assert len(p.stderr.strip().splitlines()) <= 5, p.stderr  # one short paragraph for a lab person
    p = run("inspect", str(bad), "--verbose", env=env, ok=False)
    assert p.returncode == 1 and "Tried Luminex xPONENT CSV export" in p.stderr  # each format's reason


@pytest.fixture(scope="module")
def ingested(study: Path, env: dict[str, str]) -> tuple[list[str], str]:
    """The study ingested once (the qc-report test reads the same warehouse): its arguments and output."""
    wh = str(Path(env["BIOMARKERS_DATA"]) / "wh")
    args = ["--inbox", str(study / "inbox"), "--manifest", str(study / "manifest.csv"), "--warehouse", wh]
    return args, run("ingest", *args, env=env).stdout


def test_ingest_query_status_and_idempotency(ingested: tuple[list[str], str], env: dict[str, str]) -> None:
    args, first = ingested
    wh = args[-1]
    assert "Ingestion summary" in first
    q = "select count(*) as n from results where participant_id is not null and visit is not null"
    n1 = run("query", q, "--format", "csv", "--warehouse", wh, env=env).stdout.splitlines()
    assert n1[0] == "n" and int(n1[1]) > 100
    all1 = run(
        "query", "select count(*) from results_all", "--format", "json", "--warehouse", wh, env=env
    ).stdout
    path = run("status", "--analyst-db-path", "--warehouse", wh, env=env).stdout.strip()
    assert Path(path).is_absolute() and Path(path).is_file() and path.endswith("analyst.duckdb")
    status = run("status", "--warehouse", wh, env=env).stdout
    assert "results (current)" in status
    run("ingest", *args, env=env)  # again: nothing changes
    n2 = run("query", q, "--format", "csv", "--warehouse", wh, env=env).stdout.splitlines()
    all2 = run(
        "query", "select count(*) from results_all", "--format", "json", "--warehouse", wh, env=env
    ).stdout
    assert (n1, all1) == (n2, all2)
    bad = run("query", "select * from no_such_view", "--warehouse", wh, env=env, ok=False)
    assert bad.returncode == 1 and "available views" in bad.stderr and "results_all" in bad.stderr
    # CSV for a spreadsheet: formula-like text escaped (issue 14); JSON keeps the value as it is
    hostile = "select '=HYPERLINK(\"http://x.example\")' as a, '-12.5' as b, 3 as c"
    csv_out = run("query", hostile, "--format", "csv", "--warehouse", wh, env=env).stdout.splitlines()
    assert csv_out[1] == '"\'=HYPERLINK(""http://x.example"")",-12.5,3'
    json_out = run("query", hostile, "--format", "json", "--warehouse", wh, env=env).stdout
    assert '"=HYPERLINK' in json_out and "'=" not in json_out


def test_qc_report_writes_a_self_contained_page(ingested: tuple[list[str], str], env: dict[str, str]) -> None:
    wh = ingested[0][-1]
    plate = run(
        "query", "select plate_id from curves where assay_id = 'ELISA-VEGF' limit 1", "--format", "csv",
        "--warehouse", wh, env=env,
    ).stdout.splitlines()[1]  # fmt: skip
    out = Path(env["BIOMARKERS_DATA"]) / "qc"
    run("qc-report", "--plate", plate, "--out", str(out), "--warehouse", wh, env=env)
    html = (out / "index.html").read_text()
    assert plate in html and "Standard curve" in html and "base64," not in html
    # one self-contained page: every figure drawn in it as SVG, nothing beside it to lose
    assert 'src="' not in html and [p.name for p in out.iterdir()] == ["index.html"]
    assert html.count('<svg class="fig curve"') == html.count("<caption>Calibrators") >= 1
    bad = run("qc-report", "--plate", "NO-SUCH-PLATE", "--warehouse", wh, env=env, ok=False)
    assert bad.returncode == 1 and "no plate" in bad.stderr


def test_inspect_assay_must_be_a_configured_assay(tmp_path: Path, env: dict[str, str]) -> None:
    grid = tmp_path / "plate.txt"
    grid.write_text("hello\n")
    p = run("inspect", str(grid), "--assay", "NO-SUCH-ASSAY", env=env, ok=False)
    assert p.returncode == 1 and "not an assay in assays.yaml" in p.stderr and "ELISA-VEGF" in p.stderr
