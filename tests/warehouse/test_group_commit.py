"""Group commit (issue 18): files loaded in one transaction per batch leave the same warehouse, row for row
in every table, as one transaction per file — currency (a re-export supersedes), an exclusion carried to
the re-export, file versions, Levey–Jennings across the batch's plates, the audit trail — and a batch
whose transaction fails is loaded again file by file: the others load, the bad file is quarantined.

Real inputs: plates of a generated study (three runs of one assay, an ELISA with its plate map, a
re-export) and real vendor exports from the corpus; the flow's own load steps without Prefect."""

from __future__ import annotations

import dataclasses
import os
import shutil
import signal
import subprocess
import sys
from pathlib import Path

import duckdb
import pytest

from pipeline.batches import BatchLimits
from pipeline.discover import discover
from pipeline.intake import IntakeContext, Prepared, load_batch, prepare_file
from pipeline.manifest import load_manifest
from schemas.config import load_config
from tests.warehouse.batch_run import ingest_plain, tables
from warehouse import audit
from warehouse.exclusions import ExclusionRequest, exclude
from warehouse.paths import WarehousePaths
from warehouse.store import WriterStore

pytestmark = pytest.mark.integration
REPO = Path(__file__).resolve().parents[2]

FIRST = (
    "BCT011-LX-NTF-CSF-P001_20190719.csv",
    "BCT011-ELISA-VEGF-CSF-P001_20190423.txt",
    "BCT011-ELISA-VEGF-CSF-P001_20190423_platemap.csv",
)
SECOND = (
    "BCT011-LX-NTF-CSF-P002_20201114.csv",
    "BCT011-LX-NTF-CSF-P003_20201108.csv",
    "BCT011-ELISA-VEGF-CSF-P002_20200814.txt",
    "BCT011-ELISA-VEGF-CSF-P002_20200814_platemap.csv",
)
REAL = ("xponent/allotropy_xPONENT_example02.csv", "msd/allotropy_msd_workbench_test_1.csv")


@pytest.fixture(scope="module")
def deliveries(tmp_path_factory: pytest.TempPathFactory, corpus: Path) -> tuple[Path, Path, Path]:
    """Two deliveries: the first night's plates, then more runs of the same assays, a re-export of a
    plate of the first night (other bytes: a new version that supersedes it) and real vendor exports."""
    from synth.generator import generate_study

    out = tmp_path_factory.mktemp("groupstudy")
    generate_study(out, seed=11, participants=12)
    first, second = out / "first", out / "second"
    for folder, names in ((first, FIRST), (second, SECOND)):
        folder.mkdir()
        for name in names:
            shutil.copy(out / "inbox" / name, folder / name)
    shutil.copytree(first, second, dirs_exist_ok=True)  # the second night's folder still holds the first
    rerun = second / "BCT011-LX-NTF-CSF-P001_20190719_rerun.csv"
    rerun.write_bytes((out / "inbox" / "BCT011-LX-NTF-CSF-P001_20190719.csv").read_bytes() + b"\n")
    for rel in REAL:
        shutil.copy(corpus / rel, second / Path(rel).name)
    return first, second, out / "manifest.csv"


def _two_nights(deliveries: tuple[Path, Path, Path], root: Path, limits: BatchLimits) -> list[int]:
    first, second, manifest = deliveries
    n = [ingest_plain(first, manifest, root, limits)]
    with WriterStore(WarehousePaths.at(root), actor="reviewer") as store:
        plate = store.con.execute("SELECT min(plate_id) FROM plates WHERE assay_id LIKE '%NTF%'").fetchall()
        analyte = store.con.execute(
            "SELECT min(analyte) FROM results_all WHERE plate_id = ?", [plate[0][0]]
        ).fetchall()[0][0]
        exclude(
            store,
            ExclusionRequest(
                reason="bead lot recall", user="reviewer", plate_id=plate[0][0], analyte=analyte
            ),
            load_config(),
        )
    n.append(ingest_plain(second, manifest, root, limits))
    return n


def test_batched_loads_leave_every_table_as_one_file_per_transaction(
    deliveries: tuple[Path, Path, Path], tmp_path: Path
) -> None:
    one_by_one, batched = tmp_path / "one", tmp_path / "batched"
    n_one = _two_nights(deliveries, one_by_one, BatchLimits(files=1))
    n_batched = _two_nights(deliveries, batched, BatchLimits(files=100, window_s=600))
    n_files = len(FIRST) - 1, len(SECOND) - 1 + 1 + len(REAL)  # plate maps are read with their export
    assert n_one == list(n_files) and n_batched == [1, 1], "the runs did not batch as configured"
    want, got = tables(one_by_one), tables(batched)
    assert set(want) == set(got)
    for name in sorted(want):
        assert want[name].equals(got[name], null_equal=True), f"table {name} differs when batched"
    # the comparison covers what group commit could change: each is present, so each was compared
    assert want["file_versions"].height >= 1 and want["exclusions"].height == 1
    assert (
        want["qc_trend"].height > 0
        and want["result_currency"].filter(want["result_currency"]["superseded_by"].is_not_null()).height > 0
    )
    # one audit head logged per transaction; the chain verifies either way
    for root in (one_by_one, batched):
        con = duckdb.connect(str(root / "ingest.duckdb"), read_only=True)
        try:
            assert audit.verify(con, root / "ingest.duckdb") == []
        finally:
            con.close()


