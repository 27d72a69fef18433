"""The watchdog that stops what a command started when the command dies (biomarkers/reaper.py): checked
by PID with SIGKILL (no cleanup code can run) and SIGTERM, and left alone once disarmed (`biomarkers up`)."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time

import pytest

from tests.processes import alive

pytestmark = pytest.mark.integration

COMMAND = """
import subprocess, sys, time
from biomarkers.reaper import Reaper
r = Reaper(grace_s=0.5)
child = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(300)"], start_new_session=True)
r.watch_group(child.pid)
if sys.argv[1] == "disarm":
    r.disarm()
print(child.pid, flush=True)
time.sleep(300)
"""


@pytest.mark.parametrize(("sig", "mode", "survives"), [
    (signal.SIGKILL, "armed", False),
    (signal.SIGTERM, "armed", False),
    (signal.SIGKILL, "disarm", True),
])  # fmt: skip
def test_children_end_with_the_command_unless_disarmed(
    sig: signal.Signals, mode: str, survives: bool
) -> None:
    proc = subprocess.Popen([sys.executable, "-c", COMMAND, mode], stdout=subprocess.PIPE, text=True)
    assert proc.stdout is not None
    child = int(proc.stdout.readline())
    try:
        assert alive(child)
        os.kill(proc.pid, sig)
        proc.wait(timeout=30)
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline and alive(child) and not survives:
            time.sleep(0.2)
        time.sleep(1.0 if survives else 0)
        assert alive(child) is survives
    finally:
        if alive(child):
            os.killpg(child, signal.SIGKILL)
