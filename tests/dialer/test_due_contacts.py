"""The scheduler's statements on due contacts: holdings, the call-now lane, releasing."""

from __future__ import annotations

from sqlalchemy import update

from campaign_engine.db.models import Contact, utcnow
from campaign_engine.dialer import due_contacts
from campaign_engine.runtime import Runtime
from tests.dialer.support import NUMBERS, ago, contacts_of, running_campaign


async def _set(runtime: Runtime, contact_id: int, **values: object) -> None:
    async with runtime.sessions() as session, session.begin():
        await session.execute(update(Contact).where(Contact.id == contact_id).values(**values))


async def test_holdings_count_queued_call_nows_and_contacts_in_calls(runtime: Runtime) -> None:
    campaign_id = await running_campaign(runtime, NUMBERS[:5])
    queued, urgent, calling, _, _ = await contacts_of(runtime, campaign_id)
    await _set(runtime, queued.id, state="queued", queued_at=utcnow())
    await _set(runtime, urgent.id, state="queued", queued_at=utcnow(), call_now_at=utcnow())
    await _set(runtime, calling.id, state="calling")

    async with runtime.sessions() as session:
        held = await due_contacts.holdings(session, [campaign_id])

    assert held == {campaign_id: due_contacts.Held(queued=2, urgent=1, holding=3)}


async def test_the_call_now_lane_lists_due_marked_contacts_oldest_request_first(
    runtime: Runtime,
) -> None:
    campaign_id = await running_campaign(runtime, NUMBERS[:4])
    first, second, later, _ = await contacts_of(runtime, campaign_id)
    await _set(runtime, second.id, call_now_at=ago(60))
    await _set(runtime, first.id, call_now_at=ago(10))
    # Marked, but its window opens later: not in the lane yet.
    await _set(runtime, later.id, call_now_at=ago(90), next_attempt_at=utcnow().replace(year=2100))

    async with runtime.sessions() as session:
        lane = await due_contacts.call_now_due(session, utcnow(), [campaign_id], 10)

    assert [contact_id for contact_id, _, _ in lane] == [second.id, first.id]


async def test_only_contacts_queued_before_the_cutoff_go_back_to_waiting(runtime: Runtime) -> None:
    campaign_id = await running_campaign(runtime, NUMBERS[:2])
    stale, fresh = await contacts_of(runtime, campaign_id)
    await _set(runtime, stale.id, state="queued", queued_at=ago(3600), attempts_count=1)
    await _set(runtime, fresh.id, state="queued", queued_at=utcnow())

    async with runtime.sessions() as session, session.begin():
        assert await due_contacts.release_stale(session, ago(60), 100) == 1

    stale, fresh = await contacts_of(runtime, campaign_id)
    assert (stale.state, stale.queued_at) == ("retrying", None)
    assert fresh.state == "queued"
