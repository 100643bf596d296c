"""Campaign progress: totals, calls in flight, recent pace, ETA and the latest state change."""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy import update

from campaign_engine.control import campaign_moves
from campaign_engine.db.models import Campaign, Contact, utcnow
from campaign_engine.ops.progress import eta_seconds, overview
from campaign_engine.runtime import Runtime
from tests.ops import seed


@pytest.mark.parametrize(
    ("remaining", "minute", "hour", "running", "expected"),
    [
        (0, 0, 0, True, 0.0),
        (0, 9, 9, False, 0.0),  # done is done, even paused
        (30, 10, 0, True, 180.0),  # 3 minutes at 10/min
        (30, 10, 600, True, 180.0),  # the last minute wins over the hour
        (30, 0, 600, True, 180.0),  # else the hour's average: 10/min
        (7, 0, 20, True, 1260.0),  # 20/60 per minute
        (1, 3, 0, True, 20.0),
        (10, 0, 0, True, None),  # no pace at all
        (10, 5, 60, False, None),  # not running: no ETA
    ],
)
def test_eta_at_the_recent_pace(
    remaining: int, minute: int, hour: int, running: bool, expected: float | None
) -> None:
    assert eta_seconds(remaining, minute, hour, running) == expected


def test_eta_is_rounded_to_a_tenth_of_a_second() -> None:
    assert eta_seconds(1, 0, 7, True) == round(60 / 7 * 60, 1) == 514.3


async def test_no_campaigns_gives_an_empty_overview(runtime: Runtime) -> None:
    async with runtime.sessions() as session:
        assert await overview(session) == []
        assert await overview(session, include_finished=True) == []


async def test_finished_campaigns_are_left_out_unless_asked_and_newest_come_first(
    runtime: Runtime,
) -> None:
    async with runtime.sessions() as session, session.begin():
        old = await seed.campaign(session, name="old")
        middle = await seed.campaign(session, name="middle", start=False)
        new = await seed.campaign(session, name="new")
        for offset, cid in ((3, old), (2, middle), (1, new)):
            row = await session.get(Campaign, cid)
            assert row is not None
            row.created_at = utcnow() - timedelta(hours=offset)
        await campaign_moves.cancel(session, new, keys=runtime.keys, actor="op")

    async with runtime.sessions() as session:
        current = await overview(session)
        everything = await overview(session, include_finished=True)

    assert [row.name for row in current] == ["middle", "old"]
    assert [row.name for row in everything] == ["new", "middle", "old"]
    assert [row.state for row in everything] == ["canceled", "draft", "running"]


async def test_totals_count_final_contacts_and_in_flight_counts_open_attempts(
    runtime: Runtime,
) -> None:
    async with runtime.sessions() as session, session.begin():
        cid = await seed.campaign(session)  # one pending contact
        for index, state in enumerate(
            ("completed", "exhausted", "failed", "canceled", "suppressed", "retrying", "queued")
        ):
            await seed.contact(session, cid, f"+91970000000{index}", state=state)
        busy = await seed.contact(session, cid, "+919600000001", state="calling")
        for number, state in enumerate(("dialing", "started", "unknown", "ended", "lost"), 1):
            # A number each: one number is in one open attempt at a time.
            phone = f"+91960000010{number}"
            await seed.attempt(session, busy, state=state, number=number, to_number=phone)

    async with runtime.sessions() as session:
        [row] = await overview(session)

    assert (row.total, row.final, row.in_flight) == (9, 5, 3)
    assert row.provider == "twilio"


