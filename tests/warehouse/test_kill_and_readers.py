"""Exactly-once loads under SIGKILL, and analysts never blocked: real processes, real DuckDB files.

A child process runs the ingestion's own steps and kills itself (SIGKILL — no cleanup runs) at one of
many points of a load: before the raw copy, inside the load transaction between inserts, between the
commit and the audit heads log, while publishing. The next, uninterrupted run must finish the job and
leave exactly what one clean run leaves: every file once, every result once, the same currency decisions,
an intact audit chain, and an analyst store that agrees with the writer.
"""

from __future__ import annotations

import multiprocessing
import multiprocessing.context
import os
import shutil
import signal
import subprocess
import sys
import textwrap
import time
from concurrent.futures import ThreadPoolExecutor, as_completed
from pathlib import Path

import duckdb
import pytest

from tests.processes import BIN
from tests.warehouse import kill_child
from tests.warehouse.kill_child import run as ingest_once
from warehouse import audit
from warehouse.paths import WarehousePaths
from warehouse.raw import verify_raw

pytestmark = pytest.mark.integration

# (function[:after], call number): 22 points spread over a 3-export load (one a re-export of a plate).
KILL_POINTS = [
    "keep_raw 1",
    "keep_raw 4",
    "process_file 2",
    "_insert 1",
    "_insert 3",
    "_insert 6",
    "_insert 9",
    "_insert 14",
    "_insert 20",
    "_record_versions 3",
    "refresh 1",
    "refresh 3",
    "append 2",
    "append 4",
    "record_head:after 1",
    "record_head 3",
    "record_head:after 4",
    "views_sql 1",
    "blinded_view_sql:after 1",
    "rename:after 1",
    "replace 1",
    "set_published_seq 1",
]


