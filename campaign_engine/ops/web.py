"""The web console under ``/ops``: what ``campaign-engine`` does, in pages.

Off (404, the login page saying why) only while there is no way to log in: no ``[ops]
token`` and no named token. Pages need a named token (or the ``[ops]`` one, as the admin
token ``config``): a bearer header, or a login's session cookie.
Looking needs the ``read`` scope, acting ``operate``; every browser POST also needs the
CSRF token (see :mod:`web_auth`). Actions are audited under the token's name. Bodies are
read only within their limits, and failed logins are throttled per client address (in
Redis: every ``serve`` process counts the same tries).
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from importlib import resources

from sqlalchemy import select
from starlette.requests import Request
from starlette.responses import RedirectResponse, Response
from starlette.routing import Mount, Route

from campaign_engine.db.models import ApiToken, utcnow
from campaign_engine.ops import (
    web_actions,
    web_auth,
    web_campaigns,
    web_pages,
    web_upload,
    web_views,
)
from campaign_engine.ops import web_common as common
from campaign_engine.ops.console_key import console_key
from campaign_engine.ops.tokens import CONFIG_TOKEN_NAME, Principal, Scope, verify_token
from campaign_engine.ops.web_limits import BodyTooLarge, LoginThrottle

DISABLED = (
    "the console is off: there is no way to log in yet. Create a token with "
    "`campaign-engine tokens create --name NAME --scope operate` (or set [ops] token, "
    "CAMPAIGN_ENGINE_OPS_TOKEN), then reload this page"
)
Handler = Callable[[Request], Awaitable[Response]]
STATIC = {"console.css": "text/css", "upload.js": "text/javascript"}


async def _disabled(request: Request) -> Response | None:
    """The login page saying why, while no token (named or ``[ops]``) exists to log in with."""
    if common.settings(request).ops.enabled:
        return None
    async with common.runtime(request).sessions() as db:
        usable = await db.scalar(select(ApiToken.id).where(ApiToken.revoked_at.is_(None)).limit(1))
    if usable is not None:
        return None
    return common.html(web_pages.login_page(DISABLED, off=True), 404)


async def _key(request: Request) -> bytes:
    """The session-signing key (read from the database once per app)."""
    state = request.app.state
    if not hasattr(state, "console_key"):
        state.console_key = await console_key(common.runtime(request).sessions)
    key: bytes = state.console_key
    return key


def _ended_key(request: Request, sid: str) -> str:
    """Set at logout until the session would have expired: a copied cookie dies with it."""
    return f"{common.runtime(request).keys.prefix}:console:ended:{sid}"


async def _still_valid(request: Request, session: web_auth.WebSession) -> bool:
    """A session outlives neither its logout nor its token's revocation."""
    if await common.runtime(request).redis.exists(_ended_key(request, session.sid)):
        return False
    who = session.principal
    if who.name == CONFIG_TOKEN_NAME:
        config = common.settings(request).ops.token.get_secret_value()
        tag = web_auth.config_tag(await _key(request), config)
        return bool(config) and session.sid.endswith(f"~{tag}")
    async with common.runtime(request).sessions() as db:
        revoked = await db.execute(select(ApiToken.revoked_at).where(ApiToken.name == who.name))
        found = revoked.first()
    return found is not None and found[0] is None


async def _bearer_principal(request: Request, raw: str) -> Principal | None:
    config = common.settings(request).ops.token.get_secret_value()
    async with common.runtime(request).sessions() as session, session.begin():
        return await verify_token(session, raw, config_token=config)


def _is_multipart(request: Request) -> bool:
    """A file sent by a plain form: its CSRF token rides in the action's query string (the
    body is the file's, parsed only by the upload handler, within the upload limit)."""
    return request.headers.get("content-type", "").startswith("multipart/form-data")


def guarded(handler: Handler, *, needs: Scope = Scope.READ, post: bool = False) -> Handler:
    """Refuse when the console is off, the caller is not authenticated or lacks the scope,
    a form is too large, or a browser POST lacks its CSRF token; bearer callers send no
    cookie, so need no CSRF token."""

    async def wrapped(request: Request) -> Response:
        if (off := await _disabled(request)) is not None:
            return off
        key = await _key(request)
        raw = web_auth.bearer(request)
        session = None
        if raw is not None:
            who = await _bearer_principal(request, raw)
        else:
            session = web_auth.read_session(key, request, utcnow())
            if session is not None and not await _still_valid(request, session):
                session = None
            who = session.principal if session is not None else None
        if who is None:
            return common.html(web_pages.login_page(), 401)
        request.state.principal = who
        if session is not None:
            request.state.csrf = web_auth.csrf_token(key, session.sid)
        if not who.allows(needs):
            text = f"token {who.name!r} has the {who.scope.value} scope; this needs {needs.value}"
            return common.message(request, "forbidden", text, 403)
        try:
            if post and session is not None:
                submitted = request.headers.get(web_auth.CSRF_HEADER)
                if submitted is None and _is_multipart(request):
                    submitted = request.query_params.get(web_auth.CSRF_FIELD, "")
                if submitted is None:
                    submitted = (await common.form(request)).get(web_auth.CSRF_FIELD, "")
                if not web_auth.csrf_ok(key, request, session, submitted):
                    return common.message(request, "refused", "missing or wrong CSRF token", 403)
            return await handler(request)
        except BodyTooLarge as exc:
            return common.message(request, "too large", f"{exc}; nothing was done", 413)

    return wrapped


