"""The public console's rules: named tokens and their scopes, audit under the token's name,
session cookies' flags, expiry and logout, login throttling, and body limits."""

from __future__ import annotations

from datetime import timedelta

from campaign_engine import clock
from campaign_engine.db.models import utcnow
from campaign_engine.journal import audit
from campaign_engine.ops.tokens import Scope, revoke_token
from tests.ops import seed
from tests.ops.web_client import CONFIG_TOKEN, client, console, csrf, logged_in, named_token


async def _paused_by(
    database_url: str, redis_prefix: str, scope: Scope
) -> tuple[int, list[tuple[str, str]]]:
    async with console(database_url, redis_prefix) as runtime:
        async with runtime.sessions() as session, session.begin():
            cid = await seed.campaign(session)
        token = await named_token(runtime, "crm-nightly", scope)
        async with logged_in(runtime, token) as browser:
            page = await browser.get(f"/ops/campaigns/{cid}")
            paused = await browser.post(
                f"/ops/campaigns/{cid}/pause", data={"csrf": csrf(page.text), "reason": "lunch"}
            )
        async with runtime.sessions() as session:
            entries = [
                (e.action, e.actor) for e in await audit.entries(session) if e.action == "pause"
            ]
    return paused.status_code, entries


async def test_a_named_operate_token_logs_in_and_its_actions_are_audited_under_its_name(
    database_url: str, redis_prefix: str
) -> None:
    status, entries = await _paused_by(database_url, redis_prefix, Scope.OPERATE)
    assert status == 303
    assert entries == [("pause", "crm-nightly")]


async def test_a_read_token_sees_the_pages_but_may_not_act(
    database_url: str, redis_prefix: str
) -> None:
    status, entries = await _paused_by(database_url, redis_prefix, Scope.READ)
    assert status == 403
    assert entries == []


async def test_a_bearer_named_token_is_its_scope_too(database_url: str, redis_prefix: str) -> None:
    async with console(database_url, redis_prefix) as runtime:
        async with runtime.sessions() as session, session.begin():
            cid = await seed.campaign(session)
        reader = await named_token(runtime, "dashboard", Scope.READ)
        async with client(runtime) as api:
            headers = {"Authorization": f"Bearer {reader}"}
            looked = await api.get("/ops/", headers=headers)
            acted = await api.post(f"/ops/campaigns/{cid}/pause", headers=headers)
    assert looked.status_code == 200 and "dashboard (read)" in looked.text
    assert acted.status_code == 403 and "needs operate" in acted.text


async def test_login_cookies_are_httponly_strict_and_secure_behind_https(
    sqlite_url: str, redis_prefix: str
) -> None:
    from campaign_engine.runtime import Runtime
    from tests.conftest import engine_settings

    settings = engine_settings(
        sqlite_url, redis_prefix, ops={"token": CONFIG_TOKEN, "session_minutes": 15},
        server={"public_url": "https://calls.example.com"},
    )  # fmt: skip
    runtime = await Runtime.open(settings)
    try:
        async with client(runtime) as browser:
            response = await browser.post("/ops/login", data={"token": CONFIG_TOKEN})
    finally:
        await runtime.close()
    cookies = [c.lower() for c in response.headers.get_list("set-cookie")]
    assert len(cookies) == 2
    for cookie in cookies:
        assert "httponly" in cookie and "samesite=strict" in cookie and "secure" in cookie
        assert "path=/ops" in cookie and "max-age=900" in cookie


async def test_a_session_expires_and_logout_ends_it(sqlite_url: str, redis_prefix: str) -> None:
    async with (
        console(sqlite_url, redis_prefix, session_minutes=5) as runtime,
        logged_in(runtime, CONFIG_TOKEN) as browser,
    ):
        home = await browser.get("/ops/")
        with clock.use(clock.FrozenClock(utcnow() + timedelta(minutes=6))):
            expired = await browser.get("/ops/")
        copied = dict(browser.cookies)
        out = await browser.post("/ops/logout", data={"csrf": csrf(home.text)})
        after = await browser.get("/ops/")
        async with client(runtime) as thief:
            thief.cookies.update(copied)
            replayed = await thief.get("/ops/")
    assert home.status_code == 200 and "config (admin)" in home.text
    assert expired.status_code == 401 and 'name="token"' in expired.text
    assert out.status_code == 303 and out.headers["location"] == "/ops/login"
    assert all(
        "max-age=0" in c.lower() or "expires=" in c.lower()
        for c in out.headers.get_list("set-cookie")
    )
    assert after.status_code == 401
    assert replayed.status_code == 401  # a copy of the cookie ended with the logout


