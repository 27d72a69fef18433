"""Which result of a sample × analyte × assay is current, and the append-only record of every change.

Several accepted runs can measure the same sample × analyte on the same assay (re-assays, a corrected file
of the same plate). One of them is current, chosen by the assay's ``reassay_rule`` (config/assays.yaml):
``latest`` — the most recently loaded run; ``in_range_first`` — an in-range result over a censored one (a
sample above ULOQ re-assayed at a higher dilution), then the latest. Excluded results are never current.
Different assays (platform, kit) are separate results and never replace each other.

Review (issue 21, warehouse/review.py): a run signed ``rejected`` is never current; with study.yaml
``review.release: on_approval`` a run's results are candidates only once it is signed ``approved``
(until then they are kept out with the reason "awaiting review"), so a re-assay waiting for review leaves
the approved result it would replace current.

The decision is re-taken for the groups a change touches (a file loaded, an exclusion made or lifted), and
only differences from each result's last recorded state are appended to ``result_currency`` — so the
table is the exact history as-of queries need, and re-running a decision changes nothing.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime

import duckdb
import polars as pl

from schemas.config import Config
from warehouse.audit import AuditEvent

GROUP = ("sample_id", "analyte", "assay_id")
"""A result group: one of its results is current."""

_CAND_COLUMNS = (
    "result_id",
    "sample_id",
    "analyte",
    "assay_id",
    "plate_id",
    "qualifier",
    "wells",
    "source_file",
    "source_sha256",
    "participant_id",
    "load_seq",
)

# The candidates of the groups to decide: loaded results read from the store for the groups in
# _currency_keys (``stored``), plus the rows of the file being loaded (_currency_incoming), which are not
# read back from the store — so a group never measured before costs no read of results_all or
# result_currency. Active exclusions matching a result: wells are compared against its well list ("A3,A4").
# Rows come in load order, then row order (stored) or frame order (incoming): event_seq follows it.
_CANDIDATES_SQL = """
WITH keys AS (SELECT DISTINCT sample_id, analyte, assay_id FROM _currency_keys),
active AS (
    SELECT e.* FROM exclusions e
    WHERE NOT EXISTS (SELECT 1 FROM exclusion_lifts l WHERE l.exclusion_id = e.exclusion_id)
),
stored AS (
    SELECT r.result_id, r.sample_id, r.analyte, r.assay_id, r.plate_id, r.qualifier, r.wells,
           r.source_file, r.source_sha256, r.participant_id, f.load_seq, 0 AS _src, r.rowid AS _pos
    FROM results_all r
    JOIN keys k USING (sample_id, analyte, assay_id)
    JOIN files f ON f.source_sha256 = r.source_sha256
    WHERE {any_stored} AND r.status = 'loaded' AND r.source_sha256 NOT IN (SELECT unnest(?::VARCHAR[]))
),
cand AS (
    SELECT * FROM stored
    UNION ALL
    SELECT {cand_columns}, 1 AS _src, _pos FROM _currency_incoming
),
excl AS (
    SELECT c.result_id, min(a.exclusion_id) AS exclusion_id, min(a.reason) AS exclusion_reason,
           min(a.created_by) AS excluded_by
    FROM cand c JOIN active a
      ON (a.plate_id IS NULL OR a.plate_id = c.plate_id)
     AND (a.sample_id IS NULL OR a.sample_id = c.sample_id)
     AND (a.analyte IS NULL OR a.analyte = c.analyte)
     AND (a.well IS NULL OR list_contains(
            list_transform(string_split(c.wells, ','), lambda w: trim(w)), a.well))
    GROUP BY c.result_id
),
review AS (
    SELECT v.source_sha256, v.plate_id, v.analyte,
           CASE WHEN o.signature_id IS NULL THEN v.meaning END AS review_decision,
           v.signature_id AS review_signature
    FROM (SELECT source_sha256, plate_id, analyte,
                 arg_max(meaning, signature_id) AS meaning, max(signature_id) AS signature_id
          FROM run_signatures
          WHERE meaning IN ('approved', 'rejected')
          GROUP BY source_sha256, plate_id, analyte) v
    LEFT JOIN ({reopened}) o ON o.signature_id = v.signature_id
),
last_state AS (
    SELECT result_id, arg_max(is_current, event_seq) AS was_current,
           arg_max(reason, event_seq) AS was_reason,
           arg_max(superseded_by, event_seq) AS was_superseded_by,
           arg_max(exclusion_id, event_seq) AS was_exclusion_id,
           count(*) AS n_events
    FROM result_currency
    WHERE {any_stored} AND result_id IN (SELECT result_id FROM stored)
    GROUP BY result_id
)
SELECT c.* EXCLUDE (_src, _pos), x.exclusion_id, x.exclusion_reason, x.excluded_by,
       s.was_current, s.was_superseded_by, s.was_exclusion_id, s.was_reason,
       coalesce(s.n_events, 0) AS n_events, v.review_decision, v.review_signature
