"""Reviewer accounts: the people who sign runs (21 CFR Part 11 §11.100, §11.200, §11.300).

Separate from the labs' upload tokens (service/auth.py): a lab token says which lab sends a file; a
reviewer account says which *person* signs. A lab token is a long random string, so a plain SHA-256 of it
is enough to look it up; a reviewer's secret is a password a person chose, so it is kept only as the
output of a salted, deliberately slow standard KDF (``hashlib.scrypt``), compared in constant time. The
account lives in the writer store (``reviewers``), append-only: a new password or a deactivation is a new
version row, and the latest version is in force. Every change is an audit entry.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from dataclasses import dataclass

import duckdb

from warehouse import audit
from warehouse.audit import AuditEvent
from warehouse.store import WriterStore, now_utc

MIN_SECRET_LENGTH = 10
_N, _R, _P, _DKLEN = 2**14, 8, 1, 32  # scrypt's interactive-login parameters (RFC 7914 §2); ~50 ms
_PARAMS = f"n={_N},r={_R},p={_P},dklen={_DKLEN}"


class ReviewerError(Exception):
    """The account request cannot be done as asked; the message says what to change."""


@dataclass(frozen=True)
class Reviewer:
    name: str
    full_name: str
    lab: str | None
    version: int
    active: bool


def _derive(secret: str, salt: bytes, params: str) -> bytes:
    p = dict(kv.split("=") for kv in params.split(","))
    return hashlib.scrypt(
        secret.encode("utf-8"),
        salt=salt,
        n=int(p["n"]),
        r=int(p["r"]),
        p=int(p["p"]),
        dklen=int(p["dklen"]),
        maxmem=64 * 1024 * 1024,
    )


def get(con: duckdb.DuckDBPyConnection, name: str) -> Reviewer | None:
    """The account's version in force, or None when there is no such account."""
    rows = con.execute(
        "SELECT reviewer, full_name, lab, version, active FROM reviewers WHERE reviewer = ? "
        "ORDER BY version DESC LIMIT 1",
        [name],
    ).fetchall()
    if not rows:
        return None
    r = rows[0]
    return Reviewer(str(r[0]), str(r[1]), r[2], int(r[3]), bool(r[4]))


def list_reviewers(con: duckdb.DuckDBPyConnection) -> list[Reviewer]:
    rows = con.execute(
        "SELECT reviewer, arg_max(full_name, version), arg_max(lab, version), max(version), "
        "arg_max(active, version) FROM reviewers GROUP BY reviewer ORDER BY reviewer"
    ).fetchall()
    return [Reviewer(str(r[0]), str(r[1]), r[2], int(r[3]), bool(r[4])) for r in rows]


def add(
    store: WriterStore,
    name: str,
    secret: str,
    *,
    full_name: str,
    lab: str | None = None,
    by: str,
    reset: bool = False,
) -> Reviewer:
    """Add the account ``name`` (or, with ``reset``, give an existing one a new secret and details)."""
    name = name.strip()
    if not name or any(c.isspace() for c in name):
        raise ReviewerError("a reviewer's account name is one word, e.g. jsmith")
    if len(secret) < MIN_SECRET_LENGTH:
        raise ReviewerError(
            f"the password must be at least {MIN_SECRET_LENGTH} characters (a passphrase is best)"
        )
    if not full_name.strip():
        raise ReviewerError("the reviewer's full name is required (--name): it is printed on signatures")
    con = store.con
    current = get(con, name)
    if current is not None and not reset:
        raise ReviewerError(
            f"reviewer {name} exists already; to give a new password use "
            f"`biomarkers reviewer add {name} --reset`"
        )
    if current is None and reset:
        raise ReviewerError(f"no reviewer {name} to reset; add it without --reset")
    version = 1 if current is None else current.version + 1
    salt = secrets.token_bytes(16)
    key = _derive(secret, salt, _PARAMS)
    at = now_utc()
    con.execute("BEGIN TRANSACTION")
    try:
        con.execute(
            "INSERT INTO reviewers VALUES (?, ?, ?, ?, 'scrypt', ?, ?, ?, true, ?, ?)",
            [name, version, full_name.strip(), lab, _PARAMS, salt.hex(), key.hex(), by, at],
        )
        event = AuditEvent(
            event="reviewer_added" if version == 1 else "reviewer_reset",
            entity="reviewer",
            entity_id=name,
            new_value=f"{full_name.strip()} (lab {lab or 'none'}), version {version}",
            reason="new reviewer account" if version == 1 else "new password",
        )
        new_head = audit.append(con, [event], actor=by, at=at)
        con.execute("COMMIT")
    except BaseException:
        con.execute("ROLLBACK")
        raise
    audit.record_head(store.paths.ingest_db, new_head)
    return Reviewer(name, full_name.strip(), lab, version, True)


def deactivate(store: WriterStore, name: str, *, by: str, reason: str) -> None:
    """Take an account out of use (a new version, inactive); its signatures stay valid."""
    con = store.con
    cur = con.execute(
        "SELECT * FROM reviewers WHERE reviewer = ? ORDER BY version DESC LIMIT 1", [name]
    ).fetchall()
    if not cur or not cur[0][9]:
        raise ReviewerError(f"no active reviewer {name}")
    row = list(cur[0])
    at = now_utc()
    con.execute("BEGIN TRANSACTION")
    try:
        con.execute(
            "INSERT INTO reviewers VALUES (?, ?, ?, ?, ?, ?, ?, ?, false, ?, ?)",
            [*row[:1], row[1] + 1, *row[2:8], by, at],
        )
        event = AuditEvent(
            event="reviewer_deactivated",
            entity="reviewer",
            entity_id=name,
            old_value="active",
            new_value="inactive",
            reason=reason,
        )
        new_head = audit.append(con, [event], actor=by, at=at)
        con.execute("COMMIT")
    except BaseException:
        con.execute("ROLLBACK")
        raise
    audit.record_head(store.paths.ingest_db, new_head)


def authenticate(con: duckdb.DuckDBPyConnection, name: str, secret: str) -> Reviewer | None:
    """The account when ``secret`` is its password and it is active; None otherwise (unknown account,
    wrong password and inactive account look the same to the caller: no hint for a guesser)."""
    rows = con.execute(
        "SELECT kdf_params, salt, secret_hash, active FROM reviewers WHERE reviewer = ? "
        "ORDER BY version DESC LIMIT 1",
        [name],
    ).fetchall()
    if not rows:
        _derive(secret, b"\0" * 16, _PARAMS)  # same time as a real check
        return None
    params, salt, stored, active = rows[0]
    ok = hmac.compare_digest(_derive(secret, bytes.fromhex(salt), params).hex(), stored)
    return get(con, name) if ok and active else None
