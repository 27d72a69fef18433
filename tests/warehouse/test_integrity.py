"""Issue 5 on real DuckDB files: re-assay rules, file versions, exclusions, the audit chain, as-of queries,
data cuts, the unblinded store and the blinded view."""

from __future__ import annotations

import json
import shutil
import struct
import time
from datetime import UTC, datetime
from pathlib import Path

import duckdb
import polars as pl
import pytest

from schemas.config import Config
from tests.warehouse.factories import outcome, result_row, sha
from warehouse import audit, datacut
from warehouse.analyst import connect_analyst
from warehouse.currency import decide
from warehouse.exclusions import ExclusionError, ExclusionRequest, exclude, lift
from warehouse.paths import WarehousePaths
from warehouse.publish import publish
from warehouse.store import WriterStore
from warehouse.unblind import UnblindError, unblind


@pytest.fixture
def store(tmp_path: Path) -> WriterStore:
    s = WriterStore(WarehousePaths.at(tmp_path / "wh"), actor="tester")
    yield s
    s.close()


def _file(name: str, plate: str, rows: list[tuple[str, str, float | None]], **kw: object):  # type: ignore[no-untyped-def]
    src = str(kw.pop("src", "")) or sha(name)
    return outcome(
        name,
        [result_row(src, plate, s, a, c, **kw) for s, a, c in rows],
        plate=plate,
        src=src,
    )


def _state(store: WriterStore) -> dict[tuple[str, str, str], bool]:
    rows = store.con.execute(
        "SELECT r.plate_id, r.sample_id, r.analyte, arg_max(c.is_current, c.event_seq) "
        "FROM results_all r JOIN result_currency c USING (result_id) GROUP BY ALL"
    ).fetchall()
    return {(p, s, a): bool(cur) for p, s, a, cur in rows}


# --- re-assays --------------------------------------------------------------------------------------


def test_decide_latest_and_in_range_first() -> None:
    cand = pl.DataFrame(
        {
            "result_id": ["r1", "r2"],
            "sample_id": ["S1", "S1"],
            "analyte": ["VEGF-A", "VEGF-A"],
            "assay_id": ["A", "A"],
            "plate_id": ["P1", "P2"],
            "qualifier": ["=", ">"],
            "source_file": ["f1", "f2"],
            "load_seq": [1, 2],
            "exclusion_id": [None, None],
            "exclusion_reason": [None, None],
            "excluded_by": [None, None],
        }
    )
    latest = decide(cand, {"A": "latest"}).sort("result_id")
    assert latest["is_current"].to_list() == [False, True]
    assert latest["superseded_by"].to_list() == ["r2", None]
    assert "replaced by plate P2" in latest["reason"][0]
    in_range = decide(cand, {"A": "in_range_first"}).sort("result_id")
    assert in_range["is_current"].to_list() == [True, False]
    assert in_range["superseded_by"].to_list() == [None, "r1"]


def test_in_range_first_keeps_the_in_range_result_over_a_later_censored_one(
    store: WriterStore, config: Config
) -> None:
    cfg = config.model_copy(
        update={
            "assays": config.assays.model_copy(
                update={
                    "assays": [
                        a.model_copy(update={"reassay_rule": "in_range_first"}) for a in config.assays.assays
                    ]
                }
            )
        }
    )
    store.load(_file("dil1.csv", "P1", [("S1", "VEGF-A", 120.0)], qualifier=">"), "r", config=cfg)
    store.load(_file("dil10.csv", "P2", [("S1", "VEGF-A", 95.0)]), "r", config=cfg)
    store.load(_file("again.csv", "P3", [("S1", "VEGF-A", 130.0)], qualifier=">"), "r", config=cfg)
    assert _state(store) == {
        ("P1", "S1", "VEGF-A"): False,
        ("P2", "S1", "VEGF-A"): True,
        ("P3", "S1", "VEGF-A"): False,
    }
    reason = store.con.execute(
        "SELECT arg_max(reason, event_seq) FROM result_currency c JOIN results_all r USING (result_id) "
        "WHERE r.plate_id = 'P3'"
    ).fetchall()[0][0]
    assert "replaced by plate P2" in reason


