"""The console's access rules: the token, signed session cookies and double-submit CSRF."""

from __future__ import annotations

from pydantic import SecretStr
from starlette.requests import Request

from campaign_engine.config import OpsSettings
from campaign_engine.ops.web_auth import (
    CSRF_COOKIE,
    SESSION_COOKIE,
    bearer_ok,
    csrf_ok,
    csrf_token,
    new_session,
    session_id,
    token_matches,
)

TOKEN = "s3cret-ops-token"
ON = OpsSettings(token=SecretStr(TOKEN))
OFF = OpsSettings()


def request(*, cookies: dict[str, str] | None = None, authorization: str | None = None) -> Request:
    headers: list[tuple[bytes, bytes]] = []
    if cookies:
        cookie = "; ".join(f"{name}={value}" for name, value in cookies.items())
        headers.append((b"cookie", cookie.encode()))
    if authorization is not None:
        headers.append((b"authorization", authorization.encode()))
    return Request({"type": "http", "method": "GET", "path": "/", "headers": headers})


def logged_in(settings: OpsSettings = ON) -> tuple[str, str]:
    """A fresh session cookie and its session id."""
    cookie = new_session(settings)
    sid = session_id(settings, request(cookies={SESSION_COOKIE: cookie}))
    assert sid is not None
    return cookie, sid


def test_the_token_must_match_exactly() -> None:
    assert token_matches(ON, TOKEN)
    assert not token_matches(ON, TOKEN + "x")
    assert not token_matches(ON, TOKEN.upper())
    assert not token_matches(ON, "")


def test_with_no_token_configured_nothing_matches_not_even_empty() -> None:
    assert not OFF.enabled
    assert not token_matches(OFF, "")


def test_a_bearer_header_with_the_token_is_accepted_in_any_scheme_case() -> None:
    assert bearer_ok(ON, request(authorization=f"Bearer {TOKEN}"))
    assert bearer_ok(ON, request(authorization=f"bearer {TOKEN}  "))


def test_a_wrong_missing_or_other_scheme_authorization_is_refused() -> None:
    assert not bearer_ok(ON, request())
    assert not bearer_ok(ON, request(authorization="Bearer wrong"))
    assert not bearer_ok(ON, request(authorization=f"Basic {TOKEN}"))
    assert not bearer_ok(ON, request(authorization=TOKEN))
    assert not bearer_ok(OFF, request(authorization="Bearer "))


def test_a_new_session_cookie_is_a_random_id_and_its_signature() -> None:
    first, second = new_session(ON), new_session(ON)
    assert first != second
    sid, dot, signature = first.partition(".")
    assert dot == "." and len(sid) >= 32 and len(signature) == 64


def test_a_session_cookie_issued_with_the_token_is_valid() -> None:
    cookie, sid = logged_in()
    assert cookie.startswith(sid + ".")


def test_a_tampered_session_cookie_is_refused() -> None:
    cookie = new_session(ON)
    sid, _, signature = cookie.partition(".")
    forged_id = f"{sid[:-1]}{'A' if sid[-1] != 'A' else 'B'}.{signature}"
    assert session_id(ON, request(cookies={SESSION_COOKIE: forged_id})) is None
    assert session_id(ON, request(cookies={SESSION_COOKIE: f"{sid}.{'0' * 64}"})) is None
    assert session_id(ON, request(cookies={SESSION_COOKIE: sid})) is None


def test_no_or_empty_session_cookie_is_no_session() -> None:
    assert session_id(ON, request()) is None
    assert session_id(ON, request(cookies={SESSION_COOKIE: ".abc"})) is None


def test_rotating_the_token_logs_every_session_out() -> None:
    cookie, _ = logged_in(ON)
    rotated = OpsSettings(token=SecretStr("another-token"))
    assert session_id(rotated, request(cookies={SESSION_COOKIE: cookie})) is None


def test_a_disabled_console_accepts_no_session_even_one_signed_with_the_empty_token() -> None:
    cookie = new_session(OFF)
    assert session_id(OFF, request(cookies={SESSION_COOKIE: cookie})) is None


def test_the_csrf_token_is_per_session_and_differs_from_the_session_signature() -> None:
    cookie, sid = logged_in()
    _, other = logged_in()
    assert csrf_token(ON, sid) != csrf_token(ON, other)
    assert csrf_token(ON, sid) != cookie.partition(".")[2]
    assert csrf_token(ON, sid) == csrf_token(ON, sid)


def test_a_form_with_the_sessions_csrf_token_in_both_cookie_and_field_passes() -> None:
    cookie, sid = logged_in()
    token = csrf_token(ON, sid)
    assert csrf_ok(ON, request(cookies={SESSION_COOKIE: cookie, CSRF_COOKIE: token}), token)


def test_csrf_fails_when_the_field_is_missing_or_wrong() -> None:
    cookie, sid = logged_in()
    token = csrf_token(ON, sid)
    sent = request(cookies={SESSION_COOKIE: cookie, CSRF_COOKIE: token})
    assert not csrf_ok(ON, sent, "")
    assert not csrf_ok(ON, sent, token[:-1] + "0" if token[-1] != "0" else token[:-1] + "1")


def test_csrf_fails_when_the_cookie_is_missing_even_with_the_right_field() -> None:
    cookie, sid = logged_in()
    token = csrf_token(ON, sid)
    assert not csrf_ok(ON, request(cookies={SESSION_COOKIE: cookie}), token)


def test_csrf_fails_with_another_sessions_token_in_cookie_and_field() -> None:
    cookie, _ = logged_in()
    _, other_sid = logged_in()
    stolen = csrf_token(ON, other_sid)
    assert not csrf_ok(ON, request(cookies={SESSION_COOKIE: cookie, CSRF_COOKIE: stolen}), stolen)


def test_csrf_fails_without_a_valid_session() -> None:
    _, sid = logged_in()
    token = csrf_token(ON, sid)
    assert not csrf_ok(ON, request(cookies={CSRF_COOKIE: token}), token)
