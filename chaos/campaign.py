"""The soak's campaigns and what it reads back: one campaign per phase, fresh numbers each,
and the records the checks need (contacts, attempts, inbox rows) read from the database.
"""

from __future__ import annotations

import asyncio
import time
from datetime import datetime

from sqlalchemy import select, text
from sqlalchemy.ext.asyncio import create_async_engine
from sqlalchemy.pool import NullPool

from bench.contract_run import PROVIDER
from campaign_engine.campaigns import service
from campaign_engine.campaigns.retry_policy import RetryPolicy
from campaign_engine.contacts.row_checks import Accepted
from campaign_engine.contacts.store import insert_batch
from campaign_engine.db.models import CallAttempt, Contact, WebhookEvent, utcnow
from campaign_engine.runtime import Runtime
from campaign_engine.simulator.knobs import DEFAULT_AGENT_ID
from campaign_engine.simulator.ledger import Ledger
from chaos.checks import ContactRow, InboxRow, PlacedCall, RecordedAttempt


def numbers_for(block: int, count: int) -> list[str]:
    """Distinct numbers per phase: phases share the database and the per-number caps."""
    return [f"+919{block:02d}{index:07d}" for index in range(count)]


async def start_campaign(
    runtime: Runtime, name: str, numbers: list[str], retry: RetryPolicy
) -> str:
    async with runtime.sessions() as session, session.begin():
        campaign = await service.create_campaign(
            session,
            name=name,
            agent_id=DEFAULT_AGENT_ID,
            provider=PROVIDER,
            retry_policy=retry,
        )
        rows = [
            Accepted(index + 2, number, "IN", ("Asia/Calcutta",), {"name": f"N{index}"})
            for index, number in enumerate(numbers)
        ]
        await insert_batch(session, campaign.id, rows, due_at=utcnow())
        await service.check_with_vocobase(campaign, runtime.vocobase)
    async with runtime.sessions() as session, session.begin():
        await service.start_campaign(session, campaign.id, None)
    return campaign.id


async def campaign_times(
    database_url: str, campaign_id: str
) -> tuple[str, datetime | None, datetime | None] | None:
    """State, started_at, finished_at; None while the database cannot be reached (it may
    be restarting). A connection per question: no pool to go stale across a restart."""
    engine = create_async_engine(database_url, poolclass=NullPool)
    try:
        async with engine.connect() as conn:
            row = (
                await conn.execute(
                    text("SELECT state, started_at, finished_at FROM campaigns WHERE id = :id"),
                    {"id": campaign_id},
                )
            ).one()
    except Exception:  # any database error: not reachable right now
        return None
    finally:
        await engine.dispose()
    return str(row[0]), _utc(row[1]), _utc(row[2])


def _utc(value: object) -> datetime | None:
    if value is None or isinstance(value, datetime):
        return value
    return datetime.fromisoformat(str(value))


async def wait_completed(database_url: str, campaign_id: str, limit: float) -> bool:
    give_up = time.monotonic() + limit
    while time.monotonic() < give_up:
        found = await campaign_times(database_url, campaign_id)
        if found is not None and found[0] == "completed":
            return True
        await asyncio.sleep(0.25)
    return False


def placed_calls(ledger: Ledger, numbers: list[str]) -> list[PlacedCall]:
    wanted = set(numbers)
    return [
        PlacedCall(
            call_id=call.call_id,
            session_id=call.session_id,
            to_number=call.to_number,
            created_at=call.created_at,
            ended_at=call.ended_at,
            disposition=call.disposition,
            webhook_deliveries=call.webhook_deliveries,
        )
        for call in ledger.calls
        if call.to_number in wanted
    ]


async def read_records(
    runtime: Runtime, campaign_id: str, session_ids: list[str]
) -> tuple[list[ContactRow], list[RecordedAttempt], list[InboxRow], dict[str, int]]:
    async with runtime.sessions() as session:
        contacts = (
            await session.scalars(select(Contact).where(Contact.campaign_id == campaign_id))
        ).all()
        attempts = (
            await session.scalars(select(CallAttempt).where(CallAttempt.campaign_id == campaign_id))
        ).all()
        inbox = (
            await session.scalars(
                select(WebhookEvent).where(WebhookEvent.session_id.in_(session_ids))
            )
        ).all()
    settled: dict[str, int] = {}
    for attempt in attempts:
        key = f"{attempt.state}/{attempt.outcome_source or '-'}"
        settled[key] = settled.get(key, 0) + 1
    return (
        [ContactRow(c.phone_e164, c.state, c.next_attempt_at, c.last_error) for c in contacts],
        [
            RecordedAttempt(a.call_id, a.to_number, a.state, a.outcome, a.disposition)
            for a in attempts
        ],
        [InboxRow(e.session_id, e.status, e.duplicates) for e in inbox],
        dict(sorted(settled.items())),
    )


async def attempt_states(runtime: Runtime, ids: list[int]) -> dict[int, str]:
    """``state/outcome_source`` of each attempt in ``ids`` (those found)."""
    if not ids:
        return {}
    async with runtime.sessions() as session:
        rows = (await session.scalars(select(CallAttempt).where(CallAttempt.id.in_(ids)))).all()
    return {row.id: f"{row.state}/{row.outcome_source or '-'}" for row in rows}
