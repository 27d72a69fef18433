"""What stands between the network and the upload service's handlers (docs/access.md).

* :class:`FailureLimiter` — failed authentications (a wrong token, or none, to a protected endpoint)
  counted per client address and per token prefix in a sliding window (limits in config/service.yaml).
* :class:`ClientLockout` — an address past its limit gets 429 with Retry-After for *every* request, a
  valid token included, until the window has passed; a token prefix past its limit gets 429 for wrong
  tokens with that prefix (the lab's valid token still works: a prefix is no secret, and locking the lab
  out for it would hand anyone a way to stop a lab's uploads).
* :class:`SecurityHeaders` — every response: a Content-Security-Policy with a per-response nonce (the
  pages' one script and one style carry it; nothing else runs), frame-ancestors 'none', nosniff, no
  referrer, and Cache-Control: no-store (verdicts and upload pages are never kept by a browser or proxy).
* :class:`UploadGate` — an upload's credentials are checked *before* its body is read (a wrong token costs
  the service a header, not 20 MiB), and the body must keep arriving: idle for ``upload_idle_seconds`` or
  longer than ``upload_total_seconds`` in all and the request is answered 408 and closed.
"""

from __future__ import annotations

import asyncio
import contextlib
import math
import secrets
import threading
import time
from collections import deque
from collections.abc import Awaitable, Callable, MutableMapping
from typing import Any

from fastapi.responses import HTMLResponse, JSONResponse, Response

Scope = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[MutableMapping[str, Any]]]
Send = Callable[[MutableMapping[str, Any]], Awaitable[None]]

CSP = (
    "default-src 'none'; script-src 'nonce-{nonce}'; style-src 'nonce-{nonce}'; img-src 'self' data:; "
    "connect-src 'self'; form-action 'self'; base-uri 'none'; frame-ancestors 'none'"
)


LAB_TOKEN = "with your lab's token (ask the data team if it no longer works)"
REVIEWER_PASSWORD = (
    "with your reviewer account and its password (ask the data team to reset the password if it no longer "
    "works)"
)
"""What to try again with: a lab signs in with its token, a reviewer with a personal account (issue 21)."""


class TooManyFailuresError(Exception):
    def __init__(self, retry_after: int, credential: str = LAB_TOKEN) -> None:
        super().__init__(f"too many failed sign-in attempts: wait {retry_after} s and try again {credential}")
        self.retry_after = retry_after


class FailureLimiter:
    """Failed authentications per key (``client:<address>``, ``prefix:<first characters of the token>``)
    within a sliding window of ``window`` seconds; ``limits`` maps a key kind to its limit.

    Only the last ``limit`` failures of a key are kept: the key is locked while the oldest of them is
    younger than the window, so memory stays bounded and Retry-After is exact."""

    def __init__(self, limits: dict[str, int], window: float) -> None:
        self.limits = limits
        self.window = window
        self._seen: dict[str, deque[float]] = {}
        self._lock = threading.Lock()

    @staticmethod
    def client_key(client: str | None) -> str:
        return f"client:{client or 'unknown'}"

    @staticmethod
    def keys(client: str | None, token: str | None) -> list[str]:
        out = [FailureLimiter.client_key(client)]
        if token and token.strip():
            out.append(f"prefix:{token.strip()[:12]}")
        return out

    def retry_after(self, keys: list[str]) -> int:
        """Seconds until every key is below its limit again; 0 when none is locked."""
        now = time.monotonic()
        worst = 0.0
        with self._lock:
            for k in keys:
                q = self._seen.get(k)
                if q is not None and len(q) >= self.limits[k.split(":", 1)[0]]:
                    worst = max(worst, q[0] + self.window - now)
        return max(1, math.ceil(worst)) if worst > 0 else 0

    def check(self, keys: list[str], credential: str = LAB_TOKEN) -> None:
        """Raise TooManyFailuresError when any key is over its limit; ``credential`` says what the person
        tries again with (:data:`LAB_TOKEN`, :data:`REVIEWER_PASSWORD`)."""
        wait = self.retry_after(keys)
        if wait:
            raise TooManyFailuresError(wait, credential)

    def failed(self, keys: list[str]) -> None:
        now = time.monotonic()
        with self._lock:
            for k in keys:
                q = self._seen.get(k)
                if q is None:
                    q = self._seen[k] = deque(maxlen=self.limits[k.split(":", 1)[0]])
                q.append(now)
            if len(self._seen) > 100_000:  # a flood of distinct keys: forget those whose failures expired
                for k in [k for k, q in self._seen.items() if q[-1] <= now - self.window]:
                    del self._seen[k]
                if len(self._seen) > 100_000:  # still a flood: forget the oldest half
                    for k in list(self._seen)[:50_000]:
                        del self._seen[k]