async def test_a_revoked_tokens_session_ends_at_its_next_request(
    database_url: str, redis_prefix: str
) -> None:
    async with console(database_url, redis_prefix) as runtime:
        token = await named_token(runtime, "temp", Scope.OPERATE)
        async with logged_in(runtime, token) as browser:
            before = await browser.get("/ops/")
            async with runtime.sessions() as session, session.begin():
                await revoke_token(session, "temp", actor="test")
            after = await browser.get("/ops/")
    assert before.status_code == 200 and after.status_code == 401


async def test_failed_logins_from_one_address_are_throttled_with_retry_after(
    sqlite_url: str, redis_prefix: str
) -> None:
    async with console(sqlite_url, redis_prefix, login_attempts_per_minute=3) as runtime:
        async with client(runtime, address="10.1.1.1") as guesser:
            guesses = [
                (await guesser.post("/ops/login", data={"token": f"guess{n}"})).status_code
                for n in range(3)
            ]
            right_but_late = await guesser.post("/ops/login", data={"token": CONFIG_TOKEN})
        async with client(runtime, address="10.2.2.2") as other:
            elsewhere = await other.post("/ops/login", data={"token": CONFIG_TOKEN})
    assert guesses == [401, 401, 401]
    assert right_but_late.status_code == 429
    assert 1 <= int(right_but_late.headers["retry-after"]) <= 60
    assert elsewhere.status_code == 303


async def test_an_oversized_login_or_form_is_refused_with_413_before_it_is_read(
    sqlite_url: str, redis_prefix: str
) -> None:
    async with console(sqlite_url, redis_prefix, max_form_bytes=1024) as runtime:
        async with runtime.sessions() as session, session.begin():
            cid = await seed.campaign(session)
        big = "token=" + "x" * 5000
        async with client(runtime) as browser:
            login = await browser.post(
                "/ops/login", content=big,
                headers={"content-type": "application/x-www-form-urlencoded"},
            )  # fmt: skip
            headers = {"Authorization": f"Bearer {CONFIG_TOKEN}"}
            action = await browser.post(
                f"/ops/campaigns/{cid}/pause", headers=headers, data={"reason": "x" * 5000}
            )
        async with runtime.sessions() as session:
            entries = await audit.entries(session)
    assert login.status_code == 413
    assert action.status_code == 413 and "nothing was done" in action.text
    assert entries == []


async def test_named_tokens_alone_open_the_console_and_its_sessions_outlive_an_ops_token(
    database_url: str, redis_prefix: str
) -> None:
    """No ``[ops] token``: a named token logs in, and its session is signed with the key
    every process shares (another app, as another ``serve`` process, accepts it); setting an
    ``[ops] token`` later changes nothing for it."""
    async with console(database_url, redis_prefix, token="") as runtime:
        token = await named_token(runtime, "asha", Scope.READ)
        async with logged_in(runtime, token) as browser:
            cookies = dict(browser.cookies)
            home = await browser.get("/ops/")
        runtime.settings.ops.token = type(runtime.settings.ops.token)("set-later")
        async with client(runtime) as other_process:
            other_process.cookies.update(cookies)
            elsewhere = await other_process.get("/ops/")
    assert home.status_code == 200
    assert elsewhere.status_code == 200


async def test_without_any_token_the_login_page_says_there_is_no_way_to_log_in(
    sqlite_url: str, redis_prefix: str
) -> None:
    async with console(sqlite_url, redis_prefix, token="") as runtime:
        async with client(runtime) as browser:
            login = await browser.get("/ops/login")
            home = await browser.get("/ops/")
        made = await named_token(runtime, "first", Scope.ADMIN)
        async with client(runtime) as browser:
            after = await browser.get("/ops/login")
            wrong = await browser.post("/ops/login", data={"token": ""})
            right = await browser.post("/ops/login", data={"token": made})
    assert login.status_code == 404 and home.status_code == 404
    assert "no way to log in" in login.text and "tokens create" in login.text
    assert 'name="token"' not in login.text
    assert after.status_code == 200 and 'name="token"' in after.text
    assert wrong.status_code == 401 and right.status_code == 303


async def test_changing_or_removing_the_ops_token_ends_the_sessions_it_opened(
    sqlite_url: str, redis_prefix: str
) -> None:
    async with console(sqlite_url, redis_prefix) as runtime:
        await named_token(runtime, "keeps-it-on", Scope.READ)
        async with logged_in(runtime, CONFIG_TOKEN) as browser:
            before = await browser.get("/ops/")
            runtime.settings.ops.token = type(runtime.settings.ops.token)("rotated")
            rotated = await browser.get("/ops/")
            runtime.settings.ops.token = type(runtime.settings.ops.token)(CONFIG_TOKEN)
            back = await browser.get("/ops/")
            runtime.settings.ops.token = type(runtime.settings.ops.token)("")
            removed = await browser.get("/ops/")
    assert before.status_code == 200 and back.status_code == 200
    assert rotated.status_code == 401 and removed.status_code == 401
