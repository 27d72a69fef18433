"""Which failures are the storage's (no file is to blame) and which are one file's."""

from __future__ import annotations

import errno

import duckdb
import pytest

from warehouse.health import storage_fault


def _chained(outer: BaseException, inner: BaseException) -> BaseException:
    try:
        try:
            raise inner
        except BaseException:
            raise outer  # noqa: B904  (the implicit context is what is tested)
    except BaseException as exc:
        return exc


@pytest.mark.parametrize(
    "exc",
    [
        OSError(errno.ENOSPC, "No space left on device"),
        OSError(errno.EROFS, "Read-only file system"),
        duckdb.TransactionException(
            'TransactionContext Error: Failed to commit: Could not write file "/wh/ingest.duckdb.wal": '
            "No space left on device"
        ),
        duckdb.IOException("IO Error: Corrupt database file: computed checksum 1 does not match stored 2"),
        # what CI saw: the failed COMMIT's ROLLBACK raised, with the full disk as its context
        _chained(
            duckdb.TransactionException("cannot rollback - no transaction is active"),
            duckdb.TransactionException("Failed to commit: Could not write file: No space left on device"),
        ),
    ],
)
def test_a_failing_disk_is_the_storages_fault(exc: BaseException) -> None:
    assert storage_fault(exc)


@pytest.mark.parametrize(
    "exc",
    [
        duckdb.ConstraintException('Constraint Error: Duplicate key "plate_id: P1" violates primary key'),
        ValueError("a defect of the pipeline"),
        OSError(errno.ENOENT, "No such file or directory"),
    ],
)
def test_a_file_that_breaks_a_rule_is_not(exc: BaseException) -> None:
    assert not storage_fault(exc)


def test_the_commands_paragraph_names_the_same_faults() -> None:
    """biomarkers/faults.py explains what storage_fault recognises, from the same chain and errno sets."""
    from biomarkers.faults import explain

    full = _chained(
        duckdb.TransactionException("cannot rollback - no transaction is active"),
        duckdb.TransactionException(
            'Failed to commit: Could not write file "/wh/x.wal": No space left on device'
        ),
    )
    said = explain(full)
    assert said is not None and said.startswith("the disk holding the warehouse is full (/wh/x.wal)")
    read_only = explain(OSError(errno.EROFS, "Read-only file system", "/wh/ingest.duckdb"))
    assert read_only is not None and "read-only file system (/wh/ingest.duckdb)" in read_only
    assert explain(ValueError("a defect of the pipeline")) is None
