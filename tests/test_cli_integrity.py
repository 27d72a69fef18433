"""Issue 5 as an operator runs it: re-assay, data cut, audit, exclusion and unblinding through the CLI."""

from __future__ import annotations

import csv
import io
from pathlib import Path

import duckdb
import pytest

from tests.processes import cli_env, run

pytestmark = pytest.mark.integration


def _csv(text: str) -> list[dict[str, str]]:
    return list(csv.DictReader(io.StringIO(text)))


@pytest.fixture(scope="module")
def env(tmp_path_factory: pytest.TempPathFactory, prefect_harness: str) -> dict[str, str]:
    return cli_env(
        tmp_path_factory.mktemp("data5"), prefect_api_url=prefect_harness, BIOMARKERS_USER="qa.reviewer"
    )


def test_reassay_cut_audit_exclusion_and_unblinding(env: dict[str, str], tmp_path: Path) -> None:
    data = Path(env["BIOMARKERS_DATA"])
    study = data / "study"
    run("generate", "--out", str(study), "--participants", "8", "--seed", "21", env=env)
    wh = str(data / "wh")
    W = ("--warehouse", wh)
    run("ingest", "--inbox", str(study / "inbox"), "--manifest", str(study / "manifest.csv"), *W, env=env)

    def q(sql: str) -> list[dict[str, str]]:
        return _csv(run("query", sql, "--format", "csv", *W, env=env).stdout)

    plate = q(
        "select plate_id from results where assay_id = 'LX-NTF' and matrix = 'CSF' "
        "group by 1 order by count(*) desc limit 1"
    )[0]["plate_id"]
    before = {r["result_id"] for r in q(f"select result_id from results where plate_id = '{plate}'")}
    superseded_before = {
        r["result_id"] for r in q("select result_id from results_all where superseded_by is not null")
    }
    run("snapshot", "create", "before-reassay", "--reason", "test cut", *W, env=env)

    ra = data / "reassay"
    run("generate", "--out", str(ra), "--participants", "8", "--seed", "21", "--reassay", plate, env=env)
    run("ingest", "--inbox", str(ra), "--manifest", str(study / "manifest.csv"), *W, env=env)
    superseded = {
        r["result_id"] for r in q("select result_id from results_all where superseded_by is not null")
    }
    assert before and superseded - superseded_before == before  # exactly the plate's results
    reasons = q(
        "select distinct superseded_reason from results_all "
        f"where plate_id = '{plate}' and superseded_by is not null"
    )
    assert reasons and all(
        r["superseded_reason"].startswith(f"re-assay: replaced by plate {plate}-RA") for r in reasons
    )

    # The cut taken before still shows the old values, and proves itself unchanged.
    old = _csv(
        run(
            "snapshot",
            "query",
            "before-reassay",
            f"select count(*) n from results where plate_id = '{plate}'",
            *W,
            env=env,
        ).stdout
    )
    assert int(old[0]["n"]) == len(before)
    verified = run("snapshot", "verify", "before-reassay", *W, env=env).stdout
    assert "(blinded) unchanged" in verified and "(full) unchanged" in verified  # both copies of the cut

    # An exclusion with reason and user, then the trail.
    sample = q(f"select sample_id from results where plate_id = '{plate}-RA' limit 1")[0]["sample_id"]
    ex = run(
        "exclude",
        "--plate",
        f"{plate}-RA",
        "--sample",
        sample,
        "--reason",
        "haemolysed on re-check",
        *W,
        env=env,
    ).stdout
    assert "EX-000001" in ex
    assert not q(f"select 1 from results where plate_id = '{plate}-RA' and sample_id = '{sample}'")
    nothing = run("exclude", "--plate", "NOPE", "--reason", "typo test", *W, env=env, ok=False)
    assert nothing.returncode == 1 and "nothing in the warehouse matches" in nothing.stderr
    trail = _csv(run("audit", "show", "--sample", sample, "--csv", *W, env=env).stdout)
    assert {"excluded", "superseded"} <= {r["event"] for r in trail}
    assert {r["actor"] for r in trail if r["event"] == "excluded"} == {"qa.reviewer"}
    assert "intact" in run("audit", "verify", *W, env=env).stdout

    # Unblinding: refused inside the warehouse, made outside, audited; the analyst store stays blind.
    alloc = study / "allocation.csv"
    inside = run(
        "unblind",
        "--allocation",
        str(alloc),
        "--out",
        f"{wh}/u.duckdb",
        "--reason",
        "final analysis",
        *W,
        env=env,
        ok=False,
    )
    assert inside.returncode == 1 and "inside the warehouse folder" in inside.stderr
    out = tmp_path / "unblinded.duckdb"
    run("unblind", "--allocation", str(alloc), "--out", str(out), "--reason", "final analysis", *W, env=env)
    con = duckdb.connect(str(out), read_only=True)
    arms = {r[0] for r in con.execute("select distinct arm from results_unblinded").fetchall()}
    con.close()
    assert arms == {"MSC-NTF", "PLACEBO"}
    assert q("select event from audit_log where event = 'unblinded_store_created'")
    cols = q("select column_name from duckdb_columns() where not internal")
    assert not [c for c in cols if any(w in c["column_name"].lower() for w in ("arm", "treat", "alloc"))]

    # Tamper with the writer's audit trail: verify fails and says where.
    con = duckdb.connect(str(Path(wh) / "ingest.duckdb"))
    con.execute("update audit_log set actor = 'someone else' where seq = 5")
    con.close()
    bad = run("audit", "verify", *W, env=env, ok=False)
    assert bad.returncode == 1 and "entry 5" in bad.stderr and "NOT intact" in bad.stderr
