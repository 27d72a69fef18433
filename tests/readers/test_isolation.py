"""The memory-limited child process that parses binary Excel (a damaged workbook must not kill the run)."""

from __future__ import annotations

import os

import pytest

from readers.isolation import MEMORY_LIMIT_BYTES, IsolatedCrash, run_isolated


def test_an_allocation_over_the_ceiling_fails_in_the_child_only() -> None:
    with pytest.raises(MemoryError):
        run_isolated(bytearray, MEMORY_LIMIT_BYTES + 1024**3)
    assert run_isolated(len, b"still alive") == 11


def test_a_dying_child_becomes_an_error_and_a_fresh_child_takes_over() -> None:
    with pytest.raises(IsolatedCrash, match="died"):
        run_isolated(os._exit, 3)
    assert run_isolated(sum, [1, 2, 3]) == 6
