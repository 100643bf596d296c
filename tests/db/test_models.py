"""The models' own rules: UTC datetimes on every backend, defaults, the unique constraints
and cascades the tables enforce."""

from __future__ import annotations

import re
import uuid
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta, timezone
from typing import Any

import pytest
from sqlalchemy import Table, delete, func, select, text, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.exc import IntegrityError, StatementError
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from campaign_engine.db.models import (
    CallAttempt,
    Campaign,
    Contact,
    UTCDateTime,
    WebhookEvent,
    new_uuid,
    utcnow,
)
from campaign_engine.db.session import create_engine, session_factory
from campaign_engine.states import ATTEMPT_OPEN, state_values

AGENT_ID = "00000000-0000-4000-8000-0000000000aa"
IST = timezone(timedelta(hours=5, minutes=30))
Sessions = async_sessionmaker[AsyncSession]


@pytest.fixture
async def sessions(database_url: str) -> AsyncIterator[Sessions]:
    engine = create_engine(database_url)
    try:
        yield session_factory(engine)
    finally:
        await engine.dispose()


async def add(sessions: Sessions, *rows: Any) -> None:
    async with sessions() as session, session.begin():
        session.add_all(rows)


async def campaign(sessions: Sessions) -> str:
    row = Campaign(name="c", agent_id=AGENT_ID, provider="twilio")
    await add(sessions, row)
    return row.id


async def contact(sessions: Sessions, campaign_id: str, phone: str = "+919876543210") -> int:
    row = Contact(campaign_id=campaign_id, phone_e164=phone)
    await add(sessions, row)
    return row.id


def attempt(campaign_id: str, contact_id: int, number: int, **fields: Any) -> CallAttempt:
    fields.setdefault("to_number", "+919876543210")
    return CallAttempt(
        contact_id=contact_id,
        campaign_id=campaign_id,
        attempt_number=number,
        provider="twilio",
        deadline_at=utcnow() + timedelta(hours=1),
        **fields,
    )


async def count(sessions: Sessions, model: Any) -> int:
    async with sessions() as session:
        return int(await session.scalar(select(func.count()).select_from(model)) or 0)


# --- UTCDateTime, without a database --------------------------------------------------------

SQLITE = sqlite.dialect()
POSTGRESQL = postgresql.dialect()


def test_sqlite_is_given_the_utc_wall_time_without_a_zone() -> None:
    bound = UTCDateTime().process_bind_param(datetime(2030, 6, 3, 10, 0, tzinfo=IST), SQLITE)

    assert bound == datetime(2030, 6, 3, 4, 30)
    assert bound is not None and bound.tzinfo is None


def test_postgresql_is_given_an_aware_utc_datetime() -> None:
    bound = UTCDateTime().process_bind_param(datetime(2030, 6, 3, 10, 0, tzinfo=IST), POSTGRESQL)

    assert bound == datetime(2030, 6, 3, 4, 30, tzinfo=UTC)
    assert bound is not None and bound.utcoffset() == timedelta(0)


@pytest.mark.parametrize("dialect", [SQLITE, POSTGRESQL], ids=["sqlite", "postgresql"])
def test_a_naive_datetime_is_refused_not_taken_as_utc(dialect: Any) -> None:
    with pytest.raises(ValueError, match="naive datetime given to a UTC column"):
        UTCDateTime().process_bind_param(datetime(2030, 6, 3, 4, 30), dialect)


@pytest.mark.parametrize("dialect", [SQLITE, POSTGRESQL], ids=["sqlite", "postgresql"])
def test_none_passes_through_both_ways(dialect: Any) -> None:
    assert UTCDateTime().process_bind_param(None, dialect) is None
    assert UTCDateTime().process_result_value(None, dialect) is None


def test_a_stored_value_without_a_zone_is_read_as_utc() -> None:
    read = UTCDateTime().process_result_value(datetime(2030, 6, 3, 4, 30), SQLITE)

    assert read == datetime(2030, 6, 3, 4, 30, tzinfo=UTC)
    assert read is not None and read.tzinfo is UTC


def test_a_stored_value_in_another_zone_is_read_as_the_same_instant_in_utc() -> None:
    read = UTCDateTime().process_result_value(datetime(2030, 6, 3, 10, 0, tzinfo=IST), POSTGRESQL)

    assert read == datetime(2030, 6, 3, 4, 30, tzinfo=UTC)
    assert read is not None and read.utcoffset() == timedelta(0)


def test_utcnow_is_aware_utc_and_new_ids_are_uuids() -> None:
    now = utcnow()
    assert now.tzinfo is UTC
    assert abs((datetime.now(UTC) - now).total_seconds()) < 5
    first, second = new_uuid(), new_uuid()
    assert first != second
    assert str(uuid.UUID(first)) == first


# --- UTCDateTime in the databases -----------------------------------------------------------


async def test_the_database_holds_the_utc_instant_of_what_was_written(
    sessions: Sessions, database_url: str
) -> None:
    written = datetime(2030, 6, 3, 10, 0, tzinfo=IST)
    await add(
        sessions, Campaign(name="c", agent_id=AGENT_ID, provider="twilio", created_at=written)
    )

    async with sessions() as session:
        raw = await session.scalar(text("SELECT created_at FROM campaigns"))

    if database_url.startswith("sqlite"):
        assert raw == "2030-06-03 04:30:00.000000"  # UTC wall time, no offset
    else:
        assert raw == datetime(2030, 6, 3, 4, 30, tzinfo=UTC)  # timestamptz


