"""The real thing: `biomarkers up`'s stack (a `prefect server start` on loopback with SQLite in a temporary
home, the process work pool, the writer limit, `prefect deploy --all`, a worker subprocess), then two
deployment runs started at once over different inboxes into one warehouse, a webhook receiver listening.
Everything is stopped in `finally` (process groups of what we started)."""

from __future__ import annotations

import shutil
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

from biomarkers.stack import PREFECT_YAML, Stack, down, free_port, up
from schemas.operations import load_operations
from schemas.settings import REPO_ROOT
from tests.ops.receiver import webhook_receiver
from warehouse.analyst import connect_analyst
from warehouse.paths import WarehousePaths

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def hook() -> Iterator[tuple[str, list[dict[str, Any]]]]:
    with webhook_receiver() as h:
        yield h


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory, hook: tuple[str, list[Any]]) -> Iterator[Stack]:
    home = tmp_path_factory.mktemp("prefect-home")
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("PREFECT_WORKER_QUERY_SECONDS", "1")  # the worker polls every second, not every 10
        mp.setenv("BIOMARKERS_WEBHOOK_URL", hook[0])  # the worker's flow runs inherit it
        mp.delenv("PREFECT_API_URL", raising=False)
        started = time.monotonic()
        try:
            s = up(home, load_operations(), port=free_port(), worker=True)
            s.started_in = time.monotonic() - started  # type: ignore[attr-defined]
            yield s
        finally:
            stopped = down(home)
    assert len(stopped) == 2, stopped  # worker and server were still running, and are stopped now
    with pytest.raises(OSError):
        urllib.request.urlopen(f"{s.api_url}/health", timeout=2)


def _client(stack: Stack) -> Any:
    from prefect.client.orchestration import get_client
    from prefect.settings import PREFECT_API_URL, temporary_settings

    return temporary_settings({PREFECT_API_URL: stack.api_url}), get_client


def test_deployments_come_out_as_written(stack: Stack) -> None:
    import anyio

    written = {d["name"]: d for d in yaml.safe_load(PREFECT_YAML.read_text())["deployments"]}
    ops = load_operations()
    settings_ctx, get_client = _client(stack)

    async def read() -> dict[str, Any]:
        async with get_client() as c:
            got = {n: await c.read_deployment_by_name(f"biomarker-ingest/{n}") for n in written}
            gcl = await c.read_global_concurrency_limit_by_name(ops.writer_lock.prefect_limit)
            pool = await c.read_work_pool(ops.work_pool)
            return {"deployments": got, "gcl": gcl, "pool": pool}

    with settings_ctx:
        r = anyio.run(read)
    assert set(written) == {"nightly", "on-upload", "full-reingest"}
    assert r["pool"].type == "process"
    assert r["gcl"].limit == 1
    for name, w in written.items():
        d = r["deployments"][name]
        assert d.entrypoint == w["entrypoint"] == "flows/ingest.py:ingest_flow"
        assert d.work_pool_name == w["work_pool"]["name"] == ops.work_pool
        assert d.work_queue_name == w["work_pool"]["work_queue_name"]
        assert d.parameters == w["parameters"]
        assert sorted(d.tags) == sorted(w["tags"])
        assert d.description == w["description"]
        assert d.pull_steps == [
            {"prefect.deployments.steps.set_working_directory": {"directory": str(REPO_ROOT)}}
        ]
        limit = d.global_concurrency_limit.limit if d.global_concurrency_limit else None
        assert limit == w.get("concurrency_limit")
        scheds = [(s.schedule.cron, s.schedule.timezone, s.active) for s in d.schedules]
        assert scheds == [(s["cron"], s["timezone"], s["active"]) for s in w.get("schedules") or []]
    nightly = r["deployments"]["nightly"]
    assert [(s.schedule.cron, s.schedule.timezone) for s in nightly.schedules] == [
        (ops.schedule.cron, ops.schedule.timezone)
    ]
    assert nightly.global_concurrency_limit.limit == 1


