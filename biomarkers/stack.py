"""The local Prefect stack the nightly schedule runs on: server (SQLite, loopback, no analytics), the
process work pool, the writer concurrency limit, the deployments of ``prefect.yaml``, and a worker.

Driven through Prefect's own CLI, exactly as an operator would type it, so what ``biomarkers up`` does is
what the README tells someone to do by hand. The processes started are recorded in
``<home>/stack.json``; ``biomarkers down`` stops those process groups and nothing else.
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import yaml

from schemas.operations import Operations
from schemas.settings import REPO_ROOT, RUNS_FROM_CHECKOUT

# The deployments and the worker's working directory are the source checkout's (prefect.yaml's entrypoint
# is flows/ingest.py, relative to it): the stack is run from a checkout, never from an installed wheel.
PREFECT_YAML = REPO_ROOT / "prefect.yaml"
STATE_FILE = "stack.json"


class StackError(Exception):
    """The stack could not be started or configured; the message says which step and shows its output."""


@dataclass
class Stack:
    home: str
    port: int
    server_pid: int
    worker_pid: int | None = None

    @property
    def api_url(self) -> str:
        return f"http://127.0.0.1:{self.port}/api"

    @property
    def ui_url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def env(self) -> dict[str, str]:
        return stack_env(Path(self.home), self.api_url)

    def save(self) -> None:
        (Path(self.home) / STATE_FILE).write_text(json.dumps(asdict(self), indent=1), encoding="utf-8")

    @classmethod
    def load(cls, home: Path) -> Stack | None:
        p = Path(home) / STATE_FILE
        return cls(**json.loads(p.read_text(encoding="utf-8"))) if p.is_file() else None


def stack_env(home: Path, api_url: str | None) -> dict[str, str]:
    env = dict(os.environ)
    env.update(
        PREFECT_HOME=str(home),
        PREFECT_SERVER_ANALYTICS_ENABLED="false",
        DO_NOT_TRACK="1",
        BIOMARKERS_REPO=str(REPO_ROOT),  # prefect.yaml's pull step: where the worker runs the flow from
    )
    if api_url:
        env["PREFECT_API_URL"] = api_url
    else:
        env.pop("PREFECT_API_URL", None)
    return env


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def prefect_exe() -> str:
    exe = Path(sys.executable).parent / "prefect"
    return str(exe) if exe.exists() else "prefect"


def prefect(args: list[str], env: dict[str, str], *, timeout: float = 120) -> str:
    """Run one Prefect CLI command; StackError with its output when it fails."""
    from biomarkers.reaper import die_with_parent

    cmd = [prefect_exe(), "--no-prompt", *args]
    try:
        r = subprocess.run(  # ends with us: `up` killed mid-`prefect deploy` leaves no CLI process behind
            cmd,
            env=env,
            cwd=REPO_ROOT,
            capture_output=True,
            text=True,
            timeout=timeout,
            check=False,
            preexec_fn=die_with_parent,  # only a prctl: safe even with threads
        )
    except subprocess.TimeoutExpired:
        raise StackError(f"`prefect {' '.join(args)}` did not finish within {timeout:.0f} s") from None
    if r.returncode != 0:
        tail = "\n".join((r.stdout + r.stderr).strip().splitlines()[-15:])
        raise StackError(f"`prefect {' '.join(args)}` failed (exit {r.returncode}):\n{tail}")
    return r.stdout


def _spawn(cmd: list[str], env: dict[str, str], log: Path) -> subprocess.Popen[bytes]:
    log.parent.mkdir(parents=True, exist_ok=True)
    with open(log, "ab") as fh:
        # Own session = own process group: `down` (and the tests) stop exactly this tree.
        return subprocess.Popen(
            cmd, env=env, cwd=REPO_ROOT, stdout=fh, stderr=subprocess.STDOUT, start_new_session=True
        )


def start_server(home: Path, port: int) -> subprocess.Popen[bytes]:
    home.mkdir(parents=True, exist_ok=True)
    cmd = [prefect_exe(), "server", "start", "--host", "127.0.0.1", "--port", str(port), "--analytics-off"]
    return _spawn(cmd, stack_env(home, None), home / "server.log")


def wait_healthy(api_url: str, proc: subprocess.Popen[bytes], log: Path, *, timeout: float = 120) -> float:
    """Seconds until the API answered; StackError (with the log's tail) if the server died or is slow."""
    started = time.monotonic()
    while time.monotonic() - started < timeout:
        if proc.poll() is not None:
            raise StackError(f"the Prefect server exited (code {proc.returncode}):\n{_tail(log)}")
        try:
            with urllib.request.urlopen(f"{api_url}/health", timeout=2) as r:
                if r.status == 200:
                    return time.monotonic() - started
        except OSError:
            pass
        time.sleep(0.3)
    raise StackError(f"the Prefect server did not answer at {api_url} within {timeout:.0f} s:\n{_tail(log)}")


def _tail(log: Path, n: int = 20) -> str:
    try:
        return "\n".join(log.read_text(errors="replace").splitlines()[-n:])
    except OSError:
        return "(no log)"


def schedule_mismatches(ops: Operations, prefect_yaml: Path = PREFECT_YAML) -> list[str]:
    """Where prefect.yaml disagrees with config/operations.yaml (schedule, pool); empty when they agree."""
    doc: Any = yaml.safe_load(prefect_yaml.read_text(encoding="utf-8"))
    deployments = {d["name"]: d for d in doc.get("deployments") or []}
    problems: list[str] = []
    nightly = deployments.get("nightly")
    if nightly is None:
        return ["prefect.yaml has no `nightly` deployment"]
    scheds = nightly.get("schedules") or []
    want = (ops.schedule.cron, ops.schedule.timezone)
    got = [(s.get("cron"), s.get("timezone")) for s in scheds]
    if got != [want]:
        problems.append(f"nightly schedule in prefect.yaml is {got}, config/operations.yaml says [{want}]")
    for name, d in deployments.items():
        pool = (d.get("work_pool") or {}).get("name")
        if pool != ops.work_pool:
            problems.append(f"deployment {name} uses work pool {pool!r}, config says {ops.work_pool!r}")
    return problems


def configure(env: dict[str, str], ops: Operations) -> None:
    """Work pool, writer concurrency limit, deployments: idempotent, safe to run against a live server."""
    problems = schedule_mismatches(ops)
    if problems:
        raise StackError(
            "prefect.yaml and config/operations.yaml disagree; edit prefect.yaml to match:\n  "
            + "\n  ".join(problems)
        )
    prefect(["work-pool", "create", ops.work_pool, "--type", "process", "--overwrite"], env)
    name = ops.writer_lock.prefect_limit
    if name:
        try:
            prefect(["gcl", "inspect", name], env)
        except StackError:
            prefect(["gcl", "create", name, "--limit", "1"], env)
    prefect(["deploy", "--all"], env, timeout=300)


def start_worker(env: dict[str, str], pool: str, home: Path) -> subprocess.Popen[bytes]:
    cmd = [
        prefect_exe(),
        "worker",
        "start",
        "--pool",
        pool,
        "--type",
        "process",
        "--name",
        "biomarkers-worker",
    ]
    return _spawn(cmd, env, home / "worker.log")


def up(home: Path, ops: Operations, *, port: int | None = None, worker: bool = True) -> Stack:
    """Start (or reuse) the server, configure it, start a worker; the stack is recorded for `down`."""
    from biomarkers.reaper import Reaper

    if not RUNS_FROM_CHECKOUT or not PREFECT_YAML.is_file():
        raise StackError(
            f"`biomarkers up` deploys prefect.yaml from a source checkout of the project (the worker runs "
            f"flows/ingest.py from there), and {PREFECT_YAML} does not exist: run it from a clone of the "
            "repository, or deploy prefect.yaml yourself (docs/operations.md)"
        )
    home = home.resolve()
    # killed (SIGTERM, SIGKILL) before the stack is complete, `up` leaves nothing it started running;
    # once complete, the server and worker stay up on purpose (`biomarkers down` stops them)
    reaper = Reaper()
    running = Stack.load(home)
    if running and _alive(running.server_pid):
        stack = running
    else:
        port = port or 4200
        proc = start_server(home, port)
        reaper.watch_group(proc.pid)  # start_new_session: its PID is its group
        stack = Stack(home=str(home), port=port, server_pid=proc.pid)
        stack.save()
        try:
            wait_healthy(stack.api_url, proc, home / "server.log")
        except StackError:
            down(home)
            raise
    configure(stack.env(), ops)
    if worker and not (stack.worker_pid and _alive(stack.worker_pid)):
        stack.worker_pid = start_worker(stack.env(), ops.work_pool, home).pid
        reaper.watch_group(stack.worker_pid)
        stack.save()
    reaper.disarm()
    return stack


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def stop_group(pid: int, *, grace_s: float = 10) -> bool:
    """SIGTERM the process group we started (leader ``pid``), SIGKILL after the grace period."""
    try:
        os.killpg(pid, signal.SIGTERM)
    except ProcessLookupError:
        return False
    deadline = time.monotonic() + grace_s
    while time.monotonic() < deadline:
        try:
            os.killpg(pid, 0)
        except ProcessLookupError:
            return True
        _reap(pid)
        time.sleep(0.2)
    with contextlib.suppress(OSError):
        os.killpg(pid, signal.SIGKILL)
    _reap(pid)
    return True


def _reap(pid: int) -> None:
    """Collect our own exited child (when `up` ran in this process) so it does not linger as a zombie."""
    with contextlib.suppress(OSError):
        os.waitpid(pid, os.WNOHANG)


def down(home: Path) -> list[str]:
    """Stop the worker, then the server, recorded in ``<home>/stack.json``; what was stopped, in words."""
    stack = Stack.load(home.resolve())
    if stack is None:
        return []
    stopped = []
    if stack.worker_pid and stop_group(stack.worker_pid):
        stopped.append(f"worker (pid {stack.worker_pid})")
    if stop_group(stack.server_pid):
        stopped.append(f"server (pid {stack.server_pid}, {stack.ui_url})")
    (Path(stack.home) / STATE_FILE).unlink(missing_ok=True)
    return stopped
