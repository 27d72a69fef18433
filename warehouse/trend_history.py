"""The run metrics of earlier runs, for Levey–Jennings trending at load (pipeline/trend.py): QC level
concentrations, EC50 and max signal per plate × analyte, with the run's acceptance and its load order.

Reading them from the store for every file costs time that grows with the warehouse (every QC well of
every earlier run). So a writer store keeps them in memory for its run (:class:`TrendHistory`): read once
from the store, then appended with each file's metrics after its transaction has committed — a file rolled
back leaves no trace. Only what the judgement can use is kept per series (assay × analyte × kit lot ×
metric): the accepted runs up to the guide set (the first ``n_runs`` usable values), the last
:data:`LOOKBACK` usable values the Westgard rules look back on, and the count of accepted runs — so the
memory and the cost per file stay constant as the warehouse grows."""

from __future__ import annotations

import logging
import math
from collections import deque
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Protocol

import duckdb
import polars as pl

from schemas.config import Config
from schemas.outcome import FileOutcome
from schemas.qc import HISTORY_SCHEMA, LOG_METRICS

log = logging.getLogger(__name__)

LOOKBACK = 9
"""Earlier points the longest Westgard rule looks back on (10x: this point and the 9 before it)."""

SeriesKey = tuple[str, str, str, str]
"""(assay_id, analyte, kit_lot, metric)"""

# Run metrics as stored; file_run_metrics computes the same for one file in Python.
_METRICS_SQL = """
WITH runs AS ({runs}),
verdict AS (
    SELECT source_sha256, plate_id, analyte, bool_and(run_accepted) AS accepted
    FROM {acceptance} GROUP BY ALL
),
metrics AS (
    SELECT source_sha256, plate_id, analyte, sample_id AS metric, avg(conc_pg_ml) AS value
    FROM {wells}
    WHERE sample_type = 'qc' AND qualifier = '=' AND conc_pg_ml IS NOT NULL AND sample_id IS NOT NULL
      AND {analyte_filter}
    GROUP BY ALL
    UNION ALL
    SELECT source_sha256, plate_id, analyte, 'EC50', ec50 FROM {curves} WHERE converged AND ec50 IS NOT NULL
    UNION ALL
    SELECT source_sha256, plate_id, analyte, 'max_signal', max_signal FROM {curves}
    WHERE max_signal IS NOT NULL
)
SELECT r.assay_id, m.analyte, r.kit_lot, m.metric, m.source_sha256 || ':' || m.plate_id AS run_id,
       r.load_seq AS run_order, m.value, coalesce(v.accepted, true) AS accepted
FROM metrics m
JOIN runs r USING (source_sha256, plate_id)
LEFT JOIN verdict v USING (source_sha256, plate_id, analyte)
WHERE isfinite(m.value)
ORDER BY run_order, run_id, m.analyte, m.metric
"""

_STORE_RUNS = """
    SELECT p.source_sha256, p.plate_id, p.assay_id, coalesce(p.kit_lot, '') AS kit_lot, f.load_seq
    FROM plates p JOIN files f USING (source_sha256)
    WHERE p.assay_id IN (SELECT unnest(?::VARCHAR[]))
"""


def _store_sql(analyte_filter: str) -> str:
    return _METRICS_SQL.format(
        runs=_STORE_RUNS,
        acceptance="run_acceptance",
        wells="wells",
        curves="curves",
        analyte_filter=analyte_filter,
    )


def prior_run_metrics(
    con: duckdb.DuckDBPyConnection, assay_ids: list[str], analytes: list[str]
) -> pl.DataFrame:
    """Every stored run metric of ``assay_ids`` × ``analytes`` (:data:`schemas.qc.HISTORY_SCHEMA`);
    accepted and rejected runs alike — the trend judgement keeps only the accepted ones. A full read of
    the store: what :class:`TrendHistory` starts from, and what tests compare it with."""
    if not assay_ids or not analytes:
        return pl.DataFrame(schema=HISTORY_SCHEMA)
    sql = _store_sql("analyte IN (SELECT unnest(?::VARCHAR[]))")
    got = con.sql(sql, params=[assay_ids, analytes]).pl()
    return got.select(list(HISTORY_SCHEMA)).cast(HISTORY_SCHEMA)