def _studies(root: Path) -> tuple[Path, Path, Path]:
    from synth.generator import generate_study

    manifests = root / "manifests"
    manifests.mkdir()
    inboxes = []
    for seed in (21, 22):
        s = root / f"study{seed}"
        generate_study(s, seed=seed, participants=3)
        shutil.copy(s / "manifest.csv", manifests / f"shipment-{seed}.csv")
        inboxes.append(s / "inbox")
    (inboxes[1] / "notes.txt").write_text("not a plate export\n")  # quarantined: a notification is due
    return inboxes[0], inboxes[1], manifests


def _config_with_pool(root: Path) -> Path:
    """The shipped configuration, with every run's files processed in 2 worker processes."""
    from schemas.config import DEFAULT_CONFIG_DIR

    out = root / "config-pool"
    shutil.copytree(DEFAULT_CONFIG_DIR, out)
    ops = yaml.safe_load((out / "operations.yaml").read_text())
    ops["processing"] = {"workers": 2, "min_files": 1}
    (out / "operations.yaml").write_text(yaml.safe_dump(ops))
    return out


def test_two_runs_at_once_both_load_once(
    stack: Stack, tmp_path: Path, hook: tuple[str, list[dict[str, Any]]]
) -> None:
    import anyio
    from prefect.deployments import run_deployment

    a, b, manifests = _studies(tmp_path)
    wh = tmp_path / "warehouse"
    settings_ctx, get_client = _client(stack)
    common = {"manifest": str(manifests), "warehouse": str(wh)}
    pooled = _config_with_pool(tmp_path)  # the nightly run processes its files in worker processes
    t0 = time.monotonic()
    with settings_ctx:
        runs = [
            run_deployment(
                "biomarker-ingest/nightly",
                parameters={"inbox": str(a), "config_dir": str(pooled), **common},
                timeout=0,
            ),
            run_deployment(
                "biomarker-ingest/on-upload",
                parameters={"inbox": str(b), "trigger": "upload", **common},
                idempotency_key="sha256-of-upload-b",
                timeout=0,
            ),
        ]

        async def wait() -> list[Any]:
            async with get_client() as c:
                deadline = time.monotonic() + 150
                while time.monotonic() < deadline:
                    states = [(await c.read_flow_run(r.id)) for r in runs]
                    if all(s.state and s.state.is_final() for s in states):
                        return states
                    await anyio.sleep(1)
                raise AssertionError(f"runs did not finish: {[s.state for s in states]}")

        finished = anyio.run(wait)

        async def artifacts(run_id: Any) -> dict[str, Any]:
            from prefect.client.schemas.filters import ArtifactFilter, ArtifactFilterFlowRunId

            async with get_client() as c:
                arts = await c.read_artifacts(
                    artifact_filter=ArtifactFilter(flow_run_id=ArtifactFilterFlowRunId(any_=[run_id]))
                )
                return {x.key: x for x in arts}

        arts_all = [anyio.run(artifacts, r.id) for r in runs]
        arts_b = arts_all[1]

        async def logs(run_id: Any) -> list[str]:
            from prefect.client.schemas.filters import LogFilter, LogFilterFlowRunId

            async with get_client() as c:
                got = await c.read_logs(log_filter=LogFilter(flow_run_id=LogFilterFlowRunId(any_=[run_id])))
                return [x.message for x in got]

        nightly_logs = anyio.run(logs, runs[0].id)
    assert any("in 2 worker processes" in m for m in nightly_logs), nightly_logs[:20]
    elapsed = time.monotonic() - t0
    assert [f.state.type.value for f in finished] == ["COMPLETED", "COMPLETED"], [f.state for f in finished]
    # They really ran at once (each in its own worker subprocess): without the writer lock the second
    # would have failed on DuckDB's file lock; with it, one waited for the other.
    assert max(f.start_time for f in finished) < min(f.end_time for f in finished)
    summaries = [x["ingest-summary"].data for x in arts_all]
    waited = [i for i, md in enumerate(summaries) if "Waited" in md]
    assert len(waited) == 1, summaries
    assert "being written by another deployment run" in summaries[waited[0]]

    con = connect_analyst(WarehousePaths.at(wh))
    names = dict(con.execute("select source_file, count(*) from files group by all").fetchall())
    expected = {p.name for p in [*a.iterdir(), *b.iterdir()]}
    assert set(names) == expected  # both inboxes, every file
    assert set(names.values()) == {1}  # each once
    assert con.execute("select count(*) from results").fetchall()[0][0] > 0
    assert con.execute("select count(distinct source_file) from results").fetchall()[0][0] >= 12
    con.close()

    assert "ingest-summary" in arts_b and "notes.txt" in arts_b["ingest-summary"].data
    table = arts_b["ingest-quarantine"].data
    assert "notes.txt" in table and "Tried" in table  # the reason names the formats tried

    msgs = [m for m in hook[1] if "notes.txt" in m["text"]]
    assert len(msgs) == 1, hook[1]
    assert msgs[0]["files_quarantined"][0]["file"] == "notes.txt"
    assert msgs[0]["run_id"] == str(runs[1].id)
    print(summaries[0], summaries[1], sep="\n")
    print(f"stack up in {stack.started_in:.1f} s; two runs in {elapsed:.1f} s")  # type: ignore[attr-defined]


