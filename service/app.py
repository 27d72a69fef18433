"""The upload service: an HTML page and a JSON API in one FastAPI application (``create_app``).

Both faces share one path for an upload (:class:`Intake`): check the name and size → keep the raw bytes
under their SHA-256 → record the upload for its lab → verdict with the pure pipeline → hand a loadable file
to ingestion. The API authenticates with ``Authorization: Bearer <lab token>``; the page signs in once with
the token and then carries an HttpOnly, SameSite=Strict session cookie, its forms a CSRF token. A lab only
ever sees its own uploads: another lab's upload ID answers 404, exactly like an unknown one.
"""

import asyncio
import json
import logging
import secrets
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable, Iterable, MutableMapping
from contextlib import asynccontextmanager
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Annotated, Any

from fastapi import Depends, FastAPI, File, Form, HTTPException, Query, Request, UploadFile
from fastapi.responses import HTMLResponse, JSONResponse, RedirectResponse, Response
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from fastapi.templating import Jinja2Templates

from schemas import settings as cli_settings
from schemas.config import load_config
from service import auth, review_pages
from service.apidocs import api_reference
from service.guard import (
    ClientLockout,
    FailureLimiter,
    SecurityHeaders,
    TooManyFailuresError,
    UploadGate,
    too_many,
)
from service.handoff import Handoff, Job, NoHandoff, make_handoff
from service.intake import (
    RefusedUploadError,
    check_assay,
    check_content,
    check_file_name,
    keep,
    place_for_ingestion,
    platemap_name_for,
    too_large_message,
)
from service.models import ErrorOut, Health, StatusEvent, Upload, UploadList, UploadSummary
from service.pool import VerdictPool, VerdictRefusedError
from service.registry import Lab, Registry, UploadRow
from service.settings import ServiceSettings
from service.verdict import KIND_LABEL, ManifestCache, ManifestUnavailableError, Verdict, build_verdict

log = logging.getLogger(__name__)

SESSION_COOKIE = "bct_session"
SECURE_SESSION_COOKIE = "__Host-bct_session"  # over TLS: Secure, Path=/, no Domain (the browser enforces it)
CSRF_COOKIE = "bct_csrf"
SIGNIN_MESSAGES = {
    "expired": ("The form had expired; sign in again.", 400),
    "invalid": (
        "That token is not valid (mistyped, or revoked). Ask the data team for your lab's token.",
        401,
    ),
}
"""The only messages the sign-in page shows: chosen by the server, never taken from the address."""
UPLOAD_PATHS = ("/api/v1/uploads", "/upload")
MULTIPART_OVERHEAD = 1024 * 1024  # room for the plate map and the form's own bytes
TEMPLATES = cli_settings.package_path("service", "templates")  # package data: a wheel ships them


@dataclass(frozen=True)
class Received:
    row: UploadRow
    duplicate: bool
    http_status: int