FROM cand c
LEFT JOIN excl x USING (result_id)
LEFT JOIN last_state s USING (result_id)
LEFT JOIN review v USING (source_sha256, plate_id, analyte)
ORDER BY c.load_seq, c._src, c._pos
"""

# The signatures re-opened by an exclusion made — or lifted — after them on any result of the signed run
# (issue 21: "re-opened by a new version or exclusion"), with the reason. Time, not the binding hash, decides:
# an exclusion changes which of the run's results count, not the results themselves (result_set_sha256 stays
# true to what was measured, and ``audit verify`` still holds), and it is monotone — lifting the exclusion
# again does not silently bring the old approval back; a reviewer signs again. A rejection is never
# re-opened: excluding part of a rejected run must not make the rest current without a reviewer.
REOPENED_SQL = """
SELECT s.signature_id,
       'exclusion ' || arg_min(e.exclusion_id || CASE WHEN e.lifted THEN ' lifted' ELSE '' END, e.at)
       || ' after ' || CASE any_value(s.meaning) WHEN 'approved' THEN 'approval' ELSE 'review' END AS reopened
FROM run_signatures s
JOIN (
    SELECT exclusion_id, plate_id, sample_id, analyte, well, created_at AS at, false AS lifted FROM exclusions
    UNION ALL
    SELECT x.exclusion_id, x.plate_id, x.sample_id, x.analyte, x.well, l.lifted_at, true
    FROM exclusions x JOIN exclusion_lifts l USING (exclusion_id)
) e ON e.at > s.signed_at
   AND (e.plate_id IS NULL OR e.plate_id = s.plate_id)
   AND (e.analyte IS NULL OR e.analyte = s.analyte)
WHERE s.meaning <> 'rejected'
  AND EXISTS (SELECT 1 FROM results_all r
              WHERE r.source_sha256 = s.source_sha256 AND r.plate_id = s.plate_id AND r.analyte = s.analyte
                AND (e.sample_id IS NULL OR r.sample_id = e.sample_id)
                AND (e.well IS NULL OR list_contains(
                       list_transform(string_split(r.wells, ','), lambda w: trim(w)), e.well)))
