"""The scheduler's campaign steps, in order: dates, withdrawals of paused campaigns, then
the daily imports due — and the CampaignTick reporting what each did."""

from __future__ import annotations

import sqlite3
from datetime import datetime
from pathlib import Path

from sqlalchemy import func, select, update

from campaign_engine import clock
from campaign_engine.campaigns import service
from campaign_engine.clock import FrozenClock
from campaign_engine.contacts.saved_sources import save_source
from campaign_engine.contacts.summary import ImportOptions
from campaign_engine.control import campaign_moves
from campaign_engine.control.calendar import END_REACHED
from campaign_engine.control.tick import CampaignTick, run_campaign_steps
from campaign_engine.db.models import AuditEntry, Contact
from campaign_engine.dialer.scheduler import Scheduler
from campaign_engine.runtime import Runtime
from tests.campaigns.support import KOLKATA, WEEKDAYS_10_TO_13, campaign_with, utc
from tests.dialer.support import (
    NUMBERS,
    campaign_of,
    contacts_of,
    queued_job_ids,
    running_campaign,
)

STARTS_WEDNESDAY = {**WEEKDAYS_10_TO_13, "start": "2030-06-05T00:00:00+05:30"}
ENDS_TUESDAY = {**WEEKDAYS_10_TO_13, "end": "2030-06-04T13:00:00+05:30"}
# Wednesday 5 June 2030, 01:00 UTC: past the start above (Tuesday 18:30 UTC) and that end.
WEDNESDAY = utc(2030, 6, 5, 1)
QUERY = "SELECT phone, name FROM leads"


def crm(path: Path, *numbers: str) -> str:
    with sqlite3.connect(path) as connection:
        connection.execute("CREATE TABLE IF NOT EXISTS leads (phone TEXT, name TEXT)")
        connection.executemany("INSERT INTO leads VALUES (?, ?)", [(n, "lead") for n in numbers])
    return f"sqlite:///{path}"


async def tick(runtime: Runtime, now: datetime) -> CampaignTick:
    return await run_campaign_steps(runtime.sessions, runtime.redis, runtime.keys, now)


async def with_source(runtime: Runtime, url: str) -> str:
    """A running campaign (no schedule: its import is due at midnight UTC) with a source."""
    campaign_id = await running_campaign(runtime, NUMBERS[10:11])
    await save_source(
        runtime.sessions, campaign_id, url, QUERY, ImportOptions(phone_column="phone")
    )
    return campaign_id


async def contact_count(runtime: Runtime, campaign_id: str) -> int:
    async with runtime.sessions() as session:
        found = await session.scalar(
            select(func.count()).select_from(Contact).where(Contact.campaign_id == campaign_id)
        )
    return int(found or 0)


async def audit_actions(runtime: Runtime, campaign_id: str) -> list[str]:
    async with runtime.sessions() as session:
        found = await session.scalars(
            select(AuditEntry.action)
            .where(AuditEntry.target_id == campaign_id)
            .order_by(AuditEntry.id)
        )
        return list(found.all())


async def test_a_tick_with_nothing_to_do_reports_nothing(runtime: Runtime) -> None:
    await running_campaign(runtime, NUMBERS[:1])

    assert await tick(runtime, WEDNESDAY) == CampaignTick()


async def test_one_tick_applies_dates_withdraws_paused_work_and_imports_what_is_due(
    runtime: Runtime, tmp_path: Path
) -> None:
    paused = await running_campaign(runtime, NUMBERS[:3])
    # One: what the key's default rate (10 a minute) lets start within the dispatch horizon.
    assert await Scheduler(runtime).enqueue_due() == 1
    async with runtime.sessions() as session, session.begin():
        assert await campaign_moves.pause_for_error(session, paused, "HTTP 401: bad key")
    scheduled = await campaign_with(runtime, [(NUMBERS[5], KOLKATA)], STARTS_WEDNESDAY)
    assert (await campaign_of(runtime, scheduled)).state == "scheduled"
    importing = await with_source(runtime, crm(tmp_path / "crm.db", "+919876543210"))

    result = await tick(runtime, WEDNESDAY)

    assert result == CampaignTick(moved=[(scheduled, "running")], withdrawn=1, imported=[importing])
    assert (await campaign_of(runtime, scheduled)).state == "running"
    assert await queued_job_ids(runtime) == set()
    assert {c.state for c in await contacts_of(runtime, paused)} == {"pending"}
    assert await contact_count(runtime, importing) == 2
    assert await audit_actions(runtime, importing) == ["daily_import"]


async def test_a_campaign_its_end_completes_in_this_tick_imports_nothing(
    runtime: Runtime, tmp_path: Path
) -> None:
    # Dates come first: a campaign completed by its end date is no longer running when the
    # daily imports are chosen.
    campaign_id = await campaign_with(runtime, [(NUMBERS[0], KOLKATA)], ENDS_TUESDAY)
    await save_source(
        runtime.sessions,
        campaign_id,
        crm(tmp_path / "crm.db", "+919876543210"),
        QUERY,
        ImportOptions(phone_column="phone"),
    )

    result = await tick(runtime, WEDNESDAY)

    assert result == CampaignTick(moved=[(campaign_id, "completed")])
    campaign = await campaign_of(runtime, campaign_id)
    assert (campaign.state, campaign.state_reason) == ("completed", END_REACHED)
    assert await contact_count(runtime, campaign_id) == 1
    assert await audit_actions(runtime, campaign_id) == []


