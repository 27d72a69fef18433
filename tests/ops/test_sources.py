"""Pulling from where labs deliver, against real servers on loopback: SFTP (asyncssh) and S3 (moto server).

Only new bytes are copied; nothing is deleted at the source unless configured; credentials come from the
environment; a source that is down fails with a message naming it and what to check."""

from __future__ import annotations

import hashlib
import socket
from collections.abc import Iterator
from pathlib import Path

import pytest

from pipeline.sources import LEDGER_NAME, SourceConfigError, SourceUnavailable, landing_dir, pull_source
from schemas.operations import S3Source, SftpSource
from tests.ops.servers import SftpServer, s3_server, sftp_server

pytestmark = pytest.mark.integration


def _landed(wh: Path, name: str) -> dict[str, bytes]:
    d = landing_dir(wh, name)
    return {
        str(p.relative_to(d)): p.read_bytes() for p in d.rglob("*") if p.is_file() and p.name != LEDGER_NAME
    }


@pytest.fixture
def sftp(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[SftpServer]:
    root = tmp_path / "sftp-root"
    (root / "drop" / "2026-11").mkdir(parents=True)
    with sftp_server(root, tmp_path) as s:
        monkeypatch.setenv("LAB_A_USER", s.user)
        monkeypatch.setenv("LAB_A_PASSWORD", s.password)
        yield s


def _sftp_source(s: SftpServer, **kw: object) -> SftpSource:
    return SftpSource(
        name="lab-a",
        kind="sftp",
        host=s.host,
        port=s.port,
        path="/drop",
        username_env="LAB_A_USER",
        password_env="LAB_A_PASSWORD",
        known_hosts=str(s.known_hosts),
        timeout_s=5,
        **kw,  # type: ignore[arg-type]
    )


def test_sftp_copies_only_new_bytes_and_never_deletes(sftp: SftpServer, tmp_path: Path) -> None:
    drop = sftp.root / "drop"
    (drop / "plate1.csv").write_bytes(b"plate one")
    (drop / "2026-11" / "plate2.csv").write_bytes(b"plate two")
    (drop / "plate1-copy.csv").write_bytes(b"plate one")  # same bytes under another name
    (drop / "plate3.csv.part").write_bytes(b"still uploading")
    wh = tmp_path / "wh"
    first = pull_source(_sftp_source(sftp), wh)
    assert (first.copied, first.skipped) == (2, 1)
    landed = _landed(wh, "lab-a")
    assert sorted(landed.values()) == [b"plate one", b"plate two"]
    assert "2026-11/plate2.csv" in landed
    assert (drop / "plate1.csv").exists() and (drop / "2026-11" / "plate2.csv").exists()  # never deleted

    again = pull_source(_sftp_source(sftp), wh)
    assert (again.copied, again.skipped) == (0, 3)  # unchanged: not even downloaded
    (drop / "plate4.csv").write_bytes(b"plate four")
    later = pull_source(_sftp_source(sftp), wh)
    assert (later.copied, later.skipped) == (1, 3)
    assert pull_source(_sftp_source(sftp), wh, rescan=True).copied == 0  # re-read, bytes already held


def test_sftp_deletes_only_when_configured(sftp: SftpServer, tmp_path: Path) -> None:
    (sftp.root / "drop" / "plate1.csv").write_bytes(b"plate one")
    r = pull_source(_sftp_source(sftp, delete_after_pull=True), tmp_path / "wh")
    assert (r.copied, r.deleted) == (1, 1)
    assert not (sftp.root / "drop" / "plate1.csv").exists()
    assert _landed(tmp_path / "wh", "lab-a") == {"plate1.csv": b"plate one"}


def test_sftp_wrong_password_and_unknown_host_key_are_named(
    sftp: SftpServer, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("LAB_A_PASSWORD", "wrong")
    with pytest.raises(SourceUnavailable, match=r"'lab-a'.*sftp://127\.0\.0\.1.*credentials"):
        pull_source(_sftp_source(sftp), tmp_path / "wh")
    monkeypatch.delenv("LAB_A_PASSWORD")
    with pytest.raises(SourceConfigError, match="LAB_A_PASSWORD, which is not set"):
        pull_source(_sftp_source(sftp), tmp_path / "wh")
    monkeypatch.setenv("LAB_A_PASSWORD", sftp.password)
    other = tmp_path / "other_known_hosts"
    other.write_text(
        f"[127.0.0.1]:{sftp.port} ssh-ed25519 "
        "AAAAC3NzaC1lZDI1NTE5AAAAIB9wDOnqQQdKvYtNm9XO1a5kX2oQ4mgJv8WqN0s2d5cz\n"
    )
    with pytest.raises(SourceUnavailable, match="host key"):
        pull_source(_sftp_source(sftp).model_copy(update={"known_hosts": str(other)}), tmp_path / "wh")


def test_sftp_server_down_fails_with_a_clear_message(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("LAB_A_USER", "lab")
    monkeypatch.setenv("LAB_A_PASSWORD", "x")
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    src = SftpSource(
        name="lab-a",
        kind="sftp",
        host="127.0.0.1",
        port=port,
        username_env="LAB_A_USER",
        password_env="LAB_A_PASSWORD",
        timeout_s=3,
    )
    with pytest.raises(
        SourceUnavailable, match=rf"cannot connect to sftp://127\.0\.0\.1:{port}.*server is up"
    ):
        pull_source(src, tmp_path / "wh")


@pytest.fixture(scope="module")
def s3() -> Iterator[str]:
    with s3_server() as endpoint:
        yield endpoint


def _s3_source(endpoint: str, bucket: str, **kw: object) -> S3Source:
    return S3Source(
        name="lab-b",
        kind="s3",
        bucket=bucket,
        prefix="bct002/",
        endpoint_url=endpoint,
        region="us-east-1",
        access_key_env="LAB_B_KEY",
        secret_key_env="LAB_B_SECRET",
        timeout_s=5,
        **kw,  # type: ignore[arg-type]
    )


def _bucket(endpoint: str, name: str, files: dict[str, bytes]) -> None:
    import boto3

    c = boto3.client(
        "s3", endpoint_url=endpoint, region_name="us-east-1", aws_access_key_id="k", aws_secret_access_key="s"
    )
    c.create_bucket(Bucket=name)
    for k, v in files.items():
        c.put_object(Bucket=name, Key=k, Body=v)


def test_s3_copies_only_new_bytes_and_never_deletes(
    s3: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("LAB_B_KEY", "k")
    monkeypatch.setenv("LAB_B_SECRET", "s")
    _bucket(s3, "drops1", {"bct002/a.csv": b"AAA", "bct002/sub/b.csv": b"BBB", "other/c.csv": b"CCC"})
    wh = tmp_path / "wh"
    r = pull_source(_s3_source(s3, "drops1"), wh)
    assert (r.copied, r.skipped, r.deleted) == (2, 0, 0)
    assert _landed(wh, "lab-b") == {"a.csv": b"AAA", "sub/b.csv": b"BBB"}  # only under the prefix
    assert pull_source(_s3_source(s3, "drops1"), wh).copied == 0
    import boto3

    c = boto3.client(
        "s3", endpoint_url=s3, region_name="us-east-1", aws_access_key_id="k", aws_secret_access_key="s"
    )
    c.put_object(Bucket="drops1", Key="bct002/d.csv", Body=b"DDD")
    r = pull_source(_s3_source(s3, "drops1"), wh)
    assert (r.copied, r.skipped) == (1, 2)
    keys = {o["Key"] for o in c.list_objects_v2(Bucket="drops1")["Contents"]}
    assert keys == {"bct002/a.csv", "bct002/sub/b.csv", "bct002/d.csv", "other/c.csv"}  # nothing deleted
    ledger = (landing_dir(wh, "lab-b") / LEDGER_NAME).read_text()
    assert hashlib.sha256(b"DDD").hexdigest() in ledger


def test_s3_missing_bucket_and_dead_endpoint_are_named(
    s3: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("LAB_B_KEY", "k")
    monkeypatch.setenv("LAB_B_SECRET", "s")
    with pytest.raises(SourceUnavailable, match=r"'lab-b': cannot list s3://no-such-bucket/bct002"):
        pull_source(_s3_source(s3, "no-such-bucket"), tmp_path / "wh")
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        dead = f"http://127.0.0.1:{s.getsockname()[1]}"
    with pytest.raises(SourceUnavailable, match=r"'lab-b': cannot list"):
        pull_source(_s3_source(dead, "drops1"), tmp_path / "wh")
