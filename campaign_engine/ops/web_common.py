"""What every console handler needs from its request: the runtime, who is acting, the form
(read once, within its size limit), and how to answer with a page."""

from __future__ import annotations

from urllib.parse import quote, unquote

from starlette.requests import Request
from starlette.responses import HTMLResponse, Response

from campaign_engine.config import Settings
from campaign_engine.db.models import utcnow
from campaign_engine.ops import web_pages
from campaign_engine.ops.tokens import Principal
from campaign_engine.ops.web_limits import parse_form, read_body
from campaign_engine.runtime import Runtime

# The cookie that carries an action's answer to the page it redirects to.
FLASH_COOKIE = "ce_flash"


def runtime(request: Request) -> Runtime:
    found: Runtime = request.app.state.runtime
    return found


def settings(request: Request) -> Settings:
    return runtime(request).settings


def principal(request: Request) -> Principal:
    """Who is acting (set by the guard): their name goes into every audit entry."""
    who: Principal = request.state.principal
    return who


def actor(request: Request) -> str:
    return principal(request).name


def flash(response: Response, said: str | None) -> Response:
    """Say ``said`` once on the page the action redirects to (a cookie, not the URL: a link
    cannot make the console say something)."""
    if said:
        response.set_cookie(
            FLASH_COOKIE, quote(said), max_age=60, httponly=True, samesite="strict", path="/ops"
        )
    return response


def flashed(request: Request) -> str | None:
    """The action's one-time answer for this page, if any (``forget_flash`` drops it)."""
    said = request.cookies.get(FLASH_COOKIE)
    return unquote(said) if said else None


def page(request: Request, body: str, status: int = 200) -> HTMLResponse:
    """A page that may have shown the one-time answer: the cookie is dropped with it."""
    response = html(body, status)
    if request.cookies.get(FLASH_COOKIE):
        response.delete_cookie(FLASH_COOKIE, path="/ops")
    return response


def chrome(request: Request, flash: str | None = None) -> web_pages.Chrome:
    who = getattr(request.state, "principal", None)
    flash = flash or flashed(request)
    return web_pages.Chrome(
        csrf=str(getattr(request.state, "csrf", "")),
        who=f"{who.name} ({who.scope.value})" if who is not None else None,
        zone=settings(request).ops.display_timezone,
        flash=flash,
        now=utcnow(),
    )


async def form(request: Request) -> dict[str, str]:
    """The urlencoded form body, read once (BodyTooLarge past ``[ops] max_form_bytes``)."""
    cached: dict[str, str] | None = getattr(request.state, "form", None)
    if cached is None:
        cached = parse_form(await read_body(request, settings(request).ops.max_form_bytes))
        request.state.form = cached
    return cached


def html(body: str, status: int = 200) -> HTMLResponse:
    return HTMLResponse(body, status_code=status, headers={"Cache-Control": "no-store"})


def message(
    request: Request, title: str, text: str, status: int, back: str | None = None
) -> HTMLResponse:
    return page(request, web_pages.message_page(title, text, chrome(request), back), status)
