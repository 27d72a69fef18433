"""Issue 14 item 8: infrastructure faults through the real command line (subprocesses, real DuckDB files,
real file systems). Each ends in one paragraph that names the problem and what to do, a non-zero exit code
and no traceback; the damaged database is found by `status` and `audit verify` and rebuilt from raw/.

Disk full and read-only use a real tmpfs (a small one, full or remounted read-only): that needs root with
the right to mount; elsewhere those two tests skip, saying so."""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.processes import cli_env, run

pytestmark = pytest.mark.integration


def fault(*args: str, env: dict[str, str]) -> str:
    """Run a command that must fail on a fault: its output, checked to be one short paragraph."""
    p = run(*args, env=env, ok=False)  # non-zero, no traceback
    text = p.stdout + p.stderr
    lines = [line for line in text.splitlines() if line.strip()]
    assert 1 <= len(lines) <= 6, text
    assert lines[0].startswith("error: "), text
    return " ".join(text.split())


@pytest.fixture(scope="module")
def env(tmp_path_factory: pytest.TempPathFactory, prefect_harness: str) -> dict[str, str]:
    return cli_env(tmp_path_factory.mktemp("faults"), columns=120, prefect_api_url=prefect_harness)


@pytest.fixture(scope="module")
def study(env: dict[str, str]) -> Path:
    from synth.generator import generate_study

    out = Path(env["BIOMARKERS_DATA"]) / "study"
    generate_study(out, seed=21, participants=8)
    return out


@pytest.fixture(scope="module")
def base(study: Path, env: dict[str, str]) -> Path:
    """A warehouse holding two exports (a plate-reader grid with its plate map, a Luminex file)."""
    inbox = Path(env["BIOMARKERS_DATA"]) / "first"
    inbox.mkdir()
    grid = sorted((study / "inbox").glob("*ELISA-*[0-9].txt"))[0]
    for p in (
        grid,
        grid.with_name(grid.stem + "_platemap.csv"),
        sorted((study / "inbox").glob("*LX-*.csv"))[0],
    ):
        shutil.copy(p, inbox / p.name)
    wh = Path(env["BIOMARKERS_DATA"]) / "base"
    run(
        "ingest",
        "--inbox",
        str(inbox),
        "--manifest",
        str(study / "manifest.csv"),
        "--warehouse",
        str(wh),
        env=env,
    )
    return wh


@pytest.fixture(scope="module")
def more(study: Path, env: dict[str, str]) -> Path:
    """An inbox with one export the base warehouse does not hold."""
    inbox = Path(env["BIOMARKERS_DATA"]) / "more"
    inbox.mkdir()
    p = sorted((study / "inbox").glob("*LX-*.csv"))[1]
    shutil.copy(p, inbox / p.name)
    return inbox


def _copy(base: Path, to: Path) -> Path:
    shutil.copytree(base, to, symlinks=True)
    return to


def _results(wh: Path, env: dict[str, str]) -> str:
    sql = (
        "select result_id, sample_id, analyte, plate_id, qualifier, conc_pg_ml, flags "
        "from results order by result_id"
    )
    return run("query", sql, "--format", "csv", "--warehouse", str(wh), env=env).stdout


@pytest.fixture
def tmpfs(tmp_path: Path) -> Iterator[Path]:
    """A 24 MB tmpfs (unmounted afterwards)."""
    where = tmp_path / "mnt"
    where.mkdir()
    if os.geteuid() != 0 or shutil.which("mount") is None:
        pytest.skip("mounting a small tmpfs needs root: the disk-full and read-only tests need one")
    p = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=24m", "tmpfs", str(where)], capture_output=True)
    if p.returncode != 0:
        pytest.skip(f"this machine does not allow mount -t tmpfs ({p.stderr.decode().strip()})")
    try:
        yield where
    finally:
        subprocess.run(["umount", "-l", str(where)], check=False)


def test_a_bad_manifest_is_its_message_only(
    study: Path, more: Path, tmp_path: Path, env: dict[str, str]
) -> None:
    """It stopped the run after two Prefect tracebacks (65 lines) although its message was precise."""
    bad = tmp_path / "manifest.csv"
    lines = (study / "manifest.csv").read_text().splitlines()
    bad.write_text("\n".join([*lines[:5], "CSF-GARBAGE,,,,,,,,,,"]) + "\n")
    said = fault(
        "ingest", "--inbox", str(more), "--manifest", str(bad), "--warehouse", str(tmp_path / "w"), env=env
    )
    assert "manifest.csv, line 6: participant_id" in said and "fill it in" in said
    assert not (tmp_path / "w" / "ingest.duckdb").exists()


def test_a_missing_warehouse_is_not_created_on_a_missing_disk(
    study: Path, more: Path, tmp_path: Path, env: dict[str, str]
) -> None:
    gone = tmp_path / "unmounted-share" / "warehouse"
    said = fault(
        "ingest",
        "--inbox",
        str(more),
        "--manifest",
        str(study / "manifest.csv"),
        "--warehouse",
        str(gone),
        env=env,
    )
    assert f"the warehouse folder {gone} does not exist" in said and "mounted" in said
    assert not gone.parent.exists()


