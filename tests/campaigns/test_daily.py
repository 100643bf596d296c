"""Daily runs: saved sources are pulled once per calling day, before the first window."""

from __future__ import annotations

from datetime import date, datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from campaign_engine.campaigns.daily import (
    DAILY_IMPORT,
    DAILY_IMPORT_FAILED,
    RunsToday,
    import_due_at,
    next_pull_due,
    run_daily_imports,
    should_run,
)
from campaign_engine.campaigns.lifecycle import transition
from campaign_engine.campaigns.schedule import parse_schedule
from campaign_engine.contacts.row_checks import Accepted
from campaign_engine.contacts.store import insert_batch
from campaign_engine.db.models import AuditEntry, ContactSource
from campaign_engine.runtime import Runtime
from campaign_engine.states import CampaignState
from tests.campaigns.support import (
    KOLKATA,
    WEEKDAYS_10_TO_13,
    campaign_with,
    contacts_by_number,
    utc,
)

IST_WEEKDAYS = {**WEEKDAYS_10_TO_13, "timezone": "Asia/Kolkata"}
MONDAY_0930_IST = utc(2030, 6, 3, 4)


def test_the_import_is_due_a_lead_time_before_the_days_first_window() -> None:
    schedule = parse_schedule({**IST_WEEKDAYS, "daily_import_lead_minutes": 45})
    # Monday: the window opens at 10:00 IST (04:30 UTC); the import is due at 09:15 IST.
    assert import_due_at(schedule, frozenset(), MONDAY_0930_IST) == utc(2030, 6, 3, 3, 45)


def test_a_day_without_a_window_imports_nothing() -> None:
    schedule = parse_schedule(IST_WEEKDAYS)
    saturday = utc(2030, 6, 8, 6)
    assert import_due_at(schedule, frozenset(), saturday) is None
    holiday = frozenset({date(2030, 6, 3)})
    assert import_due_at(schedule, holiday, MONDAY_0930_IST) is None


def test_without_a_schedule_the_import_is_due_at_midnight_utc() -> None:
    assert import_due_at(None, frozenset(), utc(2030, 6, 3, 7)) == utc(2030, 6, 3)


@pytest.mark.parametrize(
    ("now", "runs", "expected"),
    [
        (utc(2030, 6, 3, 3), RunsToday(), False),  # before it is due
        (utc(2030, 6, 3, 4), RunsToday(), True),
        (utc(2030, 6, 3, 4), RunsToday(succeeded=True), False),  # once a day
        (utc(2030, 6, 3, 4), RunsToday(failures=1, last_failure=utc(2030, 6, 3, 3, 50)), False),
        (utc(2030, 6, 3, 4), RunsToday(failures=1, last_failure=utc(2030, 6, 3, 3, 45)), True),
        (utc(2030, 6, 3, 9), RunsToday(failures=3, last_failure=utc(2030, 6, 3, 5)), False),
    ],
)
def test_a_failed_import_is_tried_again_after_a_while_at_most_three_times(
    now: datetime, runs: RunsToday, expected: bool
) -> None:
    assert should_run(utc(2030, 6, 3, 4), now, runs) is expected


@pytest.mark.parametrize(
    ("now", "runs", "expected"),
    [
        # Monday 09:00 IST, today's run still to come: 09:30 IST.
        (utc(2030, 6, 3, 3, 30), RunsToday(), utc(2030, 6, 3, 4)),
        # Monday 12:00 IST, today's done: Tuesday 09:30 IST.
        (utc(2030, 6, 3, 6, 30), RunsToday(succeeded=True), utc(2030, 6, 4, 4)),
        # A failure at 09:30: tried again at 09:45.
        (
            utc(2030, 6, 3, 4, 5),
            RunsToday(failures=1, last_failure=utc(2030, 6, 3, 4)),
            utc(2030, 6, 3, 4, 15),
        ),
        # Three failures: tomorrow.
        (
            utc(2030, 6, 3, 6),
            RunsToday(failures=3, last_failure=utc(2030, 6, 3, 5)),
            utc(2030, 6, 4, 4),
        ),
        # Friday's done: the weekend has no window, Monday 09:30 IST.
        (utc(2030, 6, 7, 6), RunsToday(succeeded=True), utc(2030, 6, 10, 4)),
    ],
)
def test_the_next_pull_is_todays_while_it_may_run_else_the_next_calling_days(
    now: datetime, runs: RunsToday, expected: datetime
) -> None:
    assert next_pull_due(parse_schedule(IST_WEEKDAYS), frozenset(), now, runs) == expected


