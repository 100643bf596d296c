"""The web console: token-only access, login cookie, CSRF on every browser POST, audited
actions, and pages that show the same views as the CLI."""

from __future__ import annotations

import re
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import timedelta

import httpx
import pytest

from campaign_engine.db.models import Contact, utcnow
from campaign_engine.journal import audit
from campaign_engine.runtime import Runtime
from campaign_engine.server import create_app
from tests.conftest import engine_settings
from tests.ops import seed

TOKEN = "ops-t0ken"


async def _open(sqlite_url: str, redis_prefix: str, token: str) -> Runtime:
    return await Runtime.open(engine_settings(sqlite_url, redis_prefix, ops={"token": token}))


@pytest.fixture
async def console(sqlite_url: str, redis_prefix: str) -> AsyncIterator[Runtime]:
    runtime = await _open(sqlite_url, redis_prefix, TOKEN)
    try:
        yield runtime
    finally:
        await runtime.close()


def _client(runtime: Runtime) -> httpx.AsyncClient:
    transport = httpx.ASGITransport(app=create_app(runtime))
    return httpx.AsyncClient(transport=transport, base_url="http://console")


@asynccontextmanager
async def _logged_in(runtime: Runtime) -> AsyncIterator[httpx.AsyncClient]:
    async with _client(runtime) as client:
        response = await client.post("/ops/login", data={"token": TOKEN})
        assert response.status_code == 303
        assert all("httponly" in c.lower() for c in response.headers.get_list("set-cookie"))
        yield client


def _csrf(page: str) -> str:
    found = re.search(r'name="csrf" value="([^"]+)"', page)
    assert found is not None
    return found.group(1)


async def _waiting_contact(runtime: Runtime) -> tuple[str, int]:
    async with runtime.sessions() as session, session.begin():
        cid = await seed.campaign(session)
        asha = await seed.contact(
            session, cid, "+919811111111", state="retrying", attempts_count=1,
            last_outcome="busy", next_attempt_at=utcnow() + timedelta(hours=1),
        )  # fmt: skip
        await seed.attempt(session, asha, state="ended", outcome="busy")
    return cid, asha.id


async def test_the_console_is_off_with_a_clear_message_when_no_token_is_set(
    sqlite_url: str, redis_prefix: str
) -> None:
    runtime = await _open(sqlite_url, redis_prefix, "")
    try:
        async with _client(runtime) as client:
            for response in (await client.get("/ops/"), await client.post("/ops/login")):
                assert response.status_code == 404
                assert "set [ops] token" in response.text
    finally:
        await runtime.close()


async def test_without_the_token_nothing_is_shown_and_nothing_is_done(console: Runtime) -> None:
    _, asha = await _waiting_contact(console)
    async with _client(console) as client:
        page = await client.get("/ops/retries")
        wrong = await client.post("/ops/login", data={"token": "guess"})
        act = await client.post(f"/ops/contacts/{asha}/skip", data={"csrf": "x"})
        bad_bearer = await client.get("/ops/", headers={"Authorization": "Bearer guess"})
        bearer = await client.get("/ops/", headers={"Authorization": f"Bearer {TOKEN}"})

    assert page.status_code == 401 and "+919811111111" not in page.text
    assert wrong.status_code == 401 and "wrong token" in wrong.text
    assert act.status_code == 401 and bad_bearer.status_code == 401
    assert bearer.status_code == 200
    async with console.sessions() as session:
        assert await audit.entries(session) == []


async def test_a_browser_post_without_the_right_csrf_token_is_refused(console: Runtime) -> None:
    _, asha = await _waiting_contact(console)
    async with _logged_in(console) as client:
        missing = await client.post(f"/ops/contacts/{asha}/skip")
        wrong = await client.post(f"/ops/contacts/{asha}/skip", data={"csrf": "0" * 64})
        async with _logged_in(console) as other_session:
            page = await other_session.get("/ops/retries")
        stolen = await client.post(f"/ops/contacts/{asha}/skip", data={"csrf": _csrf(page.text)})

    assert [r.status_code for r in (missing, wrong, stolen)] == [403, 403, 403]
    async with console.sessions() as session:
        assert await audit.entries(session) == []