def file_run_metrics(outcome: FileOutcome, order: int) -> list[tuple[object, ...]]:
    """The rows (:data:`HISTORY_SCHEMA` order, in run order) a read of the store will give for
    ``outcome`` once it is loaded with load sequence ``order``: the same metrics as the store query, and
    the same numbers — a QC level's value is the sum of its wells in row order divided by their count,
    exactly as DuckDB's ``avg`` computes it (a polars mean can differ in the last bit, which would move a
    guide set)."""
    runs = {p.plate_id: (p.assay_id, p.kit_lot or "") for p in outcome.plates if p.assay_id}
    if not runs:
        return []
    verdict: dict[tuple[str, str], bool] = {}
    if outcome.acceptance is not None:
        for plate, analyte, ok in outcome.acceptance.select(
            "plate_id", "analyte", "run_accepted"
        ).iter_rows():
            verdict[(plate, analyte)] = verdict.get((plate, analyte), True) and bool(ok)
    metrics: list[tuple[str, str, str, float]] = []
    if outcome.wells is not None and outcome.wells.height:
        qc = outcome.wells.filter(
            (pl.col("sample_type") == "qc")
            & (pl.col("qualifier") == "=")
            & pl.col("conc_pg_ml").is_not_null()
            & pl.col("sample_id").is_not_null()
            & pl.col("analyte").is_not_null()
        )
        sums: dict[tuple[str, str, str], list[float]] = {}
        for plate, analyte, level, conc in qc.select(
            "plate_id", "analyte", "sample_id", "conc_pg_ml"
        ).iter_rows():
            acc = sums.setdefault((plate, analyte, level), [0.0, 0.0])
            acc[0] += conc
            acc[1] += 1.0
        metrics += [(p, a, lvl, total / n) for (p, a, lvl), (total, n) in sums.items()]
    if outcome.curves is not None:
        for plate, analyte, converged, ec50, top in outcome.curves.select(
            "plate_id", "analyte", "converged", "ec50", "max_signal"
        ).iter_rows():
            if converged and ec50 is not None:
                metrics.append((plate, analyte, "EC50", ec50))
            if top is not None:
                metrics.append((plate, analyte, "max_signal", top))
    sha = outcome.source_sha256
    rows: list[tuple[object, ...]] = [
        (runs[p][0], a, runs[p][1], m, f"{sha}:{p}", order, v, verdict.get((p, a), True))
        for p, a, m, v in metrics
        if p in runs and math.isfinite(v)
    ]
    rows.sort(key=lambda r: (r[4], r[1], r[3]))
    return rows


def _usable(metric: str, value: float) -> bool:
    """A value the judgement counts: finite on the scale it is judged on (log10 for EC50)."""
    return value > 0 if metric in LOG_METRICS else math.isfinite(value)


@dataclass
class _Series:
    """The accepted runs of one series that a judgement can still use (module doc)."""

    head: list[tuple[object, ...]] = field(default_factory=list)  # until the guide set is complete
    head_usable: int = 0
    tail: deque[tuple[object, ...]] = field(default_factory=lambda: deque(maxlen=LOOKBACK))
    n_accepted: int = 0