class ClientLockout:
    """A client address over its failure limit gets 429 with Retry-After for every request — a valid token
    or session included — until it has been quiet for the window (docs/access.md): whoever guesses from an
    address is stopped there, not merely slowed on wrong guesses. Each refused request counts as a failure,
    so hammering on keeps the address locked; a client that honours Retry-After gets back in."""

    def __init__(self, app: Any, limiter: FailureLimiter) -> None:
        self.app = app
        self.limiter = limiter

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http":
            c = scope.get("client")
            key = [FailureLimiter.client_key(str(c[0]) if c else None)]
            if self.limiter.retry_after(key):
                self.limiter.failed(key)
                wait = self.limiter.retry_after(key)
                reviewer = scope["path"] == "/review" or scope["path"].startswith("/review/")
                exc = TooManyFailuresError(wait, REVIEWER_PASSWORD if reviewer else LAB_TOKEN)
                response = too_many(exc, api=scope["path"].startswith("/api/"))
                response.headers["Connection"] = "close"
                await response(scope, _no_body, send)
                return
        await self.app(scope, receive, send)


def too_many(exc: TooManyFailuresError, *, api: bool) -> Response:
    headers = {"Retry-After": str(exc.retry_after)}
    if api:
        return JSONResponse({"detail": str(exc)}, status_code=429, headers=headers)
    return HTMLResponse(_page("Too many attempts", str(exc)), status_code=429, headers=headers)


def _page(title: str, message: str) -> str:
    from html import escape

    return (
        f"<!doctype html><meta charset=utf-8><title>{escape(title)}</title>"
        f"<h1>{escape(title)}</h1><p class=error>{escape(message)}</p><p><a href='/'>Back</a>"
    )


class SecurityHeaders:
    def __init__(self, app: Any) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        nonce = secrets.token_urlsafe(16)
        scope.setdefault("state", {})["csp_nonce"] = nonce

        async def with_headers(message: MutableMapping[str, Any]) -> None:
            if message["type"] == "http.response.start":
                headers = [
                    (k, v)
                    for k, v in message.get("headers", [])
                    if k.lower() not in (b"cache-control", b"content-security-policy")
                ]
                headers += [
                    (b"content-security-policy", CSP.format(nonce=nonce).encode()),
                    (b"x-content-type-options", b"nosniff"),
                    (b"x-frame-options", b"DENY"),
                    (b"referrer-policy", b"no-referrer"),
                    (b"cache-control", b"no-store"),
                    (b"cross-origin-opener-policy", b"same-origin"),
                ]
                if scope.get("scheme") == "https":
                    headers.append((b"strict-transport-security", b"max-age=31536000"))
                message["headers"] = headers
            await send(message)

        await self.app(scope, receive, with_headers)


class _Stalled(Exception):
    pass


class UploadGate:
    """Credentials before the body; a body that stalls is cut off (see the module docstring).

    ``authorised(scope)`` answers None when the request may go on, else the response to send instead (401,
    303 to the sign-in page, 429) — decided from the headers alone."""

    def __init__(
        self,
        app: Any,
        paths: tuple[str, ...],
        authorised: Callable[[Scope], Response | None],
        idle: Callable[[], float],
        total: Callable[[], float],
    ) -> None:
        self.app = app
        self.paths = paths
        self.authorised = authorised
        self.idle = idle
        self.total = total

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["method"] != "POST" or scope["path"] not in self.paths:
            await self.app(scope, receive, send)
            return
        refused = await asyncio.to_thread(self.authorised, scope)  # a registry lookup: off the event loop
        if refused is not None:
            refused.headers["Connection"] = "close"
            await refused(scope, _no_body, send)
            return
        idle, deadline = self.idle(), time.monotonic() + self.total()
        started = stalled = False

        async def timed() -> MutableMapping[str, Any]:
            nonlocal stalled
            wait = min(idle, deadline - time.monotonic())
            try:
                if wait <= 0:
                    raise TimeoutError
                return await asyncio.wait_for(receive(), timeout=wait)
            except TimeoutError:
                stalled = True
                raise _Stalled from None

        async def watch(message: MutableMapping[str, Any]) -> None:
            nonlocal started
            if stalled:
                return  # the framework's own error for the interrupted read: answered below instead
            if message["type"] == "http.response.start":
                started = True
            await send(message)

        with contextlib.suppress(_Stalled):
            await self.app(scope, timed, watch)
        if stalled and not started:
            msg = (
                "the upload stopped arriving (no data for a while, or too slow overall) and was cut off; "
                "check the connection and upload the file again"
            )
            api = scope["path"].startswith("/api/")
            response: Response = (
                JSONResponse({"detail": msg}, status_code=408)
                if api
                else HTMLResponse(_page("Upload timed out", msg), status_code=408)
            )
            response.headers["Connection"] = "close"
            await response(scope, _no_body, send)


async def _no_body() -> MutableMapping[str, Any]:
    return {"type": "http.disconnect"}
