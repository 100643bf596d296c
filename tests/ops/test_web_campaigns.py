"""Creating, editing, cancelling and exporting a campaign in the console, contacts search,
and lists that page with their totals."""

from __future__ import annotations

from datetime import timedelta

from sqlalchemy import select

from campaign_engine.campaigns.schedule import from_json
from campaign_engine.db.models import Campaign, utcnow
from campaign_engine.journal import audit
from tests.harness import AGENT_ID
from tests.ops import seed
from tests.ops.web_client import CONFIG_TOKEN, console, csrf, logged_in

SCHEDULED = {
    "scheduled": "yes", "windows": "09:00-18:00", "day:mon": "on", "day:tue": "on",
    "preset": "rbi_collections", "max_attempts": "3", "busy.retry": "yes",
    "busy.max_retries": "2", "busy.delay": "15m", "busy.backoff": "fixed",
}  # fmt: skip


async def test_a_campaign_is_created_with_its_schedule_retries_and_limits_and_audited(
    database_url: str, redis_prefix: str
) -> None:
    async with console(database_url, redis_prefix) as runtime:
        async with logged_in(runtime, CONFIG_TOKEN) as browser:
            form_page = await browser.get("/ops/campaigns/new")
            created = await browser.post(
                "/ops/campaigns/new",
                data={
                    "csrf": csrf(form_page.text),
                    "name": "Renewals",
                    "agent_id": AGENT_ID,
                    "provider": "twilio",
                    "max_concurrent": "4",
                    "calls_per_minute": "30",
                    "priority": "7",
                    **SCHEDULED,
                },
            )
            upload_page = await browser.get(created.headers["location"])
        async with runtime.sessions() as session:
            campaign = await session.scalar(select(Campaign).where(Campaign.name == "Renewals"))
            entries = [(e.action, e.actor) for e in await audit.entries(session)]
    assert 'name="windows" value=""' in form_page.text and "callee's own clock" in form_page.text
    assert created.status_code == 303 and created.headers["location"].endswith("/upload")
    assert "campaign created; upload its contacts next" in upload_page.text
    assert campaign is not None
    assert (campaign.max_concurrent, campaign.calls_per_minute, campaign.priority) == (4, 30, 7)
    schedule = from_json(campaign.schedule)
    assert schedule is not None and schedule.to_json()["windows"] == ["09:00-18:00"]
    assert campaign.retry_policy["max_attempts"] == 3
    assert campaign.retry_policy["rules"]["busy"]["delay_seconds"] == 900.0
    assert ("campaign.create", "config") in entries and ("priority", "config") in entries


async def test_a_bad_field_shows_the_form_again_with_what_is_wrong(
    sqlite_url: str, redis_prefix: str
) -> None:
    async with console(sqlite_url, redis_prefix) as runtime:
        async with logged_in(runtime, CONFIG_TOKEN) as browser:
            token = csrf((await browser.get("/ops/campaigns/new")).text)
            bad_window = await browser.post(
                "/ops/campaigns/new",
                data={
                    "csrf": token,
                    "name": "X",
                    "agent_id": AGENT_ID,
                    **SCHEDULED,
                    "windows": "9 to 5",
                },
            )
            bad_agent = await browser.post(
                "/ops/campaigns/new", data={"csrf": token, "name": "X", "agent_id": "nope"}
            )
        async with runtime.sessions() as session:
            count = len((await session.scalars(select(Campaign.id))).all())
    assert bad_window.status_code == 422 and "windows: " in bad_window.text
    assert 'value="9 to 5"' in bad_window.text  # what was typed is kept
    assert bad_agent.status_code == 422 and "agent id must be a UUID" in bad_agent.text
    assert count == 0