class TrendHistory:
    """Earlier accepted run metrics per series, kept in memory for one writer store's run (module doc)."""

    def __init__(self, con: duckdb.DuckDBPyConnection, config: Config) -> None:
        self._con = con
        self._assay_ids = sorted(a.assay_id for a in config.assays.assays)
        self._n_runs = {a.assay_id: a.acceptance.guide_set.n_runs for a in config.assays.assays}
        self._series: dict[SeriesKey, _Series] | None = None

    def _state(self) -> dict[SeriesKey, _Series]:
        if self._series is None:
            series: dict[SeriesKey, _Series] = {}
            if self._assay_ids:
                rows = self._con.sql(_store_sql("analyte IS NOT NULL"), params=[self._assay_ids]).pl()
                self._add(series, rows.select(list(HISTORY_SCHEMA)).cast(HISTORY_SCHEMA).iter_rows())
            self._series = series
        return self._series

    def _add(self, series: dict[SeriesKey, _Series], rows: Iterable[tuple[object, ...]]) -> None:
        """Append rows (:data:`HISTORY_SCHEMA` order, in run order) to their series; rejected runs are
        never used by the judgement and are not kept."""
        for row in rows:
            assay_id, analyte, kit_lot, metric, _run_id, _order, value, accepted = row
            if not accepted:
                continue
            key = (str(assay_id), str(analyte), str(kit_lot), str(metric))
            s = series.get(key)
            if s is None:
                s = series[key] = _Series()
            s.n_accepted += 1
            usable = isinstance(value, float) and _usable(key[3], value)
            if s.head_usable < self._n_runs.get(key[0], 0):
                s.head.append(row)
                s.head_usable += usable
            elif usable:
                s.tail.append(row)

    def earlier(
        self, assay_ids: Iterable[str], analytes: Iterable[str], kit_lots: Iterable[str] | None = None
    ) -> tuple[pl.DataFrame, dict[SeriesKey, int]]:
        """The accepted earlier runs a judgement of ``assay_ids`` × ``analytes`` (× ``kit_lots``, '' for
        none; every lot when None) uses (:data:`HISTORY_SCHEMA`, in run order per series), and the number
        of accepted earlier runs of each series (``n_history``). A run is judged within its kit lot, so
        the lots of earlier runs (which pile up over a study) need not be handed over."""
        state = self._state()
        assays, wanted = set(assay_ids), set(analytes)
        lots = None if kit_lots is None else set(kit_lots)
        rows: list[tuple[object, ...]] = []
        counts: dict[SeriesKey, int] = {}
        for key, s in state.items():
            if key[0] in assays and key[1] in wanted and (lots is None or key[2] in lots):
                rows += s.head
                rows += s.tail
                counts[key] = s.n_accepted
        return pl.DataFrame(rows, schema=HISTORY_SCHEMA, orient="row"), counts

    def forget(self) -> None:
        """The batch of loads this history was told of was rolled back: read the store afresh next time."""
        self._series = None

    def committed(self, outcome: FileOutcome, order: int) -> None:
        """A file's load has committed (or, in a batch, been applied: the batch's next file is judged
        against it) with load sequence ``order``: its run metrics join the history."""
        if self._series is None:
            return  # not read yet: the first read will find the file in the store
        try:
            self._add(self._series, file_run_metrics(outcome, order))
        except Exception:  # the load itself has committed: never fail it, read afresh next time instead
            log.exception("trend history of %s not kept in memory; re-reading the store", outcome.source_file)
            self._series = None


class HistoryHolder(Protocol):
    """What :func:`for_store` needs of a writer store (warehouse.store.WriterStore): described here rather
    than imported, so that the store and its trend history do not import each other (issue 17)."""

    con: duckdb.DuckDBPyConnection
    trend_history: TrendHistory | None

    def on_commit(self, listener: Callable[[FileOutcome, int], None]) -> None: ...

    def on_discard(self, listener: Callable[[], None]) -> None: ...


def for_store(store: HistoryHolder, config: Config) -> TrendHistory:
    """The store's trend history for this run (created on first use; the store tells it of each commit)."""
    if store.trend_history is None:
        history = TrendHistory(store.con, config)
        store.trend_history = history
        store.on_commit(history.committed)
        store.on_discard(history.forget)
    return store.trend_history


__all__ = ["LOOKBACK", "TrendHistory", "file_run_metrics", "for_store", "prior_run_metrics"]