def test_the_next_pull_skips_blackout_days_and_stops_at_the_schedules_end() -> None:
    schedule = parse_schedule(IST_WEEKDAYS)
    done = RunsToday(succeeded=True)
    tuesday = frozenset({date(2030, 6, 4)})
    assert next_pull_due(schedule, tuesday, MONDAY_0930_IST, done) == utc(2030, 6, 5, 4)
    ending = parse_schedule({**IST_WEEKDAYS, "end": "2030-06-04T09:00:00+05:30"})
    assert next_pull_due(ending, frozenset(), MONDAY_0930_IST, done) is None
    assert next_pull_due(None, frozenset(), MONDAY_0930_IST, done) == utc(2030, 6, 4)


class Summary:
    def to_dict(self) -> dict[str, Any]:
        return {"imported": 1}


class FakeSource:
    """Stands in for ``pull_saved_sources``: adds one new number per call."""

    def __init__(self, fail: bool = False) -> None:
        self.calls = 0
        self.fail = fail

    async def __call__(
        self, sessions: async_sessionmaker[AsyncSession], campaign_id: str
    ) -> list[Any]:
        self.calls += 1
        if self.fail:
            raise ValueError("source database is down")
        async with sessions() as session, session.begin():
            row = Accepted(2, f"+91981111000{self.calls}", "IN", KOLKATA, {"name": "new"})
            # Imported "now" (the real clock): the daily run must place it.
            await insert_batch(session, campaign_id, [row], due_at=MONDAY_0930_IST)
        return [Summary()]


async def with_source(runtime: Runtime) -> str:
    campaign_id = await campaign_with(
        runtime, [("+919800000001", KOLKATA)], IST_WEEKDAYS, now=utc(2030, 6, 2)
    )
    async with runtime.sessions() as session, session.begin():
        session.add(ContactSource(campaign_id=campaign_id, source_url="sqlite://", query="q"))
    return campaign_id


async def audit(runtime: Runtime) -> list[tuple[str, dict[str, Any]]]:
    async with runtime.sessions() as session:
        rows = await session.execute(
            select(AuditEntry.action, AuditEntry.details).order_by(AuditEntry.id)
        )
        return [(action, details) for action, details in rows.all()]


async def test_a_campaign_with_a_saved_source_imports_once_a_day_and_places_new_contacts(
    runtime: Runtime,
) -> None:
    campaign_id = await with_source(runtime)
    await campaign_with(runtime, [("+919800000002", KOLKATA)], IST_WEEKDAYS)  # no source
    source = FakeSource()

    assert await run_daily_imports(runtime.sessions, MONDAY_0930_IST, source) == [campaign_id]
    assert (
        await run_daily_imports(runtime.sessions, MONDAY_0930_IST + timedelta(hours=1), source)
        == []
    )
    assert source.calls == 1

    new = (await contacts_by_number(runtime, campaign_id))["+919811110001"]
    assert new.next_attempt_at == utc(2030, 6, 3, 4, 30)  # Monday 10:00 IST, not 09:30
    ((action, details),) = await audit(runtime)
    assert action == DAILY_IMPORT
    assert details == {"sources": [{"imported": 1}], "placed": 1}

    tuesday = MONDAY_0930_IST + timedelta(days=1)
    assert await run_daily_imports(runtime.sessions, tuesday, source) == [campaign_id]
    assert source.calls == 2


async def test_a_failed_daily_import_is_recorded_and_tried_again_later(runtime: Runtime) -> None:
    campaign_id = await with_source(runtime)
    broken = FakeSource(fail=True)

    assert await run_daily_imports(runtime.sessions, MONDAY_0930_IST, broken) == []
    assert (
        await run_daily_imports(runtime.sessions, MONDAY_0930_IST + timedelta(minutes=5), broken)
        == []
    )
    assert broken.calls == 1
    ((action, details),) = await audit(runtime)
    assert (action, details["error"]) == (DAILY_IMPORT_FAILED, "source database is down")

    fixed = FakeSource()
    later = MONDAY_0930_IST + timedelta(minutes=20)
    assert await run_daily_imports(runtime.sessions, later, fixed) == [campaign_id]
    assert [action for action, _ in await audit(runtime)] == [DAILY_IMPORT_FAILED, DAILY_IMPORT]


async def test_an_ongoing_campaign_is_pulled_and_a_paused_one_is_not(runtime: Runtime) -> None:
    ongoing = await with_source(runtime)
    paused = await with_source(runtime)
    async with runtime.sessions() as session, session.begin():
        await transition(session, ongoing, CampaignState.ONGOING, actor="test")
        await transition(session, paused, CampaignState.PAUSED, actor="test")

    assert await run_daily_imports(runtime.sessions, MONDAY_0930_IST, FakeSource()) == [ongoing]


def test_the_daily_run_calls_the_contacts_packages_pull_saved_sources() -> None:
    from campaign_engine.campaigns.daily import find_puller
    from campaign_engine.contacts.saved_sources import pull_saved_sources

    assert find_puller() is pull_saved_sources