# --- file versions -------------------------------------------------------------------------------


def test_same_name_or_same_plate_with_other_bytes_is_a_new_version(store: WriterStore) -> None:
    store.load(_file("plate7.csv", "P7", [("S1", "IL-6", 3.0)]), "r")
    store.load(_file("plate7.csv", "P7", [("S1", "IL-6", 3.5)], src=sha("v2")), "r")
    store.load(_file("renamed.csv", "P7", [("S1", "IL-6", 3.6)], src=sha("v3")), "r")
    rows = store.con.execute(
        "SELECT matched_on, matched_value, version_no FROM file_versions ORDER BY version_no, matched_on"
    ).fetchall()
    assert rows == [("file name", "plate7.csv", 2), ("plate ID", "P7", 2), ("plate ID", "P7", 3)]
    assert store.counts()["results_all"] == 3  # nothing overwritten
    assert store.counts()["results_current"] == 1
    ev = store.con.execute("SELECT count(*) FROM audit_log WHERE event = 'new_version'").fetchall()[0][0]
    assert ev == 3


# --- exclusions ------------------------------------------------------------------------------------


def test_exclusions_of_each_scope_take_results_out_and_lifting_puts_them_back(
    store: WriterStore, config: Config
) -> None:
    store.load(_file("p1.csv", "P1", [("S1", "VEGF-A", 1.0), ("S1", "HGF", 2.0), ("S2", "VEGF-A", 3.0)]), "r")
    store.load(_file("p2.csv", "P2", [("S3", "VEGF-A", 4.0)]), "r")
    assert store.counts()["results_current"] == 4
    well = exclude(store, ExclusionRequest("bubble in well", "ann", plate_id="P1", well="A3"), config)
    assert (well.scope, well.results_matched) == ("well", 3)  # every result averaged from A3
    assert store.counts()["results_current"] == 1
    lift(store, well.exclusion_id, reason="bubble was on the lid", user="ann", config=config)
    assert store.counts()["results_current"] == 4
    an = exclude(
        store, ExclusionRequest("HGF bead lot recalled", "bob", plate_id="P1", analyte="HGF"), config
    )
    assert an.scope == "analyte_run" and store.counts()["results_current"] == 3
    smp = exclude(store, ExclusionRequest("haemolysed sample", "cy", sample_id="S2"), config)
    assert smp.scope == "sample" and store.counts()["results_current"] == 2
    run = exclude(store, ExclusionRequest("plate dropped, wells mixed", "di", plate_id="P2"), config)
    assert run.scope == "run" and store.counts()["results_current"] == 1
    with pytest.raises(ExclusionError, match="nothing in the warehouse matches"):
        exclude(store, ExclusionRequest("typo check", "ed", plate_id="P404"), config)
    with pytest.raises(ExclusionError, match="reason is required"):
        exclude(store, ExclusionRequest("", "ed", plate_id="P1"), config)
    who = store.con.execute(
        "SELECT actor, event FROM audit_log WHERE entity = 'exclusion' ORDER BY seq"
    ).fetchall()
    assert who == [
        ("ann", "excluded"),
        ("ann", "exclusion_lifted"),
        ("bob", "excluded"),
        ("cy", "excluded"),
        ("di", "excluded"),
    ]


