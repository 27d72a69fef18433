"""A manifest shipment that arrives after its plates (issue 20): real runs over two plates of the generated
study — the first with half the shipments, the next with all — resolve the waiting samples, history kept."""

from __future__ import annotations

import csv
import shutil
from pathlib import Path

import pytest

from flows.ingest import ingest_flow
from warehouse.analyst import connect_analyst
from warehouse.paths import WarehousePaths
from warehouse.store import WriterStore

pytestmark = [pytest.mark.integration, pytest.mark.usefixtures("prefect_harness")]

PLATES = ("BCT011-LX-NTF-CSF-P001", "BCT011-ELISA-VEGF-CSF-P001")


def _split_manifest(src: Path, folder: Path) -> tuple[Path, Path]:
    """Two shipment files: the first half of the participants, then the rest."""
    with open(src, newline="") as fh:
        rows = list(csv.DictReader(fh))
    people = sorted({r["participant_id"] for r in rows})
    early = set(people[: len(people) // 2])
    out = []
    for name, keep in (("shipment-1.csv", True), ("shipment-2.csv", False)):
        path = folder / name
        with open(path, "w", newline="") as fh:
            w = csv.DictWriter(fh, fieldnames=list(rows[0]))
            w.writeheader()
            w.writerows(r for r in rows if (r["participant_id"] in early) is keep)
        out.append(path)
    return out[0], out[1]


def test_a_late_shipment_resolves_the_waiting_samples(small_study: Path, tmp_path: Path) -> None:
    inbox, manifests, wh = tmp_path / "inbox", tmp_path / "manifests", tmp_path / "wh"
    for d in (inbox, manifests):
        d.mkdir()
    for p in (small_study / "inbox").iterdir():
        if p.name.startswith(PLATES):
            shutil.copy(p, inbox / p.name)
    first, second = _split_manifest(small_study / "manifest.csv", tmp_path)
    shutil.copy(first, manifests / first.name)

    def run() -> None:
        ingest_flow(inbox=str(inbox), manifest=str(manifests), warehouse=str(wh), trigger="test")

    run()  # plates first: half their samples are in no manifest yet
    paths = WarehousePaths.at(wh)
    con = connect_analyst(paths, full=True)
    n_before = con.execute("select count(*) from results").fetchall()[0][0]
    sql = "select distinct sample_id from unresolved where still_unresolved"
    waiting = {r[0] for r in con.execute(sql).fetchall()}
    assert n_before > 0 and len(waiting) >= 4
    con.close()

    shutil.copy(second, manifests / second.name)
    run()  # the late shipment arrives; no new plate
    con = connect_analyst(paths, full=True)
    late = con.execute(
        "select sample_id, participant_id, visit, flags, status from results_all "
        "where list_contains(flags, 'resolved_late')"
    ).fetchall()
    assert {r[0] for r in late} >= waiting - _typos(small_study)
    assert all(r[1] is not None and r[2] is not None for r in late)
    n_after = con.execute("select count(*) from results").fetchall()[0][0]
    n_late_current = con.execute(
        "select count(*) from results where list_contains(flags, 'resolved_late')"
    ).fetchall()[0][0]
    assert n_late_current > 0 and n_after == n_before + n_late_current
    # history kept: the unresolved rows stay, each pointing at the row that replaced it, with why
    old = con.execute(
        "select o.result_id, o.status, o.superseded_by, o.superseded_reason, n.participant_id "
        "from results_all o join results_all n on n.result_id = o.superseded_by "
        "where o.status = 'unresolved'"
    ).fetchall()
    assert len(old) == len(late)
    assert all(r[3].startswith("resolved late: sample ") and "shipment-2.csv" in r[3] for r in old)
    audit = con.execute(
        "select sample_id, old_value, reason from audit_log where event = 'resolved_late'"
    ).fetchall()
    assert {a[0] for a in audit} == {r[0] for r in late}
    assert all(a[1] == "unresolved" and "shipment-2.csv" in a[2] for a in audit)
    still = con.execute("select count(distinct sample_id) from unresolved where still_unresolved")
    assert still.fetchall()[0][0] < len(waiting)
    # the manifests are in the store, both shipments, no allocation column
    assert con.execute("select count(distinct manifest_file) from samples").fetchall()[0][0] == 2
    # blinded store: a late post-dose CSF VEGF-A value is withheld like any other
    late_vegf = (
        "select count(*), count(n.conc_pg_ml) from results_all o join results_all n "
        "on n.result_id = o.superseded_by where o.status = 'unresolved' and n.analyte = 'VEGF-A' "
        "and n.matrix = 'CSF' and n.visit <> 'W00'"
    )
    n_full, n_valued = con.execute(late_vegf).fetchall()[0]
    assert n_full > 0 and n_valued == n_full
    con.close()
    blind = connect_analyst(paths)
    assert blind.execute(late_vegf).fetchall()[0] == (n_full, 0)
    blind.close()

    with WriterStore(paths) as store:
        counts = store.counts()
        seq = store.change_seq()
    run()  # nothing new: nothing resolves twice, nothing is published
    with WriterStore(paths) as store:
        assert store.change_seq() == seq
        assert store.counts() == counts


def _typos(study: Path) -> set[str]:
    """Sample IDs the generator wrote on plates but in no manifest (seeded typos): they stay unresolved."""
    import json

    defects = json.loads((study / "defects.json").read_text())
    items = defects["defects"] if isinstance(defects, dict) else defects
    kinds = ("manifest", "typo")
    return {d["sample_id"] for d in items if "sample_id" in d and any(k in d["kind"] for k in kinds)}