async def test_editing_changes_limits_retries_and_schedule_and_moves_waiting_contacts(
    database_url: str, redis_prefix: str
) -> None:
    async with console(database_url, redis_prefix) as runtime:
        async with runtime.sessions() as session, session.begin():
            cid = await seed.campaign(session)
        async with logged_in(runtime, CONFIG_TOKEN) as browser:
            page = await browser.get(f"/ops/campaigns/{cid}/edit")
            saved = await browser.post(
                f"/ops/campaigns/{cid}/edit",
                data={"csrf": csrf(page.text), "max_concurrent": "2", "priority": "1", **SCHEDULED},
            )
            after = await browser.get(f"/ops/campaigns/{cid}")
        async with runtime.sessions() as session:
            campaign = await session.get(Campaign, cid)
            entries = [e.action for e in await audit.entries(session)]
    assert 'value="3"' in page.text  # calls at once, as the campaign has it
    assert saved.status_code == 303
    assert "saved; 1 waiting contacts moved to the new schedule" in after.text
    assert "09:00-18:00 on mon, tue, each callee&#39;s own time" in after.text
    assert campaign is not None and campaign.max_concurrent == 2
    assert campaign.calls_per_minute is None and campaign.retry_policy["max_attempts"] == 3
    assert entries == ["campaign.edit"]


async def test_cancel_asks_first_then_cancels_with_the_reason(
    sqlite_url: str, redis_prefix: str
) -> None:
    async with console(sqlite_url, redis_prefix) as runtime:
        async with runtime.sessions() as session, session.begin():
            cid = await seed.campaign(session)
        async with logged_in(runtime, CONFIG_TOKEN) as browser:
            token = csrf((await browser.get(f"/ops/campaigns/{cid}")).text)
            asked = await browser.post(f"/ops/campaigns/{cid}/cancel", data={"csrf": token})
            async with runtime.sessions() as session:
                untouched = (await session.get(Campaign, cid)).state  # type: ignore[union-attr]
            done = await browser.post(
                f"/ops/campaigns/{cid}/cancel",
                data={"csrf": token, "confirm": "yes", "reason": "wrong list"},
            )
        async with runtime.sessions() as session:
            campaign = await session.get(Campaign, cid)
            entries = [(e.action, e.actor, e.details) for e in await audit.entries(session)]
    assert asked.status_code == 200 and "cannot be resumed" in asked.text
    assert untouched == "running"
    assert done.status_code == 303 and campaign is not None and campaign.state == "canceled"
    assert entries[0][:2] == ("cancel", "config") and "wrong list" in str(entries[0][2])


async def test_suppress_asks_first(sqlite_url: str, redis_prefix: str) -> None:
    async with console(sqlite_url, redis_prefix) as runtime:
        async with runtime.sessions() as session, session.begin():
            cid = await seed.campaign(session)
            asha = await seed.contact(session, cid, "+919811111111", state="retrying",
                                      next_attempt_at=utcnow() + timedelta(hours=1))  # fmt: skip
        async with logged_in(runtime, CONFIG_TOKEN) as browser:
            token = csrf((await browser.get(f"/ops/contacts/{asha.id}")).text)
            asked = await browser.post(f"/ops/contacts/{asha.id}/suppress", data={"csrf": token})
            done = await browser.post(
                f"/ops/contacts/{asha.id}/suppress", data={"csrf": token, "confirm": "yes"}
            )
        async with runtime.sessions() as session:
            entries = [e.action for e in await audit.entries(session)]
    assert asked.status_code == 200 and "never called again" in asked.text
    assert done.status_code == 303 and entries == ["suppress"]


async def test_contacts_search_pages_with_its_total_and_says_when_a_held_contact_is_called(
    database_url: str, redis_prefix: str
) -> None:
    later = utcnow() + timedelta(hours=3)
    async with console(database_url, redis_prefix) as runtime:
        async with runtime.sessions() as session, session.begin():
            cid = await seed.campaign(session)
            for n in range(104):
                await seed.contact(session, cid, f"+9198765{n:05d}", state="pending",
                                   next_attempt_at=later, timezones=["Asia/Kolkata"])  # fmt: skip
        async with logged_in(runtime, CONFIG_TOKEN) as browser:
            first = await browser.get("/ops/contacts", params={"campaign": cid})
            second = await browser.get("/ops/contacts", params={"campaign": cid, "offset": "100"})
            one = await browser.get("/ops/contacts", params={"phone": "98765 00042"})
    assert "showing 1\u2013100 of 105" in first.text and 'rel="next"' in first.text
    assert "showing 101\u2013105 of 105" in second.text and 'rel="next"' not in second.text
    assert "showing 1\u20131 of 1" in one.text and "+919876500042" in one.text
    assert "waiting for the window; next call " in one.text and " IST" in one.text


