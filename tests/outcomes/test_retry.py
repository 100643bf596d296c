"""Each concluded attempt's contact, decided and moved in bulk: retry or final, and only
while the contact is still in its call."""

from __future__ import annotations

from campaign_engine.db.models import CallAttempt, utcnow
from campaign_engine.outcomes.retry import decide_next
from campaign_engine.runtime import Runtime
from campaign_engine.states import ContactState
from tests.campaigns.support import (
    KOLKATA,
    add_attempt,
    campaign_with,
    contacts_by_number,
    set_contact,
)

CALLS = {  # number: (the contact's state when its call ended, the call's outcome)
    "+919800000001": ("calling", "no_answer"),
    "+919800000002": ("calling", "completed"),
    "+919800000003": ("canceled", "no_answer"),  # closed while its call rang
    "+919800000004": ("dialing", "busy"),
}


async def test_a_batch_retries_closes_and_leaves_alone_each_contact_as_its_call_ended(
    runtime: Runtime,
) -> None:
    campaign_id = await campaign_with(runtime, [(n, KOLKATA) for n in CALLS], None)
    now = utcnow()
    attempt_ids = []
    for number, (state, outcome) in CALLS.items():
        contact_id = await set_contact(runtime, campaign_id, number, state=state, attempts_count=1)
        attempt_ids.append(
            await add_attempt(runtime, campaign_id, contact_id, number, now, outcome=outcome)
        )
    async with runtime.sessions() as session, session.begin():
        batch = [await session.get(CallAttempt, attempt_id) for attempt_id in attempt_ids]
        decided = await decide_next(session, [one for one in batch if one is not None], now)

    assert set(decided) == set(attempt_ids)
    retry, done, closed, busy = (decided[attempt_id] for attempt_id in attempt_ids)
    assert retry.retry and busy.retry and closed.retry
    assert done.final_state is ContactState.COMPLETED
    contacts = await contacts_by_number(runtime, campaign_id)
    found = {n: (c.state, c.last_outcome) for n, c in contacts.items()}
    assert found == {
        "+919800000001": ("retrying", "no_answer"),
        "+919800000002": ("completed", "completed"),
        "+919800000003": ("canceled", None),
        "+919800000004": ("retrying", "busy"),
    }
    assert contacts["+919800000001"].next_attempt_at is not None
    assert contacts["+919800000002"].next_attempt_at is None


async def test_an_empty_batch_decides_nothing(runtime: Runtime) -> None:
    async with runtime.sessions() as session:
        assert await decide_next(session, [], utcnow()) == {}