async def test_log_in_see_progress_requeue_from_the_retry_queue_and_see_the_audit_entry(
    console: Runtime,
) -> None:
    cid, asha = await _waiting_contact(console)
    async with _logged_in(console) as client:
        home = await client.get("/ops/")
        detail = await client.get(f"/ops/campaigns/{cid}")
        queue = await client.get("/ops/retries", params={"phone": "9811"})
        requeued = await client.post(
            f"/ops/contacts/{asha}/retry-now", data={"csrf": _csrf(queue.text)}
        )
        log = await client.get("/ops/audit")
        paused = await client.post(f"/ops/campaigns/{cid}/pause", data={"csrf": _csrf(queue.text)})

    assert home.status_code == 200 and "0/2" in home.text and 'http-equiv="refresh"' in home.text
    assert detail.text.count("<svg") == 3 and "<rect" in detail.text and "<polyline" in detail.text
    assert "+919811111111" in queue.text and "busy: 1" in queue.text
    assert requeued.status_code == 303 and paused.status_code == 303
    assert "retry-now" in log.text and "<td>config</td>" in log.text
    async with console.sessions() as session:
        actions = [(e.action, e.actor, e.target_id) for e in await audit.entries(session)]
    # The [ops] token acts as the admin token named "config".
    assert actions == [("pause", "config", cid), ("retry-now", "config", str(asha))]


async def test_pages_reload_at_the_configured_pace_but_the_retry_queue_stays_put(
    sqlite_url: str, redis_prefix: str
) -> None:
    settings = engine_settings(sqlite_url, redis_prefix, ops={"token": TOKEN, "refresh_seconds": 3})
    runtime = await Runtime.open(settings)
    try:
        cid, _ = await _waiting_contact(runtime)
        async with _logged_in(runtime) as client:
            pages = {
                path: (await client.get(path)).text
                for path in ("/ops/", f"/ops/campaigns/{cid}", "/ops/audit", "/ops/retries")
            }
    finally:
        await runtime.close()
    reload = '<meta http-equiv="refresh" content="3">'
    assert [reload in page for page in pages.values()] == [True, True, True, False]
    assert "http-equiv" not in pages["/ops/retries"]


async def test_a_refused_action_says_why(console: Runtime) -> None:
    async with console.sessions() as session, session.begin():
        cid = await seed.campaign(session)
        ringing = await seed.contact(session, cid, "+919822222222", state="calling")
    bearer = {"Authorization": f"Bearer {TOKEN}"}
    async with _client(console) as client:
        response = await client.post(f"/ops/contacts/{ringing.id}/skip", headers=bearer)
    assert response.status_code == 409 and "calling" in response.text


async def test_limits_dead_letters_and_a_contacts_history_have_their_pages(
    console: Runtime,
) -> None:
    cid, asha = await _waiting_contact(console)
    async with console.sessions() as session, session.begin():
        ravi = await seed.contact(
            session, cid, "+919833333333", state="exhausted", attempts_count=3,
            last_outcome="no_answer", last_error="no answer three times",
        )  # fmt: skip
    async with _logged_in(console) as client:
        limits = await client.get("/ops/limits")
        dead = await client.get("/ops/dead", params={"campaign": cid})
        history = await client.get(f"/ops/contacts/{asha}")
        missing = await client.get("/ops/contacts/999999")

    assert limits.status_code == 200 and "vocobase:calls" in limits.text
    assert "cooldown" in limits.text and 'http-equiv="refresh"' in limits.text
    assert "signed with the whole whsec_ secret" in limits.text
    assert dead.status_code == 200 and "+919833333333" in dead.text
    assert f'href="/ops/contacts/{ravi.id}"' in dead.text and "+919811111111" not in dead.text
    assert history.status_code == 200 and "+919811111111" in history.text
    assert "busy" in history.text and 'name="new_name"' in history.text
    assert missing.status_code == 404 and "contact 999999 not found" in missing.text