class Intake:
    """One upload, from bytes to verdict and hand-off (see the module doc)."""

    def __init__(
        self,
        settings: ServiceSettings,
        registry: Registry,
        judge: VerdictPool,
        handoff: Handoff,
        assays: Iterable[str] = (),
    ) -> None:
        self.settings = settings
        self.registry = registry
        self.judge = judge
        self.handoff = handoff
        self.assays = list(assays)  # the assay_ids an upload may name (assays.yaml)

    @property
    def max_bytes(self) -> int:
        return self.settings.service.upload.max_bytes

    def receive(
        self,
        lab: str,
        name: str | None,
        data: bytes,
        platemap_name: str | None,
        platemap: bytes | None,
        assay: str | None = None,
    ) -> Received:
        """``assay``: the assay_id chosen with the upload, for an export that does not name its analyte.
        The same bytes sent again with another assay (or plate map) are a new upload with its own verdict."""
        name = check_file_name(name)
        assay = check_assay(assay, self.assays)
        check_content(data, self.max_bytes)
        quota = self.settings.service.limits.uploads_per_lab_per_hour
        if self.registry.uploads_since(lab, datetime.now(UTC) - timedelta(hours=1)) >= quota:
            raise RefusedUploadError(
                f"lab {lab} has uploaded {quota} files in the last hour, the most the service takes from one "
                "lab (config/service.yaml limits.uploads_per_lab_per_hour); wait a while, or ask the data "
                "team to raise the limit for a large batch",
                status=429,
            )
        if platemap is not None:
            check_file_name(platemap_name, what="plate map")
            check_content(platemap, self.max_bytes, what="plate map")
        paths = self.settings.warehouse_paths
        sha = keep(paths, data)  # the raw bytes first, before anything reads them
        pm_sha = keep(paths, platemap) if platemap is not None else None
        earlier = next(
            (
                u
                for u in self.registry.uploads_by_sha(lab, sha)
                if u.platemap_sha256 == pm_sha and _assay_of(u) == assay
            ),
            None,
        )
        if earlier is not None:
            if earlier.status == "failed" and (v := verdict_of(earlier)) is not None and v.loadable:
                self._hand_off(earlier.upload_id, lab, sha, pm_sha, name, data, platemap, assay)  # sent again
                earlier = self.registry.upload(earlier.upload_id, lab) or earlier
            return Received(earlier, duplicate=True, http_status=200)
        upload_id = uuid.uuid4().hex
        self.registry.create_upload(
            upload_id=upload_id,
            lab=lab,
            file_name=name,
            sha256=sha,
            size_bytes=len(data),
            platemap_name=platemap_name if platemap is not None else None,
            platemap_sha256=pm_sha,
        )
        siblings = {platemap_name_for(name): platemap} if platemap is not None else None
        try:
            verdict, seconds = self.judge(name, data, sha, siblings, assay)
        except ManifestUnavailableError as exc:
            self.registry.add_event(upload_id, "failed", str(exc))
            raise HTTPException(503, f"{exc}. Upload ID {upload_id}.") from None
        except VerdictRefusedError as exc:  # over the worker's time or memory: the lab is told plainly
            verdict, seconds = _refused_verdict(name, str(exc), assay), 0.0
        except Exception as exc:  # a pipeline defect: the file is kept, the lab is told plainly
            log.exception("verdict for upload %s failed", upload_id)
            verdict, seconds = _internal_error_verdict(name, exc, assay), 0.0
        loadable = verdict.loadable
        self.registry.set_verdict(
            upload_id,
            verdict.model_dump_json(),
            seconds,
            "verdict" if loadable else "refused",
            verdict.summary if loadable else f"not loaded: {verdict.what_to_do}",
        )
        if loadable:
            self._hand_off(upload_id, lab, sha, pm_sha, name, data, platemap, assay)
        row = self.registry.upload(upload_id, lab)
        assert row is not None
        status = 415 if verdict.outcome == "not_an_export" else 201
        return Received(row, duplicate=False, http_status=status)

    def _hand_off(
        self,
        upload_id: str,
        lab: str,
        sha: str,
        pm_sha: str | None,
        name: str,
        data: bytes,
        platemap: bytes | None,
        assay: str | None,
    ) -> None:
        folder_key = sha if pm_sha is None else f"{sha}-{pm_sha[:16]}"
        folder = place_for_ingestion(
            self.settings.uploads_dir, folder_key, name, data, platemap, lab=lab, assay=assay
        )
        try:
            self.handoff.submit(Job(upload_id, sha, folder))
        except Exception as exc:
            log.exception("hand-off of upload %s failed", upload_id)
            self.registry.add_event(
                upload_id,
                "failed",
                f"could not start ingestion ({type(exc).__name__}: {exc}); the file is kept and waits "
                "in the uploads folder for the next ingestion run (or upload it again to retry)",
            )


def _internal_error_verdict(name: str, exc: BaseException, assay: str | None) -> Verdict:
    return _refused_verdict(
        name,
        f"the pipeline failed on this file ({type(exc).__name__}). The file is kept; the data team has been "
        "told and will re-run it once the pipeline is fixed.",
        assay,
    )


def _refused_verdict(name: str, message: str, assay: str | None) -> Verdict:
    from schemas.outcome import FileOutcome

    return build_verdict(
        FileOutcome(
            source_file=name,
            source_sha256="",
            size_bytes=0,
            format="unknown",
            status="quarantined",
            message=message,
        ),
        assay,
    )


def verdict_of(row: UploadRow) -> Verdict | None:
    return Verdict.model_validate_json(row.verdict_json) if row.verdict_json else None


def _assay_of(row: UploadRow) -> str | None:
    """The assay an upload was sent with (kept in its verdict)."""
    v = verdict_of(row)
    return v.assay if v else None


