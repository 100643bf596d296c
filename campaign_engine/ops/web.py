"""The web console under ``/ops``: the same views and actions as ``campaign-engine ops``.

Off (404 with a message) until ``[ops] token`` is set. Pages need the bearer token or a
login cookie; every POST from a browser also needs the CSRF token (see :mod:`web_auth`).
Actions are audited under the actor ``web`` like CLI actions are under the login.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from datetime import timedelta
from urllib.parse import parse_qs

from starlette.requests import Request
from starlette.responses import HTMLResponse, RedirectResponse, Response
from starlette.routing import Mount, Route

from campaign_engine.campaigns.lifecycle import TransitionError
from campaign_engine.campaigns.service import CampaignError
from campaign_engine.config import OpsSettings
from campaign_engine.control import campaign_moves
from campaign_engine.db.models import utcnow
from campaign_engine.journal import audit
from campaign_engine.ops import actions, web_auth, web_charts, web_pages
from campaign_engine.ops.history import contact_history
from campaign_engine.ops.limits_view import limits_view
from campaign_engine.ops.progress import overview
from campaign_engine.ops.queues import dead_letters, retry_queue
from campaign_engine.runtime import Runtime

ACTOR = "web"
DISABLED = "the ops console is disabled: set [ops] token (or CAMPAIGN_ENGINE_OPS_TOKEN)"
REFUSED = (actions.ActionError, LookupError, TransitionError, CampaignError, ValueError)
CONTACT_ACTIONS = ("retry-now", "skip", "suppress", "edit-vars")
Handler = Callable[[Request], Awaitable[Response]]


def _runtime(request: Request) -> Runtime:
    runtime: Runtime = request.app.state.runtime
    return runtime


def _ops(request: Request) -> OpsSettings:
    return _runtime(request).settings.ops


async def _form(request: Request) -> dict[str, str]:
    """An urlencoded form body (no multipart: the console's forms are all small)."""
    parsed = parse_qs((await request.body()).decode("utf-8", errors="replace"))
    return {key: values[-1] for key, values in parsed.items()}


def _html(body: str, status: int = 200) -> HTMLResponse:
    return HTMLResponse(body, status_code=status, headers={"Cache-Control": "no-store"})


def guarded(handler: Handler, *, post: bool = False) -> Handler:
    """Refuse when the console is off, the caller is not authenticated, or a browser POST
    lacks its CSRF token; bearer callers send no cookie, so need no CSRF token."""

    async def wrapped(request: Request) -> Response:
        settings = _ops(request)
        if not settings.enabled:
            return _html(web_pages.message_page("disabled", DISABLED), 404)
        if web_auth.bearer_ok(settings, request):
            return await handler(request)
        sid = web_auth.session_id(settings, request)
        if sid is None:
            return _html(web_pages.login_page(), 401)
        if post:
            form = await _form(request)
            if not web_auth.csrf_ok(settings, request, form.get(web_auth.CSRF_FIELD, "")):
                return _html(web_pages.message_page("refused", "missing or wrong CSRF token"), 403)
        request.state.csrf = web_auth.csrf_token(settings, sid)
        return await handler(request)

    return wrapped


def _csrf(request: Request) -> str:
    return str(getattr(request.state, "csrf", ""))


async def login(request: Request) -> Response:
    settings = _ops(request)
    if not settings.enabled:
        return _html(web_pages.message_page("disabled", DISABLED), 404)
    if request.method == "GET":
        return _html(web_pages.login_page())
    if not web_auth.token_matches(settings, (await _form(request)).get("token", "")):
        return _html(web_pages.login_page("wrong token"), 401)
    session = web_auth.new_session(settings)
    sid = session.partition(".")[0]
    response = RedirectResponse("/ops/", status_code=303)
    for name, value in (
        (web_auth.SESSION_COOKIE, session),
        (web_auth.CSRF_COOKIE, web_auth.csrf_token(settings, sid)),
    ):
        response.set_cookie(name, value, httponly=True, samesite="strict", path="/ops")
    return response


async def home(request: Request) -> Response:
    async with _runtime(request).sessions() as session:
        rows = await overview(session, include_finished=True)
    return _html(web_pages.overview_page(rows, _ops(request).refresh_seconds))


async def campaign(request: Request) -> Response:
    campaign_id = request.path_params["campaign_id"]
    async with _runtime(request).sessions() as session:
        found = [c for c in await overview(session, include_finished=True) if c.id == campaign_id]
        if not found:
            return _html(web_pages.message_page("not found", f"no campaign {campaign_id}"), 404)
        since = utcnow() - timedelta(hours=4)
        rows = await web_charts.attempts_since(session, campaign_id, since)
    charts = web_charts.calls_per_minute(rows) + web_charts.outcomes_over_time(rows)
    page = web_pages.campaign_page(found[0], charts, _csrf(request), _ops(request).refresh_seconds)
    return _html(page)


async def retries(request: Request) -> Response:
    filters = {k: v for k, v in request.query_params.items() if v}
    async with _runtime(request).sessions() as session:
        queue = await retry_queue(
            session,
            campaign_id=filters.get("campaign"),
            phone=filters.get("phone"),
            reason=filters.get("reason"),
        )
    return _html(web_pages.retries_page(queue, _csrf(request), filters))


async def limits(request: Request) -> Response:
    runtime = _runtime(request)
    async with runtime.sessions() as session:
        view = await limits_view(session, runtime.redis, runtime.keys, runtime.settings.limits)
    return _html(web_pages.limits_page(view, _ops(request).refresh_seconds))


async def dead(request: Request) -> Response:
    filters = {k: v for k, v in request.query_params.items() if v}
    async with _runtime(request).sessions() as session:
        found = await dead_letters(
            session, campaign_id=filters.get("campaign"), phone=filters.get("phone")
        )
    return _html(web_pages.dead_page(found, _ops(request).refresh_seconds))


async def contact(request: Request) -> Response:
    contact_id = int(request.path_params["contact_id"])
    try:
        async with _runtime(request).sessions() as session:
            history = await contact_history(session, contact_id)
    except LookupError as exc:
        return _html(web_pages.message_page("not found", str(exc)), 404)
    return _html(web_pages.contact_page(history, _csrf(request)))


def _edited_variables(form: dict[str, str]) -> tuple[dict[str, str], list[str]]:
    """The edit form's ``var:NAME`` values, ``unset:NAME`` boxes and one new pair."""
    removed = [key.removeprefix("unset:") for key in form if key.startswith("unset:")]
    values = {
        key.removeprefix("var:"): value
        for key, value in form.items()
        if key.startswith("var:") and key.removeprefix("var:") not in removed
    }
    new_name = form.get("new_name", "").strip()
    if new_name:
        values[new_name] = form.get("new_value", "")
    return values, removed


async def audit_log(request: Request) -> Response:
    async with _runtime(request).sessions() as session:
        entries = await audit.entries(session, limit=200)
    return _html(web_pages.audit_page(entries, _ops(request).refresh_seconds))


async def contact_action(request: Request) -> Response:
    contact_id = int(request.path_params["contact_id"])
    action = request.path_params["action"]
    if action not in CONTACT_ACTIONS:
        return _html(web_pages.message_page("not found", f"no action {action}"), 404)
    try:
        async with _runtime(request).sessions() as session, session.begin():
            if action == "retry-now":
                await actions.retry_now(session, contact_id, actor=ACTOR)
            elif action == "skip":
                await actions.skip(session, contact_id, actor=ACTOR)
            elif action == "suppress":
                await actions.suppress(session, contact_id, actor=ACTOR)
            else:
                values, removed = _edited_variables(await _form(request))
                await actions.edit_variables(
                    session, contact_id, actor=ACTOR, values=values, remove=removed
                )
    except REFUSED as exc:
        return _html(web_pages.message_page("refused", str(exc)), 409)
    back = f"/ops/contacts/{contact_id}" if action == "edit-vars" else "/ops/retries"
    return RedirectResponse(back, status_code=303)


async def campaign_action(request: Request) -> Response:
    runtime = _runtime(request)
    campaign_id = request.path_params["campaign_id"]
    action = request.path_params["action"]
    jobs: list[str] = []
    try:
        async with runtime.sessions() as session, session.begin():
            if action == "requeue-reason":
                reason = (await _form(request)).get("reason", "")
                await actions.requeue_reason(session, campaign_id, reason, actor=ACTOR)
            else:
                moved = await campaign_moves.control(
                    session, runtime.keys, campaign_id, action, actor=ACTOR
                )
                jobs = moved.jobs
    except REFUSED as exc:
        return _html(web_pages.message_page("refused", str(exc)), 409)
    await campaign_moves.withdraw(runtime.redis, runtime.keys, jobs)
    return RedirectResponse(f"/ops/campaigns/{campaign_id}", status_code=303)


def mount() -> Mount:
    return Mount(
        "/ops",
        routes=[
            Route("/login", login, methods=["GET", "POST"]),
            Route("/", guarded(home), methods=["GET"]),
            Route("/retries", guarded(retries), methods=["GET"]),
            Route("/audit", guarded(audit_log), methods=["GET"]),
            Route("/limits", guarded(limits), methods=["GET"]),
            Route("/dead", guarded(dead), methods=["GET"]),
            Route("/contacts/{contact_id:int}", guarded(contact), methods=["GET"]),
            Route("/campaigns/{campaign_id}", guarded(campaign), methods=["GET"]),
            Route(
                "/campaigns/{campaign_id}/{action}",
                guarded(campaign_action, post=True),
                methods=["POST"],
            ),
            Route(
                "/contacts/{contact_id:int}/{action}",
                guarded(contact_action, post=True),
                methods=["POST"],
            ),
        ],
    )
