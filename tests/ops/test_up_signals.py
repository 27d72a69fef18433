"""`biomarkers up` stopped with SIGTERM or SIGKILL leaves no process behind (issue 15 point 6), tried for
real: the command is started as an operator runs it, and signalled once its Prefect server answers while
it is still configuring the stack (work pool, concurrency limit, `prefect deploy`). Every descendant
recorded just before the signal — the server's process group, the Prefect CLI command running at that
moment, the watchdog — must be gone, checked by PID. (Once `up` has finished, the server and worker stay
up on purpose: `biomarkers down` stops them.)"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import time
import urllib.request
from pathlib import Path

import pytest

from biomarkers.stack import free_port, prefect_exe, stack_env
from tests.processes import BIN, alive, children, descendants, still_running

pytestmark = pytest.mark.integration


def _cli_children(up: int, server: int) -> set[int]:
    """`up`'s children running the Prefect CLI (not the server, which leads its own group)."""
    out = set()
    for pid in children().get(up, []):
        try:
            if b"prefect" in Path(f"/proc/{pid}/cmdline").read_bytes() and os.getpgid(pid) != server:
                out.add(pid)
        except OSError:
            continue
    return out


def _healthy(home: Path) -> bool:
    try:
        port = json.loads((home / "stack.json").read_text())["port"]
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/api/health", timeout=2) as r:
            return bool(r.status == 200)
    except (OSError, ValueError, KeyError):
        return False


@pytest.fixture(scope="module")
def home(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """One Prefect home for both signals, its database created first (`prefect server database upgrade`,
    the slow part of a first start): each `up` then starts the server as on every later start — the
    smallest real stack."""
    home = tmp_path_factory.mktemp("up") / "prefect"
    home.mkdir()
    done = subprocess.run(
        [prefect_exe(), "--no-prompt", "server", "database", "upgrade", "-y"],
        env=stack_env(home, None),
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    return home


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGKILL], ids=["SIGTERM", "SIGKILL"])
def test_up_stopped_by_a_signal_leaves_no_process(home: Path, tmp_path: Path, sig: signal.Signals) -> None:
    env = {k: v for k, v in os.environ.items() if k != "PREFECT_API_URL"}
    env["BIOMARKERS_DATA"] = str(tmp_path / "data")
    env["PREFECT_UI_ENABLED"] = "false"  # the smallest real stack: no UI files copied at start
    proc = subprocess.Popen(
        [
            str(BIN),
            "up",
            "--home",
            str(home),
            "--port",
            str(free_port()),
        ],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        start_new_session=True,  # as from a shell: its own group (the test runner is not in it)
    )
    tree: set[int] = set()
    try:
        deadline = time.monotonic() + 240
        while not _healthy(home):
            assert proc.poll() is None, proc.communicate()[0].decode(errors="replace")
            assert time.monotonic() < deadline, "the Prefect server did not answer in 240 s"
            time.sleep(0.3)
        server = json.loads((home / "stack.json").read_text())["server_pid"]
        # then wait for a Prefect CLI command of the configuring step (work pool, limit, deploy): a child
        # of `up` in its own group, not the server's
        while not (cli := _cli_children(proc.pid, server)):
            assert proc.poll() is None, proc.communicate()[0].decode(errors="replace")
            assert time.monotonic() < deadline, "no `prefect` command was started after the server"
            time.sleep(0.1)
        tree = descendants(proc.pid)
        assert server in tree and cli <= tree and proc.poll() is None, "`up` finished before the signal"
        signalled = time.monotonic()
        os.kill(proc.pid, sig)
        proc.wait(timeout=30)
        # the watchdog's SIGTERM, its grace period (3 s), then SIGKILL: well within 15 s
        left = still_running(tree, within=max(0.0, signalled + 15 - time.monotonic()))
        assert not left, f"still running 15 s after {sig.name} of `biomarkers up`: {left}"
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
        for p in tree:
            if alive(p):
                os.kill(p, signal.SIGKILL)
