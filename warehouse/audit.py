"""The audit trail: append-only entries, each chained to the previous by SHA-256 (21 CFR Part 11 §11.10(e)).

An entry's hash covers its own fields and the previous entry's hash, so editing an entry breaks its own
hash, deleting one breaks the next entry's link and the sequence, and reordering breaks the links. A
deleted *tail* leaves a valid shorter chain, so every transaction also appends the new head (sequence and
hash) to ``audit/heads.log`` beside the store — a file outside the database that `verify` checks against.
Entries are written in the same transaction as the change they record: a change is never without its
entry, and a rolled-back change leaves none.
"""

from __future__ import annotations

import hashlib
import json
import os
from collections.abc import Sequence
from dataclasses import dataclass, fields
from datetime import UTC, datetime
from pathlib import Path

import duckdb

GENESIS = "0" * 64

_COLUMNS = (
    "seq",
    "logged_at",
    "actor",
    "event",
    "entity",
    "entity_id",
    "source_sha256",
    "plate_id",
    "sample_id",
    "participant_id",
    "old_value",
    "new_value",
    "reason",
)


@dataclass(frozen=True)
class AuditEvent:
    """One thing that happened. ``event`` is a verb in the past tense: received, loaded, quarantined,
    new_version, superseded, reinstated, excluded, exclusion_lifted, exclusion_lost, config_changed,
    snapshot_created, unblinded_store_created."""

    event: str
    entity: str
    entity_id: str | None = None
    source_sha256: str | None = None
    plate_id: str | None = None
    sample_id: str | None = None
    participant_id: str | None = None
    old_value: str | None = None
    new_value: str | None = None
    reason: str | None = None


@dataclass(frozen=True)
class AuditProblem:
    seq: int | None
    problem: str

    def __str__(self) -> str:
        where = f"entry {self.seq}" if self.seq is not None else "audit trail"
        return f"{where}: {self.problem}"


def _canonical_time(at: datetime) -> str:
    return at.astimezone(UTC).isoformat(timespec="microseconds")


def entry_hash(prev_hash: str, values: dict[str, object]) -> str:
    """The hash of an entry: SHA-256 over the previous hash and the entry's fields, as canonical JSON."""
    payload = [prev_hash]
    for k in _COLUMNS:
        v = values.get(k)
        payload.append(_canonical_time(v) if isinstance(v, datetime) else v)  # type: ignore[arg-type]
    return hashlib.sha256(json.dumps(payload, separators=(",", ":"), default=str).encode()).hexdigest()


def heads_path(store_file: Path) -> Path:
    return store_file.parent / "audit" / "heads.log"


def head(con: duckdb.DuckDBPyConnection) -> tuple[int, str]:
    row = con.execute("SELECT seq, entry_hash FROM audit_log ORDER BY seq DESC LIMIT 1").fetchall()
    return (int(row[0][0]), str(row[0][1])) if row else (0, GENESIS)


def append(
    con: duckdb.DuckDBPyConnection,
    events: Sequence[AuditEvent],
    *,
    actor: str,
    at: datetime | None = None,
) -> tuple[int, str] | None:
    """Append ``events`` (in the caller's transaction). Returns the new head, to be written to the heads
    log once the transaction has committed (see ``record_head``)."""
    if not events:
        return None
    when = at or datetime.now(UTC)
    seq, prev = head(con)
    rows: list[list[object]] = []
    for ev in events:
        seq += 1
        values: dict[str, object] = {"seq": seq, "logged_at": when, "actor": actor}
        values.update({f.name: getattr(ev, f.name) for f in fields(ev)})
        h = entry_hash(prev, values)
        rows.append([*(values[k] for k in _COLUMNS), prev, h])
        prev = h
    # one statement for all the entries (executemany is a round trip per entry)
    row_sql = f"({', '.join('?' * (len(_COLUMNS) + 2))})"
    con.execute(
        f"INSERT INTO audit_log VALUES {', '.join([row_sql] * len(rows))}", [v for r in rows for v in r]
    )
    return seq, prev


def record_head(store_file: Path, new_head: tuple[int, str] | None) -> None:
    """Append the committed head to the heads log (fsynced). A crash between commit and this write
    leaves the log one head behind the store, which `verify` accepts (it checks the log is a prefix)."""
    if new_head is None:
        return
    p = heads_path(store_file)
    p.parent.mkdir(parents=True, exist_ok=True)
    with open(p, "a", encoding="utf-8") as fh:
        fh.write(f"{new_head[0]} {new_head[1]}\n")
        fh.flush()
        os.fsync(fh.fileno())


def verify(con: duckdb.DuckDBPyConnection, store_file: Path | None = None) -> list[AuditProblem]:
    """Every problem with the chain; an empty list means intact."""
    problems: list[AuditProblem] = []
    cur = con.execute(
        f"SELECT {', '.join(_COLUMNS)}, prev_hash, entry_hash FROM audit_log ORDER BY seq"
    ).fetchall()
    prev = GENESIS
    hashes: dict[int, str] = {}
    for i, row in enumerate(cur, start=1):
        values = dict(zip(_COLUMNS, row[: len(_COLUMNS)], strict=True))
        seq = int(str(values["seq"]))
        stored_prev, stored_hash = row[len(_COLUMNS)], row[len(_COLUMNS) + 1]
        if seq != i:
            problems.append(AuditProblem(seq, f"sequence jumps from {i - 1} to {seq}: entries are missing"))
        if stored_prev != prev:
            problems.append(
                AuditProblem(seq, "does not link to the entry before it (deleted, inserted or reordered)")
            )
        if entry_hash(stored_prev, values) != stored_hash:
            problems.append(AuditProblem(seq, "its content does not match its hash (edited)"))
        hashes[seq] = stored_hash
        prev = stored_hash
    if store_file is not None:
        problems.extend(_check_heads(heads_path(store_file), hashes, len(cur)))
    return problems


def _check_heads(path: Path, hashes: dict[int, str], n: int) -> list[AuditProblem]:
    if not path.exists():
        return [AuditProblem(None, f"the heads log {path} is missing")] if n else []
    out: list[AuditProblem] = []
    last = 0
    for line in path.read_text(encoding="utf-8").splitlines():
        if not line.strip():
            continue
        seq_s, h = line.split()
        seq = int(seq_s)
        last = max(last, seq)
        if seq not in hashes:
            out.append(AuditProblem(seq, "recorded in the heads log but absent from the trail (deleted)"))
        elif hashes[seq] != h:
            out.append(AuditProblem(seq, "differs from the hash recorded in the heads log (rewritten)"))
    return out