async def test_a_scheduled_campaign_whose_start_comes_imports_in_the_same_tick(
    runtime: Runtime, tmp_path: Path
) -> None:
    schedule = {**STARTS_WEDNESDAY, "timezone": "Asia/Kolkata"}
    campaign_id = await campaign_with(runtime, [(NUMBERS[0], KOLKATA)], schedule)
    await save_source(
        runtime.sessions,
        campaign_id,
        crm(tmp_path / "crm.db", "+919876543210"),
        QUERY,
        ImportOptions(phone_column="phone"),
    )
    # Wednesday 09:30 IST: the import is due 30 minutes before the 10:00 IST window.
    now = utc(2030, 6, 5, 4)

    result = await tick(runtime, now)

    assert result == CampaignTick(moved=[(campaign_id, "running")], imported=[campaign_id])
    assert await contact_count(runtime, campaign_id) == 2


async def test_a_failed_import_is_not_reported_as_imported(runtime: Runtime) -> None:
    campaign_id = await with_source(runtime, "postgresql+asyncpg://crm:pw@127.0.0.1:1/crm")

    result = await tick(runtime, WEDNESDAY)

    assert result == CampaignTick()
    assert await audit_actions(runtime, campaign_id) == ["daily_import_failed"]


async def test_an_import_already_done_today_is_not_run_again(
    runtime: Runtime, tmp_path: Path
) -> None:
    campaign_id = await with_source(runtime, crm(tmp_path / "crm.db", "+919876543210"))
    assert (await tick(runtime, WEDNESDAY)).imported == [campaign_id]

    assert await tick(runtime, utc(2030, 6, 5, 12)) == CampaignTick()
    assert (await tick(runtime, utc(2030, 6, 6, 0, 1))).imported == [campaign_id]


IST_WEEKDAYS = {**WEEKDAYS_10_TO_13, "timezone": "Asia/Kolkata"}


async def queued_numbers(runtime: Runtime, campaign_id: str) -> list[str]:
    contacts = await contacts_of(runtime, campaign_id)
    return sorted(c.phone_e164 for c in contacts if c.state == "queued")


async def test_a_recurring_campaign_pulls_every_day_and_dials_each_days_rows_that_day(
    runtime: Runtime, tmp_path: Path
) -> None:
    path = tmp_path / "crm.db"
    url = crm(path, "+919876543210")
    monday_0800 = utc(2030, 6, 3, 2, 30)
    campaign_id = await campaign_with(runtime, [], IST_WEEKDAYS, now=monday_0800, start=False)
    options = ImportOptions(phone_column="phone")
    await save_source(runtime.sessions, campaign_id, url, QUERY, options)
    scheduler = Scheduler(runtime)

    with clock.use(FrozenClock(monday_0800)) as now:
        # Started empty: it waits for its first pull, open.
        async with runtime.sessions() as session, session.begin():
            await service.start_campaign(session, campaign_id, None)
        assert await tick(runtime, now.now()) == CampaignTick()
        async with runtime.sessions() as session, session.begin():
            assert await campaign_moves.complete_finished(session, now.now()) == []
        assert (await campaign_of(runtime, campaign_id)).state_reason == (
            "every contact so far is final; next pull due 2030-06-03 09:30 Asia/Kolkata"
        )

        # Monday 09:30 IST: the pull imports the first row and the campaign runs again.
        now.set(utc(2030, 6, 3, 4))
        assert await tick(runtime, now.now()) == CampaignTick(
            moved=[(campaign_id, "running")], imported=[campaign_id]
        )
        assert await scheduler.enqueue_due(now.now()) == 0  # the window opens at 10:00
        now.set(utc(2030, 6, 3, 4, 30))
        assert await scheduler.enqueue_due(now.now()) == 1
        assert await queued_numbers(runtime, campaign_id) == ["+919876543210"]
        async with runtime.sessions() as session, session.begin():
            await session.execute(
                update(Contact)
                .where(Contact.campaign_id == campaign_id)
                .values(state="completed", next_attempt_at=None)
            )

        # Monday's list is done: ongoing, not completed.
        now.set(utc(2030, 6, 3, 8, 30))
        async with runtime.sessions() as session, session.begin():
            assert await campaign_moves.complete_finished(session, now.now()) == []
        campaign = await campaign_of(runtime, campaign_id)
        assert (campaign.state, campaign.state_reason) == (
            "ongoing",
            "every contact so far is final; next pull due 2030-06-04 09:30 Asia/Kolkata",
        )

        # Tuesday: the CRM gained a row; it is imported before the window and dialed in it.
        crm(path, "+919876543211")
        now.set(utc(2030, 6, 4, 3, 30))
        assert await tick(runtime, now.now()) == CampaignTick()
        now.set(utc(2030, 6, 4, 4))
        assert await tick(runtime, now.now()) == CampaignTick(
            moved=[(campaign_id, "running")], imported=[campaign_id]
        )
        assert await contact_count(runtime, campaign_id) == 2
        now.set(utc(2030, 6, 4, 4, 30))
        assert await scheduler.enqueue_due(now.now()) == 1
        assert await queued_numbers(runtime, campaign_id) == ["+919876543211"]
    assert await audit_actions(runtime, campaign_id) == ["daily_import", "daily_import"]


async def test_an_ended_campaign_is_pulled_no_more(runtime: Runtime, tmp_path: Path) -> None:
    campaign_id = await with_source(runtime, crm(tmp_path / "crm.db", "+919876543210"))
    async with runtime.sessions() as session, session.begin():
        await campaign_moves.end(session, campaign_id, actor="asha")

    assert await tick(runtime, WEDNESDAY) == CampaignTick()
    assert await contact_count(runtime, campaign_id) == 1
