"""Labs own their plates: a file changes only what its own lab loaded (ICH E6(R3) §4.1; 21 CFR 11.10(d)).

Every file is received from someone: the lab whose upload token sent it, or the lab a delivery source is
configured for (operations.yaml ``sources[].lab``). Its plates are recorded with that lab. A later file is
a re-assay or new version of a plate only when it comes from the same lab:

* a file carrying a plate ID another lab's file loaded is quarantined whole, with a message naming the
  conflict; nothing of the other lab's changes (its plates, results and currency are not touched);
* a result of a sample x analyte x assay that another lab measured is held (never made current, so the
  other lab's result is not superseded), with the reason; the data team decides.

Plates loaded before ownership was recorded (no lab) are not claimed by anyone.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import datetime

import duckdb
import polars as pl

from schemas.outcome import FileOutcome
from schemas.results import QUARANTINE_SCHEMA, RESULT_SCHEMA, UNRESOLVED_SCHEMA


@dataclass(frozen=True)
class PlateClaim:
    plate_id: str
    lab: str
    source_file: str
    loaded_at: datetime


def plate_claims(con: duckdb.DuckDBPyConnection, plate_ids: list[str], lab: str) -> list[PlateClaim]:
    """Plates among ``plate_ids`` that another lab's file loaded (the earliest file per plate)."""
    if not plate_ids:
        return []
    rows = con.execute(
        """
        SELECT p.plate_id, arg_min(p.lab, f.load_seq), arg_min(f.source_file, f.load_seq), min(f.loaded_at)
        FROM plates p JOIN files f USING (source_sha256)
        WHERE list_contains(?, p.plate_id) AND p.lab IS NOT NULL AND p.lab <> ?
        GROUP BY p.plate_id ORDER BY p.plate_id
        """,
        [plate_ids, lab],
    ).fetchall()
    return [PlateClaim(*r) for r in rows]


def _quarantine(rows: list[dict[str, object]]) -> pl.DataFrame:
    return pl.DataFrame(rows).select(
        [
            pl.col(k).cast(v) if k in rows[0] else pl.lit(None, v).alias(k)
            for k, v in QUARANTINE_SCHEMA.items()
        ]
    )


def conflict_outcome(outcome: FileOutcome, claims: list[PlateClaim], lab: str) -> FileOutcome:
    """The file quarantined whole, loading nothing (no plate, well or result rows), with why."""
    parts = [
        f"plate {c.plate_id} belongs to lab {c.lab} (loaded from {c.source_file} on {c.loaded_at:%Y-%m-%d})"
        for c in claims
    ]
    msg = (
        f"{outcome.source_file} was received from lab {lab}, but {'; '.join(parts)}. A lab can only "
        f"replace its own plates, so nothing was loaded and lab {claims[0].lab}'s results are unchanged. If "
        "the plate ID is a typing mistake, correct it in the export and upload it again; if your lab "
        "re-assayed that plate's samples, give your plate its own ID. The data team can help."
    )
    q = _quarantine(
        [
            {
                "source_file": outcome.source_file,
                "source_sha256": outcome.source_sha256,
                "plate_id": c.plate_id,
                "rule": "plate_owned_by_another_lab",
                "severity": "reject",
                "message": msg,
            }
            for c in claims
        ]
    )
    return FileOutcome(
        source_file=outcome.source_file,
        source_sha256=outcome.source_sha256,
        size_bytes=outcome.size_bytes,
        format=outcome.format,
        status="quarantined",
        message=msg,
        quarantine=q,
        results=pl.DataFrame(schema=RESULT_SCHEMA),
        unresolved=pl.DataFrame(schema=UNRESOLVED_SCHEMA),
        companions=outcome.companions,
    )


def hold_foreign(con: duckdb.DuckDBPyConnection, outcome: FileOutcome, lab: str) -> FileOutcome:
    """Hold the file's results of samples x analyte x assay another lab measured (never a re-assay of
    another lab's result), each with its reason and a warning row."""
    res = outcome.results
    if res is None or res.height == 0:
        return outcome
    keys = res.filter(pl.col("status") == "loaded").select("sample_id", "analyte", "assay_id").unique()
    if keys.height == 0:
        return outcome
    con.register("_own_keys", keys.to_arrow())
    try:
        owned = con.sql(
            """
            SELECT r.sample_id, r.analyte, r.assay_id, arg_min(f.lab, f.load_seq) AS lab,
                   arg_min(f.source_file, f.load_seq) AS source_file
            FROM results_all r JOIN _own_keys k USING (sample_id, analyte, assay_id)
            JOIN files f ON f.source_sha256 = r.source_sha256
            WHERE r.status = 'loaded' AND f.lab IS NOT NULL AND f.lab <> ?
            GROUP BY ALL
            """,
            params=[lab],
        ).pl()
    finally:
        con.unregister("_own_keys")
    if owned.height == 0:
        return outcome
    why = pl.format(
        "sample {} {} ({}) was measured by lab {} (file {}); a result from another lab is held, never made "
        "current over it: the data team decides",
        "sample_id",
        "analyte",
        "assay_id",
        "_lab",
        "_file",
    )
    marked = res.join(
        owned.rename({"lab": "_lab", "source_file": "_file"}),
        on=["sample_id", "analyte", "assay_id"],
        how="left",
    )
    marked = marked.with_columns(
        (pl.col("_lab").is_not_null() & (pl.col("status") == "loaded")).alias("_hit")
    )
    hit = pl.col("_hit")
    held = marked.with_columns(
        pl.when(hit).then(pl.lit("held")).otherwise(pl.col("status")).alias("status"),
        pl.when(hit).then(why).otherwise(pl.col("hold_reason")).alias("hold_reason"),
    )
    rows = [
        {
            "source_file": outcome.source_file,
            "source_sha256": outcome.source_sha256,
            "plate_id": r["plate_id"],
            "sample_id": r["sample_id"],
            "analyte": r["analyte"],
            "rule": "sample_measured_by_another_lab",
            "severity": "hold",
            "message": r["hold_reason"],
        }
        for r in held.filter(hit).iter_rows(named=True)
    ]
    q = _quarantine(rows)
    quarantine = (
        q if outcome.quarantine is None else pl.concat([outcome.quarantine, q], how="vertical_relaxed")
    )
    n = len(rows)
    msg = (
        f"{outcome.message} {n} result{'s' * (n != 1)} held: the sample was measured by another lab "
        f"({', '.join(sorted(set(owned['lab'])))})."
    )
    return replace(
        outcome,
        results=held.select(res.columns),
        quarantine=quarantine,
        status="loaded_with_issues" if outcome.status == "loaded" else outcome.status,
        message=msg,
    )


def replaces_text(con: duckdb.DuckDBPyConnection, superseded_shas: list[str]) -> str:
    """ "replaces 288 results of <file>, <date>" for the files whose current results this file replaced."""
    if not superseded_shas:
        return ""
    rows = con.execute(
        """
        SELECT f.source_file, f.loaded_at, count(*) FROM unnest(?::VARCHAR[]) t(sha)
        JOIN files f ON f.source_sha256 = t.sha GROUP BY ALL ORDER BY min(f.load_seq)
        """,
        [superseded_shas],
    ).fetchall()
    parts = [f"replaces {n} result{'s' * (n != 1)} of {name}, {at:%Y-%m-%d}" for name, at, n in rows]
    return "This file " + "; ".join(parts) + "."