GROUP BY s.signature_id
"""

_NO_STATE: dict[str, pl.DataType] = {
    "exclusion_id": pl.String(),
    "exclusion_reason": pl.String(),
    "excluded_by": pl.String(),
    "was_current": pl.Boolean(),
    "was_superseded_by": pl.String(),
    "was_exclusion_id": pl.String(),
    "was_reason": pl.String(),
    "review_decision": pl.String(),
    "review_signature": pl.String(),
}
"""Candidate columns with no exclusion and no recorded state (a result never decided before)."""

_INCOMING_SCHEMA: dict[str, pl.DataType] = {
    **{c: pl.String() for c in _CAND_COLUMNS if c != "load_seq"},
    "load_seq": pl.Int64(),
}


@dataclass(frozen=True)
class CurrencyChange:
    became_current: int
    superseded: int
    excluded: int
    events: list[AuditEvent]


AWAITING_REVIEW = (
    "awaiting review: current once a reviewer signs the run approved (study.yaml review.release)"
)
REJECTED_ON_REVIEW = "rejected on review"


def decide(
    cand: pl.DataFrame,
    rules: Mapping[str, str],
    isr_pattern: str | None = None,
    *,
    on_approval: bool = False,
) -> pl.DataFrame:
    """The desired state of every candidate: is_current, superseded_by, exclusion_id, reason.

    ``rules`` maps assay_id → reassay rule. ``isr_pattern``: a regular expression on the plate ID marking
    incurred-sample reanalysis repeats (study.yaml ``isr``), which are evaluated against the original and
    never replace it (never current). ``on_approval``: only results of runs signed approved are eligible
    (``review_decision``; a rejected run is never eligible). Pure: tests call it on hand-made frames."""
    if cand.height == 0:
        return cand.with_columns(
            pl.lit(None, pl.Boolean).alias("is_current"),
            pl.lit(None, pl.String).alias("superseded_by"),
            pl.lit(None, pl.String).alias("reason"),
        )
    in_range_first = pl.col("assay_id").replace_strict(rules, default="latest") == "in_range_first"
    rank = pl.when(in_range_first & (pl.col("qualifier") != "=")).then(1).otherwise(0)
    isr = pl.col("plate_id").str.contains(isr_pattern) if isr_pattern else pl.lit(False)
    if "review_decision" not in cand.columns:
        cand = cand.with_columns(
            pl.lit(None, pl.String).alias("review_decision"),
            pl.lit(None, pl.String).alias("review_signature"),
        )
    rejected = (pl.col("review_decision") == "rejected").fill_null(False)
    awaiting = (pl.col("review_decision") != "approved").fill_null(True) & pl.lit(on_approval)
    cand = cand.with_columns(
        isr.fill_null(False).alias("_isr"),
        rejected.alias("_rejected"),
        (awaiting & ~rejected).alias("_awaiting"),
    )
    held = pl.col("_rejected") | pl.col("_awaiting")
    eligible = cand.filter(pl.col("exclusion_id").is_null() & ~pl.col("_isr") & ~held).with_columns(
        rank.alias("_rank")
    )
    chosen = (
        eligible.sort(["_rank", "load_seq", "result_id"], descending=[False, True, True])
        .group_by(["sample_id", "analyte", "assay_id"], maintain_order=True)
        .first()
        .select(
            "sample_id",
            "analyte",
            "assay_id",
            pl.col("result_id").alias("_chosen"),
            pl.col("plate_id").alias("_chosen_plate"),
            pl.col("source_file").alias("_chosen_file"),
            pl.col("qualifier").alias("_chosen_q"),
            pl.col("_rank").alias("_chosen_rank"),
        )
    )
    out = cand.join(chosen, on=["sample_id", "analyte", "assay_id"], how="left")
    excluded = pl.col("exclusion_id").is_not_null()
    current = (~excluded) & ~held & (pl.col("result_id") == pl.col("_chosen"))
    why_chosen = (
        pl.when(pl.col("_chosen_rank") == 0)
        .then(
            pl.when(in_range_first)
            .then(pl.lit("current: in range (re-assay rule in_range_first)"))
            .otherwise(pl.lit("current: latest accepted run"))
        )
        .otherwise(pl.lit("current: latest accepted run (no in-range result)"))
    )
    return out.with_columns(
        current.alias("is_current"),
        pl.when(excluded | current | pl.col("_isr") | held)
        .then(None)
        .otherwise(pl.col("_chosen"))
        .alias("superseded_by"),
        pl.when(excluded)
        .then(pl.format("excluded: {} (by {})", pl.col("exclusion_reason"), pl.col("excluded_by")))
        .when(pl.col("_isr"))
        .then(pl.lit("incurred-sample reanalysis repeat: evaluated against the original, never replaces it"))
        .when(pl.col("_rejected"))
        .then(pl.format("{} ({})", pl.lit(REJECTED_ON_REVIEW), pl.col("review_signature")))
        .when(pl.col("_awaiting"))
        .then(pl.lit(AWAITING_REVIEW))
        .when(current)
        .then(why_chosen)
        .otherwise(
            pl.format(
                "re-assay: replaced by plate {} (file {}, qualifier {})",
                pl.col("_chosen_plate"),
                pl.col("_chosen_file"),
                pl.col("_chosen_q"),
            )
        )
        .alias("reason"),
    )


def refresh(
    con: duckdb.DuckDBPyConnection,
    keys: pl.DataFrame,
    config: Config | None,
    *,
    at: datetime,
    run_id: str,
    incoming: pl.DataFrame | None = None,
) -> CurrencyChange:
    """Re-decide the groups in ``keys`` (sample_id, analyte, assay_id) and append what changed, inside
    the caller's transaction.

    ``incoming``: the loaded results of the file being loaded (:data:`RESULT_SCHEMA` columns and
    ``load_seq``), taken from the frame rather than read back; the groups of ``keys`` are read from the
    store without that file's rows, and a group of ``incoming`` not in ``keys`` is taken to have no
    stored result (the caller knows it was never measured before)."""
    if keys.height == 0 and (incoming is None or incoming.height == 0):
        return CurrencyChange(0, 0, 0, [])
    rules = {a.assay_id: a.reassay_rule for a in config.assays.assays} if config else {}
    on_approval = config is not None and config.study.review.release == "on_approval"
    isr = config.study.isr.plate_id_pattern if config else None
    if incoming is None or incoming.height == 0:
        incoming = pl.DataFrame(schema=_INCOMING_SCHEMA)
    if keys.height == 0:
        keys = pl.DataFrame(schema=dict.fromkeys(GROUP, pl.String()))
    if keys.height == 0 and not _exclusions_on(con, incoming["plate_id"].unique().to_list()):
        # only groups never measured before and nothing excluded on these plates: nothing to read
        cand = incoming.select(_CAND_COLUMNS).with_columns(
            **{c: pl.lit(None, t) for c, t in _NO_STATE.items()}, n_events=pl.lit(0, pl.Int64)
        )
        return _record(con, decide(cand, rules, isr, on_approval=on_approval), at=at, run_id=run_id)
    # literal false: the optimiser drops the reads of results_all and result_currency altogether
    sql = _CANDIDATES_SQL.format(
        any_stored="true" if keys.height else "false",
        cand_columns=", ".join(_CAND_COLUMNS),
        reopened=REOPENED_SQL,
    )
    shas = incoming["source_sha256"].unique().to_list()
    con.register("_currency_keys", keys.select(GROUP).to_arrow())
    con.register(
        "_currency_incoming",
        incoming.select([pl.col(c).cast(t) for c, t in _INCOMING_SCHEMA.items()])
        .with_row_index("_pos")
        .to_arrow(),
    )
    try:
        cand = con.sql(sql, params=[shas]).pl()
    finally:
        con.unregister("_currency_keys")
        con.unregister("_currency_incoming")
    return _record(con, decide(cand, rules, isr, on_approval=on_approval), at=at, run_id=run_id)


def _exclusions_on(con: duckdb.DuckDBPyConnection, plate_ids: list[str]) -> bool:
    """Whether any exclusion (lifted or not) could apply to results of these plates."""
    sql = "SELECT 1 FROM exclusions WHERE plate_id IS NULL OR list_contains(?, plate_id) LIMIT 1"
    return bool(con.execute(sql, [plate_ids]).fetchall())


def _record(
    con: duckdb.DuckDBPyConnection, state: pl.DataFrame, *, at: datetime, run_id: str
) -> CurrencyChange:
    """Append the rows of ``state`` that differ from each result's last recorded state."""
    # A result already superseded stays superseded by the result that replaced it: a later re-assay that
    # replaces the replacement is that result's supersession, recorded once — not one more entry for every
    # earlier run (issue 14: six runs of a plate gave 2,220 "superseded" entries for 740 results).
    repointed = (
        ~pl.col("was_current").fill_null(True)
        & ~pl.col("is_current")
        & pl.col("was_superseded_by").is_not_null()
        & pl.col("superseded_by").is_not_null()
    )
    # a run's review decision that changes no currency (awaiting review → rejected) is still recorded
    review_held = pl.col("_rejected") | pl.col("_awaiting")
    changed = state.filter(
        (pl.col("n_events") == 0)
        | (review_held & pl.col("was_reason").ne_missing(pl.col("reason")))
        | (pl.col("was_current") != pl.col("is_current"))
        | (pl.col("was_superseded_by").ne_missing(pl.col("superseded_by")) & ~repointed)
        | (pl.col("was_exclusion_id").ne_missing(pl.col("exclusion_id")))
    )
    if changed.height == 0:
        return CurrencyChange(0, 0, 0, [])
    start = int(con.execute("SELECT coalesce(max(event_seq), 0) FROM result_currency").fetchall()[0][0])
    rows = changed.with_row_index("_i").select(
        (pl.col("_i").cast(pl.Int64) + start + 1).alias("event_seq"),
        "result_id",
        "is_current",
        pl.lit(at).alias("changed_at"),
        "reason",
        "superseded_by",
        "exclusion_id",
        pl.lit(run_id).alias("run_id"),
    )
    con.register("_currency_rows", rows.to_arrow())
    try:
        con.execute("INSERT INTO result_currency BY NAME SELECT * FROM _currency_rows")
    finally:
        con.unregister("_currency_rows")
    return _summarise(changed)


