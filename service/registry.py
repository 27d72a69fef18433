"""The service's own DuckDB registry: labs, hashed tokens, uploads and their status history.

DuckDB locks a file across processes, and ``biomarkers lab add`` must work while the service runs, so
every operation opens the file, does its work in one transaction and closes it (~20 ms), retrying for a
few seconds when another process holds it. Inside one process a lock serialises the operations.
Upload facts are written once; status changes are appended to ``upload_events`` (the current status is
the latest event), so an upload's history is never lost.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from importlib import resources
from pathlib import Path
from typing import Any

import duckdb

UPLOAD_STATUSES = ("received", "verdict", "refused", "ingesting", "loaded", "failed")


class RegistryBusyError(Exception):
    """Another process kept the service registry locked for longer than we wait."""


class LabExistsError(Exception):
    """The lab already has a valid token."""


class UnknownLabError(Exception):
    """No such lab (or it has no valid token)."""


@dataclass(frozen=True)
class Lab:
    name: str
    token_id: str


@dataclass(frozen=True)
class UploadRow:
    upload_id: str
    lab: str
    received_at: datetime
    file_name: str
    sha256: str
    size_bytes: int
    platemap_name: str | None
    platemap_sha256: str | None
    verdict_json: str | None
    verdict_seconds: float | None
    status: str
    status_message: str
    status_at: datetime


@dataclass(frozen=True)
class LabRow:
    name: str
    created_at: datetime
    active_tokens: int


def now_utc() -> datetime:
    return datetime.now(UTC)


_UPLOAD_SELECT = """
SELECT u.upload_id, u.lab, u.received_at, u.file_name, u.sha256, u.size_bytes, u.platemap_name,
       u.platemap_sha256, u.verdict_json, u.verdict_seconds, e.status, e.message, e.at
FROM uploads u
JOIN (SELECT upload_id, arg_max(status, seq) AS status, arg_max(message, seq) AS message, max(event_at) AS at
      FROM upload_events GROUP BY upload_id) e USING (upload_id)
