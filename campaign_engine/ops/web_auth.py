"""Who may use the web console: the holder of ``[ops] token``, and nobody when it is unset.

A bearer header works for scripts. Browsers log in once with the token and get an HttpOnly
session cookie: a random session id signed with the token (so rotating the token logs
everyone out and no server-side store is needed). Every form POST must carry a CSRF token
derived from that session and equal to the ``ce_ops_csrf`` cookie (double submit): another
site can make the browser send the cookie, but cannot read it to fill the form.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets

from starlette.requests import Request

from campaign_engine.config import OpsSettings

SESSION_COOKIE = "ce_ops_session"
CSRF_COOKIE = "ce_ops_csrf"
CSRF_FIELD = "csrf"


def _sign(token: str, purpose: str, value: str) -> str:
    return hmac.new(token.encode(), f"{purpose}:{value}".encode(), hashlib.sha256).hexdigest()


def new_session(settings: OpsSettings) -> str:
    """A cookie value for a fresh login."""
    sid = secrets.token_urlsafe(24)
    return f"{sid}.{_sign(settings.token.get_secret_value(), 'session', sid)}"


def token_matches(settings: OpsSettings, offered: str) -> bool:
    token = settings.token.get_secret_value()
    return bool(token) and hmac.compare_digest(offered.encode(), token.encode())


def session_id(settings: OpsSettings, request: Request) -> str | None:
    """The session id of a valid cookie, else None."""
    cookie = request.cookies.get(SESSION_COOKIE, "")
    sid, _, signature = cookie.partition(".")
    if not sid or not settings.enabled:
        return None
    expected = _sign(settings.token.get_secret_value(), "session", sid)
    return sid if hmac.compare_digest(signature.encode(), expected.encode()) else None


def bearer_ok(settings: OpsSettings, request: Request) -> bool:
    scheme, _, offered = request.headers.get("authorization", "").partition(" ")
    return scheme.lower() == "bearer" and token_matches(settings, offered.strip())


def csrf_token(settings: OpsSettings, sid: str) -> str:
    return _sign(settings.token.get_secret_value(), "csrf", sid)


def csrf_ok(settings: OpsSettings, request: Request, submitted: str) -> bool:
    """The form's token equals the cookie's, and both belong to this session."""
    sid = session_id(settings, request)
    if sid is None:
        return False
    expected = csrf_token(settings, sid)
    cookie = request.cookies.get(CSRF_COOKIE, "")
    return hmac.compare_digest(submitted.encode(), expected.encode()) and hmac.compare_digest(
        cookie.encode(), expected.encode()
    )