async def test_edit_variables_and_call_again_from_the_web_is_audited(console: Runtime) -> None:
    _, asha = await _waiting_contact(console)
    async with _logged_in(console) as client:
        page = await client.get(f"/ops/contacts/{asha}")
        form = {"csrf": _csrf(page.text), "var:name": "Asha K", "new_name": "due", "new_value": "5"}
        edited = await client.post(f"/ops/contacts/{asha}/edit-vars", data=form)

    assert edited.status_code == 303 and edited.headers["location"] == f"/ops/contacts/{asha}"
    async with console.sessions() as session:
        contact = await session.get(Contact, asha)
        entries = [(e.action, e.actor) for e in await audit.entries(session)]
    assert contact is not None and contact.variables == {"name": "Asha K", "due": "5"}
    assert contact.next_attempt_at is not None and contact.next_attempt_at <= utcnow()
    assert entries == [("edit-vars", "config")]


async def test_bulk_requeue_by_reason_from_the_web_takes_the_issues_spelling(
    console: Runtime,
) -> None:
    cid, _ = await _waiting_contact(console)
    async with _logged_in(console) as client:
        csrf = _csrf((await client.get(f"/ops/campaigns/{cid}")).text)
        unconfirmed = await client.post(
            f"/ops/campaigns/{cid}/requeue-reason", data={"csrf": csrf, "reason": "busy"}
        )
        answers = [
            await client.post(
                f"/ops/campaigns/{cid}/requeue-reason",
                data={"csrf": csrf, "reason": reason, "confirm": "yes"},
            )
            for reason in ("busy", "rate-limited", "bogus")
        ]

    # Without the ticked box it only asks (a form that posts again with confirm=yes).
    assert (
        unconfirmed.status_code == 200 and 'name="confirm" value="yes" required' in unconfirmed.text
    )
    assert [answer.status_code for answer in answers] == [303, 303, 409]
    assert "unknown reason &#39;bogus&#39;; one of no_answer, busy" in answers[2].text
    async with console.sessions() as session:
        entries = [(e.details["reason"], e.details["count"]) for e in await audit.entries(session)]
    assert entries == [("rate_limited", 0), ("busy", 1)]


async def test_the_campaign_page_sets_its_priority_and_says_so_once(console: Runtime) -> None:
    cid, _ = await _waiting_contact(console)
    async with _logged_in(console) as client:
        page = await client.get(f"/ops/campaigns/{cid}")
        assert 'name="priority"' in page.text and 'value="1"' in page.text
        set_to = await client.post(
            f"/ops/campaigns/{cid}/priority", data={"csrf": _csrf(page.text), "priority": "4"}
        )
        after = await client.get(f"/ops/campaigns/{cid}")
        again = await client.get(f"/ops/campaigns/{cid}")
        refused = await client.post(
            f"/ops/campaigns/{cid}/priority", data={"csrf": _csrf(page.text), "priority": "-2"}
        )

    assert set_to.status_code == 303
    assert "priority set to 4" in after.text and 'value="4"' in after.text
    assert "priority set to 4" not in again.text  # said once
    assert refused.status_code == 409 and "priority must be from 1 to 1000" in refused.text
    async with console.sessions() as session:
        entries = [(e.action, e.details) for e in await audit.entries(session)]
    assert entries == [("priority", {"from": 1, "to": 4})]


async def test_call_again_now_says_when_the_contact_will_be_called(console: Runtime) -> None:
    _, asha = await _waiting_contact(console)
    async with _logged_in(console) as client:
        page = await client.get(f"/ops/contacts/{asha}")
        called = await client.post(
            f"/ops/contacts/{asha}/retry-now", data={"csrf": _csrf(page.text)}
        )
        queue = await client.get("/ops/retries")

    assert called.status_code == 303
    assert f"contact {asha} is due now, called ahead of the queue" in queue.text