"""


class Registry:
    """Operations on the registry file. ``keep_open_seconds`` > 0 (the server) keeps the connection open
    while operations keep coming (~2 ms each instead of ~40 ms) and lets it go after that many idle
    seconds, so ``biomarkers lab add`` in another process gets in between bursts."""

    def __init__(self, path: Path, *, wait_seconds: float = 10.0, keep_open_seconds: float = 0.0) -> None:
        self.path = path
        self.wait_seconds = wait_seconds
        self.keep_open_seconds = keep_open_seconds
        self._lock = threading.Lock()
        self._con: duckdb.DuckDBPyConnection | None = None
        self._last_used = 0.0
        path.parent.mkdir(parents=True, exist_ok=True)
        ddl = resources.files("service").joinpath("registry.sql").read_text(encoding="utf-8")
        with self._connect() as con:
            con.execute(ddl)
        if keep_open_seconds > 0:
            threading.Thread(target=self._release_when_idle, name="registry-idle", daemon=True).start()

    def _open(self) -> duckdb.DuckDBPyConnection:
        deadline = time.monotonic() + self.wait_seconds
        delay = 0.02
        while True:
            try:
                return duckdb.connect(str(self.path))
            except duckdb.IOException as exc:
                if "lock" not in str(exc).lower():
                    raise
                if time.monotonic() > deadline:
                    raise RegistryBusyError(
                        f"the upload service registry {self.path} is locked by another process; "
                        "try again in a moment"
                    ) from None
                time.sleep(delay)
                delay = min(delay * 2, 0.5)

    def _release_when_idle(self) -> None:
        while True:
            time.sleep(min(self.keep_open_seconds, 0.5))
            with self._lock:
                if self._con is not None and time.monotonic() - self._last_used > self.keep_open_seconds:
                    self._con.close()
                    self._con = None

    def close(self) -> None:
        with self._lock:
            if self._con is not None:
                self._con.close()
                self._con = None

    @contextmanager
    def _connect(self) -> Iterator[duckdb.DuckDBPyConnection]:
        with self._lock:
            if self._con is None:
                self._con = self._open()
            con = self._con
            try:
                con.execute("BEGIN TRANSACTION")
                yield con
                con.execute("COMMIT")
            except BaseException:
                con.execute("ROLLBACK")
                raise
            finally:
                self._last_used = time.monotonic()
                if self.keep_open_seconds <= 0:
                    con.close()
                    self._con = None

    # --- labs and tokens ---------------------------------------------------------------------------
    def add_token(self, lab: str, token_id: str, token_sha256: str, *, allow_existing: bool = False) -> None:
        with self._connect() as con:
            active = con.execute(
                "SELECT count(*) FROM tokens WHERE lab = ? AND revoked_at IS NULL", [lab]
            ).fetchall()[0][0]
            if active and not allow_existing:
                raise LabExistsError(
                    f"lab {lab!r} already has a valid token; run `biomarkers lab revoke {lab}` first "
                    "to replace it"
                )
            con.execute("INSERT INTO labs VALUES (?, ?) ON CONFLICT DO NOTHING", [lab, now_utc()])
            con.execute(
                "INSERT INTO tokens VALUES (?, ?, ?, ?, NULL)", [token_id, lab, token_sha256, now_utc()]
            )

    def revoke(self, lab: str) -> int:
        with self._connect() as con:
            n = con.execute(
                "SELECT count(*) FROM tokens WHERE lab = ? AND revoked_at IS NULL", [lab]
            ).fetchall()[0][0]
            if not n:
                raise UnknownLabError(f"lab {lab!r} has no valid token (see `biomarkers lab list`)")
            con.execute(
                "UPDATE tokens SET revoked_at = ? WHERE lab = ? AND revoked_at IS NULL", [now_utc(), lab]
            )
            return int(n)

    def labs(self) -> list[LabRow]:
        with self._connect() as con:
            rows = con.execute(
                """SELECT l.name, l.created_at, count(t.token_id) FILTER (WHERE t.revoked_at IS NULL)
                   FROM labs l LEFT JOIN tokens t ON t.lab = l.name GROUP BY ALL ORDER BY l.name"""
            ).fetchall()
        return [LabRow(r[0], r[1], int(r[2])) for r in rows]

    def lab_for_token_hash(self, token_sha256: str) -> Lab | None:
        with self._connect() as con:
            rows = con.execute(
                "SELECT lab, token_id FROM tokens WHERE token_sha256 = ? AND revoked_at IS NULL",
                [token_sha256],
            ).fetchall()
        return Lab(rows[0][0], rows[0][1]) if rows else None

    def lab_for_token_id(self, token_id: str) -> Lab | None:
        with self._connect() as con:
            rows = con.execute(
                "SELECT lab, token_id FROM tokens WHERE token_id = ? AND revoked_at IS NULL", [token_id]
            ).fetchall()
        return Lab(rows[0][0], rows[0][1]) if rows else None

    # --- sessions ------------------------------------------------------------------------------------
    def create_session(self, token_id: str, session_sha256: str, hours: float) -> None:
        now = now_utc()
        with self._connect() as con:
            con.execute(
                "INSERT INTO sessions VALUES (?, ?, ?, ?, NULL)",
                [session_sha256, token_id, now, now + timedelta(hours=hours)],
            )

    def lab_for_session(self, session_sha256: str) -> Lab | None:
        """The lab of a session that is open, unexpired and whose token is not revoked."""
        with self._connect() as con:
            rows = con.execute(
                """SELECT t.lab, t.token_id FROM sessions s JOIN tokens t USING (token_id)
                   WHERE s.session_sha256 = ? AND s.ended_at IS NULL AND s.expires_at > ?
                     AND t.revoked_at IS NULL""",
                [session_sha256, now_utc()],
            ).fetchall()
        return Lab(rows[0][0], rows[0][1]) if rows else None

    def end_session(self, session_sha256: str) -> None:
        with self._connect() as con:
            con.execute(
                "UPDATE sessions SET ended_at = ? WHERE session_sha256 = ? AND ended_at IS NULL",
                [now_utc(), session_sha256],
            )

    def uploads_since(self, lab: str, since: datetime) -> int:
        with self._connect() as con:
            return int(
                con.execute(
                    "SELECT count(*) FROM uploads WHERE lab = ? AND received_at >= ?", [lab, since]
                ).fetchall()[0][0]
            )

    # --- uploads -------------------------------------------------------------------------------------
    def uploads_by_sha(self, lab: str, sha256: str) -> list[UploadRow]:
        """This lab's uploads of these bytes, the first received first (sent alone, with a plate map, with
        an assay: each its own upload)."""
        with self._connect() as con:
            rows = con.execute(
                _UPLOAD_SELECT + " WHERE u.lab = ? AND u.sha256 = ? ORDER BY u.received_at",
                [lab, sha256],
            ).fetchall()
        return [_row(r) for r in rows]

    def create_upload(
        self,
        *,
        upload_id: str,
        lab: str,
        file_name: str,
        sha256: str,
        size_bytes: int,
        platemap_name: str | None,
        platemap_sha256: str | None,
    ) -> None:
        at = now_utc()
        with self._connect() as con:
            con.execute(
                "INSERT INTO uploads VALUES (?, ?, ?, ?, ?, ?, ?, ?, NULL, NULL)",
                [upload_id, lab, at, file_name, sha256, size_bytes, platemap_name, platemap_sha256],
            )
            con.execute(
                "INSERT INTO upload_events (upload_id, event_at, status, message) "
                "VALUES (?, ?, 'received', ?)",
                [upload_id, at, "bytes received and kept"],
            )

    def set_verdict(
        self, upload_id: str, verdict_json: str, seconds: float, status: str, message: str
    ) -> None:
        with self._connect() as con:
            con.execute(
                "UPDATE uploads SET verdict_json = ?, verdict_seconds = ? WHERE upload_id = ? "
                "AND verdict_json IS NULL",
                [verdict_json, seconds, upload_id],
            )
            _event(con, upload_id, status, message)

    def add_event(self, upload_id: str, status: str, message: str | None) -> None:
        if status not in UPLOAD_STATUSES:
            raise ValueError(f"unknown upload status {status!r}")
        with self._connect() as con:
            _event(con, upload_id, status, message)

    def upload(self, upload_id: str, lab: str) -> UploadRow | None:
        """The upload if it belongs to ``lab``; another lab's upload is indistinguishable from none."""
        with self._connect() as con:
            rows = con.execute(
                _UPLOAD_SELECT + " WHERE u.upload_id = ? AND u.lab = ?", [upload_id, lab]
            ).fetchall()
        return _row(rows[0]) if rows else None

    def uploads(self, lab: str, limit: int = 200) -> list[UploadRow]:
        with self._connect() as con:
            rows = con.execute(
                _UPLOAD_SELECT + " WHERE u.lab = ? ORDER BY u.received_at DESC, u.upload_id LIMIT ?",
                [lab, limit],
            ).fetchall()
        return [_row(r) for r in rows]

    def uploads_in_status(self, status: str) -> list[UploadRow]:
        with self._connect() as con:
            rows = con.execute(
                "SELECT * FROM (" + _UPLOAD_SELECT + ") WHERE status = ? ORDER BY received_at", [status]
            ).fetchall()
        return [_row(r) for r in rows]

    def history(self, upload_id: str) -> list[tuple[datetime, str, str | None]]:
        with self._connect() as con:
            rows = con.execute(
                "SELECT event_at, status, message FROM upload_events WHERE upload_id = ? ORDER BY seq",
                [upload_id],
            ).fetchall()
        return [(r[0], r[1], r[2]) for r in rows]


def _event(con: duckdb.DuckDBPyConnection, upload_id: str, status: str, message: str | None) -> None:
    con.execute(
        "INSERT INTO upload_events (upload_id, event_at, status, message) VALUES (?, ?, ?, ?)",
        [upload_id, now_utc(), status, message or ""],  # never NULL: arg_max skips NULL values
    )


def _row(r: tuple[Any, ...]) -> UploadRow:
    return UploadRow(*r)