def test_an_exclusion_survives_a_reimport_of_the_plate_and_a_lost_one_is_reported(
    store: WriterStore, config: Config
) -> None:
    store.load(_file("p1.csv", "P1", [("S1", "VEGF-A", 1.0), ("S2", "VEGF-A", 2.0)]), "r")
    exclude(store, ExclusionRequest("clot in sample", "ann", plate_id="P1", sample_id="S1"), config)
    exclude(store, ExclusionRequest("S2 pipetting error", "ann", plate_id="P1", sample_id="S2"), config)
    # The lab re-exports plate P1 (corrected file): S1 is there again, S2 no longer is.
    rep = store.load(
        _file("p1_corrected.csv", "P1", [("S1", "VEGF-A", 1.1), ("S9", "VEGF-A", 5.0)], src=sha("v2")),
        "r",
        config=config,
    )
    assert rep.lost_exclusions == 1
    st = _state(store)
    assert [k for k, cur in st.items() if cur] == [("P1", "S9", "VEGF-A")]  # S1 stays excluded
    q = store.con.execute("SELECT rule, severity, sample_id, message FROM quarantine").fetchall()
    assert [(r, s, smp) for r, s, smp, _ in q] == [("exclusion_lost", "warning", "S2")]
    assert "no longer applies" in q[0][3]
    msg = store.con.execute("SELECT message FROM files WHERE source_file = 'p1_corrected.csv'").fetchall()
    assert "EX-000002" in msg[0][0]


# --- audit trail ------------------------------------------------------------------------------------


def _three_files(store: WriterStore, config: Config) -> None:
    store.load(_file("a.csv", "PA", [("S1", "VEGF-A", 1.0)]), "r")
    store.load(_file("b.csv", "PB", [("S1", "VEGF-A", 2.0)]), "r")
    exclude(store, ExclusionRequest("sample thawed twice", "ann", plate_id="PB", sample_id="S1"), config)


def test_the_hash_chain_verifies_and_catches_an_edit(store: WriterStore, config: Config) -> None:
    _three_files(store, config)
    assert audit.verify(store.con, store.paths.ingest_db) == []
    events = [r[0] for r in store.con.execute("SELECT event FROM audit_log ORDER BY seq").fetchall()]
    assert events[:2] == ["received", "loaded"] and "superseded" in events and "excluded" in events
    store.con.execute("UPDATE audit_log SET reason = 'nothing to see' WHERE seq = 3")
    problems = audit.verify(store.con, store.paths.ingest_db)
    assert [p.seq for p in problems] == [3] and "edited" in problems[0].problem


def test_the_hash_chain_catches_a_deletion(store: WriterStore, config: Config) -> None:
    _three_files(store, config)
    store.con.execute("DELETE FROM audit_log WHERE seq = 2")
    problems = audit.verify(store.con, store.paths.ingest_db)
    assert any("missing" in p.problem for p in problems)
    assert any("does not link" in p.problem for p in problems)


def test_the_hash_chain_catches_a_reordering(store: WriterStore, config: Config) -> None:
    _three_files(store, config)
    store.con.execute("UPDATE audit_log SET seq = -1 WHERE seq = 2")
    store.con.execute("UPDATE audit_log SET seq = 2 WHERE seq = 3")
    store.con.execute("UPDATE audit_log SET seq = 3 WHERE seq = -1")
    problems = audit.verify(store.con, store.paths.ingest_db)
    assert {p.seq for p in problems} >= {2, 3}
    assert all(
        "does not link" in p.problem or "edited" in p.problem or "heads" in p.problem for p in problems
    )


def test_a_deleted_tail_or_rewritten_chain_is_caught_by_the_heads_log(
    store: WriterStore, config: Config
) -> None:
    _three_files(store, config)
    last = audit.head(store.con)[0]
    store.con.execute("DELETE FROM audit_log WHERE seq = ?", [last])
    problems = audit.verify(store.con, store.paths.ingest_db)
    assert [p.seq for p in problems] == [last] and "deleted" in problems[0].problem