async def test_results_export_downloads_from_the_campaign_page(
    sqlite_url: str, redis_prefix: str
) -> None:
    async with console(sqlite_url, redis_prefix) as runtime:
        async with runtime.sessions() as session, session.begin():
            cid = await seed.campaign(session)
        async with logged_in(runtime, CONFIG_TOKEN) as browser:
            csv_file = await browser.get(f"/ops/campaigns/{cid}/results.csv")
            lines = await browser.get(f"/ops/campaigns/{cid}/results.jsonl")
            missing = await browser.get("/ops/campaigns/nope/results.csv")
    assert csv_file.status_code == 200 and csv_file.text.startswith("contact_id,phone")
    assert "+919800000000" in csv_file.text
    assert 'filename="' in csv_file.headers["content-disposition"]
    assert lines.text.count("\n") == 1 and missing.status_code == 404


async def test_a_variable_edit_the_agent_would_not_take_is_refused_in_the_console(
    sqlite_url: str, redis_prefix: str
) -> None:
    async with console(sqlite_url, redis_prefix) as runtime:
        async with runtime.sessions() as session, session.begin():
            cid = await seed.campaign(session)
            campaign = await session.get(Campaign, cid)
            assert campaign is not None
            campaign.agent_variables = ["name", "ce_attempt_id"]
            asha = await seed.contact(
                session, cid, "+919811111111", state="failed", variables={"name": "Asha"}
            )
        async with logged_in(runtime, CONFIG_TOKEN) as browser:
            page = await browser.get(f"/ops/contacts/{asha.id}")
            refused = await browser.post(
                f"/ops/contacts/{asha.id}/edit-vars",
                data={
                    "csrf": csrf(page.text),
                    "var:name": "Asha",
                    "new_name": "city",
                    "new_value": "Pune",
                },
            )
    assert "the agent declares: name, ce_attempt_id" in page.text
    assert refused.status_code == 409
    assert "nothing changed; variables the agent does not declare: city" in refused.text


async def test_the_stylesheet_and_upload_script_are_served_by_the_app_and_nothing_else(
    sqlite_url: str, redis_prefix: str
) -> None:
    from tests.ops.web_client import client

    async with console(sqlite_url, redis_prefix) as runtime, client(runtime) as browser:
        css = await browser.get("/ops/static/console.css")
        script = await browser.get("/ops/static/upload.js")
        other = await browser.get("/ops/static/..%2Fweb.py")
    assert css.status_code == 200 and css.headers["content-type"].startswith("text/css")
    assert ":focus-visible" in css.text
    assert script.status_code == 200 and "XMLHttpRequest" in script.text
    assert other.status_code == 404


async def test_dead_letters_and_the_audit_log_say_how_many_there_are(
    database_url: str, redis_prefix: str
) -> None:
    async with console(database_url, redis_prefix) as runtime:
        async with runtime.sessions() as session, session.begin():
            cid = await seed.campaign(session)
            for n in range(3):
                await seed.contact(session, cid, f"+91982222222{n}", state="exhausted")
        async with logged_in(runtime, CONFIG_TOKEN) as browser:
            dead = await browser.get("/ops/dead", params={"campaign": cid})
            one = await browser.get("/ops/dead", params={"phone": "+91 98222 22221"})
            token = csrf(dead.text)
            await browser.post(f"/ops/campaigns/{cid}/pause", data={"csrf": token})
            log = await browser.get("/ops/audit", params={"actor": "config"})
            nobody = await browser.get("/ops/audit", params={"actor": "someone-else"})
    assert "showing 1\u20133 of 3" in dead.text and "showing 1\u20131 of 1" in one.text
    assert "showing 1\u20131 of 1" in log.text and "nothing to show" in nobody.text
