"""Late manifests (issue 20): unresolved results resolve when a later manifest lists their sample."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import date
from pathlib import Path

import polars as pl
import pytest

from schemas.config import load_config
from schemas.manifest import MANIFEST_SCHEMA, Manifest, ManifestSource
from schemas.results import RESULT_SCHEMA
from tests.warehouse.factories import outcome, result_row, sha
from warehouse import audit
from warehouse.late_resolution import late_result_id, record_manifest_samples, resolve_late, resolve_rows
from warehouse.paths import WarehousePaths
from warehouse.store import WriterStore


def _sample(
    sid: str, participant: str, visit: str, matrix: str, shipment: str = "SHP-9"
) -> dict[str, object]:
    return {
        "sample_id": sid,
        "participant_id": participant,
        "site_id": "01",
        "visit": visit,
        "matrix": matrix,
        "collection_date": date(2019, 3, 1),
        "collection_time": None,
        "aliquot": "1",
        "freeze_thaw_count": 0,
        "condition": None,
        "shipment_id": shipment,
        "manifest_file": "shipment-2.csv",
        "manifest_line": 2,
    }


def _manifest(*samples: dict[str, object]) -> Manifest:
    frame = pl.DataFrame(list(samples), schema=MANIFEST_SCHEMA)
    return Manifest(frame, (ManifestSource("shipment-2.csv", sha("shipment-2"), frame.height),))


def _waiting(src: str, sample: str, analyte: str, conc: float, **kw: object) -> dict[str, object]:
    base: dict[str, object] = {"participant_id": None, "site_id": None, "visit": None, "visitnum": None}
    base.update(collection_date=None, status="unresolved", flags=None)
    return result_row(src, "P1", sample, analyte, conc, **{**base, **kw})


def test_resolve_rows_fills_the_manifest_and_holds_a_matrix_that_disagrees() -> None:
    src = sha("plate.csv")
    pending = pl.DataFrame(
        [
            _waiting(src, "S1", "BDNF", 31.0),
            _waiting(src, "S2", "BDNF", 40.0, flags="high_cv"),
            _waiting(src, "S3", "BDNF", 50.0),  # still in no manifest
        ],
        schema=RESULT_SCHEMA,
    )
    samples = pl.DataFrame([_sample("S1", "P-1", "W04", "CSF"), _sample("S2", "P-2", "W00", "SERUM")])
    out = resolve_rows(pending, samples.cast(MANIFEST_SCHEMA), {"W00": 1.0, "W04": 3.0})
    rows = {r["sample_id"]: r for r in out.iter_rows(named=True)}
    assert set(rows) == {"S1", "S2"}
    s1, s2 = rows["S1"], rows["S2"]
    assert (s1["participant_id"], s1["visit"], s1["visitnum"], s1["matrix"]) == ("P-1", "W04", 3.0, "CSF")
    assert s1["status"] == "loaded" and s1["flags"] == "resolved_late" and s1["hold_reason"] is None
    assert s1["replaces"] == pending["result_id"][0] and s1["result_id"] == late_result_id(s1["replaces"])
    assert s1["result_id"] != s1["replaces"] and s1["conc_pg_ml"] == 31.0
    # the plate held CSF (the matrix the unresolved row took from its plate); the manifest says SERUM
    assert s2["status"] == "held" and s2["flags"] == "high_cv;mixed_matrix;resolved_late"
    assert "matrix differs" in s2["hold_reason"]
    assert out.select(list(RESULT_SCHEMA)).schema == pl.Schema(RESULT_SCHEMA)


@pytest.fixture
def store(tmp_path: Path) -> Iterator[WriterStore]:
    s = WriterStore(WarehousePaths.at(tmp_path / "wh"))
    yield s
    s.close()


def test_a_late_manifest_resolves_once_with_history_and_audit(store: WriterStore) -> None:
    config = load_config()
    src = sha("early.csv")
    rows = [
        _waiting(src, "S1", "BDNF", 31.0),
        _waiting(src, "S1", "GDNF", 2.0),
        _waiting(src, "S9", "BDNF", 5.0),
    ]
    store.load(outcome("early.csv", rows, status="loaded_with_issues"), "run-1")
    assert store.counts()["results_current"] == 0
    manifest = _manifest(_sample("S1", "BCT-01-0007", "W04", "CSF"))
    assert record_manifest_samples(store, manifest, "run-2") == 1
    assert record_manifest_samples(store, manifest, "run-2") == 0  # a manifest is recorded once

    late = resolve_late(store, manifest, config, "run-2")
    assert (late.samples, late.results, late.current) == (1, 2, 2)
    con = store.con
    cur = con.execute(
        "SELECT r.participant_id, r.visit, r.flags, r.run_id FROM results_all r JOIN (SELECT result_id, "
        "arg_max(is_current, event_seq) AS c FROM result_currency GROUP BY ALL) s USING (result_id) WHERE s.c"
    ).fetchall()
    assert sorted(cur) == [("BCT-01-0007", "W04", "resolved_late", "run-2")] * 2
    # the unresolved rows stay, each pointing at its replacement, saying why
    old = con.execute(
        "SELECT c.superseded_by, c.reason, r.status FROM result_currency c "
        "JOIN results_all r USING (result_id) "
        "WHERE r.status = 'unresolved'"
    ).fetchall()
    assert len(old) == 2 and all(
        o[1].startswith("resolved late: sample S1 is in manifest shipment-2.csv") for o in old
    )
    assert {o[0] for o in old} == {late_result_id(r["result_id"]) for r in rows[:2]}  # type: ignore[arg-type]
    events = con.execute("SELECT event, sample_id, old_value, reason FROM audit_log ORDER BY seq").fetchall()
    assert [e[0] for e in events].count("manifest_received") == 1
    resolved = [e for e in events if e[0] == "resolved_late"]
    assert len(resolved) == 1 and resolved[0][1] == "S1" and "shipment SHP-9" in resolved[0][3]
    assert audit.verify(con, store.paths.ingest_db) == []
    assert store.counts()["unresolved_samples"] == 0  # S9 was never queued by this hand-made outcome

    seq = store.change_seq()
    assert resolve_late(store, manifest, config, "run-3").results == 0  # never resolved twice
    assert store.change_seq() == seq


def test_a_late_result_takes_part_in_the_re_assay_rule(store: WriterStore) -> None:
    """The plate measured before the manifest and a re-assay loaded after it: the re-assay (loaded later)
    stays current under the 'latest' rule; the late row is superseded by it, not the other way round."""
    config = load_config()
    first, again = sha("first.csv"), sha("again.csv")
    store.load(outcome("first.csv", [_waiting(first, "S1", "BDNF", 31.0)]), "run-1")
    store.load(
        outcome(
            "again.csv",
            [result_row(again, "P2", "S1", "BDNF", 33.0, participant_id="BCT-01-0007")],
            plate="P2",
        ),
        "run-2",
    )
    late = resolve_late(store, _manifest(_sample("S1", "BCT-01-0007", "W00", "CSF")), config, "run-3")
    assert (late.results, late.current) == (1, 0)
    current = store.con.execute(
        "SELECT r.source_sha256 FROM results_all r JOIN (SELECT result_id, arg_max(is_current, event_seq) c "
        "FROM result_currency GROUP BY ALL) s USING (result_id) WHERE s.c"
    ).fetchall()
    assert current == [(again,)]