def test_a_lost_database_is_not_started_afresh(
    base: Path, study: Path, more: Path, tmp_path: Path, env: dict[str, str]
) -> None:
    """raw/ holds files but ingest.duckdb is gone: a new empty database would re-load the inbox as if
    nothing had been received; the run refuses and says how to rebuild."""
    wh = _copy(base, tmp_path / "wh")
    (wh / "ingest.duckdb").unlink()
    m = str(study / "manifest.csv")
    said = fault("ingest", "--inbox", str(more), "--manifest", m, "--warehouse", str(wh), env=env)
    assert "no database (ingest.duckdb is missing)" in said and "biomarkers rebuild" in said
    assert "biomarkers rebuild" in fault("status", "--warehouse", str(wh), env=env)
    assert not (wh / "ingest.duckdb").exists()


def _damage(db: Path, how: str) -> None:
    data = bytearray(db.read_bytes())
    if how == "header":
        data[:8192] = bytes(8192)
    else:  # garbage written into every 256 kB block past the headers (a failing disk)
        for at in range(12288 + 100, len(data), 262144):
            data[at : at + 400] = b"\xde\xad" * 200
    db.write_bytes(bytes(data))


@pytest.mark.parametrize("how", ["header", "blocks"])
def test_a_damaged_database_is_found_by_status_verify_and_ingest(
    base: Path, study: Path, more: Path, tmp_path: Path, env: dict[str, str], how: str
) -> None:
    """`status` and `audit verify` called a corrupt ingest.duckdb healthy."""
    wh = _copy(base, tmp_path / "wh")
    _damage(wh / "ingest.duckdb", how)
    for args in (("status",), ("audit", "verify")):
        said = fault(*args, "--warehouse", str(wh), env=env)
        assert f"the warehouse database {wh / 'ingest.duckdb'} is damaged" in said
        assert f"biomarkers rebuild --warehouse {wh}" in said
    m = str(study / "manifest.csv")
    assert "is damaged" in fault(
        "ingest", "--inbox", str(more), "--manifest", m, "--warehouse", str(wh), env=env
    )


def test_a_damaged_database_is_rebuilt_from_raw_with_the_same_results(
    base: Path, study: Path, tmp_path: Path, env: dict[str, str]
) -> None:
    """The documented cure (docs/integrity-faults.md): `biomarkers rebuild` sets the damaged file aside
    and re-ingests raw/ in load order; the current results are the same, the audit trail verifies."""
    before = _results(base, env)
    wh = _copy(base, tmp_path / "wh")
    damaged = (wh / "ingest.duckdb").read_bytes()
    _damage(wh / "ingest.duckdb", "header")
    run("rebuild", "--warehouse", str(wh), "--manifest", str(study / "manifest.csv"), env=env)
    assert _results(wh, env) == before and before.count("\n") > 100
    assert "audit trail intact" in run("audit", "verify", "--warehouse", str(wh), env=env).stdout
    said = " ".join(run("status", "--warehouse", str(wh), env=env).stdout.split())
    assert "whole (every table read through)" in said
    [aside] = wh.glob("damaged-*")
    assert (aside / "ingest.duckdb").read_bytes()[8192:] == damaged[8192:]  # kept, never deleted
    assert "nothing to rebuild" in fault("rebuild", "--warehouse", str(wh), env=env)


def test_an_unreachable_prefect_server(study: Path, more: Path, tmp_path: Path, env: dict[str, str]) -> None:
    with socket.socket() as s:  # a port nobody listens on
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    url = f"http://127.0.0.1:{port}/api"
    m = str(study / "manifest.csv")
    said = fault(
        "ingest", "--inbox", str(more), "--manifest", m, "--warehouse", str(tmp_path / "w"),
        env={**env, "PREFECT_API_URL": url},
    )  # fmt: skip
    assert f"the Prefect server at {url} cannot be reached" in said and "unset PREFECT_API_URL" in said


def test_a_read_only_warehouse(base: Path, study: Path, more: Path, tmpfs: Path, env: dict[str, str]) -> None:
    wh = _copy(base, tmpfs / "wh")
    subprocess.run(["mount", "-o", "remount,ro", str(tmpfs)], check=True)
    m = str(study / "manifest.csv")
    said = fault("ingest", "--inbox", str(more), "--manifest", m, "--warehouse", str(wh), env=env)
    assert "the warehouse is on a read-only file system" in said and "writable" in said
    said = " ".join(run("status", "--warehouse", str(wh), env=env).stdout.split())
    assert "whole (every table read through)" in said  # reading still works


def test_a_full_disk_rolls_back_and_the_next_run_carries_on(
    base: Path, study: Path, more: Path, tmpfs: Path, env: dict[str, str]
) -> None:
    """It printed 184 lines and six tracebacks. The disk is filled to 150 kB of free space: the new file's
    load cannot be written."""
    wh = _copy(base, tmpfs / "wh")
    free = shutil.disk_usage(tmpfs).free
    filler = tmpfs / "filler"
    with open(filler, "wb") as fh:
        fh.truncate(0)
        fh.write(b"\0" * (free - 150 * 1024))
    m = str(study / "manifest.csv")
    said = fault("ingest", "--inbox", str(more), "--manifest", m, "--warehouse", str(wh), env=env)
    assert "the disk holding the warehouse is full" in said and "Free space" in said
    filler.unlink()
    run("ingest", "--inbox", str(more), "--manifest", m, "--warehouse", str(wh), env=env)
    assert "audit trail intact" in run("audit", "verify", "--warehouse", str(wh), env=env).stdout
    n = run(
        "query",
        "select count(distinct source_file) n from results",
        "--format",
        "csv",
        "--warehouse",
        str(wh),
        env=env,
    )
    assert n.stdout.split() == ["n", "3"]  # the two of base, and the new one
