"""Helpers for the schedule tests: campaigns with schedules, contacts in given zones, and a
fixed clock (every test passes ``now`` itself; nothing sleeps)."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from sqlalchemy import select, update

from campaign_engine.campaigns import service
from campaign_engine.campaigns.schedule import parse_schedule
from campaign_engine.contacts.row_checks import Accepted
from campaign_engine.contacts.store import insert_batch
from campaign_engine.db.models import CallAttempt, Contact
from campaign_engine.runtime import Runtime
from tests.harness import AGENT_ID, quick_policy

KOLKATA = ("Asia/Calcutta",)
NEW_YORK = ("America/New_York",)
NY_AND_CHICAGO = ("America/New_York", "America/Chicago")
NO_ZONE: tuple[str, ...] = ()
# Monday 3 June 2030, 00:00 UTC (05:30 IST, Sunday 20:00 in New York).
MONDAY = datetime(2030, 6, 3, tzinfo=UTC)
WEEKDAYS_10_TO_13: dict[str, Any] = {
    "days": ["mon", "tue", "wed", "thu", "fri"],
    "windows": ["10:00-13:00"],
}


def utc(*parts: int) -> datetime:
    return datetime(*parts, tzinfo=UTC)


async def campaign_with(
    runtime: Runtime,
    contacts: list[tuple[str, tuple[str, ...]]],
    schedule: dict[str, Any] | None,
    *,
    now: datetime = MONDAY,
    start: bool = True,
    **fields: Any,
) -> str:
    """A campaign with ``schedule`` (a schedule file's contents) and contacts (number, zones),
    imported due at ``now`` and started at ``now`` (not checked with Vocobase)."""
    fields.setdefault("retry_policy", quick_policy())
    async with runtime.sessions() as session, session.begin():
        campaign = await service.create_campaign(
            session,
            name="scheduled",
            agent_id=AGENT_ID,
            schedule=parse_schedule(schedule) if schedule is not None else None,
            **fields,
        )
        rows = [
            Accepted(i + 2, number, None, zones, {"name": f"P{i}"})
            for i, (number, zones) in enumerate(contacts)
        ]
        await insert_batch(session, campaign.id, rows, due_at=now)
    if start:
        async with runtime.sessions() as session, session.begin():
            await service.start_campaign(session, campaign.id, None, now=now)
    return campaign.id


async def contacts_by_number(runtime: Runtime, campaign_id: str) -> dict[str, Contact]:
    async with runtime.sessions() as session:
        found = await session.scalars(select(Contact).where(Contact.campaign_id == campaign_id))
        return {contact.phone_e164: contact for contact in found.all()}


async def set_contact(runtime: Runtime, campaign_id: str, number: str, **values: Any) -> int:
    async with runtime.sessions() as session, session.begin():
        await session.execute(
            update(Contact)
            .where(Contact.campaign_id == campaign_id, Contact.phone_e164 == number)
            .values(**values)
        )
        contact_id = await session.scalar(
            select(Contact.id).where(
                Contact.campaign_id == campaign_id, Contact.phone_e164 == number
            )
        )
    assert contact_id is not None
    return contact_id


async def add_attempt(
    runtime: Runtime,
    campaign_id: str,
    contact_id: int,
    number: str,
    claimed_at: datetime,
    *,
    attempt_number: int = 1,
    state: str = "ended",
    outcome: str | None = "no_answer",
) -> int:
    async with runtime.sessions() as session, session.begin():
        attempt = CallAttempt(
            contact_id=contact_id,
            campaign_id=campaign_id,
            attempt_number=attempt_number,
            state=state,
            provider="mcube",
            to_number=number,
            outcome=outcome,
            claimed_at=claimed_at,
            deadline_at=claimed_at,
        )
        session.add(attempt)
        await session.flush()
        return attempt.id