def test_a_batch_whose_transaction_fails_is_loaded_file_by_file(
    deliveries: tuple[Path, Path, Path], tmp_path: Path
) -> None:
    """The second file's load breaks a rule of the warehouse (a pipeline defect: its plate listed twice,
    a primary key): the batch rolls back, the others load one by one, that file is quarantined with the
    reason, and the run state (load order, trend history) follows the store, not the rolled-back batch."""
    _, second, manifest = deliveries
    config = load_config()
    root = tmp_path / "wh"
    with WriterStore(WarehousePaths.at(root), actor="batch-test") as store:
        store.begin_run("r1", inbox=str(second), manifest=str(manifest), trigger="test")
        samples = load_manifest(manifest, config)
        found = discover(second, store.known_files())
        ctx = IntakeContext(config=config, manifest=samples, store=store, run_id="r1")
        batch = [
            (prepare_file(c, found.siblings_of(c), store.paths, config, samples), found.siblings_of(c))
            for c in found.new
        ]
        bad, siblings = batch[1]
        assert bad.outcome.plates, "the doctored file must have a plate to list twice"
        doubled = dataclasses.replace(bad.outcome, plates=bad.outcome.plates * 2)
        batch[1] = (Prepared(bad.candidate, doubled), siblings)
        loaded = load_batch(batch, ctx)
        seqs = store.con.execute(
            "SELECT source_file, status, load_seq FROM files ORDER BY load_seq"
        ).fetchall()
        reason = store.con.execute(
            "SELECT rule, message FROM quarantine WHERE source_sha256 = ?", [bad.candidate.sha256]
        ).fetchall()
    assert [o.source_file for o, _ in loaded] == [p.candidate.name for p, _ in batch]
    statuses = {name: status for name, status, _ in seqs}
    assert statuses[bad.candidate.name] == "quarantined"
    assert [r[0] for r in reason] == ["load_failed"] and "ConstraintException" in reason[0][1]
    assert bad.candidate.name in reason[0][1] and "tell the data team" in reason[0][1]
    others = [p.candidate.name for p, _ in batch if p.candidate.name != bad.candidate.name]
    assert all(statuses[n] != "quarantined" or n.startswith("allotropy") for n in others)
    exports = sorted({s for n, _, s in seqs if "platemap" not in n})
    assert exports == list(range(1, len(batch) + 1)), "the load order did not follow the store"
    assert len({n for n, _, _ in seqs}) == len(seqs), "a file of the rolled-back batch was loaded twice"


def _batch_config(tmp: Path) -> Path:
    """The shipped configuration with the whole delivery in one batch, processed in the flow's process."""
    import yaml

    from schemas.config import DEFAULT_CONFIG_DIR

    out = tmp / "config"
    shutil.copytree(DEFAULT_CONFIG_DIR, out)
    ops = yaml.safe_load((out / "operations.yaml").read_text())
    ops["processing"] = {"workers": 1, "batch_files": 100, "batch_window_s": 600}
    (out / "operations.yaml").write_text(yaml.safe_dump(ops))
    return out


def test_a_flow_killed_inside_a_batch_leaves_the_warehouse_as_before_and_the_next_run_loads_it_once(
    deliveries: tuple[Path, Path, Path], tmp_path: Path
) -> None:
    """A real flow process SIGKILLed during the third file of a batch (two already applied in the open
    transaction): the warehouse is as it was before the batch, table for table; the next run loads the
    batch exactly once — the same warehouse as a run never killed."""
    first, second, manifest = deliveries
    limits = BatchLimits(files=100, window_s=600)
    config = _batch_config(tmp_path)  # all runs: the same configuration (a change would be audited)
    reference = tmp_path / "reference"
    ingest_plain(first, manifest, reference, limits, config)
    ingest_plain(second, manifest, reference, limits, config)
    root = tmp_path / "wh"
    ingest_plain(first, manifest, root, limits, config)
    before = tables(root)
    env = {**os.environ, "PREFECT_SERVER_EPHEMERAL_STARTUP_TIMEOUT_SECONDS": "600"}
    env.pop("PREFECT_API_URL", None)
    cmd = [sys.executable, "-m", "tests.warehouse.batch_kill_child", str(second), str(manifest), str(root)]
    killed = subprocess.run(
        [*cmd, str(config)], cwd=REPO, env=env, capture_output=True, text=True, timeout=900
    )
    assert killed.returncode == -signal.SIGKILL, (
        f"the point inside the batch was never reached: {killed.stderr[-3000:]}"
    )
    after = tables(root)
    assert after["ingest_runs"].height == before["ingest_runs"].height + 1  # the killed run's own record
    for name in before:
        if name != "ingest_runs":
            new = after[name].join(before[name], on=after[name].columns, how="anti", nulls_equal=True)
            assert before[name].equals(after[name], null_equal=True), f"{name} changed by the kill: {new}"
    ingest_plain(second, manifest, root, limits, config)  # the next run
    want, got = tables(reference), tables(root)
    for name in want:
        if name != "ingest_runs":
            assert want[name].equals(got[name], null_equal=True), f"{name} differs from a run never killed"
    con = duckdb.connect(str(root / "ingest.duckdb"), read_only=True)
    try:
        assert audit.verify(con, root / "ingest.duckdb") == []
    finally:
        con.close()
