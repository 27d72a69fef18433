"""Test driver: a real ingestion flow run (Prefect, its own temporary server) that SIGKILLs itself inside
a batch — during the inserts of the batch's third file, after two files of the batch were applied in the
open transaction.

Usage: python -m tests.warehouse.batch_kill_child INBOX MANIFEST WAREHOUSE CONFIG_DIR
Exit code 0 means the point was never reached (the test treats that as a bad scenario).
"""

from __future__ import annotations

import os
import signal
import sys
from typing import Any


def _arm() -> None:
    import warehouse.store as store

    load, insert = store.WriterStore.load, store.WriterStore._insert
    seen = {"loads": 0, "inserts": 0}

    def counted_load(self: Any, *args: Any, **kwargs: Any) -> Any:
        if self._group is not None:
            seen["loads"] += 1
            seen["inserts"] = 0
        return load(self, *args, **kwargs)

    def killing_insert(self: Any, *args: Any, **kwargs: Any) -> Any:
        if self._group is not None and seen["loads"] == 3:
            seen["inserts"] += 1
            if seen["inserts"] == 2:
                os.kill(os.getpid(), signal.SIGKILL)
        return insert(self, *args, **kwargs)

    store.WriterStore.load = counted_load  # type: ignore[method-assign]
    store.WriterStore._insert = killing_insert  # type: ignore[method-assign]


if __name__ == "__main__":
    inbox, manifest, warehouse, config_dir = sys.argv[1:5]
    _arm()
    from flows.ingest import ingest_flow
    from pipeline.lifecycle import run_lifecycle

    with run_lifecycle():  # the temporary Prefect server is reaped after the kill
        ingest_flow(
            inbox=inbox, manifest=manifest, warehouse=warehouse, config_dir=config_dir, trigger="test"
        )
