"""The pre-dial gate: a number suppressed after its upload is never called."""

from __future__ import annotations

from sqlalchemy import select

from campaign_engine.campaigns.states import ContactState
from campaign_engine.db.models import Contact, Suppression
from tests.harness import running_engine

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