def test_a_configuration_change_is_an_audit_entry(store: WriterStore, config: Config, tmp_path: Path) -> None:
    import shutil

    cfg_dir = tmp_path / "cfg"
    shutil.copytree(config.source_dir, cfg_dir)
    cfg = config.model_copy(update={"source_dir": cfg_dir})
    store.record_config(cfg, "run-1")
    store.record_config(cfg, "run-2")  # unchanged: nothing new
    (cfg_dir / "assays.yaml").write_text((cfg_dir / "assays.yaml").read_text() + "\n# tightened QC\n")
    store.record_config(cfg, "run-3")
    rows = store.con.execute("SELECT event, old_value, new_value FROM audit_log ORDER BY seq").fetchall()
    assert [r[0] for r in rows] == ["config_recorded", "config_changed"]
    assert "assays.yaml" in rows[1][1] and "assays.yaml" in rows[1][2] and rows[1][1] != rows[1][2]


# --- as-of and data cuts -----------------------------------------------------------------------------


def test_as_of_returns_exactly_what_results_returned_then(store: WriterStore, config: Config) -> None:
    store.load(_file("a.csv", "PA", [("S1", "VEGF-A", 1.0), ("S2", "VEGF-A", 5.0)]), "r")
    publish(store, config=config)
    con = connect_analyst(store.paths)
    then = con.sql("SELECT * FROM results ORDER BY result_id").pl()
    con.close()
    t1 = datetime.now(UTC)
    time.sleep(0.01)
    store.load(_file("b.csv", "PB", [("S1", "VEGF-A", 2.0)]), "r")  # re-assay of S1
    exclude(store, ExclusionRequest("sample S2 haemolysed", "ann", plate_id="PA", sample_id="S2"), config)
    store.load(_file("c.csv", "PC", [("S3", "VEGF-A", 9.0)]), "r")
    publish(store, config=config)
    con = connect_analyst(store.paths)
    try:
        now = con.execute("SELECT plate_id, sample_id FROM results ORDER BY 1, 2").fetchall()
        assert now == [("PB", "S1"), ("PC", "S3")]
        as_of = con.sql("SELECT * FROM results_as_of(?) ORDER BY result_id", params=[t1]).pl()
        assert as_of.equals(then)
        gone = con.execute(
            "SELECT plate_id, superseded_reason FROM results_all WHERE NOT is_current ORDER BY 1, 2"
        ).fetchall()
        # both PA rows: S1 replaced by PB's re-assay, S2 excluded (their order is that of the reasons' text)
        assert [p for p, _ in gone] == ["PA", "PA"]
        kinds = sorted(("re-assay" in r, "excluded" in r) for _, r in gone)
        assert kinds == [(False, True), (True, False)]  # one replaced, the other excluded: not both, not none
    finally:
        con.close()


def test_a_data_cut_reproduces_old_values_and_proves_itself_unchanged(
    store: WriterStore, config: Config
) -> None:
    store.load(_file("a.csv", "PA", [("S1", "VEGF-A", 1.0)]), "r")
    blinded_cut, full_cut = datacut.create(store, "IA1", config=config, reason="interim analysis 1")
    store.load(_file("b.csv", "PB", [("S1", "VEGF-A", 2.0)]), "r")
    publish(store, config=config)
    for full in (False, True):
        con = datacut.open_cut(store.paths, "IA1", config, full=full)
        assert con.execute("SELECT plate_id, conc_pg_ml FROM results").fetchall() == [("PA", 1.0)]
        con.close()
    for cut in (blinded_cut, full_cut):
        recorded = datacut.recorded_manifest_sha(store.con, "IA1", cut.store)
        assert recorded == cut.manifest_sha256
        assert datacut.verify(store.paths, "IA1", recorded, cut.store).ok
    assert blinded_cut.manifest_sha256 != full_cut.manifest_sha256
    with pytest.raises(datacut.DataCutError, match="already exists"):
        datacut.create(store, "IA1", config=config)
    # Tamper with one Parquet file of the full cut: verify names it.
    recorded = datacut.recorded_manifest_sha(store.con, "IA1", "full")
    target = next((full_cut.path / "data").rglob("*.parquet"))
    target.chmod(0o644)
    target.write_bytes(target.read_bytes() + b"x")
    check = datacut.verify(store.paths, "IA1", recorded, "full")
    assert not check.ok and any("content changed" in p for p in check.problems)
    # A rewritten manifest no longer matches the audit trail.
    mf = blinded_cut.path / "manifest.json"
    mf.write_text(mf.read_text().replace("interim analysis 1", "interim analysis 2"))
    recorded = datacut.recorded_manifest_sha(store.con, "IA1", "blinded")
    assert any("audit trail" in p for p in datacut.verify(store.paths, "IA1", recorded).problems)


