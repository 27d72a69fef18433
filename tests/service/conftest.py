"""A real upload service for the tests: `biomarkers serve` started as its own process on a free loopback
port, over a small synthetic study, with labs created by `biomarkers lab add` — the way an operator runs it.

The server ingests accepted uploads in-process (a Prefect temporary server starts inside it on the first
hand-off), so the tests can follow an upload all the way into the analyst store.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest
import yaml

from biomarkers.stack import free_port
from service.auth import issue_token
from service.registry import Registry

MAX_UPLOAD_MB = 1
GOOD = "BCT011-LX-CYT-CSF-P002_20210113.csv"  # every result accepted
BAD = "BCT011-LX-NTF-CSF-P001_20190719.csv"  # a mistyped sample ID, a failed run, high replicate CVs
SMALL = "BCT011-LX-NDG-CSF-P003_20201107.csv"  # a short plate: varied to make many distinct uploads
UNNAMED_PLATE = "BCT011-ELISA-HGF-CSF-P002"  # its grid uploaded without Analyte:/Assay: lines, with an assay


@dataclass(frozen=True)
class Service:
    url: str
    data: Path
    warehouse: Path
    study: Path
    tokens: dict[str, str]
    env: dict[str, str]

    def client(self, lab: str | None, **kw: object) -> httpx.Client:
        headers = {"Authorization": f"Bearer {self.tokens[lab]}"} if lab else {}
        return httpx.Client(base_url=self.url, headers=headers, timeout=60, **kw)  # type: ignore[arg-type]

    def cli(self, *args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [sys.executable, "-m", "biomarkers.cli", *args],
            env=self.env,
            capture_output=True,
            text=True,
            timeout=60,
        )

    def plate(self, name: str) -> bytes:
        return (self.study / "inbox" / name).read_bytes()

    def defects(self) -> list[dict[str, object]]:
        return list(json.loads((self.study / "defects.json").read_text())["defects"])


def config_with_limits(folder: Path, **limits: object) -> Path:
    """A copy of config/ whose service.yaml has these ``limits`` (validated by the server at start-up)."""
    from schemas.config import DEFAULT_CONFIG_DIR

    shutil.copytree(DEFAULT_CONFIG_DIR, folder)
    doc = yaml.safe_load((folder / "service.yaml").read_text(encoding="utf-8"))
    doc["limits"] = {**doc.get("limits", {}), **limits}
    (folder / "service.yaml").write_text(yaml.safe_dump(doc), encoding="utf-8")
    return folder


@contextlib.contextmanager
def running_service(svc: Service, log_path: Path, *args: str) -> Iterator[Service]:
    """`biomarkers serve` on ``svc.url`` until the block ends; fails the test with its log if it does not
    come up within 90 s."""
    port = svc.url.rsplit(":", 1)[1]
    log = open(log_path, "w")  # noqa: SIM115 - closed below
    proc = subprocess.Popen(
        [sys.executable, "-m", "biomarkers.cli", "serve", "--port", port, *args],
        env=svc.env,
        stdout=log,
        stderr=subprocess.STDOUT,
        start_new_session=True,  # its own process group: Prefect's temporary server goes with it at teardown
    )
    try:
        deadline = time.monotonic() + 90
        while True:
            if proc.poll() is not None:
                pytest.fail(f"the service exited at start-up:\n{log_path.read_text()}")
            try:
                if httpx.get(svc.url + "/api/v1/health", timeout=2).status_code == 200:
                    break
            except httpx.TransportError:
                pass
            if time.monotonic() > deadline:
                pytest.fail(f"the service did not start in 90 s:\n{log_path.read_text()}")
            time.sleep(0.3)
        yield svc
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGKILL)  # anything the service left behind in its group
        log.close()


@pytest.fixture(scope="package")  # stopped once the service tests are done
def service(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Service]:
    from synth.generator import generate_study

    root = tmp_path_factory.mktemp("service")
    study = root / "study"
    generate_study(study, seed=11, participants=12)
    data = root / "data"
    env = {
        **os.environ,
        "BIOMARKERS_DATA": str(data),
        "BIOMARKERS_WAREHOUSE": str(data / "warehouse"),
        "BIOMARKERS_MANIFEST": str(study / "manifest.csv"),
        "PREFECT_HOME": str(root / "prefect"),
        "PREFECT_SERVER_ANALYTICS_ENABLED": "false",
        "BIOMARKERS_ALLOTROPY_FALLBACK": "0",
    }
    env.pop("PREFECT_API_URL", None)
    svc = Service(
        url=f"http://127.0.0.1:{free_port()}",
        data=data,
        warehouse=data / "warehouse",
        study=study,
        tokens={},
        env=env,
    )
    done = svc.cli("lab", "add", "lab-a")  # the operator's way, once; the other labs directly (faster)
    assert done.returncode == 0, done.stderr
    svc.tokens["lab-a"] = done.stdout.strip()
    registry = Registry(data / "service" / "service.duckdb")
    for lab in ("lab-b", "lab-page", "lab-fuzz", "lab-gone"):
        svc.tokens[lab] = issue_token(registry, lab).token
    # every test here calls from 127.0.0.1, and schemathesis sends many requests without a valid token:
    # this server allows far more failures than production; the limits themselves are tested on a server
    # of their own (test_access.py `strict_service`)
    config = config_with_limits(
        root / "config", failed_auth_per_client=100_000, failed_auth_per_token_prefix=100_000
    )
    with running_service(
        svc,
        root / "server.log",
        "--max-upload-mb",
        str(MAX_UPLOAD_MB),
        "--ingestion",
        "in-process",
        "--config-dir",
        str(config),
    ):
        yield svc


def wait_for_status(
    client: httpx.Client, upload_id: str, final: set[str], timeout: float
) -> dict[str, object]:
    """Poll an upload until its status is one of ``final``; the last answer either way."""
    deadline = time.monotonic() + timeout
    while True:
        body: dict[str, object] = client.get(f"/api/v1/uploads/{upload_id}").json()
        if body["status"] in final or time.monotonic() > deadline:
            return body
        time.sleep(0.5)
