"""Processes in tests, written once: the `biomarkers` command run as a user runs it (a real subprocess, never
a traceback), and the process tree a command leaves, read from Linux /proc — for the tests that stop a
command with a signal and check, PID by PID, that nothing it started is still running."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from collections.abc import Iterable, Mapping
from pathlib import Path

BIN = Path(sys.executable).parent / "biomarkers"

# Locations a caller's environment may set that would send a test's command to someone else's data.
_OUTSIDE = ("BIOMARKERS_WAREHOUSE", "BIOMARKERS_INBOX", "BIOMARKERS_MANIFEST", "PREFECT_API_URL")


def cli_env(
    data: Path, *, columns: int = 200, prefect_api_url: str | None = None, **extra: str
) -> dict[str, str]:
    """The environment of a user whose data folder is ``data`` (a test's own), with ``extra`` variables:
    the locations the caller's environment may name are removed, so defaults fall inside ``data``. The
    commands report to ``prefect_api_url`` (the session's server, the ``prefect_harness`` fixture); without
    it, to none the caller named: each starts its own temporary Prefect server."""
    env = {k: v for k, v in os.environ.items() if k not in _OUTSIDE}
    env.update(BIOMARKERS_DATA=str(data), COLUMNS=str(columns), **extra)
    if prefect_api_url:
        env["PREFECT_API_URL"] = prefect_api_url
    return env


def run(
    *args: str, env: Mapping[str, str], ok: bool = True, timeout: float = 600
) -> subprocess.CompletedProcess[str]:
    """``biomarkers ARGS``: never a traceback; exit 0 when ``ok``, non-zero when not."""
    p = subprocess.run([str(BIN), *args], capture_output=True, text=True, env=dict(env), timeout=timeout)
    out = p.stdout + p.stderr
    assert "Traceback" not in out, out
    assert (p.returncode == 0) is ok, f"exit {p.returncode}:\n{out}"
    return p


def alive(pid: int) -> bool:
    """Running (a zombie has exited: only its parent has not collected it yet)."""
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0] != "Z"
    except (OSError, IndexError):
        return False


def children() -> dict[int, list[int]]:
    """Every process's children, by parent PID (one pass over /proc)."""
    kids: dict[int, list[int]] = {}
    for d in Path("/proc").iterdir():
        if d.name.isdigit():
            try:
                ppid = int((d / "stat").read_text().rsplit(")", 1)[1].split()[1])
            except (OSError, IndexError, ValueError):
                continue
            kids.setdefault(ppid, []).append(int(d.name))
    return kids


def descendants(pid: int) -> set[int]:
    """Children, their children and so on, as they are now."""
    kids, out, todo = children(), set(), [pid]
    while todo:
        for k in kids.get(todo.pop(), []):
            if k not in out:
                out.add(k)
                todo.append(k)
    return out


def cmdline(pid: int) -> str:
    """The process's command line ("" once it has gone), for a failure message."""
    try:
        return Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace").strip()
    except OSError:
        return ""


def still_running(pids: Iterable[int], *, within: float = 15) -> list[str]:
    """Waits up to ``within`` seconds for ``pids`` to end; those still running, as "PID: command" (empty
    when all ended)."""
    deadline = time.monotonic() + within
    left = [p for p in pids if alive(p)]
    while left and time.monotonic() < deadline:
        time.sleep(0.2)
        left = [p for p in left if alive(p)]
    return [f"{p}: {cmdline(p)[:120]}" for p in left]