def _throttle(request: Request) -> LoginThrottle:
    """Shared by every server process through Redis."""
    runtime = common.runtime(request)
    limit = runtime.settings.ops.login_attempts_per_minute
    return LoginThrottle(runtime.redis, runtime.keys.prefix, limit)


def _address(request: Request) -> str:
    return request.client.host if request.client else "unknown"


async def login(request: Request) -> Response:
    if (off := await _disabled(request)) is not None:
        return off
    if request.method == "GET":
        return common.html(web_pages.login_page())
    settings = common.settings(request)
    throttle, address, now = _throttle(request), _address(request), utcnow()
    wait = await throttle.retry_after(address, now)
    if wait is not None:
        page = web_pages.login_page(f"too many failed logins; try again in {wait} s")
        response = common.html(page, 429)
        response.headers["Retry-After"] = str(wait)
        return response
    try:
        form = await common.form(request)
    except BodyTooLarge as exc:
        return common.html(web_pages.login_page(f"{exc}; nothing was read"), 413)
    who = await _bearer_principal(request, form.get("token", "").strip())
    if who is None:
        await throttle.failed(address, now)
        return common.html(web_pages.login_page("wrong token"), 401)
    key = await _key(request)
    config = settings.ops.token.get_secret_value()
    tag = web_auth.config_tag(key, config) if who.name == CONFIG_TOKEN_NAME else ""
    cookie = web_auth.new_session(key, who, now, settings.ops.session_minutes, tag=tag)
    session = web_auth.read_session_value(key, cookie, now)
    assert session is not None
    age = settings.ops.session_minutes * 60
    redirect = RedirectResponse("/ops/", status_code=303)
    options = web_auth.cookie_options(settings, max_age=age)
    redirect.set_cookie(web_auth.SESSION_COOKIE, cookie, **options)
    redirect.set_cookie(web_auth.CSRF_COOKIE, web_auth.csrf_token(key, session.sid), **options)
    return redirect


async def logout(request: Request) -> Response:
    """End the session: here and for any copy of its cookie (until it would have expired)."""
    settings = common.settings(request)
    session = web_auth.read_session(await _key(request), request, utcnow())
    if session is not None:
        left = int((session.expires_at - utcnow()).total_seconds()) + 1
        await common.runtime(request).redis.set(_ended_key(request, session.sid), 1, ex=left)
    response = RedirectResponse("/ops/login", status_code=303)
    for name in (web_auth.SESSION_COOKIE, web_auth.CSRF_COOKIE):
        options = web_auth.cookie_options(settings)
        response.delete_cookie(
            name, path=options["path"], secure=options["secure"], httponly=True, samesite="strict"
        )
    return response


async def static(request: Request) -> Response:
    name = request.path_params["name"]
    if name not in STATIC:
        return Response("not found", status_code=404, media_type="text/plain")
    body = resources.files("campaign_engine.ops").joinpath("static", name).read_bytes()
    return Response(body, media_type=STATIC[name], headers={"Cache-Control": "max-age=3600"})


def _get(path: str, handler: Handler) -> Route:
    return Route(path, guarded(handler), methods=["GET"])


def _post(path: str, handler: Handler) -> Route:
    return Route(path, guarded(handler, needs=Scope.OPERATE, post=True), methods=["POST"])


def mount() -> Mount:
    views, acts, camps, up = web_views, web_actions, web_campaigns, web_upload
    return Mount(
        "/ops",
        routes=[
            Route("/login", login, methods=["GET", "POST"]),
            Route("/logout", guarded(logout, post=True), methods=["POST"]),
            Route("/static/{name}", static, methods=["GET"]),
            _get("/", views.home),
            _get("/retries", views.retries),
            _get("/audit", views.audit_log),
            _get("/limits", views.limits),
            _get("/dead", views.dead),
            _get("/contacts", views.contacts),
            _get("/contacts/{contact_id:int}", views.contact),
            _get("/campaigns/new", camps.new_campaign),
            _post("/campaigns/new", camps.new_campaign),
            _get("/campaigns/{campaign_id}", views.campaign),
            _get("/campaigns/{campaign_id}/edit", camps.edit_campaign),
            _post("/campaigns/{campaign_id}/edit", camps.edit_campaign),
            _post("/campaigns/{campaign_id}/start", camps.start),
            _get("/campaigns/{campaign_id}/results.{fmt}", camps.results),
            _get("/campaigns/{campaign_id}/upload", up.upload_page),
            _post("/campaigns/{campaign_id}/upload", up.receive),
            _get("/uploads/{upload_id}", up.preview_page),
            _post("/uploads/{upload_id}/import", up.start_import),
            _get("/uploads/{upload_id}/progress", up.progress_page),
            _get("/uploads/{upload_id}/progress.json", up.progress_json),
            _get("/uploads/{upload_id}/rejects.csv", up.rejects),
            _post("/campaigns/{campaign_id}/{action}", acts.campaign_action),
            _post("/contacts/{contact_id:int}/{action}", acts.contact_action),
        ],
    )
