"""Test driver: one ingestion (the flow's own steps, without Prefect) that SIGKILLs itself at a chosen point.

Usage: python -m tests.warehouse.kill_child INBOX MANIFEST WAREHOUSE TARGET K
TARGET names a function of the load path; the process kills itself (SIGKILL: no cleanup, no finally) on
the K-th call of it — before the call, or after it with a ``:after`` suffix. TARGET ``none`` runs to the
end. Exit code 0 means the point was never reached (the test treats that as a bad scenario).
"""

from __future__ import annotations

import os
import signal
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any


def run(inbox: Path, manifest: Path, warehouse: Path) -> None:
    from pipeline.discover import discover
    from pipeline.intake import IntakeContext, intake
    from pipeline.manifest import load_manifest
    from schemas.config import load_config
    from warehouse.paths import WarehousePaths
    from warehouse.publish import publish
    from warehouse.store import WriterStore

    config = load_config()
    with WriterStore(WarehousePaths.at(warehouse), actor="kill-test") as store:
        run_id = f"run-{os.getpid()}"
        store.begin_run(run_id, inbox=str(inbox), manifest=str(manifest), trigger="test")
        store.record_config(config, run_id)
        samples = load_manifest(manifest, config)
        found = discover(inbox, store.known_files())
        ctx = IntakeContext(config=config, manifest=samples, store=store, run_id=run_id)
        for c in found.new:
            intake(c, found.siblings_of(c), ctx)
        publish(store, config=config)


def _arm(target: str, k: int) -> None:
    import pipeline.intake as intake
    import warehouse.audit as audit
    import warehouse.currency as currency
    import warehouse.publish as publish
    import warehouse.store as store

    name, _, when = target.partition(":")
    owners: dict[str, tuple[Any, str]] = {
        "keep_raw": (intake, "keep_raw"),
        "process_file": (intake, "process_file"),
        "_insert": (store.WriterStore, "_insert"),
        "_record_versions": (store.WriterStore, "_record_versions"),
        "refresh": (currency, "refresh"),
        "append": (audit, "append"),
        "record_head": (audit, "record_head"),
        "views_sql": (publish, "views_sql"),
        "blinded_view_sql": (publish, "blinded_view_sql"),
        "replace": (publish.os, "replace"),
        "rename": (publish.os, "rename"),
        "set_published_seq": (store.WriterStore, "set_published_seq"),
    }
    owner, attr = owners[name]
    original: Callable[..., Any] = getattr(owner, attr)
    calls = 0

    def wrapped(*args: Any, **kwargs: Any) -> Any:
        nonlocal calls
        calls += 1
        if calls == k and when != "after":
            os.kill(os.getpid(), signal.SIGKILL)
        result = original(*args, **kwargs)
        if calls == k and when == "after":
            os.kill(os.getpid(), signal.SIGKILL)
        return result

    setattr(owner, attr, wrapped)


def main(inbox: str, manifest: str, warehouse: str, target: str, k: int) -> None:
    """One child: arm the kill point, then ingest. Also the target of the test's forkserver children."""
    if target != "none":
        _arm(target, k)
    run(Path(inbox), Path(manifest), Path(warehouse))


# What a child imports: preloaded once by the test's forkserver, so each of its ~20 children starts in
# milliseconds instead of re-importing polars, DuckDB, Pandera and SciPy (~3 s of CPU each).
PRELOAD = [
    "pipeline.discover",
    "pipeline.intake",
    "pipeline.manifest",
    "schemas.config",
    "warehouse.audit",
    "warehouse.currency",
    "warehouse.paths",
    "warehouse.publish",
    "warehouse.store",
    "tests.warehouse.kill_child",
]


if __name__ == "__main__":
    inbox, manifest, warehouse, target, k = sys.argv[1:6]
    main(inbox, manifest, warehouse, target, int(k))