def test_a_data_cut_has_a_blinded_copy_for_analysts_and_a_full_one_for_cleared_roles(
    store: WriterStore, config: Config
) -> None:
    """One cut-off, two copies, each in its store's folder with its modes: the blinded copy holds no
    withheld value (W08 CSF NfL here), the full copy holds it, and both come from the same publish."""
    store.load(
        _file("a.csv", "PA", [("S1", "NfL", 1234.5), ("S2", "VEGF-A", 77.0)], visit="W08", visitnum=5.0), "r"
    )
    blinded, full = datacut.create(store, "DMC-1", config=config)
    assert blinded.path == store.paths.analyst_dir / "datacuts" / "DMC-1"
    assert full.path == store.paths.full_dir / "datacuts" / "DMC-1"
    manifests = [json.loads((c.path / "manifest.json").read_text()) for c in (blinded, full)]
    assert [m["store"] for m in manifests] == ["blinded", "full"]
    assert manifests[0]["from_snapshot"] == manifests[1]["from_snapshot"]
    assert manifests[0]["change_seq"] == manifests[1]["change_seq"]
    for cut in (blinded, full):  # the store's modes, files read-only, nothing for others
        for p in [cut.path.parent, cut.path, *cut.path.rglob("*")]:
            mode = p.stat().st_mode & 0o777
            assert mode == (0o750 if p.is_dir() else 0o440), (p, oct(mode))
    values = {}
    for f in (False, True):
        con = datacut.open_cut(store.paths, "DMC-1", config, full=f)
        values[f] = sorted(con.execute("SELECT conc_pg_ml, qualifier FROM results_all").fetchall())
        con.close()
    assert values[True] == [(77.0, "="), (1234.5, "=")]
    assert values[False] == [(None, "WITHHELD"), (None, "WITHHELD")]
    data = b"".join(p.read_bytes() for p in (blinded.path / "data").rglob("*.parquet"))
    assert b"1234.5" not in data and struct.pack("<d", 1234.5) not in data
    rows = datacut.list_cuts(store.paths)
    assert [(r["name"], r["store"]) for r in rows] == [("DMC-1", "blinded"), ("DMC-1", "full")]


