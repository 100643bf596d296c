"""The schema: migrations equal the models on both backends, and the rules the tables enforce."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone
from typing import Any

import pytest
import sqlalchemy as sa
from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import Column, Connection, MetaData, String, inspect, select
from sqlalchemy.exc import IntegrityError, StatementError

from campaign_engine.db.migrate import alembic_config, current_revision, upgrade
from campaign_engine.db.models import Base, CallAttempt, Campaign, Contact
from campaign_engine.db.session import create_engine, session_factory

AGENT_ID = "00000000-0000-4000-8000-0000000000aa"

HEAD = ScriptDirectory.from_config(alembic_config("sqlite://")).get_current_head()


async def schema_differences(url: str, metadata: MetaData = Base.metadata) -> list[Any]:
    engine = create_engine(url)
    try:
        async with engine.connect() as conn:

            def compare(sync_conn: Connection) -> list[Any]:
                context = MigrationContext.configure(
                    sync_conn, opts={"compare_type": True, "compare_server_default": True}
                )
                return list(compare_metadata(context, metadata))

            return await conn.run_sync(compare)
    finally:
        await engine.dispose()


async def table_names(url: str) -> set[str]:
    engine = create_engine(url)
    try:
        async with engine.connect() as conn:
            return set(await conn.run_sync(lambda sync: inspect(sync).get_table_names()))
    finally:
        await engine.dispose()


async def downgrade(url: str, revision: str) -> None:
    engine = create_engine(url)
    try:
        async with engine.begin() as conn:
            await conn.run_sync(lambda sync: command.downgrade(alembic_config(url, sync), revision))
    finally:
        await engine.dispose()


MODEL_TABLES = {"campaigns", "campaign_events", "contacts", "call_attempts", "webhook_events"}


async def test_migrations_produce_exactly_the_models_schema(database_url: str) -> None:
    assert await current_revision(database_url) == HEAD
    assert await schema_differences(database_url) == []


async def test_schema_comparison_would_notice_a_model_the_migrations_lack(
    database_url: str,
) -> None:
    drifted = MetaData()
    for table in Base.metadata.sorted_tables:
        table.to_metadata(drifted)
    drifted.tables["campaigns"].append_column(Column("notes", String(50)))

    differences = await schema_differences(database_url, drifted)

    assert [(d[0], d[2], d[3].name) for d in differences] == [("add_column", "campaigns", "notes")]


async def test_downgrade_to_base_then_upgrade_to_head_rebuilds_the_same_schema(
    database_url: str,
) -> None:
    await downgrade(database_url, "base")
    assert await current_revision(database_url) is None
    assert await table_names(database_url) & MODEL_TABLES == set()

    await upgrade(database_url)
    assert await current_revision(database_url) == HEAD
    assert await table_names(database_url) >= MODEL_TABLES
    assert await schema_differences(database_url) == []


async def test_upgrade_of_a_database_at_head_changes_nothing(database_url: str) -> None:
    await upgrade(database_url)
    assert await current_revision(database_url) == HEAD
    assert await schema_differences(database_url) == []


# --- 0004: the failure kinds of rows written before it ----------------------------------

RATE_429 = "POST /calls/start: HTTP 429 RATE_LIMITED: Rate limit exceeded"
CONCURRENCY_429 = "POST /calls/start: HTTP 429 CONCURRENCY_LIMIT_EXCEEDED: Too many active calls"
NOT_A_429 = "POST /calls/start: cannot connect to edge-429.vocobase.example"
DAILY_CAP = "daily cap reached for +14295550100"


async def test_upgrade_to_0004_marks_only_the_engines_own_429_texts_as_rate_limited(
    database_url: str,
) -> None:
    engine = create_engine(database_url)
    try:
        async with session_factory(engine)() as session, session.begin():
            campaign = Campaign(name="c", agent_id=AGENT_ID, provider="twilio")
            session.add(campaign)
            await session.flush()
            contacts = [
                Contact(campaign_id=campaign.id, phone_e164=phone, state=state, last_error=error)
                for phone, state, error in (
                    ("+14295550100", "pending", DAILY_CAP),
                    ("+919811111111", "pending", RATE_429),
                    ("+919822222222", "retrying", CONCURRENCY_429),
                    ("+919833333333", "calling", RATE_429),  # on a newer attempt now
                )
            ]
            session.add_all(contacts)
            await session.flush()
            deadline = datetime.now(UTC) + timedelta(hours=1)
            session.add_all(
                CallAttempt(
                    contact_id=contacts[0].id,
                    campaign_id=campaign.id,
                    attempt_number=1,
                    state=state,
                    provider="twilio",
                    to_number="+14295550100",
                    deadline_at=deadline,
                    error=error,
                )
                for state, error in (
                    ("not_sent", RATE_429),
                    ("not_sent", CONCURRENCY_429),
                    ("not_sent", NOT_A_429),
                    ("not_sent", DAILY_CAP),
                )
            )
    finally:
        await engine.dispose()

    await downgrade(database_url, "0003")
    await upgrade(database_url)

    engine = create_engine(database_url)
    try:
        async with session_factory(engine)() as session:
            attempts = (
                await session.execute(
                    select(CallAttempt.error, CallAttempt.failure_kind).order_by(CallAttempt.id)
                )
            ).all()
            kinds = (
                await session.execute(
                    select(Contact.last_error, Contact.last_failure_kind).order_by(Contact.id)
                )
            ).all()
    finally:
        await engine.dispose()
    assert [tuple(row) for row in attempts] == [
        (RATE_429, "rate_limited"),
        (CONCURRENCY_429, "concurrency_limited"),
        (NOT_A_429, None),
        (DAILY_CAP, None),
    ]
    assert [tuple(row) for row in kinds] == [
        (DAILY_CAP, None),
        (RATE_429, "rate_limited"),
        (CONCURRENCY_429, "concurrency_limited"),
        (RATE_429, None),
    ]


# --- the partial unique index on (contact_id, attempt_number) ---------------------------


async def _contact(url: str) -> tuple[str, int]:
    engine = create_engine(url)
    try:
        async with session_factory(engine)() as session, session.begin():
            campaign = Campaign(name="c", agent_id=AGENT_ID, provider="twilio")
            session.add(campaign)
            await session.flush()
            contact = Contact(campaign_id=campaign.id, phone_e164="+919876543210")
            session.add(contact)
            await session.flush()
            return campaign.id, contact.id
    finally:
        await engine.dispose()


async def _add_attempt(url: str, campaign_id: str, contact_id: int, state: str) -> None:
    engine = create_engine(url)
    try:
        async with session_factory(engine)() as session, session.begin():
            session.add(
                CallAttempt(
                    contact_id=contact_id,
                    campaign_id=campaign_id,
                    attempt_number=1,
                    state=state,
                    provider="twilio",
                    to_number="+919876543210",
                    deadline_at=datetime.now(UTC) + timedelta(hours=1),
                )
            )
    finally:
        await engine.dispose()


@pytest.mark.parametrize(("first", "second"), [("ended", "dialing"), ("started", "expired")])
async def test_two_counting_attempts_with_the_same_number_are_refused(
    database_url: str, first: str, second: str
) -> None:
    campaign_id, contact_id = await _contact(database_url)
    await _add_attempt(database_url, campaign_id, contact_id, first)

    with pytest.raises(IntegrityError):
        await _add_attempt(database_url, campaign_id, contact_id, second)


@pytest.mark.parametrize("given_back", ["not_sent", "lost"])
async def test_an_attempt_that_never_reached_anyone_does_not_hold_its_number(
    database_url: str, given_back: str
) -> None:
    campaign_id, contact_id = await _contact(database_url)
    await _add_attempt(database_url, campaign_id, contact_id, given_back)
    await _add_attempt(database_url, campaign_id, contact_id, given_back)
    await _add_attempt(database_url, campaign_id, contact_id, "dialing")

    engine = create_engine(database_url)
    try:
        async with session_factory(engine)() as session:
            states = (await session.scalars(select(CallAttempt.state))).all()
    finally:
        await engine.dispose()
    assert sorted(states) == sorted([given_back, given_back, "dialing"])


# --- UTCDateTime ------------------------------------------------------------------------

IST = timezone(timedelta(hours=5, minutes=30))


async def test_aware_datetimes_come_back_as_the_same_instant_in_utc(database_url: str) -> None:
    written = datetime(2026, 3, 1, 18, 0, 0, 123456, tzinfo=IST)
    engine = create_engine(database_url)
    try:
        async with session_factory(engine)() as session, session.begin():
            campaign = Campaign(name="c", agent_id=AGENT_ID, provider="twilio", created_at=written)
            session.add(campaign)
        async with session_factory(engine)() as session:
            read = await session.scalar(
                select(Campaign.created_at).where(Campaign.id == campaign.id)
            )
    finally:
        await engine.dispose()

    assert read == written
    assert read is not None and read.tzinfo is not None
    assert read.utcoffset() == timedelta(0)
    assert read == datetime(2026, 3, 1, 12, 30, 0, 123456, tzinfo=UTC)


async def test_comparisons_with_aware_datetimes_in_any_zone_compare_instants(
    database_url: str,
) -> None:
    moment = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)
    engine = create_engine(database_url)
    try:
        async with session_factory(engine)() as session, session.begin():
            session.add(Campaign(name="c", agent_id=AGENT_ID, provider="twilio", created_at=moment))
        async with session_factory(engine)() as session:
            # 17:00 in India is 11:30 UTC: before the moment, though "17:00" > "12:00".
            earlier_ist = datetime(2026, 3, 1, 17, 0, tzinfo=IST)
            later_ist = datetime(2026, 3, 1, 18, 0, tzinfo=IST)
            after = await session.scalar(
                select(Campaign.id).where(Campaign.created_at > earlier_ist)
            )
            before = await session.scalar(
                select(Campaign.id).where(Campaign.created_at > later_ist)
            )
    finally:
        await engine.dispose()
    assert after is not None
    assert before is None


async def test_naive_datetime_is_refused_by_a_utc_column(database_url: str) -> None:
    engine = create_engine(database_url)
    try:
        async with session_factory(engine)() as session:
            session.add(
                Campaign(
                    name="c",
                    agent_id=AGENT_ID,
                    provider="twilio",
                    created_at=datetime(2026, 3, 1, 12, 0),
                )
            )
            with pytest.raises(StatementError, match="naive datetime given to a UTC column"):
                await session.flush()
            await session.rollback()
            count = len((await session.scalars(select(Campaign.id))).all())
    finally:
        await engine.dispose()
    assert count == 0


async def test_null_datetimes_stay_null(database_url: str) -> None:
    engine = create_engine(database_url)
    try:
        async with session_factory(engine)() as session, session.begin():
            campaign = Campaign(name="c", agent_id=AGENT_ID, provider="twilio")
            session.add(campaign)
        async with session_factory(engine)() as session:
            started = await session.scalar(
                select(Campaign.started_at).where(Campaign.id == campaign.id)
            )
    finally:
        await engine.dispose()
    assert started is None


# --- 0006: one open attempt per number, across campaigns ---------------------------------

_STAMP = sa.DateTime(timezone=True)
_CAMPAIGNS = sa.table(
    "campaigns",
    *(sa.column(name) for name in ("id", "name", "agent_id", "provider", "state")),
    sa.column("max_call_seconds"),
    sa.column("retry_policy", sa.JSON),
    sa.column("created_at", _STAMP),
    sa.column("updated_at", _STAMP),
)
_CONTACTS = sa.table(
    "contacts",
    *(sa.column(name) for name in ("id", "campaign_id", "phone_e164", "state", "attempts_count")),
    sa.column("timezones", sa.JSON),
    sa.column("variables", sa.JSON),
    sa.column("created_at", _STAMP),
    sa.column("updated_at", _STAMP),
)
_ATTEMPTS = sa.table(
    "call_attempts",
    *(sa.column(name) for name in ("id", "contact_id", "campaign_id", "attempt_number")),
    *(sa.column(name) for name in ("state", "provider", "to_number")),
    sa.column("claimed_at", _STAMP),
    sa.column("deadline_at", _STAMP),
    sa.column("updated_at", _STAMP),
)
SHARED, OWN = "+919811111111", "+919822222222"


async def test_upgrade_to_0006_settles_numbers_already_in_several_open_attempts(
    database_url: str,
) -> None:
    """Written at 0005, before the index: two campaigns' calls to one number, both open."""
    await downgrade(database_url, "0005")
    now = datetime.now(UTC).replace(microsecond=0)
    late_deadline = now + timedelta(minutes=20)
    engine = create_engine(database_url)
    try:
        async with engine.begin() as conn:
            await conn.execute(
                sa.insert(_CAMPAIGNS),
                [
                    {"id": cid, "name": cid, "agent_id": AGENT_ID, "provider": "twilio",
                     "state": "running", "max_call_seconds": 600, "retry_policy": {},
                     "created_at": now, "updated_at": now}
                    for cid in ("first", "second")
                ],
            )  # fmt: skip
            await conn.execute(
                sa.insert(_CONTACTS),
                [
                    {"id": cid, "campaign_id": campaign, "phone_e164": phone, "state": "calling",
                     "attempts_count": 1, "timezones": [], "variables": {},
                     "created_at": now, "updated_at": now}
                    for cid, campaign, phone in
                    ((1, "first", SHARED), (2, "second", SHARED), (3, "second", OWN))
                ],
            )  # fmt: skip
            await conn.execute(
                sa.insert(_ATTEMPTS),
                [
                    {"id": aid, "contact_id": aid, "campaign_id": campaign, "attempt_number": 1,
                     "state": state, "provider": "twilio", "to_number": phone,
                     "claimed_at": claimed, "deadline_at": deadline, "updated_at": now}
                    for aid, campaign, state, phone, claimed, deadline in (
                        (1, "first", "started", SHARED, now - timedelta(minutes=2), now),
                        (2, "second", "unknown", SHARED, now - timedelta(minutes=1), late_deadline),
                        (3, "second", "started", OWN, now, now),
                    )
                ],
            )  # fmt: skip
    finally:
        await engine.dispose()

    await upgrade(database_url)

    assert await schema_differences(database_url) == []
    engine = create_engine(database_url)
    try:
        async with session_factory(engine)() as session:
            attempts = (await session.scalars(select(CallAttempt).order_by(CallAttempt.id))).all()
            contacts = (await session.scalars(select(Contact).order_by(Contact.id))).all()
    finally:
        await engine.dispose()
    assert [(a.id, a.state) for a in attempts] == [(1, "started"), (2, "expired"), (3, "started")]
    assert "attempt 1 to the same number was open" in (attempts[1].error or "")
    assert [(c.id, c.state, c.attempts_count) for c in contacts] == [
        (1, "calling", 1),
        (2, "retrying", 1),  # not redialed before its call could have ended
        (3, "calling", 1),
    ]
    assert contacts[1].next_attempt_at == late_deadline
    assert contacts[1].last_error == attempts[1].error


async def test_a_second_open_attempt_of_a_number_is_refused_even_from_another_campaign(
    database_url: str,
) -> None:
    campaign_id, contact_id = await _contact(database_url)
    _, other_contact = await _contact(database_url)  # another campaign, the same number
    await _add_attempt(database_url, campaign_id, contact_id, "processing")

    with pytest.raises(IntegrityError):
        await _add_attempt(database_url, campaign_id, other_contact, "dialing")
