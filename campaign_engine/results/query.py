"""Stream a campaign's rows from the database, a bounded batch at a time.

``yield_per`` makes PostgreSQL use a server-side cursor (and SQLite step through its
result), so a campaign of millions of contacts is exported in constant memory.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

from sqlalchemy import Select, func, select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import aliased

from campaign_engine.db.models import CallAttempt, Campaign, Contact
from campaign_engine.states import AttemptState

BATCH = 500
# Attempts that carry an outcome (the others never reached anyone or are still open).
FINISHED = (AttemptState.ENDED.value, AttemptState.EXPIRED.value)


async def require_campaign(session: AsyncSession, campaign_id: str) -> None:
    if await session.get(Campaign, campaign_id) is None:
        raise LookupError(f"campaign {campaign_id} not found")


def _attempt_columns(attempt: Any) -> list[Any]:
    return [
        attempt.attempt_number,
        attempt.call_status,
        attempt.disposition,
        attempt.answered_by,
        attempt.duration_seconds,
        attempt.credits_used,
        attempt.recording_url,
        attempt.ended_at,
        attempt.extraction,
    ]


def contacts_query(campaign_id: str) -> Select[Any]:
    """Every contact with its last finished attempt (or none), in contact order."""
    last = (
        select(CallAttempt.contact_id, func.max(CallAttempt.id).label("last_id"))
        .where(CallAttempt.campaign_id == campaign_id, CallAttempt.state.in_(FINISHED))
        .group_by(CallAttempt.contact_id)
        .subquery()
    )
    attempt = aliased(CallAttempt)
    return (
        select(
            Contact.id.label("contact_id"),
            Contact.phone_e164.label("phone"),
            Contact.state,
            Contact.attempts_count.label("attempts"),
            Contact.last_outcome,
            Contact.last_error,
            Contact.variables,
            *_attempt_columns(attempt),
        )
        .outerjoin(last, last.c.contact_id == Contact.id)
        .outerjoin(attempt, attempt.id == last.c.last_id)
        .where(Contact.campaign_id == campaign_id)
        .order_by(Contact.id)
    )


def attempts_query(campaign_id: str) -> Select[Any]:
    """Every attempt, with its contact's phone, state and variables, in contact order."""
    return (
        select(
            CallAttempt.id.label("attempt_id"),
            CallAttempt.contact_id,
            Contact.phone_e164.label("phone"),
            Contact.state,
            Contact.variables,
            CallAttempt.state.label("attempt_state"),
            CallAttempt.outcome,
            CallAttempt.call_id,
            CallAttempt.session_id,
            CallAttempt.error,
            CallAttempt.claimed_at,
            CallAttempt.started_at,
            CallAttempt.transcript,
            CallAttempt.outcome_source,
            *_attempt_columns(CallAttempt),
        )
        .join(Contact, Contact.id == CallAttempt.contact_id)
        .where(CallAttempt.campaign_id == campaign_id)
        .order_by(CallAttempt.contact_id, CallAttempt.id)
    )


async def stream_rows(session: AsyncSession, query: Select[Any]) -> AsyncIterator[dict[str, Any]]:
    result = await session.stream(query.execution_options(yield_per=BATCH))
    async for row in result.mappings():
        yield dict(row)


async def names_in_use(session: AsyncSession, campaign_id: str) -> tuple[list[str], list[str]]:
    """Variable names and extraction value names used in the campaign, first seen first.

    A first streaming pass for the CSV header: only the names are kept in memory.
    """
    variables: dict[str, None] = {}
    contacts = select(Contact.variables).where(Contact.campaign_id == campaign_id)
    result = await session.stream(contacts.order_by(Contact.id).execution_options(yield_per=BATCH))
    async for (found,) in result:
        variables.update(dict.fromkeys(found or {}))
    extraction: dict[str, None] = {}
    attempts = select(CallAttempt.extraction).where(
        CallAttempt.campaign_id == campaign_id, CallAttempt.extraction.is_not(None)
    )
    result = await session.stream(
        attempts.order_by(CallAttempt.id).execution_options(yield_per=BATCH)
    )
    async for (stored,) in result:
        values = stored.get("values") if isinstance(stored, dict) else None
        if isinstance(values, dict):
            extraction.update(dict.fromkeys(values))
    return list(variables), list(extraction)
