"""Exclusions: a well, a sample, an analyte in a run, or a whole run taken out of the current results.

Each is a record of its own with who, when and why (never a deletion, never an edit of a result), keyed by
plate rather than by file so that it still applies when the same plate is re-imported; lifting one is
another record. Making or lifting one re-decides which results are current, in the same transaction, with
audit entries for the exclusion and for every result it changes.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

import duckdb
import polars as pl

from schemas.config import Config
from warehouse import audit, currency
from warehouse.audit import AuditEvent
from warehouse.store import WriterStore, now_utc

Scope = Literal["well", "sample", "analyte_run", "run"]

_MATCH = """
SELECT r.result_id, r.sample_id, r.analyte, r.assay_id
FROM results_all r
WHERE (CAST(? AS VARCHAR) IS NULL OR r.plate_id = ?)
  AND (CAST(? AS VARCHAR) IS NULL OR r.sample_id = ?)
  AND (CAST(? AS VARCHAR) IS NULL OR r.analyte = ?)
  AND (CAST(? AS VARCHAR) IS NULL OR list_contains(
        list_transform(string_split(r.wells, ','), lambda w: trim(w)), ?))
"""


# The result groups of every signed run an exclusion touches: all of them are re-decided, not only the
# excluded results, because an exclusion re-opens the run's approval (currency.REOPENED_SQL) and under
# release on_approval the run's other results leave `results` until it is signed again.
_SIGNED_RUN_KEYS = """
SELECT DISTINCT r.sample_id, r.analyte, r.assay_id
FROM results_all r
JOIN (SELECT DISTINCT source_sha256, plate_id, analyte FROM results_all
      WHERE list_contains(?::VARCHAR[], result_id)) t USING (source_sha256, plate_id, analyte)
WHERE r.status = 'loaded' AND EXISTS (
    SELECT 1 FROM run_signatures s
    WHERE s.source_sha256 = r.source_sha256 AND s.plate_id = r.plate_id AND s.analyte = r.analyte)
"""


class ExclusionError(Exception):
    """The request cannot be recorded as asked; the message says what to change."""


@dataclass(frozen=True)
class ExclusionRequest:
    reason: str
    user: str
    plate_id: str | None = None
    well: str | None = None
    sample_id: str | None = None
    analyte: str | None = None

    @property
    def scope(self) -> Scope:
        if self.well:
            return "well"
        if self.sample_id:
            return "sample"
        if self.analyte:
            return "analyte_run"
        return "run"

    def check(self) -> None:
        if len(self.reason.strip()) < 5:
            raise ExclusionError("a reason is required (a few words a reviewer will understand)")
        if not self.user.strip():
            raise ExclusionError("the user's name is required (--user)")
        if self.well and not self.plate_id:
            raise ExclusionError("a well is named on a plate: give --plate with --well")
        if not (self.plate_id or self.sample_id):
            raise ExclusionError("say what to exclude: --plate (with --well or --analyte), or --sample")

    def describe(self) -> str:
        parts = [
            f"{k} {v}"
            for k, v in (
                ("plate", self.plate_id),
                ("well", self.well),
                ("sample", self.sample_id),
                ("analyte", self.analyte),
            )
            if v
        ]
        return ", ".join(parts)


@dataclass(frozen=True)
class ExclusionResult:
    exclusion_id: str
    scope: str
    results_matched: int
    results_changed: int


def _params(plate: str | None, sample: str | None, analyte: str | None, well: str | None) -> list[object]:
    return [plate, plate, sample, sample, analyte, analyte, well, well]


def _keys(con: duckdb.DuckDBPyConnection, matched: pl.DataFrame) -> pl.DataFrame:
    """The groups to re-decide: the matched results' and those of the signed runs they belong to."""
    if matched.height == 0:
        return matched
    runs = con.sql(_SIGNED_RUN_KEYS, params=[matched["result_id"].to_list()]).pl()
    return pl.concat(
        [matched.select("sample_id", "analyte", "assay_id"), runs], how="vertical_relaxed"
    ).unique()


def exclude(store: WriterStore, req: ExclusionRequest, config: Config) -> ExclusionResult:
    req.check()
    con = store.con
    matched = con.sql(_MATCH, params=_params(req.plate_id, req.sample_id, req.analyte, req.well)).pl()
    if matched.height == 0:
        raise ExclusionError(
            f"nothing in the warehouse matches {req.describe()}: check the IDs (biomarkers query "
            '"select distinct plate_id, sample_id, analyte, wells from results_all"); nothing was excluded'
        )
    at = now_utc()
    con.execute("BEGIN TRANSACTION")
    try:
        n = int(con.execute("SELECT count(*) FROM exclusions").fetchall()[0][0])
        ex_id = f"EX-{n + 1:06d}"
        con.execute(
            "INSERT INTO exclusions VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
            [ex_id, req.scope, req.plate_id, req.well, req.sample_id, req.analyte, req.reason, req.user, at],
        )
        change = currency.refresh(con, _keys(con, matched), config, at=at, run_id=ex_id)
        events = [
            AuditEvent(
                event="excluded",
                entity="exclusion",
                entity_id=ex_id,
                plate_id=req.plate_id,
                sample_id=req.sample_id,
                new_value=f"{req.scope}: {req.describe()} ({matched.height} results)",
                reason=req.reason,
            ),
            *change.events,
        ]
        new_head = audit.append(con, events, actor=req.user, at=at)
        con.execute("COMMIT")
    except BaseException:
        con.execute("ROLLBACK")
        raise
    audit.record_head(store.paths.ingest_db, new_head)
    return ExclusionResult(ex_id, req.scope, matched.height, change.excluded + change.superseded)


def lift(store: WriterStore, exclusion_id: str, *, reason: str, user: str, config: Config) -> ExclusionResult:
    """Lift an exclusion: its results are decided again (and may become current), both records kept."""
    con = store.con
    row = con.execute(
        "SELECT scope, plate_id, well, sample_id, analyte FROM exclusions WHERE exclusion_id = ?",
        [exclusion_id],
    ).fetchall()
    if not row:
        raise ExclusionError(
            f'no exclusion {exclusion_id} (see: biomarkers query "select * from exclusions")'
        )
    if con.execute("SELECT 1 FROM exclusion_lifts WHERE exclusion_id = ?", [exclusion_id]).fetchall():
        raise ExclusionError(f"exclusion {exclusion_id} is already lifted")
    if len(reason.strip()) < 5:
        raise ExclusionError("a reason is required to lift an exclusion")
    scope, plate, well, sample, analyte = row[0]
    matched = con.sql(_MATCH, params=_params(plate, sample, analyte, well)).pl()
    at = now_utc()
    con.execute("BEGIN TRANSACTION")
    try:
        con.execute("INSERT INTO exclusion_lifts VALUES (?, ?, ?, ?)", [exclusion_id, reason, user, at])
        change = currency.refresh(
            con, _keys(con, matched) if matched.height else pl.DataFrame(), config, at=at, run_id=exclusion_id
        )
        events = [
            AuditEvent(
                event="exclusion_lifted",
                entity="exclusion",
                entity_id=exclusion_id,
                plate_id=plate,
                sample_id=sample,
                old_value="active",
                new_value="lifted",
                reason=reason,
            ),
            *change.events,
        ]
        new_head = audit.append(con, events, actor=user, at=at)
        con.execute("COMMIT")
    except BaseException:
        con.execute("ROLLBACK")
        raise
    audit.record_head(store.paths.ingest_db, new_head)
    return ExclusionResult(exclusion_id, scope, matched.height, change.became_current)
