"""`biomarkers reviewer` and `biomarkers review` (issue 21), run in-process on a small warehouse."""

from __future__ import annotations

from pathlib import Path

import duckdb
import pytest
from typer.testing import CliRunner

from biomarkers.cli import app
from tests.warehouse.factories import outcome, result_row, sha
from warehouse.paths import WarehousePaths
from warehouse.store import WriterStore

PASSWORD = "a long passphrase"


@pytest.fixture
def warehouse(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("BIOMARKERS_USER", "qa.admin")
    wh = tmp_path / "wh"
    with WriterStore(WarehousePaths.at(wh)) as store:
        rows = [result_row(sha("p1.csv"), "P1", s, "VEGF-A", 4.0) for s in ("S1", "S2")]
        store.load(outcome("p1.csv", rows, plate="P1"), "run", lab="LAB-A")
    return wh


def test_add_a_reviewer_list_show_and_sign_a_run(warehouse: Path) -> None:
    cli = CliRunner()
    W = ["--warehouse", str(warehouse)]
    add = cli.invoke(
        app,
        ["reviewer", "add", "rrev", "--name", "Rita Reviewer", "--lab", "SPONSOR", *W],
        input=f"{PASSWORD}\n{PASSWORD}\n",
    )
    assert add.exit_code == 0, add.output
    assert "reviewer rrev (Rita Reviewer, lab SPONSOR) added" in add.output
    listed = cli.invoke(app, ["review", "list", "--state", "pending_review", *W])
    assert listed.exit_code == 0 and "1 runs" in listed.output  # (the table itself is 80 columns here)
    assert "0 runs" in cli.invoke(app, ["review", "list", "--state", "approved", *W]).output
    sign = ["review", "sign", "P1", "--reviewer", "rrev", "--meaning", "approved", *W]
    wrong = cli.invoke(app, sign, input="not my password\n")
    assert wrong.exit_code == 1
    assert "not signed: the password is wrong" in wrong.output
    ok = cli.invoke(app, sign, input=f"{PASSWORD}\n")
    assert ok.exit_code == 0, ok.output
    assert "SIG-000001: P1 / VEGF-A approved by Rita Reviewer" in ok.output
    shown = cli.invoke(app, ["review", "show", "P1", *W])
    assert (
        "P1 / VEGF-A — approved" in shown.output and "SIG-000001: approved by Rita Reviewer" in shown.output
    )
    verified = cli.invoke(app, ["audit", "verify", *W])
    assert verified.exit_code == 0, verified.output
    assert "1 signatures bound to their runs" in verified.output
    con = duckdb.connect(str(WarehousePaths.at(warehouse).ingest_db), read_only=True)
    events = con.execute("SELECT event, actor FROM audit_log WHERE plate_id = 'P1' ORDER BY seq").fetchall()
    con.close()
    assert events[-2:] == [("signature_refused", "qa.admin"), ("signed", "rrev")]
    # an exclusion after the approval re-opens the run; `show` keeps the approval, marked as no longer valid
    excluded = cli.invoke(app, ["exclude", "--plate", "P1", "--sample", "S1", "--reason", "haemolysed", *W])
    assert excluded.exit_code == 0, excluded.output
    reopened = cli.invoke(app, ["review", "show", "P1", *W]).output.replace("\n", " ")
    assert "P1 / VEGF-A — pending_review" in reopened
    assert "no longer valid: exclusion EX-000001 after approval, sign again" in reopened
