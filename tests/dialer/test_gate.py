"""The pre-dial gate: a number suppressed after its upload is never called, and its contact's
final notification says so."""

from __future__ import annotations

from sqlalchemy import select, update

from campaign_engine.db.models import Contact, Suppression, utcnow
from campaign_engine.dialer import claim as claim_module
from campaign_engine.dialer import gate
from campaign_engine.dialer.dial import dial_contacts
from campaign_engine.dialer.targets import load_targets
from campaign_engine.failure_kinds import FailureKind
from campaign_engine.notifications import emit
from campaign_engine.runtime import Runtime
from campaign_engine.states import ContactState
from tests.dialer.support import contacts_of, queue_every_due, running_campaign
from tests.harness import running_engine
from tests.notifications.support import notifications

NUMBERS = ["+919800000101", "+919811111102", "+919822222203"]


async def test_numbers_suppressed_after_upload_are_closed_and_never_dialed(
    database_url: str, redis_prefix: str
) -> None:
    async with running_engine(database_url, redis_prefix) as engine:
        campaign_id = await engine.add_campaign(NUMBERS, start=False)
        async with engine.runtime.sessions() as session, session.begin():
            session.add(Suppression(kind="number", pattern=NUMBERS[0], reason="asked not to"))
            session.add(Suppression(kind="prefix", pattern="+919811", campaign_id=campaign_id))
        await engine.start_campaign(campaign_id)
        await engine.run_to_completion(campaign_id)
        async with engine.runtime.sessions() as session:
            contacts = {c.phone_e164: c for c in (await session.scalars(select(Contact))).all()}
        ledger = engine.simulator.ledger

    assert contacts[NUMBERS[0]].state == ContactState.SUPPRESSED.value
    assert "asked not to" in (contacts[NUMBERS[0]].last_error or "")
    assert contacts[NUMBERS[1]].state == ContactState.SUPPRESSED.value
    assert "prefix +919811" in (contacts[NUMBERS[1]].last_error or "")
    assert not ledger.calls_to(NUMBERS[0]) and not ledger.calls_to(NUMBERS[1])
    assert ledger.calls_to(NUMBERS[2])


async def test_suppression_in_another_campaign_does_not_block_this_one(
    database_url: str, redis_prefix: str
) -> None:
    async with running_engine(database_url, redis_prefix) as engine:
        other = await engine.add_campaign(["+919833333304"])
        async with engine.runtime.sessions() as session, session.begin():
            session.add(Suppression(kind="number", pattern=NUMBERS[2], campaign_id=other))
        campaign_id = await engine.add_campaign([NUMBERS[2]])
        await engine.run_to_completion(campaign_id)
        assert engine.simulator.ledger.calls_to(NUMBERS[2])


async def test_a_number_closed_as_suppressed_at_dial_time_gets_its_final_notification(
    runtime: Runtime,
) -> None:
    emit.enable(runtime.sessions)
    campaign_id = await running_campaign(runtime, NUMBERS[:2])
    await queue_every_due(runtime, campaign_id)
    async with runtime.sessions() as session, session.begin():
        session.add(Suppression(kind="number", pattern=NUMBERS[0], reason="asked not to"))
    contacts = {c.phone_e164: c for c in await contacts_of(runtime, campaign_id)}

    tally = await dial_contacts({"runtime": runtime}, [c.id for c in contacts.values()])

    assert tally == {"suppressed": 1, "not-sent": 1}  # Vocobase points at a closed port
    (row,) = await notifications(runtime)
    assert (row.kind, row.contact_id) == ("final", contacts[NUMBERS[0]].id)
    assert row.payload["closed_without_call"] is True
    assert "asked not to" in row.payload["reason"]


async def test_a_number_in_a_call_of_another_campaign_is_handed_back_before_taking_a_slot(
    runtime: Runtime,
) -> None:
    ids = {}
    for name in ("first", "second"):
        campaign_id = await running_campaign(runtime, NUMBERS[:1])
        async with runtime.sessions() as session, session.begin():
            await session.execute(
                update(Contact).where(Contact.campaign_id == campaign_id).values(state="queued")
            )
        ids[name] = [contact.id for contact in await contacts_of(runtime, campaign_id)]
    async with runtime.sessions() as session, session.begin():
        first = await load_targets(session, ids["first"])
        assert await claim_module.claim(session, first, margin_seconds=120)

    async with runtime.sessions() as session, session.begin():
        second = await load_targets(session, ids["second"])
        allowed, tally = await gate.admit(session, second, utcnow())

    assert (allowed, tally) == ([], {gate.IN_CALL: 1})
    async with runtime.sessions() as session:
        held = await session.get(Contact, ids["second"][0])
    assert held is not None
    assert (held.state, held.last_failure_kind) == ("pending", FailureKind.NUMBER_IN_CALL)
