"""Writing accepted contacts: one batch per transaction, never twice per campaign."""

from __future__ import annotations

from datetime import UTC, datetime

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from campaign_engine.contacts.row_checks import Accepted
from campaign_engine.contacts.store import existing_numbers, insert_batch
from campaign_engine.db.models import Contact
from tests.contacts.conftest import NewCampaign

DUE = datetime(2026, 6, 1, 9, 0, tzinfo=UTC)


def accepted(line: int, e164: str, **variables: str) -> Accepted:
    return Accepted(line, e164, "IN", ("Asia/Calcutta",), variables)


async def contacts_of(
    sessions: async_sessionmaker[AsyncSession], campaign_id: str
) -> list[Contact]:
    async with sessions() as session:
        rows = await session.scalars(
            select(Contact).where(Contact.campaign_id == campaign_id).order_by(Contact.id)
        )
        return list(rows.all())


async def insert(
    sessions: async_sessionmaker[AsyncSession], campaign_id: str, batch: list[Accepted]
) -> list[Accepted]:
    async with sessions() as session, session.begin():
        return await insert_batch(session, campaign_id, batch, due_at=DUE)


async def test_batch_is_written_as_pending_contacts_due_at_the_given_time(
    sessions: async_sessionmaker[AsyncSession],
    new_campaign: NewCampaign,
) -> None:
    campaign_id = await new_campaign(sessions)
    skipped = await insert(
        sessions,
        campaign_id,
        [accepted(2, "+919876543210", name="Asha"), accepted(3, "+919876543211", name="Ravi")],
    )

    assert skipped == []
    asha, ravi = await contacts_of(sessions, campaign_id)
    assert (asha.phone_e164, asha.variables, asha.source_line) == (
        "+919876543210",
        {"name": "Asha"},
        2,
    )
    assert (asha.region, asha.timezones) == ("IN", ["Asia/Calcutta"])
    assert (asha.state, asha.attempts_count) == ("pending", 0)
    assert asha.next_attempt_at == DUE
    assert ravi.variables == {"name": "Ravi"}


async def test_numbers_already_in_the_campaign_are_returned_and_not_written_again(
    sessions: async_sessionmaker[AsyncSession],
    new_campaign: NewCampaign,
) -> None:
    campaign_id = await new_campaign(sessions)
    await insert(sessions, campaign_id, [accepted(2, "+919876543210", name="Asha")])

    again = [accepted(5, "+919876543210", name="Other"), accepted(6, "+919876543212", name="New")]
    skipped = await insert(sessions, campaign_id, again)

    assert skipped == [again[0]]
    contacts = await contacts_of(sessions, campaign_id)
    assert [(c.phone_e164, c.variables) for c in contacts] == [
        ("+919876543210", {"name": "Asha"}),
        ("+919876543212", {"name": "New"}),
    ]


async def test_the_same_number_may_be_in_two_campaigns(
    sessions: async_sessionmaker[AsyncSession],
    new_campaign: NewCampaign,
) -> None:
    first, second = await new_campaign(sessions), await new_campaign(sessions)
    await insert(sessions, first, [accepted(2, "+919876543210")])

    assert await insert(sessions, second, [accepted(2, "+919876543210")]) == []
    assert len(await contacts_of(sessions, second)) == 1


async def test_existing_numbers_reports_only_this_campaigns_numbers(
    sessions: async_sessionmaker[AsyncSession],
    new_campaign: NewCampaign,
) -> None:
    first, second = await new_campaign(sessions), await new_campaign(sessions)
    await insert(sessions, first, [accepted(2, "+919876543210"), accepted(3, "+919876543211")])
    await insert(sessions, second, [accepted(2, "+919876543212")])

    async with sessions() as session:
        found = await existing_numbers(
            session, first, ["+919876543210", "+919876543212", "+919876543299"]
        )
    assert found == {"+919876543210"}


async def test_empty_batch_writes_nothing_and_skips_nothing(
    sessions: async_sessionmaker[AsyncSession],
    new_campaign: NewCampaign,
) -> None:
    campaign_id = await new_campaign(sessions)

    assert await insert(sessions, campaign_id, []) == []
    assert await contacts_of(sessions, campaign_id) == []


async def test_a_batch_rolled_back_leaves_no_contact(
    sessions: async_sessionmaker[AsyncSession],
    new_campaign: NewCampaign,
) -> None:
    campaign_id = await new_campaign(sessions)
    async with sessions() as session:
        await insert_batch(session, campaign_id, [accepted(2, "+919876543210")], due_at=DUE)
        await session.rollback()

    assert await contacts_of(sessions, campaign_id) == []
