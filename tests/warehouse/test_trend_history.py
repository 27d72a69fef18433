"""The trend history a writer store keeps in memory for its run (warehouse/trend_history.py) judges exactly
as a full read of the store would, stays small, and never keeps a trace of a load that rolled back."""

from __future__ import annotations

import dataclasses
import random
from datetime import UTC, datetime
from pathlib import Path

import duckdb
import polars as pl
import pytest

from pipeline.intake import IntakeContext, trend_at_load
from pipeline.trend import judge_trend
from schemas.config import Config
from schemas.manifest import Manifest
from schemas.outcome import FileOutcome
from tests.pipeline.test_trend import N_RUNS, run, with_trending
from warehouse.paths import WarehousePaths
from warehouse.store import WriterStore
from warehouse.trend_history import LOOKBACK, for_store, prior_run_metrics

AT = datetime(2026, 11, 24, 12, tzinfo=UTC)


def _runs(n: int) -> list[FileOutcome]:
    rng = random.Random(7)
    out = []
    for i in range(n):
        # values with many digits (the in-memory mean must match DuckDB's avg to the last bit), a
        # rejected run now and then, and a drift at the end so the Westgard rules fire
        qc = rng.uniform(50, 70) + (12.0 if i > n - 6 else 0.0)
        out.append(
            run(f"r{i}", qc, ec50=rng.uniform(300, 700), top=rng.uniform(1e4, 3e4), accepted=i % 7 != 3)
        )
    return out


def test_memory_history_judges_as_a_full_read_and_survives_a_reopen(tmp_path: Path, config: Config) -> None:
    cfg = with_trending(config)
    paths = WarehousePaths.at(tmp_path / "wh")
    store = WriterStore(paths)
    ctx = IntakeContext(cfg, Manifest.empty(), store, "run-1")
    for o in _runs(3 * (N_RUNS + LOOKBACK)):
        store.load(trend_at_load(o, ctx), "run-1")
    history, counts = for_store(store, cfg).earlier(["LX-NTF"], ["VEGF-A"])
    full = prior_run_metrics(store.con, ["LX-NTF"], ["VEGF-A"])

    # kept small: per series the guide-set runs and the look-back, never the whole history
    per_series = history.group_by("metric").len()
    assert per_series["len"].max() == N_RUNS + LOOKBACK
    assert (
        counts[("LX-NTF", "VEGF-A", "L1", "QC-H")]
        == full.filter((pl.col("metric") == "QC-H") & pl.col("accepted")).height
    )

    nxt = run("next", 90.0, ec50=1500.0)
    order = store.load_seq() + 1
    from_memory = judge_trend(nxt, history, cfg, order=order, at=AT, n_history=counts)
    from_store = judge_trend(nxt, full, cfg, order=order, at=AT)
    assert from_memory.qc_trend is not None and from_store.qc_trend is not None
    assert from_memory.qc_trend.height == 3
    assert from_memory.qc_trend.equals(from_store.qc_trend)
    assert from_memory.qc_trend["rules_violated"].drop_nulls().len() > 0  # the drift is caught
    assert from_memory.message == from_store.message

    # a new run of the store reads the history afresh: the same rows, to the last bit
    store.close()
    with WriterStore(paths) as again:
        fresh, fresh_counts = for_store(again, cfg).earlier(["LX-NTF"], ["VEGF-A"])
    assert fresh.equals(history) and fresh_counts == counts


def test_a_load_that_rolls_back_leaves_no_trace_in_the_run_state(tmp_path: Path, config: Config) -> None:
    cfg = with_trending(config)
    store = WriterStore(WarehousePaths.at(tmp_path / "wh"))
    ctx = IntakeContext(cfg, Manifest.empty(), store, "run-1")
    for o in _runs(N_RUNS + 2):
        store.load(trend_at_load(o, ctx), "run-1")
    before, before_counts = for_store(store, cfg).earlier(["LX-NTF"], ["VEGF-A"])
    seq = store.load_seq()

    bad = trend_at_load(run("bad", 61.0), ctx)
    bad = dataclasses.replace(bad, plates=bad.plates * 2)  # the same plate twice: the load fails midway
    with pytest.raises(duckdb.ConstraintException):
        store.load(bad, "run-1")
    after, after_counts = for_store(store, cfg).earlier(["LX-NTF"], ["VEGF-A"])
    assert after.equals(before) and after_counts == before_counts
    assert store.load_seq() == seq
    assert not store.is_known(bad.source_sha256)

    good = trend_at_load(run("good", 61.0), ctx)
    store.load(good, "run-1")
    assert store.load_seq() == seq + 1
    history, _ = for_store(store, cfg).earlier(["LX-NTF"], ["VEGF-A"])
    assert (
        history.filter(pl.col("run_id").str.starts_with(good.source_sha256))["run_order"].to_list()
        == [seq + 1] * 3
    )
    store.close()
