"""The console's session cookies (signed, expiring, naming the token and its scope), the
bearer header, double-submit CSRF, and the cookie flags."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from starlette.requests import Request

from campaign_engine.config import Settings
from campaign_engine.ops.tokens import Principal, Scope
from campaign_engine.ops.web_auth import (
    CSRF_COOKIE,
    SESSION_COOKIE,
    bearer,
    config_tag,
    cookie_options,
    csrf_ok,
    csrf_token,
    new_session,
    read_session,
    read_session_value,
)

TOKEN = "s3cret-ops-token"
NOW = datetime(2026, 12, 7, 9, 30, tzinfo=UTC)
ASHA = Principal("asha", Scope.OPERATE)


KEY = b"0123456789abcdef" * 4


def settings(*, public_url: str = "http://x") -> Settings:
    return Settings(server={"public_url": public_url})  # type: ignore[arg-type]


def request(*, cookies: dict[str, str] | None = None, authorization: str | None = None) -> Request:
    headers: list[tuple[bytes, bytes]] = []
    if cookies:
        cookie = "; ".join(f"{name}={value}" for name, value in cookies.items())
        headers.append((b"cookie", cookie.encode()))
    if authorization is not None:
        headers.append((b"authorization", authorization.encode()))
    return Request({"type": "http", "method": "GET", "path": "/", "headers": headers})


def test_a_session_names_the_token_and_its_scope_never_the_token_itself() -> None:
    cookie = new_session(KEY, ASHA, NOW, 60)
    found = read_session(KEY, request(cookies={SESSION_COOKIE: cookie}), NOW)
    assert found is not None and found.principal == ASHA
    assert found.expires_at == NOW + timedelta(minutes=60)
    assert TOKEN not in cookie and len(found.sid) >= 32


def test_two_logins_get_different_sessions() -> None:
    assert new_session(KEY, ASHA, NOW, 60) != new_session(KEY, ASHA, NOW, 60)


def test_a_session_ends_after_the_configured_minutes() -> None:
    cookie = new_session(KEY, ASHA, NOW, 30)
    assert read_session_value(KEY, cookie, NOW + timedelta(minutes=29)) is not None
    assert read_session_value(KEY, cookie, NOW + timedelta(minutes=30)) is None


def test_a_tampered_cookie_is_refused_even_a_raised_scope_or_later_end() -> None:
    cookie = new_session(KEY, Principal("ravi", Scope.READ), NOW, 60)
    body, _, signature = cookie.rpartition(".")
    sid, name, scope, ends = body.split(".")
    for forged in (
        f"{sid}.{name}.admin.{ends}.{signature}",
        f"{sid}.{name}.{scope}.{int(ends) + 86400}.{signature}",
        f"{sid}x.{name}.{scope}.{ends}.{signature}",
        f"{body}.{'0' * 64}",
        body,
        "",
        ".abc",
    ):
        assert read_session_value(KEY, forged, NOW) is None, forged


def test_a_session_signed_with_another_key_is_refused() -> None:
    cookie = new_session(KEY, ASHA, NOW, 60)
    assert read_session_value(b"another-key" * 4, cookie, NOW) is None


def test_no_key_accepts_no_session_even_one_signed_with_the_empty_key() -> None:
    cookie = new_session(b"", ASHA, NOW, 60)
    assert read_session_value(b"", cookie, NOW) is None


def test_a_config_token_session_carries_a_tag_that_changes_with_the_token() -> None:
    cookie = new_session(KEY, ASHA, NOW, 60, tag=config_tag(KEY, "old"))
    found = read_session_value(KEY, cookie, NOW)
    assert found is not None and found.sid.endswith("~" + config_tag(KEY, "old"))
    assert config_tag(KEY, "old") != config_tag(KEY, "new")
    assert "old" not in cookie


def test_a_bearer_header_gives_its_token_in_any_scheme_case() -> None:
    assert bearer(request(authorization=f"Bearer {TOKEN}")) == TOKEN
    assert bearer(request(authorization=f"bearer {TOKEN}  ")) == TOKEN
    assert bearer(request(authorization=f"Basic {TOKEN}")) is None
    assert bearer(request(authorization=TOKEN)) is None
    assert bearer(request()) is None


def test_a_form_with_the_sessions_csrf_token_in_both_cookie_and_field_passes() -> None:
    cookie = new_session(KEY, ASHA, NOW, 60)
    session = read_session_value(KEY, cookie, NOW)
    assert session is not None
    token = csrf_token(KEY, session.sid)
    sent = request(cookies={SESSION_COOKIE: cookie, CSRF_COOKIE: token})
    assert csrf_ok(KEY, sent, session, token)
    assert token != cookie.rpartition(".")[2]


def test_csrf_fails_when_the_field_or_cookie_is_missing_or_wrong() -> None:
    cookie = new_session(KEY, ASHA, NOW, 60)
    session = read_session_value(KEY, cookie, NOW)
    assert session is not None
    token = csrf_token(KEY, session.sid)
    sent = request(cookies={SESSION_COOKIE: cookie, CSRF_COOKIE: token})
    assert not csrf_ok(KEY, sent, session, "")
    assert not csrf_ok(KEY, sent, session, token[:-1] + ("0" if token[-1] != "0" else "1"))
    assert not csrf_ok(KEY, request(cookies={SESSION_COOKIE: cookie}), session, token)


def test_csrf_fails_with_another_sessions_token_in_cookie_and_field() -> None:
    cookie = new_session(KEY, ASHA, NOW, 60)
    mine = read_session_value(KEY, cookie, NOW)
    other = read_session_value(KEY, new_session(KEY, ASHA, NOW, 60), NOW)
    assert mine is not None and other is not None
    stolen = csrf_token(KEY, other.sid)
    sent = request(cookies={SESSION_COOKIE: cookie, CSRF_COOKIE: stolen})
    assert not csrf_ok(KEY, sent, mine, stolen)


def test_cookies_are_httponly_strict_under_ops_and_secure_only_behind_https() -> None:
    plain = cookie_options(settings(public_url="http://10.0.0.5:8000"), max_age=60)
    public = cookie_options(settings(public_url="HTTPS://calls.example.com"))
    assert plain == {
        "httponly": True,
        "samesite": "strict",
        "path": "/ops",
        "secure": False,
        "max_age": 60,
    }
    assert public["secure"] is True and public["samesite"] == "strict" and public["httponly"]