def to_upload(row: UploadRow, registry: Registry, *, duplicate: bool = False) -> Upload:
    return Upload(
        id=row.upload_id,
        lab=row.lab,
        file_name=row.file_name,
        platemap_name=row.platemap_name,
        sha256=row.sha256,
        size_bytes=row.size_bytes,
        received_at=row.received_at,
        status=row.status,  # type: ignore[arg-type]
        status_message=row.status_message,
        duplicate=duplicate,
        verdict=verdict_of(row),
        verdict_seconds=row.verdict_seconds,
        history=[
            StatusEvent(at=at, status=s, message=m)  # type: ignore[arg-type]
            for at, s, m in registry.history(row.upload_id)
        ],
    )


def to_summary(row: UploadRow) -> UploadSummary:
    v = verdict_of(row)
    return UploadSummary(
        id=row.upload_id,
        file_name=row.file_name,
        sha256=row.sha256,
        received_at=row.received_at,
        status=row.status,  # type: ignore[arg-type]
        status_message=row.status_message,
        outcome=v.outcome if v else None,
        light=v.light if v else None,
        headline=v.headline if v else None,
        summary=v.summary if v else None,
        counts=v.counts if v else None,
    )


class _BodyTooLarge(Exception):
    pass


class UploadSizeLimit:
    """Refuse an over-large upload before its body is read (Content-Length), and stop one that streams
    past the limit without announcing its length."""

    def __init__(self, app: Any, limit: Callable[[], int]) -> None:
        self.app = app
        self.limit = limit

    async def __call__(
        self,
        scope: MutableMapping[str, Any],
        receive: Callable[[], Awaitable[MutableMapping[str, Any]]],
        send: Callable[[MutableMapping[str, Any]], Awaitable[None]],
    ) -> None:
        if scope["type"] != "http" or scope["method"] != "POST" or scope["path"] not in UPLOAD_PATHS:
            await self.app(scope, receive, send)
            return
        limit = self.limit() + MULTIPART_OVERHEAD
        headers = dict(scope.get("headers") or [])
        length = headers.get(b"content-length")
        if length is not None and length.isdigit() and int(length) > limit:
            await self._refuse(scope, send, int(length))
            return
        seen = 0
        started = too_large = False

        async def counted() -> MutableMapping[str, Any]:
            nonlocal seen, too_large
            message = await receive()
            if message["type"] == "http.request":
                seen += len(message.get("body", b""))
                if seen > limit:
                    too_large = True
                    raise _BodyTooLarge
            return message

        async def watch(message: MutableMapping[str, Any]) -> None:
            # the framework may turn the interrupted read into its own error response: answer 413 instead
            nonlocal started
            if too_large:
                if not started:
                    started = True
                    await self._refuse(scope, send, None)
                return
            if message["type"] == "http.response.start":
                started = True
            await send(message)

        try:
            await self.app(scope, counted, watch)
        except _BodyTooLarge:
            if not started:
                await self._refuse(scope, send, None)

    async def _refuse(self, scope: MutableMapping[str, Any], send: Any, size: int | None) -> None:
        message = too_large_message(size, self.limit())
        if scope["path"].startswith("/api/"):
            response: Response = JSONResponse({"detail": message}, status_code=413)
        else:
            response = HTMLResponse(_plain_page("Upload too large", message), status_code=413)
        response.headers["Connection"] = "close"
        await response(scope, _no_body, send)


async def _no_body() -> MutableMapping[str, Any]:
    return {"type": "http.disconnect"}


def _plain_page(title: str, message: str) -> str:
    from html import escape

    return (
        f"<!doctype html><meta charset=utf-8><title>{escape(title)}</title>"
        f"<h1>{escape(title)}</h1><p class=error>{escape(message)}</p>"
        "<p><a href='/'>Back to the upload page</a>"
    )


bearer = HTTPBearer(auto_error=False, description="A lab's API token from `biomarkers lab add NAME`")


