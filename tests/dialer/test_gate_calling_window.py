"""The pre-dial gate re-checks the schedule and the daily cap, and hands contacts back with
the next allowed moment (or parks them when none is left)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import timedelta

import pytest
from sqlalchemy import update

from campaign_engine.campaigns.window_check import local_day_bounds
from campaign_engine.db.models import Contact, utcnow
from campaign_engine.dialer.dial import dial_contacts
from campaign_engine.dialer.gate import check_before_dial
from campaign_engine.dialer.scheduler import Scheduler
from campaign_engine.dialer.targets import load_targets
from campaign_engine.runtime import Runtime
from tests.campaigns.support import (
    KOLKATA,
    NO_ZONE,
    WEEKDAYS_10_TO_13,
    add_attempt,
    campaign_with,
    contacts_by_number,
    set_contact,
    utc,
)
from tests.dialer.support import attempts_of, open_runtime

NUMBER = "+919800000001"


@pytest.fixture
async def capped(database_url: str, redis_prefix: str) -> AsyncIterator[Runtime]:
    """A runtime whose cap is one call per number per day."""
    async with open_runtime(
        database_url, redis_prefix, compliance={"max_attempts_per_number_per_day": 1}
    ) as runtime:
        yield runtime


async def queue_now(runtime: Runtime, campaign_id: str) -> Contact:
    """Make the contact due now (as an import into a running campaign is) and queue it."""
    await set_contact(runtime, campaign_id, NUMBER, next_attempt_at=utcnow())
    assert await Scheduler(runtime).enqueue_due() == 1
    return (await contacts_by_number(runtime, campaign_id))[NUMBER]


async def test_the_gate_refuses_outside_the_window_with_the_next_opening(
    runtime: Runtime,
) -> None:
    campaign_id = await campaign_with(runtime, [(NUMBER, KOLKATA)], WEEKDAYS_10_TO_13)
    contact_id = await set_contact(runtime, campaign_id, NUMBER)
    async with runtime.sessions() as session:
        (target,) = await load_targets(session, [contact_id])
        (inside,) = await check_before_dial(session, [target], utc(2030, 6, 3, 5))
        (outside,) = await check_before_dial(session, [target], utc(2030, 6, 7, 14))  # Fri 19:30

    assert inside.allowed
    assert (outside.allowed, outside.retry_at) == (False, utc(2030, 6, 10, 4, 30))
    assert outside.reason == "outside the calling window at 19:30 Asia/Calcutta"


async def test_a_queued_contact_outside_its_window_is_handed_back_without_a_call(
    runtime: Runtime,
) -> None:
    # A one-hour window in UTC that opens six hours from now: certainly closed now.
    now = utcnow()
    opens = (now + timedelta(hours=6)).replace(minute=0, second=0, microsecond=0)
    window = f"{opens.hour:02d}:00-{(opens.hour + 1) % 24:02d}:00"
    schedule = {"timezone": "UTC", "windows": [window]}
    campaign_id = await campaign_with(runtime, [(NUMBER, KOLKATA)], schedule, now=now)
    contact = await queue_now(runtime, campaign_id)

    assert await dial_contacts({"runtime": runtime}, [contact.id]) == {"not-now": 1}

    contact = (await contacts_by_number(runtime, campaign_id))[NUMBER]
    assert (contact.state, contact.attempts_count) == ("pending", 0)
    assert contact.next_attempt_at == opens
    assert (contact.last_error or "").startswith("outside the calling window at ")
    assert await attempts_of(runtime, campaign_id) == []


async def test_the_daily_cap_from_the_settings_holds_a_number_called_by_another_campaign(
    capped: Runtime,
) -> None:
    first = await campaign_with(capped, [(NUMBER, KOLKATA)], None)
    second = await campaign_with(capped, [(NUMBER, KOLKATA)], None)
    first_contact = await set_contact(capped, first, NUMBER, state="completed")
    await add_attempt(capped, first, first_contact, NUMBER, utcnow(), outcome="completed")
    contact = await queue_now(capped, second)

    assert await dial_contacts({"runtime": capped}, [contact.id]) == {"not-now": 1}

    contact = (await contacts_by_number(capped, second))[NUMBER]
    assert contact.state == "pending"
    assert contact.last_error == f"daily cap reached: 1 calls to {NUMBER} today, at most 1"
    # No schedule: the number's next day (midnight in India).
    assert contact.next_attempt_at == local_day_bounds("Asia/Calcutta", utcnow())[1]
    assert await attempts_of(capped, second) == []


async def test_a_contact_with_no_allowed_moment_is_parked_and_not_queued_again(
    runtime: Runtime,
) -> None:
    campaign_id = await campaign_with(runtime, [(NUMBER, NO_ZONE)], WEEKDAYS_10_TO_13)
    contact = await queue_now(runtime, campaign_id)

    assert await dial_contacts({"runtime": runtime}, [contact.id]) == {"parked": 1}

    contact = (await contacts_by_number(runtime, campaign_id))[NUMBER]
    assert (contact.state, contact.next_attempt_at) == ("pending", None)
    assert contact.last_error == "no time zone is known for the number (set fallback_timezone)"
    assert await Scheduler(runtime).enqueue_due() == 0


async def test_a_campaign_without_a_schedule_dials_at_any_time(runtime: Runtime) -> None:
    """The default (no schedule) passes the gate; the start then fails on the closed port."""
    campaign_id = await campaign_with(runtime, [(NUMBER, NO_ZONE)], None)
    async with runtime.sessions() as session, session.begin():
        await session.execute(update(Contact).values(next_attempt_at=utcnow()))
    assert await Scheduler(runtime).enqueue_due() == 1
    contact = (await contacts_by_number(runtime, campaign_id))[NUMBER]

    assert await dial_contacts({"runtime": runtime}, [contact.id]) == {"not-sent": 1}
