"""What a dial job reads about its contacts before taking anything: one batch of targets."""

from __future__ import annotations

from datetime import date

from campaign_engine.campaigns import service
from campaign_engine.campaigns.blackouts import add_blackout
from campaign_engine.campaigns.schedule import parse_schedule
from campaign_engine.campaigns.window_check import ContactCalendar
from campaign_engine.db.models import Campaign, Contact
from campaign_engine.dialer.targets import DialTarget, load_targets, waiting_state
from campaign_engine.runtime import Runtime
from tests.harness import AGENT_ID

CONNECTION = "11111111-2222-4333-8444-555555555555"
SCHEDULE = {"timezone": "callee", "windows": ["10:00-13:00"], "fallback_timezone": "UTC"}


def test_a_contact_waits_pending_before_its_first_call_then_retrying() -> None:
    assert waiting_state(0) == "pending"
    assert waiting_state(1) == "retrying"
    assert waiting_state(7) == "retrying"


def _target(contact_id: int = 5, attempts_count: int = 2) -> DialTarget:
    return DialTarget(
        contact_id=contact_id,
        campaign_id="c",
        phone="+919800000000",
        variables={},
        contact_state="queued",
        attempts_count=attempts_count,
        campaign_state="running",
        agent_id=AGENT_ID,
        provider="mcube",
        connection_id=None,
        agent_variables=None,
        max_call_seconds=600,
        max_concurrent=None,
        calls_per_minute=None,
        calendar=ContactCalendar(None, ()),
    )


def test_the_next_attempt_and_its_lease_follow_the_attempts_so_far() -> None:
    target = _target(contact_id=5, attempts_count=2)
    assert target.next_attempt_number == 3
    assert target.lease == "5:3"
    assert _target(contact_id=9, attempts_count=0).lease == "9:1"


async def _setup(runtime: Runtime) -> tuple[str, str, list[int]]:
    """Two campaigns: a plain one with two contacts, a scheduled one with one contact."""
    async with runtime.sessions() as session, session.begin():
        plain = await service.create_campaign(
            session,
            name="plain",
            agent_id=AGENT_ID,
            provider="twilio",
            connection_id=CONNECTION,
            max_concurrent=3,
            calls_per_minute=20,
        )
        plain.agent_variables = ["name"]
        plain.max_call_seconds = 120
        scheduled = await service.create_campaign(
            session, name="scheduled", agent_id=AGENT_ID, schedule=parse_schedule(SCHEDULE)
        )
        rows = [
            Contact(
                campaign_id=plain.id,
                phone_e164="+919800000001",
                variables={"name": "Asha"},
                timezones=["Asia/Calcutta"],
            ),
            Contact(
                campaign_id=plain.id,
                phone_e164="+919800000002",
                state="retrying",
                attempts_count=2,
            ),
            Contact(
                campaign_id=scheduled.id,
                phone_e164="+12125550100",
                timezones=["America/New_York"],
                state="queued",
                attempts_count=1,
            ),
        ]
        session.add_all(rows)
        await session.flush()
        return plain.id, scheduled.id, [row.id for row in rows]


async def test_targets_carry_their_contact_and_campaign_columns(runtime: Runtime) -> None:
    plain, scheduled, (first, second, third) = await _setup(runtime)
    async with runtime.sessions() as session:
        targets = await load_targets(session, [first, second, third])

    assert [t.contact_id for t in targets] == [first, second, third]
    one = targets[0]
    assert (one.campaign_id, one.phone, one.variables) == (
        plain,
        "+919800000001",
        {"name": "Asha"},
    )
    assert (one.contact_state, one.attempts_count, one.campaign_state) == ("pending", 0, "draft")
    assert (one.agent_id, one.provider, one.connection_id) == (AGENT_ID, "twilio", CONNECTION)
    assert one.agent_variables == ["name"]
    assert (one.max_call_seconds, one.max_concurrent, one.calls_per_minute) == (120, 3, 20)
    assert one.calendar == ContactCalendar(None, ("Asia/Calcutta",), frozenset())

    two = targets[1]
    assert (two.variables, two.contact_state, two.next_attempt_number) == ({}, "retrying", 3)
    assert two.calendar.number_zones == ()

    three = targets[2]
    assert three.campaign_id == scheduled
    assert three.calendar.schedule == parse_schedule(SCHEDULE)
    assert three.calendar.number_zones == ("America/New_York",)
    assert (three.max_concurrent, three.calls_per_minute) == (None, None)


async def test_targets_come_in_the_order_asked_and_skip_missing_contacts(
    runtime: Runtime,
) -> None:
    _, _, (first, _, third) = await _setup(runtime)
    async with runtime.sessions() as session:
        targets = await load_targets(session, [third, 999_999, first])
        assert await load_targets(session, []) == []
        assert await load_targets(session, [424_242]) == []
    assert [t.contact_id for t in targets] == [third, first]


async def test_a_scheduled_campaigns_calendar_holds_its_own_and_global_blackouts(
    runtime: Runtime,
) -> None:
    plain, scheduled, (first, _, third) = await _setup(runtime)
    async with runtime.sessions() as session, session.begin():
        await add_blackout(session, date(2030, 12, 25))
        await add_blackout(session, date(2030, 12, 26), campaign_id=scheduled)
        await add_blackout(session, date(2030, 12, 27), campaign_id=plain)
    async with runtime.sessions() as session:
        by_id = {t.contact_id: t for t in await load_targets(session, [first, third])}

    assert by_id[third].calendar.blackouts == frozenset({date(2030, 12, 25), date(2030, 12, 26)})
    # A campaign with no schedule may call at any time: its blackouts are not even read.
    assert by_id[first].calendar.blackouts == frozenset()


async def test_targets_reflect_the_campaign_state_at_the_time_of_reading(
    runtime: Runtime,
) -> None:
    plain, _, (first, _, _) = await _setup(runtime)
    async with runtime.sessions() as session, session.begin():
        campaign = await session.get(Campaign, plain)
        assert campaign is not None
        campaign.state = "paused"
    async with runtime.sessions() as session:
        [target] = await load_targets(session, [first])
    assert target.campaign_state == "paused"
