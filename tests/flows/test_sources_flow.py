"""The nightly flow pulling from two sources, one up (a real SFTP server) and one down (an S3 endpoint
nobody listens on): the live source's files load, the dead one is reported by name (webhook, run page)
and the run still completes."""

from __future__ import annotations

import shutil
import socket
from pathlib import Path

import pytest
import yaml

from flows.ingest import ingest_flow
from schemas.config import DEFAULT_CONFIG_DIR
from tests.ops.receiver import webhook_receiver
from tests.ops.servers import sftp_server
from warehouse.analyst import connect_analyst
from warehouse.paths import WarehousePaths

pytestmark = [pytest.mark.integration, pytest.mark.usefixtures("prefect_harness")]


def test_a_dead_source_fails_alone(
    small_study: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    drop = tmp_path / "sftp-root" / "outgoing"
    drop.mkdir(parents=True)
    exports = sorted(
        p for p in (small_study / "inbox").iterdir() if p.suffix == ".csv" and "platemap" not in p.name
    )[:3]
    for p in exports:
        shutil.copy(p, drop / p.name)
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        dead = f"http://127.0.0.1:{s.getsockname()[1]}"
    config = tmp_path / "config"
    shutil.copytree(DEFAULT_CONFIG_DIR, config)
    inbox = tmp_path / "inbox"
    inbox.mkdir()
    with sftp_server(tmp_path / "sftp-root", tmp_path) as server, webhook_receiver() as (url, got):
        ops = yaml.safe_load((config / "operations.yaml").read_text())
        ops["notifications"] = {"webhook_url": url, "events": ["file_quarantined", "source_failed"]}
        ops["pull_retries"], ops["pull_retry_delay_s"] = 1, [0.1]
        ops["sources"] = [
            {"name": "inbox", "kind": "folder"},
            {
                "name": "lab-b",
                "kind": "s3",
                "bucket": "drops",
                "endpoint_url": dead,
                "timeout_s": 2,
                "access_key_env": "LAB_B_KEY",
                "secret_key_env": "LAB_B_SECRET",
            },
            {
                "name": "lab-a",
                "kind": "sftp",
                "host": server.host,
                "port": server.port,
                "path": "/outgoing",
                "username_env": "LAB_A_USER",
                "password_env": "LAB_A_PASSWORD",
                "known_hosts": str(server.known_hosts),
            },
        ]
        (config / "operations.yaml").write_text(yaml.safe_dump(ops))
        monkeypatch.setenv("LAB_A_USER", server.user)
        monkeypatch.setenv("LAB_A_PASSWORD", server.password)
        monkeypatch.setenv("LAB_B_KEY", "k")
        monkeypatch.setenv("LAB_B_SECRET", "s")
        wh = tmp_path / "wh"
        summary = ingest_flow(
            inbox=str(inbox),
            manifest=str(small_study / "manifest.csv"),
            warehouse=str(wh),
            config_dir=str(config),
            trigger="nightly",
            pull=True,
        )
    assert summary.files_new == len(exports)
    con = connect_analyst(WarehousePaths.at(wh))
    loaded = {r[0] for r in con.execute("select source_file from files").fetchall()}
    con.close()
    assert loaded == {p.name for p in exports}
    assert len(got) == 1
    assert "lab-b: source 'lab-b': cannot list s3://drops" in got[0]["text"]
    assert got[0]["failed_sources"][0]["source"] == "lab-b"
    assert sorted(p.name for p in drop.iterdir()) == sorted(p.name for p in exports)  # nothing deleted


def test_a_failed_run_notifies(tmp_path: Path) -> None:
    config = tmp_path / "config"
    shutil.copytree(DEFAULT_CONFIG_DIR, config)
    with webhook_receiver() as (url, got):
        ops = yaml.safe_load((config / "operations.yaml").read_text())
        ops["notifications"] = {"webhook_url": url, "events": ["flow_failed"]}
        (config / "operations.yaml").write_text(yaml.safe_dump(ops))
        inbox = tmp_path / "inbox"
        inbox.mkdir()
        with pytest.raises(Exception, match="no-such-manifest"):
            ingest_flow(
                inbox=str(inbox),
                manifest=str(tmp_path / "no-such-manifest.csv"),
                warehouse=str(tmp_path / "wh"),
                config_dir=str(config),
            )
    assert len(got) == 1
    assert got[0]["text"].startswith("Biomarker ingestion run ") and "failed" in got[0]["text"]
    assert "no-such-manifest" in got[0]["error"]
