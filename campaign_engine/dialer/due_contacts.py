"""The due contacts in the database, as the scheduler reads and moves them: what each
campaign holds (queued, in calls), how many are due, the "call now" lane, and the moves
to ``queued`` and back. The database decides who is due; these are its few statements.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import ColumnElement, case, func, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from campaign_engine.db.models import Campaign, Contact
from campaign_engine.states import CONTACT_ACTIVE, CONTACT_WAITING, ContactState, contact_guard

_QUEUEABLE = contact_guard(CONTACT_WAITING, ContactState.QUEUED)
_RELEASABLE = contact_guard([ContactState.QUEUED], *CONTACT_WAITING)
_WAITING = [state.value for state in CONTACT_WAITING]
# Where a "call now" keeps its mark: until its contact is claimed.
_LANE_STATES = [*_WAITING, ContactState.QUEUED.value]
_HELD = [state.value for state in CONTACT_ACTIVE]


@dataclass(frozen=True)
class Held:
    queued: int = 0
    urgent: int = 0  # of which "call now"
    holding: int = 0  # queued or in a call


async def holdings(session: AsyncSession, campaign_ids: list[str]) -> dict[str, Held]:
    """Per campaign: contacts queued (and how many of them "call now"), and in calls."""
    urgent = Contact.call_now_at.is_not(None)
    rows = await session.execute(
        select(Contact.campaign_id, Contact.state, urgent, func.count())
        .where(Contact.campaign_id.in_(campaign_ids), Contact.state.in_(_HELD))
        .group_by(Contact.campaign_id, Contact.state, urgent)
    )
    counts: dict[str, list[int]] = defaultdict(lambda: [0, 0, 0])
    for campaign_id, state, is_urgent, count in rows:
        if state == ContactState.QUEUED.value:
            counts[campaign_id][0] += count
            counts[campaign_id][1] += count if is_urgent else 0
        counts[campaign_id][2] += count
    return {campaign_id: Held(*values) for campaign_id, values in counts.items()}


def _due(campaign_id: str, now: datetime) -> list[ColumnElement[bool]]:
    return [
        Contact.campaign_id == campaign_id,
        Contact.state.in_(_WAITING),
        Contact.next_attempt_at <= now,
    ]


async def due_count(session: AsyncSession, campaign_id: str, now: datetime, most: int) -> int:
    """Due contacts of the campaign, counted up to ``most`` (one index range, no more)."""
    due = select(Contact.id).where(*_due(campaign_id, now)).limit(most).subquery()
    return int(await session.scalar(select(func.count()).select_from(due)) or 0)


async def queue_due(
    session: AsyncSession, campaign_id: str, now: datetime, count: int
) -> list[tuple[int, int]]:
    """Move the campaign's ``count`` longest-due contacts to ``queued``."""
    rows = (
        await session.execute(
            select(Contact.id, Contact.attempts_count)
            .where(*_due(campaign_id, now))
            .order_by(Contact.next_attempt_at)
            .limit(count)
        )
    ).all()
    if rows:
        await mark_queued(session, [row.id for row in rows], now)
    return [(row.id, row.attempts_count) for row in rows]


async def mark_queued(session: AsyncSession, ids: list[int], now: datetime) -> None:
    result = await session.execute(
        update(Contact)
        .where(Contact.id.in_(ids), Contact.state.in_(_QUEUEABLE))
        .values(state=ContactState.QUEUED.value, queued_at=now)
        .execution_options(synchronize_session=False)
    )
    if getattr(result, "rowcount", 0) != len(ids):
        raise RuntimeError("contacts changed under the scheduler; retrying next tick")


async def call_now_due(
    session: AsyncSession, now: datetime, campaign_ids: list[str], most: int
) -> list[tuple[int, str, int]]:
    """Operators' "call now" contacts of these campaigns that are due, oldest request first:
    ``(contact_id, campaign_id, attempts_count)``."""
    rows = (
        await session.execute(
            select(Contact.id, Contact.campaign_id, Contact.attempts_count)
            .where(
                Contact.call_now_at.is_not(None),
                Contact.campaign_id.in_(campaign_ids),
                Contact.state.in_(_WAITING),
                Contact.next_attempt_at <= now,
            )
            .order_by(Contact.call_now_at)
            .limit(most)
        )
    ).all()
    return [(row.id, row.campaign_id, row.attempts_count) for row in rows]


def by_campaign(rows: Sequence[tuple[int, str, int]]) -> dict[str, list[tuple[int, int]]]:
    """``(contact_id, attempts_count)`` per campaign, in the rows' order."""
    grouped: dict[str, list[tuple[int, int]]] = defaultdict(list)
    for contact_id, campaign_id, attempts_count in rows:
        grouped[campaign_id].append((contact_id, attempts_count))
    return grouped


async def release_stale(session: AsyncSession, queued_before: datetime, most: int) -> int:
    """Give back to waiting (due now) contacts queued before ``queued_before``: their job
    may be lost. They are dispatched again within the limits; a job of theirs that still
    runs finds them no longer queued and does nothing."""
    ids = (
        await session.scalars(
            select(Contact.id)
            .where(
                # Per campaign, so ix_contacts_due is used: no scan of all contacts.
                Contact.campaign_id.in_(select(Campaign.id)),
                Contact.state == ContactState.QUEUED.value,
                Contact.queued_at <= queued_before,
            )
            .limit(most)
        )
    ).all()
    if not ids:
        return 0
    result = await session.execute(
        update(Contact)
        .where(Contact.id.in_(list(ids)), Contact.state.in_(_RELEASABLE))
        .values(
            state=case(
                (Contact.attempts_count == 0, ContactState.PENDING.value),
                else_=ContactState.RETRYING.value,
            ),
            queued_at=None,
            next_attempt_at=func.coalesce(Contact.next_attempt_at, queued_before),
        )
        .execution_options(synchronize_session=False)
    )
    return int(getattr(result, "rowcount", 0) or 0)


async def forget_answered_call_nows(session: AsyncSession) -> int:
    """A "call now" holds its lane until the call is made: contacts past waiting or queued
    lose the mark (their next retry, if any, waits its turn)."""
    result = await session.execute(
        update(Contact)
        .where(Contact.call_now_at.is_not(None), Contact.state.not_in(_LANE_STATES))
        .values(call_now_at=None)
        .execution_options(synchronize_session=False)
    )
    return int(getattr(result, "rowcount", 0) or 0)
