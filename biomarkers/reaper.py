"""No child left behind: a watchdog process that stops what a command started when the command dies.

`biomarkers serve` starts children (verdict workers, Prefect's temporary server with an API and no login);
`biomarkers up` starts a Prefect server and a worker and, once everything is up, leaves them running on
purpose. Killed with SIGKILL, a process runs no cleanup of its own, so a tiny watchdog forked at start
holds the read end of a pipe whose write end only the command has: when the command ends in any way, the
pipe closes, and unless the command said "done, keep them" (``disarm``) the watchdog stops the process
groups it was told about — SIGTERM, then SIGKILL after a grace period.
"""

from __future__ import annotations

import contextlib
import ctypes
import os
import signal
import sys
import time

_PR_SET_PDEATHSIG = 1


class Reaper:
    def __init__(self, *, grace_s: float = 3.0) -> None:
        read, write = os.pipe()
        pid = os.fork()
        if pid == 0:  # the watchdog: nothing but reading the pipe and signalling
            os.close(write)
            _watch(read, grace_s)
            os._exit(0)
        os.close(read)
        self._write = write
        self.pid = pid

    def watch_group(self, pgid: int) -> None:
        """Stop this process group if the command dies."""
        os.write(self._write, f"{pgid}\n".encode())

    def disarm(self) -> None:
        """The command finished as intended: leave the groups running."""
        os.write(self._write, b"ok\n")


def die_with_parent() -> None:
    """For ``subprocess``'s ``preexec_fn``: the child gets SIGTERM when the process that started it ends in
    any way (Linux's parent-death signal; elsewhere nothing). For short commands run in the caller's own
    group, e.g. the Prefect CLI commands of `biomarkers up`."""
    if sys.platform.startswith("linux"):
        with contextlib.suppress(OSError, AttributeError):
            ctypes.CDLL(None, use_errno=True).prctl(_PR_SET_PDEATHSIG, signal.SIGTERM, 0, 0, 0)


def own_group() -> int:
    """Make this process the leader of its own process group (so signalling the group reaches only it and
    its children, never the shell or test runner that started it); returns the group ID."""
    if os.getpgid(0) != os.getpid():
        with contextlib.suppress(PermissionError):  # already a session leader
            os.setpgid(0, 0)
    return os.getpgid(0)


def _watch(read: int, grace_s: float) -> None:
    for sig in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP):
        signal.signal(
            sig, signal.SIG_IGN
        )  # a Ctrl-C or SIGTERM to the group must not stop the watchdog first
    groups: list[int] = []
    disarmed = False
    buf = b""
    while True:
        try:
            chunk = os.read(read, 4096)
        except InterruptedError:
            continue
        if not chunk:
            break
        buf += chunk
        *lines, buf = buf.split(b"\n")
        for line in lines:
            if line == b"ok":
                disarmed = True
            elif line.strip().isdigit():
                groups.append(int(line))
    if disarmed:
        return
    mine = os.getpgid(0)
    for sig in (signal.SIGTERM, signal.SIGKILL):
        for g in groups:
            if g == mine and sig == signal.SIGKILL:
                continue  # our own group last: it holds this watchdog
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.killpg(g, sig)
        if sig == signal.SIGTERM:
            time.sleep(grace_s)
    if mine in groups:
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(mine, signal.SIGKILL)