def create_app(settings: ServiceSettings) -> FastAPI:
    cli_settings.configure_environment()
    config = load_config(settings.config_dir)
    registry = Registry(settings.registry_db, keep_open_seconds=1.0)
    signer = auth.Signer(auth.load_or_create_key(settings.session_key_file))
    manifests = ManifestCache(settings.manifest, config)
    assay_names = {a.assay_id: a.name for a in config.assays.assays}  # the upload's assay choices
    limits = settings.service.limits
    limiter = FailureLimiter(
        {"client": limits.failed_auth_per_client, "prefix": limits.failed_auth_per_token_prefix},
        limits.failed_auth_window_seconds,
    )

    def csp_nonce(request: Request) -> dict[str, Any]:
        return {"csp_nonce": request.scope.get("state", {}).get("csp_nonce", "")}

    templates = Jinja2Templates(directory=str(TEMPLATES), context_processors=[csp_nonce])
    templates.env.globals["kind_label"] = KIND_LABEL
    state: dict[str, Any] = {}

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        try:
            manifests.get()  # check the manifest now, not during the first lab's upload
        except ManifestUnavailableError as exc:
            log.warning("%s", exc)
        judge = VerdictPool(
            config_dir=settings.config_dir,
            manifest=settings.manifest,
            manifests=manifests,
            workers=limits.verdict_workers,
            seconds=limits.verdict_seconds,
            memory_mb=limits.verdict_worker_memory_mb,
        )
        state["judge"] = judge
        await asyncio.to_thread(judge.warm)  # ready means ready to judge: the workers' imports are done
        handoff = make_handoff(registry, settings)
        state["intake"] = Intake(settings, registry, judge, handoff, assay_names)
        # uploads queued (or judged but not yet handed over) when the service last stopped
        resume = ["ingesting"] if isinstance(handoff, NoHandoff) else ["ingesting", "verdict"]
        for status in resume:
            for row in registry.uploads_in_status(status):
                handoff.submit(Job(row.upload_id, row.sha256, _folder_of(settings, row)))
        log.info("upload service ready; ingestion hand-off: %s", handoff.description)
        yield
        handoff.close()
        judge.close()
        registry.close()

    app = FastAPI(
        title="BCT-002-US biomarker upload service",
        version="1",
        description="Labs upload plate exports and get an instant, plain-language verdict; accepted files "
        "go on to the warehouse. Authenticate with `Authorization: Bearer <lab token>`.",
        lifespan=lifespan,
        docs_url=None,  # /docs below: served from here, no CDN (the service may have no internet)
        redoc_url=None,
    )

    def client_of(scope: MutableMapping[str, Any]) -> str | None:
        c = scope.get("client")
        return str(c[0]) if c else None

    def bearer_of(scope: MutableMapping[str, Any]) -> str | None:
        raw = dict(scope.get("headers") or []).get(b"authorization", b"").decode("latin-1")
        scheme, _, value = raw.partition(" ")
        return value.strip() if scheme.lower() == "bearer" and value.strip() else None

    def authorised(scope: MutableMapping[str, Any]) -> Response | None:
        """Who may send an upload body, from the headers alone (service.guard.UploadGate)."""
        if scope["path"].startswith("/api/"):
            token = bearer_of(scope)
            try:
                check_token(client_of(scope), token)
            except TooManyFailuresError as exc:
                return too_many(exc, api=True)
            except HTTPException as exc:
                return JSONResponse({"detail": exc.detail}, status_code=exc.status_code, headers=exc.headers)
            return None
        cookies = Request(scope).cookies
        if session_lab(cookies) is None:
            if session_cookie(cookies) is None:  # an upload form posted with no credential at all
                limiter.failed(FailureLimiter.keys(client_of(scope), None))
            return RedirectResponse("/signin", status_code=303)
        return None

    app.add_middleware(UploadSizeLimit, limit=lambda: settings.service.upload.max_bytes)
    app.add_middleware(
        UploadGate,
        paths=UPLOAD_PATHS,
        authorised=authorised,
        idle=lambda: limits.upload_idle_seconds,
        total=lambda: limits.upload_total_seconds,
    )
    app.add_middleware(ClientLockout, limiter=limiter)
    app.add_middleware(SecurityHeaders)

    def intake() -> Intake:
        got: Intake = state["intake"]
        return got

    # --- API -----------------------------------------------------------------------------------------
    def check_token(client: str | None, token: str | None) -> Lab:
        """The lab of a valid token; 401 otherwise, 429 once this client or this token prefix has failed
        too often (service.guard.FailureLimiter)."""
        keys = FailureLimiter.keys(client, token)
        limiter.check(keys[:1])  # the address is locked out (ClientLockout stops most such requests first)
        lab = auth.lab_for_token(registry, token) if token else None
        if lab is None:
            # a wrong or missing token counts against the address and the prefix; past a limit it gets 429
            # without a verdict on it (guessing slows to the limit, and guessing on keeps the lock). The
            # lab's valid token is served whatever its prefix's count: a prefix is no secret.
            locked = limiter.retry_after(keys)
            limiter.failed(keys)
            if locked:
                limiter.check(keys)
        if lab is None:
            raise HTTPException(
                401,
                "missing or invalid API token: send 'Authorization: Bearer <token>' with your lab's token "
                "(the data team issues one with `biomarkers lab add`)",
                headers={"WWW-Authenticate": "Bearer"},
            )
        return lab

    def api_lab(
        request: Request, creds: Annotated[HTTPAuthorizationCredentials | None, Depends(bearer)]
    ) -> Lab:
        try:
            return check_token(client_of(request.scope), creds.credentials if creds else None)
        except TooManyFailuresError as exc:
            raise HTTPException(429, str(exc), headers={"Retry-After": str(exc.retry_after)}) from None

    errors: dict[int | str, dict[str, Any]] = {
        401: {"model": ErrorOut, "description": "No valid lab token"},
        429: {
            "model": ErrorOut,
            "description": "Too many failed authentications from this client or with this token prefix, "
            "or the lab's hourly upload quota is used up: wait the Retry-After seconds",
        },
    }

    @app.get("/api/v1/health", response_model=Health, tags=["service"])
    def health() -> Health:
        return Health(status="ok", ingestion=intake().handoff.description)

    @app.post(
        "/api/v1/uploads",
        response_model=Upload,
        status_code=201,
        tags=["uploads"],
        summary="Upload one plate export (and its plate map) and get the verdict",
        responses={
            200: {
                "model": Upload,
                "description": "These bytes were already uploaded by this lab: that upload",
            },
            400: {
                "model": ErrorOut,
                "description": "Refused: bad file name, empty file, or an assay assays.yaml does not have",
            },
            408: {"model": ErrorOut, "description": "The body stopped arriving (stalled or too slow)"},
            413: {"model": ErrorOut, "description": "Refused: larger than the configured limit"},
            415: {"model": Upload, "description": "Kept, but not a plate export this pipeline reads"},
            503: {"model": ErrorOut, "description": "The sample manifest is unavailable; the file is kept"},
            **errors,
        },
    )
    def post_upload(
        lab: Annotated[Lab, Depends(api_lab)],
        file: Annotated[UploadFile, File(description="The plate export as the instrument wrote it")],
        platemap: Annotated[
            UploadFile | None, File(description="The plate map, for plate-reader grids without sample names")
        ] = None,
        assay: Annotated[
            str | None,
            Form(
                description="The assay (assay_id in assays.yaml) of an export that does not name its analyte "
                "(plate readers); a file that names its own keeps it. Also accepted as the query parameter "
                "`?assay=`. Unknown: 400 with the configured ones"
            ),
        ] = None,
        assay_query: Annotated[
            str | None, Query(alias="assay", description="The same as the form field `assay`")
        ] = None,
    ) -> JSONResponse:
        try:
            data, pm_name, pm = _read_parts(file, platemap, intake().max_bytes)
            got = intake().receive(lab.name, file.filename, data, pm_name, pm, assay or assay_query)
        except RefusedUploadError as exc:
            raise HTTPException(exc.status, str(exc)) from None
        body = to_upload(got.row, registry, duplicate=got.duplicate)
        return JSONResponse(json.loads(body.model_dump_json()), status_code=got.http_status)

    @app.get("/api/v1/uploads", response_model=UploadList, tags=["uploads"], responses=errors)
    def list_uploads(lab: Annotated[Lab, Depends(api_lab)]) -> UploadList:
        return UploadList(lab=lab.name, uploads=[to_summary(r) for r in registry.uploads(lab.name)])

    @app.get(
        "/api/v1/uploads/{upload_id}",
        response_model=Upload,
        tags=["uploads"],
        responses={**errors, 404: {"model": ErrorOut, "description": "No upload of this lab has this ID"}},
    )
    def get_upload(upload_id: str, lab: Annotated[Lab, Depends(api_lab)]) -> Upload:
        row = registry.upload(upload_id, lab.name)
        if row is None:
            raise HTTPException(404, f"no upload {upload_id!r} for lab {lab.name}")
        return to_upload(row, registry)

    # --- pages ---------------------------------------------------------------------------------------
    def session_cookie(cookies: dict[str, str]) -> str | None:
        return cookies.get(SECURE_SESSION_COOKIE) or cookies.get(SESSION_COOKIE)

    def session_lab(cookies: dict[str, str]) -> Lab | None:
        """The lab of an open server-side session (ended at sign-out, and with its token's revocation)."""
        sid = session_cookie(cookies)
        if not sid or len(sid) > 100:
            return None
        return registry.lab_for_session(auth.hash_token(sid))

    def page_lab(request: Request) -> Lab | None:
        return session_lab(request.cookies)

    def render(request: Request, name: str, context: dict[str, Any], status: int = 200) -> HTMLResponse:
        cookie = session_cookie(request.cookies)
        ctx = {"csrf": signer.csrf_for_session(cookie) if cookie else "", **context}
        return templates.TemplateResponse(request, name, ctx, status_code=status)

    def secure(request: Request) -> bool:
        return request.url.scheme == "https"

    @app.get("/signin", response_class=HTMLResponse, include_in_schema=False)
    def signin_get(request: Request) -> HTMLResponse:
        return signin_page(request)  # nothing from the address is shown or used

    def signin_page(request: Request, problem: str | None = None) -> HTMLResponse:
        error, status = SIGNIN_MESSAGES[problem] if problem else (None, 200)
        nonce = auth.new_csrf_nonce()
        resp = templates.TemplateResponse(
            request, "signin.html", {"nonce": nonce, "error": error, "lab": None}, status_code=status
        )
        resp.set_cookie(
            CSRF_COOKIE, nonce, httponly=True, samesite="strict", secure=secure(request), path="/signin"
        )
        return resp

    @app.post("/signin", include_in_schema=False)
    def signin(
        request: Request, token: Annotated[str, Form()] = "", csrf: Annotated[str, Form()] = ""
    ) -> Response:
        if not auth.same_nonce(request.cookies.get(CSRF_COOKIE), csrf):
            return signin_page(request, "expired")
        try:
            lab = check_token(client_of(request.scope), token.strip())
        except TooManyFailuresError as exc:
            return too_many(exc, api=False)
        except HTTPException:
            return signin_page(request, "invalid")
        session_id = secrets.token_urlsafe(32)  # fresh at every sign-in; only its hash is kept
        hours = settings.service.session.hours
        registry.create_session(lab.token_id, auth.hash_token(session_id), hours)
        resp = RedirectResponse("/", status_code=303)
        old = session_cookie(request.cookies)
        if old:
            registry.end_session(auth.hash_token(old))
        resp.set_cookie(
            SECURE_SESSION_COOKIE if secure(request) else SESSION_COOKIE,
            session_id,
            max_age=int(hours * 3600),
            httponly=True,
            samesite="strict",
            secure=secure(request),
            path="/",
        )
        resp.delete_cookie(CSRF_COOKIE, path="/signin")
        return resp

    @app.post("/signout", include_in_schema=False)
    def signout(request: Request, csrf: Annotated[str, Form()] = "") -> Response:
        cookie = session_cookie(request.cookies)
        if not signer.check_csrf_for_session(cookie, csrf):
            return HTMLResponse(_plain_page("Not signed out", "The form had expired; reload the page."), 400)
        assert cookie is not None
        registry.end_session(auth.hash_token(cookie))  # the cookie is worthless from now on, wherever it is
        resp = RedirectResponse("/signin", status_code=303)
        resp.delete_cookie(SESSION_COOKIE)
        resp.delete_cookie(SECURE_SESSION_COOKIE, secure=True)
        return resp

    @app.get("/docs", response_class=HTMLResponse, include_in_schema=False)
    def api_docs() -> HTMLResponse:
        """The API reference from the OpenAPI schema, rendered here: no script, no CDN."""
        return HTMLResponse(api_reference(app.openapi()))

    @app.get("/", response_class=HTMLResponse, include_in_schema=False)
    def upload_page(request: Request) -> Response:
        lab = page_lab(request)
        if lab is None:
            return RedirectResponse("/signin", status_code=303)
        return _upload_form(request, lab, None, 200)

    def _upload_form(request: Request, lab: Lab, error: str | None, status: int) -> HTMLResponse:
        recent = [to_summary(r) for r in registry.uploads(lab.name, limit=5)]
        return render(
            request,
            "upload.html",
            {
                "lab": lab.name,
                "error": error,
                "recent": recent,
                "max_mb": settings.service.upload.max_megabytes,
                "assays": assay_names,
            },
            status,
        )

    @app.post("/upload", include_in_schema=False)
    def upload_form(
        request: Request,
        file: Annotated[UploadFile | None, File()] = None,
        platemap: Annotated[UploadFile | None, File()] = None,
        csrf: Annotated[str, Form()] = "",
        assay: Annotated[str, Form()] = "",
    ) -> Response:
        lab = page_lab(request)
        if lab is None:
            return RedirectResponse("/signin", status_code=303)
        if not signer.check_csrf_for_session(session_cookie(request.cookies), csrf):
            return _upload_form(request, lab, "The form had expired; choose the file again and upload.", 400)
        if file is None or not file.filename:
            return _upload_form(request, lab, "Choose a plate export (or drop it on the box) first.", 400)
        try:
            data, pm_name, pm = _read_parts(file, platemap, intake().max_bytes)
            got = intake().receive(lab.name, file.filename, data, pm_name, pm, assay)
        except RefusedUploadError as exc:
            return _upload_form(request, lab, f"Not uploaded: {exc}.", exc.status)
        except HTTPException as exc:
            return _upload_form(request, lab, f"Not checked: {exc.detail}", exc.status_code)
        suffix = "?duplicate=1" if got.duplicate else ""
        return RedirectResponse(f"/uploads/{got.row.upload_id}{suffix}", status_code=303)

    @app.get("/uploads", response_class=HTMLResponse, include_in_schema=False)
    def uploads_page(request: Request) -> Response:
        lab = page_lab(request)
        if lab is None:
            return RedirectResponse("/signin", status_code=303)
        rows = [to_summary(r) for r in registry.uploads(lab.name)]
        return render(request, "uploads.html", {"lab": lab.name, "uploads": rows})

    @app.get("/uploads/{upload_id}", response_class=HTMLResponse, include_in_schema=False)
    def upload_detail(request: Request, upload_id: str, duplicate: int = 0) -> Response:
        lab = page_lab(request)
        if lab is None:
            return RedirectResponse("/signin", status_code=303)
        row = registry.upload(upload_id, lab.name)
        if row is None:
            return render(
                request,
                "missing.html",
                {"lab": lab.name, "upload_id": upload_id},
                404,
            )
        up = to_upload(row, registry, duplicate=bool(duplicate))
        return render(request, "verdict.html", {"lab": lab.name, "up": up, "v": up.verdict})

    @app.get("/qc-report", response_class=HTMLResponse, include_in_schema=False)
    def plate_qc_page(request: Request, plate: str = "") -> Response:
        """A plate's QC report, for the lab that owns the plate only (service/plate_qc.py)."""
        from service.plate_qc import PlateQcNotFoundError, lab_plate_report  # matplotlib: only when asked

        lab = page_lab(request)
        if lab is None:
            return RedirectResponse("/signin", status_code=303)
        nonce = str(request.scope.get("state", {}).get("csp_nonce", ""))
        try:
            page = lab_plate_report(settings.warehouse_paths, plate, lab.name, config, nonce)
        except PlateQcNotFoundError as exc:
            return render(request, "plate_missing.html", {"lab": lab.name, "message": str(exc)}, 404)
        return HTMLResponse(page)

    review_pages.register(app, settings, config, templates, limiter)  # /review: sign runs (issue 21)
    return app


def _folder_of(settings: ServiceSettings, row: UploadRow) -> Path:
    key = row.sha256 if row.platemap_sha256 is None else f"{row.sha256}-{row.platemap_sha256[:16]}"
    return settings.uploads_dir / key


def _read_parts(
    file: UploadFile, platemap: UploadFile | None, limit: int
) -> tuple[bytes, str | None, bytes | None]:
    """The uploaded bytes, read no further than one byte past the limit (so size is judged, not trusted)."""
    data = file.file.read(limit + 1)
    if len(data) > limit:
        raise RefusedUploadError(too_large_message(file.size, limit), status=413)
    if platemap is None or not platemap.filename:
        return data, None, None
    pm = platemap.file.read(limit + 1)
    if len(pm) > limit:
        raise RefusedUploadError(too_large_message(platemap.size, limit), status=413)
    return data, platemap.filename, pm
