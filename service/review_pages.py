"""The reviewer's pages (issue 21): a run's QC report beside the form that signs it.

Reviewers are people with reviewer accounts (`biomarkers reviewer add`), not labs: a lab's upload token
never opens these pages. A reviewer signs in with their account and password (a signed, expiring cookie of
its own, ``bct_reviewer``); every signature asks for the password again (re-authentication at each signing,
21 CFR 11.200(a)(1)) and goes through warehouse/review.py like `biomarkers review sign` — the same checks
(two-person rule, binding to the run's content), the same audit entries, a refused password audited too.
Signing writes the warehouse: it takes the writer lock like an ingestion (waiting a little for a running
load) and publishes, so analysts see a release on their next connection.

The QC report is a complete page of its own (its stylesheet, inline SVG): it is shown in a sandboxed
``<iframe srcdoc>``, styled under this response's CSP nonce, so its styles and the page's do not mix.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Annotated, Any
from urllib.parse import urlencode

from fastapi import FastAPI, Form, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from fastapi.templating import Jinja2Templates

from schemas.config import Config
from service import auth
from service.guard import REVIEWER_PASSWORD, FailureLimiter, TooManyFailuresError
from service.settings import ServiceSettings

REVIEWER_COOKIE = "bct_reviewer"
REVIEWER_CSRF_COOKIE = "bct_reviewer_csrf"
SESSION_HOURS = 8.0
LOCK_WAIT_S = 60.0
_PREFIX = "reviewer:"
NO_MEANING = (
    "Nothing was signed: choose the meaning of your signature (reviewed, approved or rejected) "
    "and sign again."
)


class WarehouseBusy(Exception):
    """The writer lock stayed taken (a long ingestion); the message is for the reviewer."""


@dataclass(frozen=True)
class RunRow:
    source_sha256: str
    plate_id: str
    analyte: str
    source_file: str
    lab: str | None
    n_results: int
    state: str
    signed_by: str | None
    signed_at: Any


def register(
    app: FastAPI,
    settings: ServiceSettings,
    config: Config,
    templates: Jinja2Templates,
    limiter: FailureLimiter,
) -> None:
    """The /review routes. ``limiter``: the service's failed-authentication limits, which a wrong reviewer
    password counts against (per client address and per account), as a wrong lab token does."""
    cfg = config
    signer = auth.Signer(auth.load_or_create_key(settings.session_key_file))
    paths = settings.warehouse_paths

    @contextmanager
    def writer() -> Iterator[Any]:
        from warehouse.lock import WriterLockTimeout, writer_lock
        from warehouse.store import WarehouseBusyError, WriterStore

        try:
            with (
                writer_lock(paths.root, run_id="review page", timeout_s=LOCK_WAIT_S),
                WriterStore(paths, actor="review page") as store,
            ):
                yield store
        except (WriterLockTimeout, WarehouseBusyError):
            raise WarehouseBusy(
                "the warehouse is busy loading files; nothing was signed — try again in a few minutes"
            ) from None

    def reviewer_of(request: Request) -> str | None:
        who = signer.session_token_id(request.cookies.get(REVIEWER_COOKIE))
        return who[len(_PREFIX) :] if who and who.startswith(_PREFIX) else None

    def failure_keys(request: Request, account: str) -> list[str]:
        client = request.client.host if request.client else None
        return FailureLimiter.keys(client, f"reviewer:{account.strip()}")

    def nonce_of(request: Request) -> str:
        return str(request.scope.get("state", {}).get("csp_nonce", ""))

    def signin_page(request: Request, error: str | None = None, status: int = 200) -> HTMLResponse:
        nonce = auth.new_csrf_nonce()
        resp = templates.TemplateResponse(
            request,
            "review_signin.html",
            {"nonce": nonce, "error": error, "lab": None},
            status_code=status,
        )
        resp.set_cookie(REVIEWER_CSRF_COOKIE, nonce, httponly=True, samesite="strict", path="/review/signin")
        return resp

    @app.get("/review/signin", response_class=HTMLResponse, include_in_schema=False)
    def review_signin_get(request: Request) -> HTMLResponse:
        return signin_page(request)

    @app.post("/review/signin", include_in_schema=False)
    def review_signin(
        request: Request,
        account: Annotated[str, Form()] = "",
        password: Annotated[str, Form()] = "",
        csrf: Annotated[str, Form()] = "",
    ) -> Response:
        from warehouse.reviewers import authenticate

        if not auth.same_nonce(request.cookies.get(REVIEWER_CSRF_COOKIE), csrf):
            return signin_page(request, "The form had expired; sign in again.", 400)
        keys = failure_keys(request, account)
        try:
            limiter.check(keys, REVIEWER_PASSWORD)
            with writer() as store:
                who = authenticate(store.con, account.strip(), password)
        except TooManyFailuresError as exc:
            return signin_page(request, f"Not signed in: {exc}.", 429)
        except WarehouseBusy as exc:
            return signin_page(request, f"Not signed in: {exc}.", 503)
        if who is None:
            limiter.failed(keys)
            return signin_page(request, "Not signed in: the account or the password is wrong.", 403)
        cookie = signer.session(_PREFIX + who.name, SESSION_HOURS)
        resp = RedirectResponse("/review", status_code=303)
        resp.set_cookie(
            REVIEWER_COOKIE,
            cookie,
            max_age=int(SESSION_HOURS * 3600),
            httponly=True,
            samesite="strict",
            secure=request.url.scheme == "https",
            path="/review",
        )
        resp.delete_cookie(REVIEWER_CSRF_COOKIE, path="/review/signin")
        return resp

    def runs() -> list[RunRow]:
        from warehouse.analyst import NoAnalystStoreError, connect_analyst

        try:
            con = connect_analyst(paths, full=True)
        except NoAnalystStoreError:
            return []
        try:
            rows = con.execute(
                "SELECT source_sha256, plate_id, analyte, source_file, uploaded_by_lab, n_results, "
                "review_state, reviewed_by_name, reviewed_at FROM run_review "
                "ORDER BY review_state <> 'pending_review', plate_id, analyte"
            ).fetchall()
        finally:
            con.close()
        return [RunRow(*r) for r in rows]

    def page(
        request: Request,
        who: str,
        plate: str,
        *,
        error: str | None = None,
        done: str | None = None,
        status: int = 200,
    ) -> HTMLResponse:
        from service.plate_qc import plate_report

        all_runs = runs()
        plate = plate or next((r.plate_id for r in all_runs if r.state == "pending_review"), "")
        report = plate_report(paths, plate, config, nonce_of(request)) if plate else None
        cookie = request.cookies.get(REVIEWER_COOKIE, "")
        return templates.TemplateResponse(
            request,
            "review.html",
            {
                "lab": None,
                "reviewer": who,
                "runs": all_runs,
                "plate": plate,
                "plate_runs": [r for r in all_runs if r.plate_id == plate],
                "report": report,
                "csrf": signer.csrf_for_session(cookie),
                "error": error,
                "done": done,
                "meanings": ("reviewed", "approved", "rejected"),
            },
            status_code=status,
        )

    @app.get("/review", response_class=HTMLResponse, include_in_schema=False)
    def review_page(request: Request, plate: str = "", signed: str = "") -> Response:
        who = reviewer_of(request)
        if who is None:
            return RedirectResponse("/review/signin", status_code=303)
        return page(request, who, plate, done=signed or None)

    @app.post("/review/sign", include_in_schema=False)
    def review_sign(
        request: Request,
        plate: Annotated[str, Form()] = "",
        meaning: Annotated[str, Form()] = "",
        reason: Annotated[str, Form()] = "",
        password: Annotated[str, Form()] = "",
        csrf: Annotated[str, Form()] = "",
    ) -> Response:
        from warehouse.publish import publish
        from warehouse.review import ReviewError, SignatureRefused, find_runs, sign

        who = reviewer_of(request)
        if who is None:
            return RedirectResponse("/review/signin", status_code=303)
        if not signer.check_csrf_for_session(request.cookies.get(REVIEWER_COOKIE), csrf):
            return page(request, who, plate, error="The form had expired; nothing was signed.", status=400)
        if not meaning:  # a signature's meaning is a deliberate choice: the form preselects none
            return page(request, who, plate, error=NO_MEANING, status=400)
        keys = failure_keys(request, who)
        try:
            limiter.check(keys, REVIEWER_PASSWORD)
            with writer() as store:
                found = find_runs(store.con, plate)
                if not found:
                    return page(request, who, plate, error=f"No run of plate {plate!r}.", status=404)
                latest = [r for r in found if r.source_sha256 == found[0].source_sha256]
                ids = []
                for run in latest:  # every analyte of the plate's latest file, each its own signature
                    s = sign(
                        store, run, account=who, secret=password, meaning=meaning, reason=reason, config=cfg
                    )
                    ids.append(s.signature_id)
                publish(store, config=config)
        except TooManyFailuresError as exc:
            return page(request, who, plate, error=f"Not signed: {exc}.", status=429)
        except WarehouseBusy as exc:
            return page(request, who, plate, error=f"Not signed: {exc}.", status=503)
        except SignatureRefused as exc:
            limiter.failed(keys)
            return page(request, who, plate, error=str(exc), status=403)
        except ReviewError as exc:
            return page(request, who, plate, error=str(exc), status=403)
        signed = ids[0] if len(ids) == 1 else f"{ids[0]} to {ids[-1]}"
        return RedirectResponse(f"/review?{urlencode({'plate': plate, 'signed': signed})}", status_code=303)