def test_an_upload_reaches_the_warehouse_through_the_on_upload_deployment(
    stack: Stack, tmp_path: Path
) -> None:
    """The upload service, pointed at the real server, hands an accepted file to `on-upload` (idempotency
    key = its SHA-256); the worker's run loads it into the service's warehouse, and the upload says so."""
    import os
    import signal
    import subprocess
    import sys

    import httpx

    from synth.generator import generate_study

    study = tmp_path / "study"
    generate_study(study, seed=31, participants=4)
    data = tmp_path / "data"
    env = {
        **os.environ,
        "BIOMARKERS_DATA": str(data),
        "BIOMARKERS_WAREHOUSE": str(data / "wh"),
        "BIOMARKERS_MANIFEST": str(study / "manifest.csv"),
        "PREFECT_API_URL": stack.api_url,
        "BIOMARKERS_ALLOTROPY_FALLBACK": "0",
    }
    cli = [sys.executable, "-m", "biomarkers.cli"]
    added = subprocess.run(
        [*cli, "lab", "add", "lab-x"], env=env, capture_output=True, text=True, timeout=120
    )
    assert added.returncode == 0, added.stderr
    token = added.stdout.strip()
    port = free_port()
    proc = subprocess.Popen(
        [*cli, "serve", "--port", str(port), "--ingestion", "deployment"],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    )
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 90
        while True:
            try:
                if httpx.get(url + "/api/v1/health", timeout=2).status_code == 200:
                    break
            except httpx.TransportError:
                pass
            assert proc.poll() is None and time.monotonic() < deadline, "the service did not start"
            time.sleep(0.3)
        plate = sorted((study / "inbox").glob("*LX-NTF-CSF*.csv"))[0]
        with httpx.Client(base_url=url, headers={"Authorization": f"Bearer {token}"}, timeout=60) as c:
            up_ = c.post("/api/v1/uploads", files={"file": (plate.name, plate.read_bytes())})
            assert up_.status_code == 201, up_.text
            upload_id = up_.json()["id"]
            deadline = time.monotonic() + 180
            while True:
                body = c.get(f"/api/v1/uploads/{upload_id}").json()
                if body["status"] in {"loaded", "failed"} or time.monotonic() > deadline:
                    break
                time.sleep(1)
    finally:
        os.killpg(proc.pid, signal.SIGTERM)
        proc.wait(timeout=30)
    assert body["status"] == "loaded", body
    assert any("biomarker-ingest/on-upload" in e["message"] for e in body["history"]), body["history"]
    con = connect_analyst(WarehousePaths.at(data / "wh"))
    try:
        assert con.execute("select count(*) from files where source_file = ?", [plate.name]).fetchall() == [
            (1,)
        ]
    finally:
        con.close()
