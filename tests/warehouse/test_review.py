"""Review and release with electronic signatures (issue 21): states, release on approval, binding, refusal."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from schemas.config import Config, ReviewRule
from tests.warehouse.factories import outcome, result_row, sha
from warehouse import reviewers
from warehouse.analyst import connect_analyst
from warehouse.audit import verify as verify_chain
from warehouse.paths import WarehousePaths
from warehouse.publish import publish
from warehouse.review import ReviewError, Run, SignatureRefused, find_runs, run_states, sign, verify
from warehouse.store import WriterStore

PASSWORD = "correct horse battery"


def _with(config: Config, **review: object) -> Config:
    study = config.study.model_copy(update={"review": ReviewRule.model_validate(review)})
    return config.model_copy(update={"study": study})


@pytest.fixture
def on_approval(config: Config) -> Config:
    return _with(config, release="on_approval")


@pytest.fixture
def store(tmp_path: Path) -> Iterator[WriterStore]:
    s = WriterStore(WarehousePaths.at(tmp_path / "wh"), actor="tester")
    reviewers.add(s, "rev1", PASSWORD, full_name="Rita Reviewer", lab="SPONSOR", by="admin")
    yield s
    s.close()


def _load(store: WriterStore, config: Config, name: str, plate: str, conc: float, lab: str = "LAB-A") -> Run:
    rows = [result_row(sha(name), plate, s, "VEGF-A", conc) for s in ("S1", "S2")]
    store.load(outcome(name, rows, plate=plate), "run", config=config, lab=lab)
    return Run(sha(name), plate, "VEGF-A")


def _sign(store: WriterStore, config: Config, run: Run, meaning: str, reason: str | None = None) -> None:
    sign(store, run, account="rev1", secret=PASSWORD, meaning=meaning, reason=reason, config=config)


def _results(store: WriterStore, config: Config) -> list[tuple[object, ...]]:
    """What analysts' `results` holds after the next publish: the current results (the view's WHERE
    is_current, read in the writer store: a publish per step would cost seconds; the first test publishes)."""
    return store.con.execute(
        "SELECT r.plate_id, r.sample_id FROM results_all r JOIN (SELECT result_id, "
        "arg_max(is_current, event_seq) AS c FROM result_currency GROUP BY result_id) USING (result_id) "
        "WHERE c ORDER BY ALL"
    ).fetchall()


def _published(store: WriterStore, config: Config) -> list[tuple[object, ...]]:
    publish(store, config=config)
    con = connect_analyst(store.paths, full=True)
    try:
        return con.execute("SELECT plate_id, sample_id FROM results ORDER BY ALL").fetchall()
    finally:
        con.close()


def test_on_approval_a_new_run_is_absent_from_results_until_signed(
    store: WriterStore, on_approval: Config
) -> None:
    run = _load(store, on_approval, "a.csv", "P1", 5.0)
    assert _results(store, on_approval) == []
    state = run_states(store.con).fetchall()
    assert [(r[1], r[7]) for r in state] == [("P1", "pending_review")]
    _sign(store, on_approval, run, "reviewed")  # a review alone releases nothing
    assert _results(store, on_approval) == []
    _sign(store, on_approval, run, "approved")
    assert _published(store, on_approval) == [("P1", "S1"), ("P1", "S2")]
    con = connect_analyst(store.paths, full=True)
    row = con.execute(
        "SELECT review_state, review_meaning, reviewed_by, reviewed_by_name, reviewed_at IS NOT NULL "
        "FROM results_all WHERE sample_id = 'S1'"
    ).fetchall()
    assert row == [("approved", "approved", "rev1", "Rita Reviewer", True)]
    assert con.execute("SELECT review_state, n_signatures FROM run_review").fetchall() == [("approved", 2)]
    con.close()
    blinded = connect_analyst(store.paths)  # the blinded store carries the same review columns
    assert blinded.execute("SELECT DISTINCT review_state FROM results_all").fetchall() == [("approved",)]
    blinded.close()
    events = store.con.execute(
        "SELECT event FROM audit_log WHERE event IN ('signed', 'released') ORDER BY seq"
    ).fetchall()
    assert events == [("signed",), ("signed",), ("released",), ("released",)]
    assert verify(store.con) == [] and verify_chain(store.con, store.paths.ingest_db) == []


def test_a_rejected_run_never_becomes_current(
    store: WriterStore, config: Config, on_approval: Config
) -> None:
    run = _load(store, on_approval, "a.csv", "P1", 5.0)
    with pytest.raises(ReviewError, match="reason"):
        _sign(store, on_approval, run, "rejected")
    _sign(store, on_approval, run, "rejected", "QC high out of range on both levels")
    assert _results(store, on_approval) == []
    reasons = store.con.execute(
        "SELECT DISTINCT arg_max(reason, event_seq) FROM result_currency GROUP BY result_id"
    ).fetchall()
    assert reasons == [("rejected on review (SIG-000001)",)]
    # released on load, a later rejection takes the run out; and switching release mode does not bring it back
    run_b = _load(store, config, "b.csv", "P2", 6.0)
    assert {p for p, _ in _results(store, config)} == {"P2"}
    _sign(store, config, run_b, "rejected", "curve failed on review")
    assert _results(store, config) == []
    assert ("withdrawn",) in store.con.execute("SELECT event FROM audit_log").fetchall()
    # a re-assay (same samples) does not resurrect it either
    _load(store, config, "c.csv", "P3", 7.0)
    assert {p for p, _ in _results(store, config)} == {"P3"}
    assert [r[7] for r in run_states(store.con, where="plate_id = 'P2'").fetchall()] == ["rejected"]


def test_a_reassay_after_approval_voids_nothing_but_needs_its_own_review(
    store: WriterStore, on_approval: Config
) -> None:
    first = _load(store, on_approval, "a.csv", "P1", 5.0)
    _sign(store, on_approval, first, "approved")
    again = _load(store, on_approval, "b.csv", "P2", 9.0)  # re-assay of S1, S2
    assert _results(store, on_approval) == [("P1", "S1"), ("P1", "S2")]  # the approved run stays current
    states = {r[1]: r[7] for r in run_states(store.con).fetchall()}
    assert states == {"P1": "approved", "P2": "pending_review"}
    assert verify(store.con) == []
    _sign(store, on_approval, again, "approved")
    assert _results(store, on_approval) == [("P2", "S1"), ("P2", "S2")]
    states = {r[1]: r[7] for r in run_states(store.con).fetchall()}
    assert states == {"P1": "approved", "P2": "approved"}  # superseded, its approval intact
    assert verify(store.con) == []
    assert [r.plate_id for r in find_runs(store.con, "P2")] == ["P2"]


def test_a_signature_fails_verification_when_its_run_changes(store: WriterStore, config: Config) -> None:
    run = _load(store, config, "a.csv", "P1", 5.0)
    other = _load(store, config, "b.csv", "P9", 5.0)
    _sign(store, config, run, "approved")
    assert verify(store.con) == []
    # copied onto another run: the binding no longer matches and the audit trail has no such signature
    store.con.execute(
        "INSERT INTO run_signatures SELECT * REPLACE ('SIG-000099' AS signature_id, ? AS source_sha256, "
        "'P9' AS plate_id) FROM run_signatures",
        [other.source_sha256],
    )
    problems = [str(p) for p in verify(store.con)]
    assert any("SIG-000099" in p and "binding" in p for p in problems), problems
    assert any("SIG-000099" in p and "audit trail" in p for p in problems), problems
    store.con.execute("DELETE FROM run_signatures WHERE signature_id = 'SIG-000099'")
    # the run's results changed after signing (an edit behind the pipeline's back)
    store.con.execute("UPDATE results_all SET conc_pg_ml = 50.0 WHERE plate_id = 'P1' AND sample_id = 'S1'")
    problems = [str(p) for p in verify(store.con)]
    assert len(problems) == 1, problems
    assert "signature SIG-000001 on run P1 / VEGF-A: the run's results changed after signing" in problems[0]
    assert run_states(store.con, where="plate_id = 'P1'").fetchall()[0][7] == "pending_review"


def test_a_wrong_password_is_refused_and_audited(store: WriterStore, config: Config) -> None:
    run = _load(store, config, "a.csv", "P1", 5.0)
    with pytest.raises(SignatureRefused, match="password is wrong"):
        sign(store, run, account="rev1", secret="wrong pass", meaning="approved", reason=None, config=config)
    assert store.con.execute("SELECT count(*) FROM run_signatures").fetchall() == [(0,)]
    refused = store.con.execute(
        "SELECT entity_id, plate_id, reason FROM audit_log WHERE event = 'signature_refused'"
    ).fetchall()
    assert refused == [("rev1", "P1", "wrong password, unknown or inactive reviewer account")]
    assert verify_chain(store.con, store.paths.ingest_db) == []
    # the password is kept only as a salted scrypt output
    row = store.con.execute("SELECT kdf, salt, secret_hash FROM reviewers WHERE reviewer = 'rev1'").fetchall()
    assert row[0][0] == "scrypt" and PASSWORD not in str(row) and len(row[0][2]) == 64


def test_two_person_rule_refuses_a_reviewer_of_the_uploading_lab(store: WriterStore, config: Config) -> None:
    reviewers.add(store, "labrev", PASSWORD, full_name="Lab Person", lab="LAB-A", by="admin")
    run = _load(store, config, "a.csv", "P1", 5.0, lab="LAB-A")
    with pytest.raises(SignatureRefused, match="two-person rule"):
        sign(store, run, account="labrev", secret=PASSWORD, meaning="approved", reason=None, config=config)
    refused = "SELECT count(*) FROM audit_log WHERE event = 'signature_refused'"
    assert store.con.execute(refused).fetchall() == [(1,)]
    relaxed = _with(config, two_person=False)
    sign(store, run, account="labrev", secret=PASSWORD, meaning="approved", reason=None, config=relaxed)
    with pytest.raises(reviewers.ReviewerError, match="exists already"):
        reviewers.add(store, "labrev", PASSWORD, full_name="Lab Person", by="admin")


def test_an_exclusion_after_approval_reopens_the_run(store: WriterStore, on_approval: Config) -> None:
    from warehouse.exclusions import ExclusionRequest, exclude, lift

    run = _load(store, on_approval, "a.csv", "P1", 5.0)
    _sign(store, on_approval, run, "approved")
    assert _results(store, on_approval) == [("P1", "S1"), ("P1", "S2")]
    req = ExclusionRequest(reason="haemolysed sample", user="lab-a", plate_id="P1", sample_id="S1")
    assert exclude(store, req, on_approval).exclusion_id == "EX-000001"
    # the whole run goes back to review: S2, not excluded, leaves `results` too until signed again
    assert _results(store, on_approval) == []
    state = run_states(store.con, where="plate_id = 'P1'").pl().to_dicts()[0]
    assert (state["review_state"], state["review_reason"]) == (
        "pending_review",
        "exclusion EX-000001 after approval",
    )
    assert (state["n_signatures"], state["n_void_signatures"], state["signature_id"]) == (0, 1, None)
    assert verify(store.con) == []  # the approval is not forged: it stays, true to what was signed
    reasons = store.con.execute(
        "SELECT arg_max(reason, event_seq) FROM result_currency GROUP BY result_id ORDER BY 1"
    ).fetchall()
    assert [r[0].split(":")[0] for r in reasons] == ["awaiting review", "excluded"]
    _sign(store, on_approval, run, "approved")  # signed again, on the run as it now counts
    assert _results(store, on_approval) == [("P1", "S2")]
    # lifting the exclusion changes the counted results again: re-opened once more
    lift(store, "EX-000001", reason="re-tested: not haemolysed", user="lab-a", config=on_approval)
    state = run_states(store.con, where="plate_id = 'P1'").pl().to_dicts()[0]
    assert (state["review_state"], state["review_reason"]) == (
        "pending_review",
        "exclusion EX-000001 lifted after approval",
    )
    assert _results(store, on_approval) == []
    # an exclusion on another plate re-opens nothing
    other = _load(store, on_approval, "b.csv", "P2", 6.0)
    _sign(store, on_approval, other, "approved")
    exclude(
        store, ExclusionRequest(reason="pipetting error", user="lab-a", plate_id="P1", well="A3"), on_approval
    )
    assert [r[7] for r in run_states(store.con, where="plate_id = 'P2'").fetchall()] == ["approved"]