async def test_a_naive_datetime_in_a_query_is_refused_too(sessions: Sessions) -> None:
    async with sessions() as session:
        with pytest.raises(StatementError, match="naive datetime given to a UTC column"):
            await session.scalar(
                select(Campaign.id).where(Campaign.created_at > datetime(2030, 6, 3))
            )


async def test_defaults_fill_a_new_campaign_and_contact(sessions: Sessions) -> None:
    campaign_id = await campaign(sessions)
    contact_id = await contact(sessions, campaign_id)

    async with sessions() as session:
        stored = await session.get(Campaign, campaign_id)
        person = await session.get(Contact, contact_id)
    assert stored is not None and person is not None
    assert str(uuid.UUID(campaign_id)) == campaign_id
    assert (stored.state, stored.max_call_seconds, stored.retry_policy) == ("draft", 600, {})
    assert stored.created_at.tzinfo is not None and stored.created_at.utcoffset() == timedelta(0)
    assert (person.state, person.attempts_count, person.timezones, person.variables) == (
        "pending",
        0,
        [],
        {},
    )


async def test_updated_at_moves_on_an_update(sessions: Sessions) -> None:
    campaign_id = await campaign(sessions)
    async with sessions() as session, session.begin():
        await session.execute(
            update(Campaign)
            .where(Campaign.id == campaign_id)
            .values(updated_at=datetime(2020, 1, 1, tzinfo=UTC))
        )
    before = utcnow()
    async with sessions() as session, session.begin():
        await session.execute(update(Campaign).where(Campaign.id == campaign_id).values(name="x"))
    async with sessions() as session:
        updated = await session.scalar(select(Campaign.updated_at))

    assert updated is not None and updated >= before - timedelta(seconds=1)


# --- unique constraints ----------------------------------------------------------------------


async def test_a_number_is_in_a_campaign_once_but_may_be_in_another(sessions: Sessions) -> None:
    first, second = await campaign(sessions), await campaign(sessions)
    await contact(sessions, first)
    await contact(sessions, second)  # another campaign: allowed

    with pytest.raises(IntegrityError):
        await contact(sessions, first)

    assert await count(sessions, Contact) == 2


@pytest.mark.parametrize("column", ["call_id", "session_id"])
async def test_two_attempts_never_share_a_call_or_session_id(
    sessions: Sessions, column: str
) -> None:
    campaign_id = await campaign(sessions)
    one = await contact(sessions, campaign_id, "+919876543210")
    other = await contact(sessions, campaign_id, "+919876543211")
    await add(sessions, attempt(campaign_id, one, 1, **{column: "shared"}))

    with pytest.raises(IntegrityError, match=column):
        await add(
            sessions,
            attempt(campaign_id, other, 1, to_number="+919876543211", **{column: "shared"}),
        )

    assert await count(sessions, CallAttempt) == 1


async def test_any_number_of_attempts_may_have_no_call_or_session_id_yet(
    sessions: Sessions,
) -> None:
    campaign_id = await campaign(sessions)
    contact_ids = [
        await contact(sessions, campaign_id, f"+91987654321{index}") for index in range(3)
    ]

    await add(
        sessions,
        *(
            attempt(campaign_id, cid, 1, to_number=f"+91987654321{index}")
            for index, cid in enumerate(contact_ids)
        ),
    )

    assert await count(sessions, CallAttempt) == 3


async def test_a_webhook_session_is_stored_once_but_unknown_sessions_any_number_of_times(
    sessions: Sessions,
) -> None:
    await add(sessions, WebhookEvent(session_id="s-1", raw_body=b"{}"))
    await add(sessions, WebhookEvent(session_id=None, raw_body=b"{}"))
    await add(sessions, WebhookEvent(session_id=None, raw_body=b"{}"))

    with pytest.raises(IntegrityError):
        await add(sessions, WebhookEvent(session_id="s-1", raw_body=b"{}"))

    assert await count(sessions, WebhookEvent) == 3


# --- cascades -------------------------------------------------------------------------------


async def test_deleting_a_campaign_deletes_its_contacts_and_attempts(sessions: Sessions) -> None:
    campaign_id = await campaign(sessions)
    kept = await campaign(sessions)
    contact_id = await contact(sessions, campaign_id)
    await contact(sessions, kept)
    await add(sessions, attempt(campaign_id, contact_id, 1, call_id="call-1"))
    await add(sessions, WebhookEvent(session_id="s-1", raw_body=b"{}"))
    async with sessions() as session, session.begin():
        attempt_id = await session.scalar(select(CallAttempt.id))
        await session.execute(update(WebhookEvent).values(attempt_id=attempt_id))

    async with sessions() as session, session.begin():
        await session.execute(delete(Campaign).where(Campaign.id == campaign_id))

    assert (await count(sessions, Contact), await count(sessions, CallAttempt)) == (1, 0)
    async with sessions() as session:
        # The inbox keeps the delivery; it only loses its attempt.
        assert (
            await session.execute(select(WebhookEvent.session_id, WebhookEvent.attempt_id))
        ).all() == [("s-1", None)]


def test_the_one_open_attempt_per_number_index_covers_exactly_the_open_states() -> None:
    table = CallAttempt.__table__
    assert isinstance(table, Table)
    [index] = [one for one in table.indexes if one.name == "uq_call_attempts_open_number"]
    assert index.unique and [column.name for column in index.columns] == ["to_number"]
    for dialect in ("postgresql", "sqlite"):
        where = str(index.dialect_options[dialect]["where"])
        assert sorted(re.findall(r"'(\w+)'", where)) == state_values(ATTEMPT_OPEN)
