"""Per-lab authentication: API tokens (stored only as SHA-256), signed session cookies and CSRF tokens.

A token is 256 random bits, so a plain SHA-256 of it is as strong as a slow password hash and lets the
service look it up directly. The page signs in with the token once and then carries a session cookie
``<token_id>.<expiry>.<hmac>``; revoking the lab's token ends its sessions at the next request, because
every request looks the token up again. Forms carry a CSRF token: for the sign-in form a random value
that must match a cookie (double submit), for signed-in forms an HMAC of the session.
"""

from __future__ import annotations

import hashlib
import hmac
import os
import re
import secrets
import time
from dataclasses import dataclass
from pathlib import Path

from service.registry import Lab, Registry

TOKEN_PREFIX = "bct_"
LAB_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$")


class BadLabNameError(ValueError):
    """A lab name must be a short plain identifier (it is shown on pages and logs)."""


@dataclass(frozen=True)
class IssuedToken:
    lab: str
    token: str  # shown once; only its hash is kept


def hash_token(token: str) -> str:
    return hashlib.sha256(token.strip().encode("utf-8")).hexdigest()


def check_lab_name(name: str) -> str:
    if not LAB_NAME.match(name):
        raise BadLabNameError(
            f"lab name {name!r} is not allowed: use 1-64 letters, digits, '.', '_' or '-', starting with a "
            "letter or digit (e.g. 'site-01-biomarker-lab')"
        )
    return name


def issue_token(registry: Registry, lab: str) -> IssuedToken:
    check_lab_name(lab)
    token = TOKEN_PREFIX + secrets.token_urlsafe(32)
    registry.add_token(lab, secrets.token_hex(8), hash_token(token))
    return IssuedToken(lab=lab, token=token)


def lab_for_token(registry: Registry, token: str) -> Lab | None:
    if not token or len(token) > 200:
        return None
    return registry.lab_for_token_hash(hash_token(token))


def load_or_create_key(path: Path) -> bytes:
    """The server's secret for signing sessions, created once (readable by the owner only)."""
    if path.is_file():
        return bytes.fromhex(path.read_text(encoding="ascii").strip())
    path.parent.mkdir(parents=True, exist_ok=True)
    key = secrets.token_bytes(32)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w", encoding="ascii") as fh:
        fh.write(key.hex())
    try:
        os.link(tmp, path)  # first writer wins when two processes start at once
    except FileExistsError:
        pass
    finally:
        tmp.unlink(missing_ok=True)
    return bytes.fromhex(path.read_text(encoding="ascii").strip())


class Signer:
    def __init__(self, key: bytes) -> None:
        self.key = key

    def _mac(self, text: str) -> str:
        return hmac.new(self.key, text.encode("utf-8"), hashlib.sha256).hexdigest()

    def session(self, token_id: str, hours: float, now: float | None = None) -> str:
        expiry = int((now if now is not None else time.time()) + hours * 3600)
        body = f"{token_id}.{expiry}"
        return f"{body}.{self._mac('session|' + body)}"

    def session_token_id(self, cookie: str | None, now: float | None = None) -> str | None:
        """The token ID a valid, unexpired session cookie names; None for anything else."""
        if not cookie or cookie.count(".") != 2:
            return None
        token_id, expiry, mac = cookie.split(".")
        if not hmac.compare_digest(mac, self._mac(f"session|{token_id}.{expiry}")):
            return None
        if not expiry.isdigit() or int(expiry) < (now if now is not None else time.time()):
            return None
        return token_id

    def csrf_for_session(self, cookie: str) -> str:
        return self._mac("csrf|" + cookie)

    def check_csrf_for_session(self, cookie: str | None, presented: str | None) -> bool:
        return bool(cookie and presented) and hmac.compare_digest(
            self.csrf_for_session(cookie or ""), presented or ""
        )


def new_csrf_nonce() -> str:
    return secrets.token_urlsafe(24)


def same_nonce(cookie: str | None, presented: str | None) -> bool:
    return bool(cookie and presented) and hmac.compare_digest(cookie or "", presented or "")
