"""Writing accepted contacts, a batch per transaction, never twice per campaign.

Each batch is one transaction: a crash or Ctrl-C leaves whole batches or nothing, and
running the same import again skips the numbers already there (reported as
``duplicate_in_campaign``), so it completes without duplicates.

This is the ORM form, for a handful of contacts (tests, the demo harness); imports write
through ``bulk_insert``, which does the same with far less work per row (no ORM, no
per-row parameters).
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import select
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncSession

from campaign_engine.contacts.row_checks import Accepted
from campaign_engine.db.models import Contact
from campaign_engine.states import ContactState


async def existing_numbers(session: AsyncSession, campaign_id: str, numbers: list[str]) -> set[str]:
    found = await session.scalars(
        select(Contact.phone_e164).where(
            Contact.campaign_id == campaign_id, Contact.phone_e164.in_(numbers)
        )
    )
    return set(found.all())


async def insert_batch(
    session: AsyncSession, campaign_id: str, batch: list[Accepted], *, due_at: datetime
) -> list[Accepted]:
    """Insert the batch; returns the contacts skipped because the campaign has them."""
    if not batch:
        return []
    present = await existing_numbers(session, campaign_id, [c.e164 for c in batch])
    fresh = [c for c in batch if c.e164 not in present]
    if fresh:
        dialect = session.get_bind().dialect.name
        insert = postgresql.insert if dialect == "postgresql" else sqlite.insert
        rows = [
            {
                "campaign_id": campaign_id,
                "phone_e164": contact.e164,
                "region": contact.region,
                "timezones": list(contact.timezones),
                "variables": contact.variables,
                "state": ContactState.PENDING.value,
                "attempts_count": 0,
                "next_attempt_at": due_at,
                "source_line": contact.line,
                "created_at": due_at,
                "updated_at": due_at,
            }
            for contact in fresh
        ]
        # A concurrent import of the same numbers loses quietly instead of failing the batch.
        statement = insert(Contact).on_conflict_do_nothing(
            index_elements=["campaign_id", "phone_e164"]
        )
        await session.execute(statement, rows)
    return [c for c in batch if c.e164 in present]
