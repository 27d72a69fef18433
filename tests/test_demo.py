"""`biomarkers demo` never loses a file it did not write, and its terminal output fits a screen.

The real command line is run as a subprocess (what `make demo` runs) with ``BIOMARKERS_DATA`` pointing at
a temporary folder: the default inbox of `ingest` and of the nightly run is ``<data>/inbox``, the demo's
folder ``<data>/demo``.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = pytest.mark.integration

REPO = Path(__file__).resolve().parent.parent
BIN = Path(sys.executable).parent / "biomarkers"


def run_cli(
    data: Path, *args: str, columns: int = 80, timeout: int = 900, api_url: str | None = None
) -> subprocess.CompletedProcess[str]:
    """``api_url``: a running Prefect server; without one the command starts its own temporary server, as
    `make demo` does on a user's machine."""
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
        PREFECT_SERVER_EPHEMERAL_STARTUP_TIMEOUT_SECONDS="600",  # two shared cores under load
    )
    env.pop("PREFECT_API_URL", None)
    if api_url:
        env["PREFECT_API_URL"] = api_url
    return subprocess.run(
        [str(BIN), *args],
        cwd=data.parent,
        env=env,
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )


def test_the_demo_never_deletes_a_file_it_did_not_write(tmp_path: Path, prefect_harness: str) -> None:
    """`make demo` twice keeps a user's file in the default inbox; a third demo, after someone dropped a file
    into the demo's own folder and changed one of its files, refuses and deletes nothing.

    One folder for the three runs: each demo costs ~30 s, and the third is the second's sequel. They report
    to the session's Prefect server (the full demo below starts its own, as `make demo` does)."""
    data = tmp_path / "data"
    inbox = data / "inbox"
    inbox.mkdir(parents=True)
    mine = inbox / "LAB-A-plate-7.csv"
    mine.write_bytes(b"my export, not the demo's\n")
    for _ in range(2):
        r = run_cli(data, "demo", "--participants", "6", api_url=prefect_harness)
        assert r.returncode == 0, r.stdout + r.stderr
        assert mine.read_bytes() == b"my export, not the demo's\n"
    assert sorted(p.name for p in inbox.iterdir()) == ["LAB-A-plate-7.csv"]
    assert (data / "demo" / "warehouse" / "analyst" / "analyst.duckdb").is_file()
    assert not (data / "warehouse").exists(), "the demo wrote into the real warehouse"

    demo_inbox = data / "demo" / "study" / "inbox"
    generated = sorted(p.name for p in demo_inbox.iterdir())
    theirs = demo_inbox / "dropped-here-by-mistake.csv"
    theirs.write_text("someone's export\n")
    changed = demo_inbox / generated[0]
    changed.write_bytes(changed.read_bytes() + b"\n")

    again = run_cli(data, "demo", "--participants", "6", api_url=prefect_harness)
    assert again.returncode == 1
    message = " ".join(again.stderr.split())
    assert "dropped-here-by-mistake.csv" in message and generated[0] in message
    assert "Nothing was deleted" in message
    assert "Traceback" not in again.stderr
    assert theirs.read_text() == "someone's export\n"
    assert sorted(p.name for p in demo_inbox.iterdir()) == sorted([*generated, theirs.name])
    assert mine.read_bytes() == b"my export, not the demo's\n"


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


# --- every shell and Python snippet of the README and docs/ runs against the demo's warehouse -------------

DOCS = [REPO / "README.md", *sorted((REPO / "docs").glob("*.md"))]
FENCE = re.compile(r"^( *)```(\w*)\n(.*?)^\1```$", re.M | re.S)
SKIP = re.compile(r"<!-- snippet: skip \((.+)\) -->\s*$")
RUNNERS = {"sh": "bash", "bash": "bash", "shell": "bash", "python": "python"}


def snippets(doc: Path) -> list[tuple[int, str, str, str | None]]:
    """(line, language, code, skip reason) of every fenced block of a language we run."""
    text = doc.read_text(encoding="utf-8")
    found = []
    for m in FENCE.finditer(text):
        lang = m.group(2).lower()
        if lang not in RUNNERS:
            continue
        line = text.count("\n", 0, m.start()) + 1
        before = text[: m.start()].rstrip("\n").rsplit("\n", 1)[-1]
        skip = SKIP.search(before)
        code = "\n".join(x[len(m.group(1)) :] for x in m.group(3).splitlines())
        found.append((line, RUNNERS[lang], code, skip.group(1) if skip else None))
    return found


def test_every_doc_has_its_snippets_found() -> None:
    counted = {d.name: len(snippets(d)) for d in DOCS}
    assert counted["README.md"] >= 2 and counted["analysts.md"] >= 3, counted
    for d in DOCS:
        for line, _, _, reason in snippets(d):
            assert reason is None or len(reason) > 10, f"{d.name}:{line}: a skip needs its reason"


@pytest.mark.parametrize("doc", DOCS, ids=lambda d: d.name)
def test_doc_snippets_run_against_the_demo(
    doc: Path, full_demo: tuple[Path, str], prefect_harness: str
) -> None:
    """A snippet that runs a flow (`biomarkers ingest`) reports to the session's Prefect server."""
    data, _ = full_demo
    work = data.parent
    if not (work / ".venv").exists():
        (work / ".venv").symlink_to(REPO / ".venv")
    env = {k: v for k, v in os.environ.items() if not k.startswith("BIOMARKERS_")}
    env.update(
        PATH=f"{REPO / '.venv' / 'bin'}{os.pathsep}{os.environ['PATH']}",
        BIOMARKERS_DATA=str(data),
        BIOMARKERS_WAREHOUSE=str(data / "demo" / "warehouse"),
        BIOMARKERS_ALLOTROPY_FALLBACK="0",
        PREFECT_HOME=str(data / "prefect"),
        PREFECT_API_URL=prefect_harness,
        COLUMNS="100",
    )
    ran = 0
    for line, runner, code, skip in snippets(doc):
        if skip:
            continue
        cmd = ["bash", "-e", "-c", code] if runner == "bash" else [sys.executable, "-c", code]
        r = subprocess.run(cmd, cwd=work, env=env, capture_output=True, text=True, timeout=900, check=False)
        where = f"{doc.name}:{line}"
        assert r.returncode == 0, f"{where} failed:\n{code}\n--- stdout\n{r.stdout}\n--- stderr\n{r.stderr}"
        assert "Traceback" not in r.stderr, f"{where}:\n{r.stderr}"
        ran += 1
    if not snippets(doc):
        pytest.skip(f"{doc.name} has no shell or Python snippet")


def test_participant_ids_in_the_docs_exist_in_the_demo(full_demo: tuple[Path, str]) -> None:
    """The examples filter on IDs the demo has (a filter on an unknown ID returns 0 rows and teaches
    nothing)."""
    import duckdb

    data, _ = full_demo
    ids = {m for d in DOCS for m in re.findall(r"BCT-\d\d-\d{4,}", d.read_text(encoding="utf-8"))}
    assert ids
    con = duckdb.connect(str(data / "demo" / "warehouse" / "analyst" / "analyst.duckdb"), read_only=True)
    for pid in sorted(ids):
        n = con.execute("select count(*) from results where participant_id = ?", [pid]).fetchall()[0][0]
        assert n > 0, f"{pid} (quoted in the docs) has no result in the demo"