async def test_rates_count_claims_in_the_last_minute_and_hour_but_not_unsent_ones(
    runtime: Runtime,
) -> None:
    now = utcnow()
    async with runtime.sessions() as session, session.begin():
        cid = await seed.campaign(session)
        target = await seed.contact(session, cid, "+919700000001", state="retrying")
        claims = [
            ("ended", timedelta(seconds=10)),
            ("ended", timedelta(seconds=50)),
            ("not_sent", timedelta(seconds=20)),
            ("ended", timedelta(minutes=10)),
            ("expired", timedelta(minutes=59)),
            ("ended", timedelta(minutes=61)),
        ]
        for number, (state, age) in enumerate(claims, 1):
            await seed.attempt(session, target, state=state, number=number, claimed_at=now - age)

    async with runtime.sessions() as session:
        [row] = await overview(session, now=now)
        [later] = await overview(session, now=now + timedelta(minutes=5))

    assert (row.calls_last_minute, row.calls_last_hour) == (2, 4)
    # 2 contacts left (the seed's pending one and this one) at 2 calls a minute.
    assert row.eta_seconds == 60.0
    assert (later.calls_last_minute, later.calls_last_hour) == (0, 3)
    assert later.eta_seconds == round(2 / (3 / 60) * 60, 1)


async def test_a_running_campaign_with_no_recent_calls_has_no_eta(runtime: Runtime) -> None:
    async with runtime.sessions() as session, session.begin():
        await seed.campaign(session)
    async with runtime.sessions() as session:
        [row] = await overview(session)
    assert row.state == "running"
    assert (row.calls_last_minute, row.calls_last_hour, row.eta_seconds) == (0, 0, None)


async def test_a_campaign_with_every_contact_final_has_an_eta_of_zero(runtime: Runtime) -> None:
    async with runtime.sessions() as session, session.begin():
        cid = await seed.campaign(session)
        await session.execute(update(Contact).values(state="completed"))
        await seed.contact(session, cid, "+919700000001", state="failed")
    async with runtime.sessions() as session:
        [progress] = await overview(session)
    assert progress.state == "running"
    assert (progress.total, progress.final, progress.eta_seconds) == (2, 2, 0.0)


async def test_the_last_event_is_the_latest_state_change_and_none_for_a_fresh_draft(
    runtime: Runtime,
) -> None:
    async with runtime.sessions() as session, session.begin():
        moved = await seed.campaign(session, name="moved")
        draft = await seed.campaign(session, name="draft", start=False)
    async with runtime.sessions() as session, session.begin():
        await campaign_moves.pause(session, moved, keys=runtime.keys, actor="asha", reason="lunch")

    async with runtime.sessions() as session:
        by_id = {row.id: row for row in await overview(session)}

    event = by_id[moved].last_event
    assert event is not None
    assert (event.from_state, event.to_state, event.actor, event.reason) == (
        "running",
        "paused",
        "asha",
        "lunch",
    )
    assert by_id[moved].state_reason == "lunch"
    assert by_id[draft].last_event is None


async def test_a_scheduled_campaigns_eta_waits_for_each_zones_window(runtime: Runtime) -> None:
    """Issue 16: the ETA ignored windows (17 minutes shown while US contacts were parked
    until their morning); at the recent pace, New York's contacts start at 10:00 theirs."""
    from tests.campaigns.support import (
        KOLKATA,
        MONDAY,
        NEW_YORK,
        WEEKDAYS_10_TO_13,
        add_attempt,
        campaign_with,
        set_contact,
    )

    now = MONDAY + timedelta(hours=5)  # 10:30 in India, 01:00 in New York
    india = [(f"+9198000000{i:02d}", KOLKATA) for i in range(10)]
    york = [(f"+1201555{i:04d}", NEW_YORK) for i in range(10)]
    campaign_id = await campaign_with(runtime, india + york, WEEKDAYS_10_TO_13, now=now)
    contact_id = await set_contact(runtime, campaign_id, india[0][0])
    for number in range(10):  # 10 calls in the last minute
        claimed = now - timedelta(seconds=5 + number)
        await add_attempt(
            runtime, campaign_id, contact_id, india[0][0], claimed, attempt_number=number + 1
        )

    async with runtime.sessions() as session:
        (row,) = await overview(session, now=now)

    # Flat, 20 left at 10 a minute would be 2 minutes; New York's window opens 14:00 UTC.
    assert row.eta_seconds == timedelta(hours=9, minutes=1).total_seconds()
    assert row.eta_note == "America/New_York contacts start at 10:00 their time"
