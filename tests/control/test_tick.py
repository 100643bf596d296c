"""The scheduler's campaign steps, in order: dates, withdrawals of paused campaigns, then
the daily imports due — and the CampaignTick reporting what each did."""

from __future__ import annotations

import sqlite3
from datetime import datetime
from pathlib import Path

from sqlalchemy import func, select

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
    assert await Scheduler(runtime).enqueue_due() == 3  # one dial job carrying all three
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
