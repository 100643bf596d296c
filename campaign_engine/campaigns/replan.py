"""Put waiting contacts at the next moment they may be called (start, schedule change, import).

Windows are enforced by *time*: a waiting contact's ``next_attempt_at`` is the next moment
it is allowed to be called, so the scheduler's due query stays one index range. This module
sets those times in bulk, with set-based UPDATEs:

- contacts are grouped by their ``timezones`` (few distinct tuples per campaign; a pinned
  zone without a callee-clock preset makes one group), and each group's allowed moments
  are computed once;
- ``pending`` contacts (never called) go to the group's first allowed moment;
- ``retrying`` contacts keep their retry time when it is allowed, else move forward to the
  next allowed moment (one UPDATE per gap between windows that holds any of them);
- contacts with no allowed moment (no zone known, or none before the end) are *parked*:
  waiting with ``next_attempt_at`` null, never due, until the schedule changes again.
"""

from __future__ import annotations

import json
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import ColumnElement, Text, cast, func, or_, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from campaign_engine.campaigns.schedule import Schedule, from_json
from campaign_engine.campaigns.window_check import ContactCalendar, blackout_days
from campaign_engine.campaigns.windows import HORIZON_DAYS, allowed_intervals
from campaign_engine.db.models import Campaign, Contact
from campaign_engine.states import CONTACT_WAITING, ContactState


def _zones_text() -> ColumnElement[str]:
    """``contacts.timezones`` as its stored text (JSON has no equality on PostgreSQL)."""
    return cast(Contact.timezones, Text)


async def zone_groups(
    session: AsyncSession, campaign_id: str, states: list[str], *more: ColumnElement[bool]
) -> list[tuple[str, tuple[str, ...], int]]:
    """(stored text, zones, contacts) for each distinct ``timezones`` among those contacts."""
    rows = (
        await session.execute(
            select(_zones_text(), func.count())
            .where(Contact.campaign_id == campaign_id, Contact.state.in_(states), *more)
            .group_by(_zones_text())
        )
    ).all()
    return [(text, tuple(json.loads(text) if text else ()), count) for text, count in rows]


async def replan_waiting(
    session: AsyncSession, campaign_id: str, now: datetime, *, only_due: bool = False
) -> int:
    """Move the campaign's waiting contacts to their next allowed moments; rows changed.

    ``only_due``: touch only contacts due now or parked (after an import into a campaign
    whose other contacts are already placed).
    """
    stored = await session.scalar(select(Campaign.schedule).where(Campaign.id == campaign_id))
    schedule = from_json(stored)
    if schedule is None:
        return await _unpark_any_time(session, campaign_id, now, only_due=only_due)
    blackouts = await blackout_days(session, campaign_id)
    waiting = [state.value for state in CONTACT_WAITING]
    if not schedule.needs_callee_zones:
        groups: list[tuple[str | None, tuple[str, ...]]] = [(None, ())]
    else:
        found = await zone_groups(session, campaign_id, waiting)
        groups = [(text, zones) for text, zones, _ in found]
    changed = 0
    for text, zones in groups:
        calendar = ContactCalendar(schedule, zones, blackouts)
        scope = _scope(campaign_id, text)
        changed += await _place_pending(session, scope, calendar, now, only_due=only_due)
        if not only_due:
            changed += await _place_retrying(session, scope, calendar, schedule, now)
    return changed


def _scope(campaign_id: str, text: str | None) -> list[ColumnElement[bool]]:
    conditions: list[ColumnElement[bool]] = [Contact.campaign_id == campaign_id]
    if text is not None:
        conditions.append(_zones_text() == text)
    return conditions


async def _execute(session: AsyncSession, statement: Any) -> int:
    result = await session.execute(statement.execution_options(synchronize_session=False))
    return int(getattr(result, "rowcount", 0) or 0)


async def _place_pending(
    session: AsyncSession,
    scope: list[ColumnElement[bool]],
    calendar: ContactCalendar,
    now: datetime,
    *,
    only_due: bool,
) -> int:
    conditions = [*scope, Contact.state == ContactState.PENDING.value]
    if only_due:
        conditions.append(or_(Contact.next_attempt_at <= now, Contact.next_attempt_at.is_(None)))
    first = calendar.next_allowed(now)
    return await _execute(session, update(Contact).where(*conditions).values(next_attempt_at=first))


async def _place_retrying(
    session: AsyncSession,
    scope: list[ColumnElement[bool]],
    calendar: ContactCalendar,
    schedule: Schedule,
    now: datetime,
) -> int:
    """Retry times that fall outside the windows move forward to the next window."""
    retrying = [*scope, Contact.state == ContactState.RETRYING.value]
    first = calendar.next_allowed(now)
    if first is None:
        park = update(Contact).where(*retrying).values(next_attempt_at=None)
        return await _execute(session, park)
    latest = await session.scalar(select(func.max(Contact.next_attempt_at)).where(*retrying))
    changed = await _execute(
        session,
        update(Contact)
        .where(*retrying, or_(Contact.next_attempt_at.is_(None), Contact.next_attempt_at < now))
        .values(next_attempt_at=first),
    )
    if latest is None or latest < now:
        return changed
    end = min(latest + timedelta(days=1), now + timedelta(days=HORIZON_DAYS))
    intervals = allowed_intervals(calendar.rules(), now, end)
    if schedule.not_before is not None or schedule.not_after is not None:
        low = schedule.not_before or now
        high = schedule.not_after or end
        clipped = ((max(a, low), min(b, high)) for a, b in intervals)
        intervals = [(a, b) for a, b in clipped if a < b]
    gap_start = now
    for opens, closes in intervals:
        if opens > gap_start:
            changed += await _move(session, retrying, gap_start, opens, opens)
        gap_start = closes
    # Beyond the last window looked at: the next allowed moment after it (or parked).
    changed += await _move(session, retrying, gap_start, None, calendar.next_allowed(gap_start))
    return changed


async def _move(
    session: AsyncSession,
    retrying: list[ColumnElement[bool]],
    since: datetime,
    until: datetime | None,
    target: datetime | None,
) -> int:
    conditions = [*retrying, Contact.next_attempt_at >= since]
    if until is not None:
        conditions.append(Contact.next_attempt_at < until)
    statement = update(Contact).where(*conditions).values(next_attempt_at=target)
    return await _execute(session, statement)


async def _unpark_any_time(
    session: AsyncSession, campaign_id: str, now: datetime, *, only_due: bool
) -> int:
    """No schedule: any time is allowed, so parked contacts and pending ones become due."""
    waiting = [state.value for state in CONTACT_WAITING]
    due_later = Contact.next_attempt_at > now
    conditions = [Contact.campaign_id == campaign_id, Contact.state.in_(waiting)]
    if only_due:
        conditions.append(Contact.next_attempt_at.is_(None))
    else:
        conditions.append(
            or_(
                Contact.next_attempt_at.is_(None),
                (Contact.state == ContactState.PENDING.value) & due_later,
            )
        )
    return await _execute(session, update(Contact).where(*conditions).values(next_attempt_at=now))
