"""Batches of ready files for the writer (pipeline/batches.py): order kept, limits held, nothing held back."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from pipeline.batches import BatchLimits, batches


@given(
    st.lists(st.integers(min_value=0, max_value=500), max_size=60),
    st.integers(min_value=1, max_value=10),
    st.integers(min_value=1, max_value=2000),
)
def test_batches_keep_the_order_and_hold_their_limits(rows: list[int], files: int, max_rows: int) -> None:
    got = list(batches(rows, BatchLimits(files=files, rows=max_rows, window_s=600), rows_of=lambda r: r))
    assert [r for b in got for r in b] == rows  # every item once, in order
    assert all(b for b in got)
    for b in got[:-1]:  # a batch closes at its limit, not before (the last one ends with the items)
        assert len(b) == files or sum(b) >= max_rows
    for b in got:
        assert len(b) <= files and sum(b[:-1]) < max_rows


def test_a_batch_closes_after_its_window_and_when_the_next_file_is_not_ready() -> None:
    now = [0.0]

    def clock() -> float:
        now[0] += 1.0  # each look at the clock: a second later
        return now[0]

    windowed = list(batches(range(6), BatchLimits(files=100, window_s=1.5), rows_of=lambda _: 1, clock=clock))
    assert [len(b) for b in windowed] == [2, 2, 2]
    pending = iter([False, True, False, False, True])
    waited = list(
        batches(
            range(6),
            BatchLimits(files=100, window_s=600),
            rows_of=lambda _: 1,
            next_pending=lambda: next(pending, False),
        )
    )
    assert waited == [[0, 1], [2, 3, 4], [5]]
