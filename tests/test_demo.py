"""`biomarkers demo` never loses a file it did not write, and its terminal output fits a screen.

The real command line is run as a subprocess (what `make demo` runs) with ``BIOMARKERS_DATA`` pointing at
a temporary folder: the default inbox of `ingest` and of the nightly run is ``<data>/inbox``, the demo's
folder ``<data>/demo``.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent
BIN = Path(sys.executable).parent / "biomarkers"


def run_cli(
    data: Path, *args: str, columns: int = 80, timeout: int = 900
) -> subprocess.CompletedProcess[str]:
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith("BIOMARKERS_") or k in ("BIOMARKERS_CORPUS", "BIOMARKERS_ALLOTROPY_FALLBACK")
    }
    env.update(
        BIOMARKERS_DATA=str(data),
        COLUMNS=str(columns),
        LINES="50",
        TERM="dumb",
        PREFECT_HOME=str(data / "prefect"),
    )
    return subprocess.run(
        [str(BIN), *args], cwd=data, env=env, capture_output=True, text=True, timeout=timeout, check=False
    )


def test_a_file_in_the_default_inbox_survives_the_demo_twice(tmp_path: Path) -> None:
    data = tmp_path / "data"
    inbox = data / "inbox"
    inbox.mkdir(parents=True)
    mine = inbox / "LAB-A-plate-7.csv"
    mine.write_bytes(b"my export, not the demo's\n")
    for _ in range(2):
        r = run_cli(data, "demo", "--participants", "6")
        assert r.returncode == 0, r.stdout + r.stderr
        assert mine.read_bytes() == b"my export, not the demo's\n"
    assert sorted(p.name for p in inbox.iterdir()) == ["LAB-A-plate-7.csv"]
    assert (data / "demo" / "warehouse" / "analyst.duckdb").is_file()
    assert not (data / "warehouse").exists(), "the demo wrote into the real warehouse"


def test_the_demo_refuses_to_delete_a_file_it_did_not_write(tmp_path: Path) -> None:
    data = tmp_path / "data"
    r = run_cli(data, "demo", "--participants", "6")
    assert r.returncode == 0, r.stdout + r.stderr
    demo_inbox = data / "demo" / "study" / "inbox"
    generated = sorted(p.name for p in demo_inbox.iterdir())
    theirs = demo_inbox / "dropped-here-by-mistake.csv"
    theirs.write_text("someone's export\n")
    changed = demo_inbox / generated[0]
    changed.write_bytes(changed.read_bytes() + b"\n")

    again = run_cli(data, "demo", "--participants", "6")
    assert again.returncode == 1
    message = " ".join(again.stderr.split())
    assert "dropped-here-by-mistake.csv" in message and generated[0] in message
    assert "Nothing was deleted" in message
    assert "Traceback" not in again.stderr
    assert theirs.read_text() == "someone's export\n"
    assert sorted(p.name for p in demo_inbox.iterdir()) == sorted([*generated, theirs.name])


def test_ingest_defaults_are_not_the_demo(tmp_path: Path) -> None:
    """`ingest` with no options reads <data>/inbox and <data>/manifests, and says what is missing."""
    data = tmp_path / "data"
    data.mkdir()
    r = run_cli(data, "ingest")
    assert r.returncode == 1
    message = " ".join(r.stderr.split())
    assert f"no sample manifest at {data / 'manifests'}" in message
    assert (data / "inbox").is_dir()  # the default inbox is created, empty, for the user to fill


@pytest.fixture(scope="module")
def full_demo(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, str]:
    """`biomarkers demo` with the default study, at 80 columns (shared by the docs-snippet test)."""
    data = tmp_path_factory.mktemp("demo") / "data"
    data.mkdir()
    r = run_cli(data, "demo")
    assert r.returncode == 0, r.stdout + r.stderr
    return data, r.stdout + r.stderr


def test_the_demo_output_fits_80_columns_and_60_lines(full_demo: tuple[Path, str]) -> None:
    _, text = full_demo
    lines = text.rstrip("\n").splitlines()
    assert len(lines) <= 60, f"{len(lines)} lines:\n{text}"
    assert max(len(line) for line in lines) <= 80
    # the counts add up: every file seen is a new export, a plate map or already known
    seen = next(line for line in lines if "files seen" in line)
    numbers = [
        int(w.replace(",", "")) for w in seen.replace(":", " ").split() if w.replace(",", "").isdigit()
    ]
    assert numbers[0] == sum(numbers[1:]), seen
    assert "Needs attention" in text and "biomarkers attention" in text
