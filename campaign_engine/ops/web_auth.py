"""Who is using the web console: a named token's holder (see :mod:`tokens`), logged in.

A bearer header works for scripts. Browsers log in once with a token and get an HttpOnly,
SameSite=Strict session cookie (Secure when the public URL is https): a random session id,
the token's name and scope, and when the session ends, signed with the console's own key
(:mod:`console_key`: in the database, the same for every process, whether or not ``[ops]
token`` is set), so no server-side session store is needed. The token itself
is never in the cookie; a revoked token's sessions end at their next request (``web``
checks the name against the token table). Every form POST carries a CSRF token derived
from the session and equal to the ``ce_ops_csrf`` cookie (double submit): another site can
make the browser send the cookie, but cannot read it to fill the form.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import secrets
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from starlette.requests import Request

from campaign_engine.config import Settings
from campaign_engine.ops.tokens import Principal, Scope

SESSION_COOKIE = "ce_ops_session"
CSRF_COOKIE = "ce_ops_csrf"
CSRF_FIELD = "csrf"
CSRF_HEADER = "x-csrf-token"
COOKIE_PATH = "/ops"


@dataclass(frozen=True)
class WebSession:
    sid: str
    principal: Principal
    expires_at: datetime


def _sign(key: bytes, purpose: str, value: str) -> str:
    return hmac.new(key, f"{purpose}:{value}".encode(), hashlib.sha256).hexdigest()


def _b64(text: str) -> str:
    return base64.urlsafe_b64encode(text.encode()).decode().rstrip("=")


def _unb64(text: str) -> str:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4)).decode()


def config_tag(key: bytes, config_token: str) -> str:
    """What a session of the ``[ops]`` token carries of that token: a login with it lasts
    only while the token is the same (changing or removing it ends those sessions, as
    revoking a named token ends its own)."""
    return _sign(key, "config-token", config_token)[:16]


def new_session(
    key: bytes, principal: Principal, now: datetime, minutes: int, *, tag: str = ""
) -> str:
    """A cookie value for a fresh login that lasts ``minutes`` (``[ops] session_minutes``);
    ``tag`` rides in the session id (see :func:`config_tag`)."""
    sid = secrets.token_urlsafe(24) + (f"~{tag}" if tag else "")
    ends = int((now + timedelta(minutes=minutes)).timestamp())
    body = f"{sid}.{_b64(principal.name)}.{principal.scope.value}.{ends}"
    return f"{body}.{_sign(key, 'session', body)}"


def read_session(key: bytes, request: Request, now: datetime) -> WebSession | None:
    """The session of the request's cookie when valid and unexpired, else None."""
    return read_session_value(key, request.cookies.get(SESSION_COOKIE, ""), now)


def read_session_value(key: bytes, cookie: str, now: datetime) -> WebSession | None:
    """The session a cookie value holds when its signature is right and it has not expired."""
    if not key:
        return None
    body, _, signature = cookie.rpartition(".")
    expected = _sign(key, "session", body)
    if not body or not hmac.compare_digest(signature.encode(), expected.encode()):
        return None
    try:
        sid, name, scope, ends = body.split(".")
        expires_at = datetime.fromtimestamp(int(ends), UTC)
        principal = Principal(_unb64(name), Scope(scope))
    except (ValueError, binascii.Error, UnicodeDecodeError):
        return None
    if not sid or expires_at <= now:
        return None
    return WebSession(sid, principal, expires_at)


def bearer(request: Request) -> str | None:
    """The token of an ``Authorization: Bearer`` header (any case), else None."""
    scheme, _, offered = request.headers.get("authorization", "").partition(" ")
    return offered.strip() if scheme.lower() == "bearer" else None


def csrf_token(key: bytes, sid: str) -> str:
    return _sign(key, "csrf", sid)


def csrf_ok(key: bytes, request: Request, session: WebSession, submitted: str) -> bool:
    """The form's (or header's) token equals the cookie's, and both belong to ``session``."""
    expected = csrf_token(key, session.sid)
    cookie = request.cookies.get(CSRF_COOKIE, "")
    return hmac.compare_digest(submitted.encode(), expected.encode()) and hmac.compare_digest(
        cookie.encode(), expected.encode()
    )


def cookie_options(settings: Settings, *, max_age: int | None = None) -> dict[str, Any]:
    """HttpOnly, SameSite=Strict, under /ops; Secure when the server is public over https
    (a browser on plain http would drop a Secure cookie and never stay logged in)."""
    return {
        "httponly": True,
        "samesite": "strict",
        "path": COOKIE_PATH,
        "secure": settings.server.public_url.lower().startswith("https://"),
        "max_age": max_age,
    }