@pytest.fixture(scope="module")
def study(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    from synth.generator import generate_study

    out = tmp_path_factory.mktemp("killstudy")
    generate_study(out, seed=11, participants=12)
    inbox = out / "subset"
    inbox.mkdir()
    for name in (
        "BCT011-ELISA-VEGF-CSF-P001_20190423.txt",
        "BCT011-ELISA-VEGF-CSF-P001_20190423_platemap.csv",
        "BCT011-LX-NTF-CSF-P001_20190719.csv",
    ):
        shutil.copy(out / "inbox" / name, inbox / name)
    # The same plate exported again (other bytes): a new version that supersedes the first.
    rerun = inbox / "BCT011-LX-NTF-CSF-P001_20190719_rerun.csv"
    rerun.write_bytes((out / "inbox" / "BCT011-LX-NTF-CSF-P001_20190719.csv").read_bytes() + b"\n")
    return inbox, out / "manifest.csv"


def fingerprint(root: Path) -> dict[str, object]:
    """What a load leaves, without run IDs and clock times."""
    con = duckdb.connect(str(root / "ingest.duckdb"), read_only=True)
    try:
        q = {
            "files": "SELECT source_sha256, source_file, status, message FROM files ORDER BY 1",
            "plates": "SELECT count(*) FROM plates",
            "wells": "SELECT count(*), sum(coalesce(value, 0)) FROM wells",
            "results": "SELECT result_id, conc_pg_ml, qualifier, status FROM results_all ORDER BY 1",
            "state": "SELECT result_id, arg_max(is_current, event_seq), arg_max(superseded_by, event_seq), "
            "count(*) FROM result_currency GROUP BY 1 ORDER BY 1",
            "quarantine": "SELECT source_sha256, rule, coalesce(well, ''), coalesce(sample_id, '') "
            "FROM quarantine ORDER BY ALL",
            "curves": "SELECT count(*) FROM curves",
            "calibrators": "SELECT count(*) FROM calibrators",
            "versions": "SELECT source_sha256, previous_sha256, version_no FROM file_versions ORDER BY ALL",
            "audit": "SELECT event, entity_id, coalesce(source_sha256, ''), count(*) FROM audit_log "
            "GROUP BY ALL ORDER BY ALL",
        }
        fp: dict[str, object] = {k: con.execute(v).fetchall() for k, v in q.items()}
        fp["audit_problems"] = [str(p) for p in audit.verify(con, root / "ingest.duckdb")]
        fp["raw_ok"] = all(verify_raw(WarehousePaths.at(root), r[0]) for r in fp["files"])  # type: ignore[union-attr]
        current = con.execute(
            "SELECT count(*) FROM (SELECT arg_max(is_current, event_seq) c FROM result_currency "
            "GROUP BY result_id) WHERE c"
        ).fetchall()[0][0]
    finally:
        con.close()
    acon = duckdb.connect(str(root / "analyst" / "analyst.duckdb"), read_only=True)
    try:
        fp["analyst_matches_writer"] = (
            acon.execute("SELECT count(*) FROM results").fetchall()[0][0] == current
            and acon.execute("SELECT count(*) FROM files").fetchall()[0][0] == len(fp["files"])  # type: ignore[arg-type]
        )
    finally:
        acon.close()
    return fp


@pytest.fixture(scope="module")
def reference(study: tuple[Path, Path], tmp_path_factory: pytest.TempPathFactory) -> dict[str, object]:
    root = tmp_path_factory.mktemp("reference") / "wh"
    ingest_once(study[0], study[1], root)
    fp = fingerprint(root)
    assert fp["audit_problems"] == [] and fp["raw_ok"] and fp["analyst_matches_writer"]
    assert any(r[1] is not None for r in fp["state"])  # type: ignore[union-attr]  (the re-export superseded)
    return fp


@pytest.fixture(scope="module")
def children() -> multiprocessing.context.ForkServerContext:
    """Children forked from a server that has imported the load path once (single-threaded: no DuckDB
    connection or polars thread pool exists there yet, so forking it is safe). Each child still runs the
    whole load in its own process and dies by SIGKILL; only the imports are shared."""
    ctx = multiprocessing.get_context("forkserver")
    ctx.set_forkserver_preload(kill_child.PRELOAD)
    return ctx


def _kill(
    ctx: multiprocessing.context.ForkServerContext, point: str, study: tuple[Path, Path], root: Path
) -> tuple[str, int | None]:
    target, k = point.split()
    child = ctx.Process(
        target=kill_child.main, args=(str(study[0]), str(study[1]), str(root), target, int(k))
    )
    child.start()
    child.join(180)
    if child.is_alive():  # hung: a failure, never a stalled suite
        child.kill()
        child.join()
        return point, None
    return point, child.exitcode


def test_a_load_killed_anywhere_is_finished_exactly_once_by_the_next_run(
    study: tuple[Path, Path],
    reference: dict[str, object],
    tmp_path: Path,
    children: multiprocessing.context.ForkServerContext,
) -> None:
    assert len(set(KILL_POINTS)) >= 20
    roots = {point: tmp_path / f"wh{i}" for i, point in enumerate(KILL_POINTS)}
    # Children are killed two at a time (both cores); each next run happens here as the kills come in.
    with ThreadPoolExecutor(max_workers=2) as pool:
        futures = [pool.submit(_kill, children, pt, study, roots[pt]) for pt in KILL_POINTS]
        for fut in as_completed(futures):
            point, rc = fut.result()
            # exit code 0: the point was never reached (its output is in the captured stderr above)
            assert rc == -signal.SIGKILL, f"{point}: the child ended with {rc}, not by SIGKILL there"
            ingest_once(study[0], study[1], roots[point])  # the next run
            got = fingerprint(roots[point])
            for key, want in reference.items():
                assert got[key] == want, f"after a kill at {point}, {key} differs from a clean run"


def test_an_analyst_process_reading_for_the_whole_load_is_never_blocked_and_sees_whole_plates(
    study: tuple[Path, Path], tmp_path: Path
) -> None:
    root = tmp_path / "wh"
    first = tmp_path / "first"
    first.mkdir()
    shutil.copy(study[0] / "BCT011-LX-NTF-CSF-P001_20190719.csv", first)
    ingest_once(first, study[1], root)
    reader = textwrap.dedent(
        f"""
        import sys, time, duckdb
        con = duckdb.connect({str(root / "analyst" / "analyst.duckdb")!r}, read_only=True)
        seen = set()
        print("open", flush=True)
        deadline = time.time() + 600
        while time.time() < deadline:
            n = con.execute("select count(*) from results_all").fetchall()[0][0]
            # whole plates only: every file the session sees has all of its results
            per_file = con.execute(
                "select f.source_file, count(r.result_id) from files f "
                "left join results_all r on r.source_file_sha256 = f.source_sha256 "
                "where f.status <> 'companion' group by 1"
            ).fetchall()
            seen.add(n)
            if sys.stdin.readline().strip() == "stop":
                break
            print(n, sorted(per_file), flush=True)
        con.close()
        print("seen", sorted(seen), flush=True)
        """
    )
    proc = subprocess.Popen(
        [sys.executable, "-c", reader], stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True
    )
    assert proc.stdin is not None and proc.stdout is not None
    try:
        assert proc.stdout.readline().strip() == "open"
        proc.stdin.write("go\n")
        proc.stdin.flush()
        before = proc.stdout.readline()
        started = time.perf_counter()
        # `biomarkers ingest` (the real flow, its own process) loads and publishes while the session is open
        cli = subprocess.run(
            [str(BIN), "ingest", "--inbox", str(study[0]),
             "--manifest", str(study[1]), "--warehouse", str(root)],
            capture_output=True, text=True, timeout=300, env={**os.environ, "BIOMARKERS_DATA": str(tmp_path)},
        )  # fmt: skip
        took = time.perf_counter() - started
        assert cli.returncode == 0, cli.stdout + cli.stderr
        proc.stdin.write("go\n")
        proc.stdin.flush()
        during = proc.stdout.readline()
        proc.stdin.write("stop\n")
        proc.stdin.flush()
        out, _ = proc.communicate(timeout=60)
    finally:
        proc.kill()
    assert proc.returncode == 0
    assert before.split()[0] == during.split()[0]  # the open session keeps its snapshot: no half load
    assert took < 300
    # the next connection sees new rows
    con = duckdb.connect(str(root / "analyst" / "analyst.duckdb"), read_only=True)
    try:
        assert con.execute("select count(*) from results_all").fetchall()[0][0] > int(before.split()[0])
    finally:
        con.close()
    assert "seen" in out