def _summarise(changed: pl.DataFrame) -> CurrencyChange:
    # a first-time current result needs no entry of its own (the file's "loaded" entry covers it)
    up = int(changed["is_current"].sum())
    noted = changed.filter(~(pl.col("is_current") & (pl.col("n_events") == 0)))
    events: list[AuditEvent] = []
    sup = exc = 0
    for r in noted.iter_rows(named=True):
        new = bool(r["n_events"] == 0)
        if r["is_current"]:
            released = (r["was_reason"] or "").startswith(("awaiting review", REJECTED_ON_REVIEW))
            event, old_v, new_v = "released" if released else "reinstated", "not current", "current"
        elif r["_rejected"] or r["_awaiting"]:
            if new or not r["was_current"]:
                continue  # a new run awaiting review, or a held one rejected: the signature's entry says it
            event, old_v, new_v = "withdrawn", "current", "not current"
        elif r["exclusion_id"] is not None:
            exc += 1
            event, old_v, new_v = "excluded", "current" if r["was_current"] else "not current", "excluded"
        elif r["superseded_by"] is None:  # an ISR repeat: kept beside the original, never current
            event, old_v, new_v = "isr_repeat", "new result", "not current (ISR repeat)"
        else:
            sup += 1
            event = "superseded"
            old_v = "new result" if new else ("current" if r["was_current"] else "not current")
            new_v = f"superseded by {r['superseded_by']}"
        events.append(
            AuditEvent(
                event=event,
                entity="result",
                entity_id=r["result_id"],
                source_sha256=r["source_sha256"],
                plate_id=r["plate_id"],
                sample_id=r["sample_id"],
                participant_id=r["participant_id"],
                old_value=old_v,
                new_value=new_v,
                reason=r["reason"],
            )
        )
    return CurrencyChange(up, sup, exc, events)
