"""Running many step-by-step computations together: the curve fits of a plate, advanced in lockstep.

A fit (assay/curves.py) and a calibration (assay/standards.py) are written once, as generators that
*yield* the sub-problems they need solved next (a list: what can be solved together) and receive the
answers. :func:`drive_one` answers one computation's requests as they come — the per-curve path, the
reference. :func:`drive_many` advances many computations at once: it gathers every request that all of
them have pending, answers them in ONE call of a batch solver (assay/trust_region_batch.py underneath),
and hands each computation its own answers. Each computation sees the same requests and makes the same
decisions in both paths (its decisions depend only on its own answers), so the batched results are the
per-curve results, to the batch solver's round-off.
"""

from __future__ import annotations

from collections.abc import Callable, Generator, Sequence
from typing import TypeVar

Req = TypeVar("Req")
Ans = TypeVar("Ans")
Out = TypeVar("Out")

Steps = Generator[list[Req], list[Ans], Out]


def drive_one(steps: Generator[list[Req], list[Ans], Out], answer: Callable[[Req], Ans]) -> Out:
    """Run one computation, answering each request with ``answer`` in the order it lists them."""
    try:
        requests = next(steps)
        while True:
            requests = steps.send([answer(r) for r in requests])
    except StopIteration as done:
        out: Out = done.value
        return out


def drive_many(
    computations: Sequence[Generator[list[Req], list[Ans], Out]],
    answer_all: Callable[[list[Req]], list[Ans]],
) -> list[Out]:
    """Run many computations in lockstep; ``answer_all`` answers every pending request at once (in the
    order given). Returns each computation's result, in order."""
    results: dict[int, Out] = {}
    pending: dict[int, list[Req]] = {}

    def advance(i: int, answers: list[Ans] | None) -> None:
        steps = computations[i]
        try:
            requests = next(steps) if answers is None else steps.send(answers)
        except StopIteration as done:
            results[i] = done.value
            return
        pending[i] = requests

    for i in range(len(computations)):
        advance(i, None)
    while pending:
        order = sorted(pending)
        flat = [req for i in order for req in pending[i]]
        answers = answer_all(flat)
        if len(answers) != len(flat):
            raise AssertionError(f"the batch solver answered {len(answers)} of {len(flat)} requests")
        start = 0
        batch = {i: pending.pop(i) for i in order}
        for i in order:
            n = len(batch[i])
            advance(i, answers[start : start + n])
            start += n
    return [results[i] for i in range(len(computations))]
