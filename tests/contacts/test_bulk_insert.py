"""The driver-level bulk insert writes what the ORM would, once per campaign, in the caller's
transaction (on both backends)."""

from __future__ import annotations

import json
from datetime import UTC, datetime

import pytest
from sqlalchemy import select, text
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from campaign_engine.contacts.bulk_insert import (
    insert_new_contacts,
    preferred_batch_size,
    relaxed_commit,
)
from campaign_engine.contacts.payloads import Encoded, encoder_for
from campaign_engine.db.models import Contact as StoredContact
from tests.contacts.conftest import NewCampaign

DUE = datetime(2030, 1, 2, 3, 4, 5, 678901, tzinfo=UTC)
ZONES = json.dumps(["Asia/Calcutta"])


Contact = tuple[int, str, dict[str, str]]


def contact(line: int, number: str, **variables: str) -> Contact:
    return line, number, variables


def encoded(session: AsyncSession, rows: list[Contact]) -> list[Encoded]:
    """The rows as the checking workers encode them for this database."""
    encode = encoder_for(session.get_bind().dialect.name)
    return [
        (line, number, encode(line, number, "IN", ZONES, json.dumps(variables)), "")
        for line, number, variables in rows
    ]


async def insert(
    sessions: async_sessionmaker[AsyncSession], campaign_id: str, rows: list[Contact]
) -> set[str]:
    async with sessions() as session, session.begin():
        return await insert_new_contacts(session, campaign_id, encoded(session, rows), due_at=DUE)


async def stored(
    sessions: async_sessionmaker[AsyncSession], campaign_id: str
) -> list[StoredContact]:
    async with sessions() as session:
        found = await session.scalars(
            select(StoredContact)
            .where(StoredContact.campaign_id == campaign_id)
            .order_by(StoredContact.phone_e164)
        )
        return list(found)


async def test_contacts_are_stored_as_the_orm_reads_them(
    sessions: async_sessionmaker[AsyncSession],
    new_campaign: NewCampaign,
) -> None:
    campaign_id = await new_campaign(sessions)
    awkward = 'Zoë "Z" \\ \\N \t\n\r 日本 \u2028'
    skipped = await insert(
        sessions, campaign_id, [contact(7, "+919876543210", name="Zoë", note=awkward)]
    )

    assert skipped == set()
    [asha] = await stored(sessions, campaign_id)
    assert (asha.phone_e164, asha.region, asha.timezones) == (
        "+919876543210",
        "IN",
        ["Asia/Calcutta"],
    )
    assert asha.variables == {"name": "Zoë", "note": awkward}
    assert (asha.state, asha.attempts_count, asha.source_line) == ("pending", 0, 7)
    assert asha.next_attempt_at == DUE and asha.created_at == DUE and asha.updated_at == DUE


async def test_numbers_already_in_the_campaign_are_returned_and_left_as_they_were(
    sessions: async_sessionmaker[AsyncSession],
    new_campaign: NewCampaign,
) -> None:
    campaign_id = await new_campaign(sessions)
    await insert(sessions, campaign_id, [contact(2, "+919876543210", name="first")])

    skipped = await insert(
        sessions,
        campaign_id,
        [contact(3, "+919876543211", name="new"), contact(4, "+919876543210", name="again")],
    )

    assert skipped == {"+919876543210"}
    assert [(c.phone_e164, c.variables["name"]) for c in await stored(sessions, campaign_id)] == [
        ("+919876543210", "first"),
        ("+919876543211", "new"),
    ]


async def test_the_same_numbers_go_into_another_campaign(
    sessions: async_sessionmaker[AsyncSession],
    new_campaign: NewCampaign,
) -> None:
    first, second = await new_campaign(sessions), await new_campaign(sessions)
    rows = [contact(2, "+919876543210"), contact(3, "+919876543211")]
    await insert(sessions, first, rows)

    assert await insert(sessions, second, rows) == set()
    assert len(await stored(sessions, second)) == 2


async def test_a_rolled_back_batch_leaves_nothing_behind(
    sessions: async_sessionmaker[AsyncSession],
    new_campaign: NewCampaign,
) -> None:
    campaign_id = await new_campaign(sessions)
    async with sessions() as session:
        rows = encoded(session, [contact(2, "+919876543210")])
        await insert_new_contacts(session, campaign_id, rows, due_at=DUE)
        await session.rollback()

    assert await stored(sessions, campaign_id) == []
    # and the next batch on the same pooled connection still works
    assert await insert(sessions, campaign_id, [contact(2, "+919876543210")]) == set()


def test_batch_size_is_tuned_per_backend() -> None:
    assert preferred_batch_size("sqlite") > preferred_batch_size("postgresql") > 0
    assert preferred_batch_size("other") > 0


async def test_a_relaxed_commit_applies_to_its_own_transaction_only(
    sessions: async_sessionmaker[AsyncSession],
) -> None:
    async with sessions() as session:
        if session.get_bind().dialect.name != "postgresql":
            pytest.skip("SQLite never waits for the disk at commit (WAL, synchronous=NORMAL)")
        await relaxed_commit(session)
        assert await session.scalar(text("SHOW synchronous_commit")) == "off"
        await session.commit()
        assert await session.scalar(text("SHOW synchronous_commit")) == "on"