def test_a_cut_made_before_the_split_is_read_only_as_a_full_cut(store: WriterStore, config: Config) -> None:
    """Cuts at the warehouse root (before blinded/full copies) may hold every value: a blinded query is
    refused, --full reads it, and verify still proves it against its untagged audit record."""
    store.load(_file("a.csv", "PA", [("S1", "VEGF-A", 1.0)]), "r")
    _, full = datacut.create(store, "SRC", config=config)  # its full copy stands in for an old root cut
    legacy = datacut.cuts_dir(store.paths, "legacy") / "OLD"
    legacy.parent.mkdir()
    shutil.copytree(full.path, legacy)
    store.audit(
        [
            audit.AuditEvent(
                event="snapshot_created",
                entity="datacut",
                entity_id="OLD",
                new_value=f"manifest sha256 {full.manifest_sha256}; 9 files from x",
            )
        ]
    )
    assert datacut.existing(store.paths, "OLD") == ["legacy"]
    with pytest.raises(datacut.DataCutError, match="--full"):
        datacut.open_cut(store.paths, "OLD", config)
    con = datacut.open_cut(store.paths, "OLD", config, full=True)
    assert con.execute("SELECT conc_pg_ml FROM results").fetchall() == [(1.0,)]
    con.close()
    recorded = datacut.recorded_manifest_sha(store.con, "OLD", "legacy")
    assert recorded == full.manifest_sha256
    assert datacut.verify(store.paths, "OLD", recorded, "legacy").ok
    assert (
        datacut.recorded_manifest_sha(store.con, "OLD", "blinded") is None
    )  # never vouches for a blinded copy
    # moved under full/ as docs/access.md advises: verified against the same untagged record
    legacy.rename(store.paths.full_dir / "datacuts" / "OLD")
    assert datacut.existing(store.paths, "OLD") == ["full"]
    assert datacut.verify(
        store.paths, "OLD", datacut.recorded_manifest_sha(store.con, "OLD", "full"), "full"
    ).ok


# --- blinding --------------------------------------------------------------------------------------


def test_unblinded_store_is_separate_audited_and_refused_inside_the_warehouse(
    store: WriterStore, config: Config, tmp_path: Path
) -> None:
    store.load(_file("a.csv", "PA", [("S1", "VEGF-A", 1.0)]), "r")
    alloc = tmp_path / "allocation.csv"
    alloc.write_text("participant_id,site_id,arm\nBCT-01-0001,01,MSC-NTF\n")
    with pytest.raises(UnblindError, match="inside the warehouse folder"):
        unblind(store, alloc, store.paths.root / "x.duckdb", config=config, reason="final analysis")
    rep = unblind(store, alloc, tmp_path / "unblinded" / "u.duckdb", config=config, reason="final analysis")
    con = duckdb.connect(str(rep.path), read_only=True)
    assert con.execute("SELECT arm FROM results_unblinded").fetchall() == [("MSC-NTF",)]
    con.close()
    assert oct(rep.path.stat().st_mode & 0o777) == "0o600"
    ev = store.con.execute("SELECT actor, entity_id FROM audit_log WHERE event = 'unblinded_store_created'")
    assert ev.fetchall() == [("tester", str(rep.path))]
    with pytest.raises(UnblindError, match="already exists"):
        unblind(store, alloc, rep.path, config=config, reason="final analysis")
    publish(store, config=config)
    acon = connect_analyst(store.paths)
    try:
        cols = acon.execute(
            "SELECT table_name, column_name FROM duckdb_columns() WHERE NOT internal"
        ).fetchall()
        assert not [c for c in cols if any(w in c[1].lower() for w in ("arm", "treat", "alloc"))]
        assert (
            acon.execute("SELECT count(*) FROM audit_log WHERE new_value LIKE '%MSC-NTF%'").fetchall()[0][0]
            == 0
        )
    finally:
        acon.close()


def test_the_blinded_view_withholds_post_dose_csf_neurotrophic_values(
    store: WriterStore, config: Config
) -> None:
    rows = [("S1", "VEGF-A", 80.0), ("S1", "IL-6", 3.0)]
    store.load(_file("w20.csv", "P20", rows, visit="W20", visitnum=7.0), "r")
    store.load(_file("w00.csv", "P00", [("S0", "VEGF-A", 40.0)], visit="W00"), "r")
    publish(store, config=config)
    con = connect_analyst(store.paths)
    try:
        got = con.execute(
            "SELECT visit, analyte, qualifier, conc_pg_ml, withheld_reason IS NOT NULL FROM results_blinded "
            "ORDER BY visit, analyte"
        ).fetchall()
    finally:
        con.close()
    assert got == [
        ("W00", "VEGF-A", "=", 40.0, False),
        ("W20", "IL-6", "=", 3.0, False),
        ("W20", "VEGF-A", "WITHHELD", None, True),
    ]
