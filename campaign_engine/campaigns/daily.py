"""Daily runs: a campaign with saved database sources imports them again every calling day.

Once per running, scheduled or ongoing campaign per local day (its home zone: the pinned
zone, the preset's, the fallback, else UTC), ``daily_import_lead_minutes`` before that day's
first window opens, the scheduler calls ``pull_saved_sources``
(``campaign_engine.contacts.saved_sources``). A day without a window (weekend, blackout)
imports nothing. Imports never add a number twice, so
a repeated run is harmless. New contacts are then placed at their first allowed moments.

Every run is recorded in the audit log (``daily_import`` / ``daily_import_failed``) — that
record is also how "already ran today" is known, so a restart does not import twice. A
failed run is tried again after 15 minutes, at most three times a day.

:func:`next_pull_due` says when the next run comes (an ongoing campaign's reason shows it).
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import Any

from sqlalchemy import exists, select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from campaign_engine.campaigns.lifecycle import SCHEDULER
from campaign_engine.campaigns.replan import replan_waiting
from campaign_engine.campaigns.schedule import Schedule, from_json
from campaign_engine.campaigns.window_check import blackout_days, local_day_bounds
from campaign_engine.campaigns.windows import next_allowed
from campaign_engine.db.models import AuditEntry, Campaign, ContactSource
from campaign_engine.states import CampaignState

log = logging.getLogger(__name__)

DAILY_IMPORT = "daily_import"
DAILY_IMPORT_FAILED = "daily_import_failed"
MAX_TRIES_PER_DAY = 3
RETRY_AFTER = timedelta(minutes=15)
# How far ahead the next pull is looked for (a year of local days).
PULL_HORIZON_DAYS = 366
PULLING_STATES = (CampaignState.RUNNING, CampaignState.SCHEDULED, CampaignState.ONGOING)

Puller = Callable[[async_sessionmaker[AsyncSession], str], Awaitable[list[Any]]]


@dataclass(frozen=True)
class RunsToday:
    succeeded: bool = False
    failures: int = 0
    last_failure: datetime | None = None


def import_due_at(
    schedule: Schedule | None, blackouts: frozenset[date], now: datetime
) -> datetime | None:
    """When today's import is due (home zone); None when today has no calling window."""
    home = schedule.home_zone if schedule else "UTC"
    day_starts, day_ends = local_day_bounds(home, now)
    if schedule is None:
        return day_starts
    first = next_allowed(
        schedule.rules_for((home,), blackouts),
        day_starts,
        not_before=schedule.not_before,
        not_after=schedule.not_after,
        horizon_days=2,
    )
    if first is None or first >= day_ends:
        return None
    return max(day_starts, first - timedelta(minutes=schedule.daily_import_lead_minutes))


def should_run(due_at: datetime | None, now: datetime, runs: RunsToday) -> bool:
    if due_at is None or now < due_at or runs.succeeded or runs.failures >= MAX_TRIES_PER_DAY:
        return False
    return runs.last_failure is None or now - runs.last_failure >= RETRY_AFTER


def next_pull_due(
    schedule: Schedule | None, blackouts: frozenset[date], now: datetime, runs: RunsToday
) -> datetime | None:
    """When the next daily run is due: today's while it may still run (it may be due
    already), else the first later calling day's; None when no day within
    :data:`PULL_HORIZON_DAYS` has a window (the schedule ends first, say)."""
    today = import_due_at(schedule, blackouts, now)
    if today is not None and not runs.succeeded and runs.failures < MAX_TRIES_PER_DAY:
        after_failure = runs.last_failure + RETRY_AFTER if runs.last_failure else today
        return max(today, after_failure)
    home = schedule.home_zone if schedule else "UTC"
    day = now
    for _ in range(PULL_HORIZON_DAYS):
        day = local_day_bounds(home, day)[1]
        ends = schedule.ends_at() if schedule else None
        if ends is not None and day >= ends:
            return None
        due = import_due_at(schedule, blackouts, day)
        if due is not None:
            return due
    return None


async def next_pull_at(
    session: AsyncSession, campaign_id: str, schedule: Schedule | None, now: datetime
) -> datetime | None:
    """:func:`next_pull_due` for a stored campaign (its blackouts, today's runs)."""
    blackouts = await blackout_days(session, campaign_id) if schedule else frozenset()
    home = schedule.home_zone if schedule else "UTC"
    runs = await runs_today(session, campaign_id, local_day_bounds(home, now)[0])
    return next_pull_due(schedule, blackouts, now, runs)


def find_puller() -> Puller:
    """``pull_saved_sources`` from the contacts package (imported late: the import machinery
    is heavy and only the scheduler needs it)."""
    from campaign_engine.contacts.saved_sources import pull_saved_sources

    return pull_saved_sources


async def runs_today(session: AsyncSession, campaign_id: str, since: datetime) -> RunsToday:
    entries = (
        await session.execute(
            select(AuditEntry.action, AuditEntry.created_at)
            .where(
                AuditEntry.target_type == "campaign",
                AuditEntry.target_id == campaign_id,
                AuditEntry.action.in_([DAILY_IMPORT, DAILY_IMPORT_FAILED]),
                AuditEntry.created_at >= since,
            )
            .order_by(AuditEntry.created_at)
        )
    ).all()
    failures = [at for action, at in entries if action == DAILY_IMPORT_FAILED]
    return RunsToday(
        succeeded=any(action == DAILY_IMPORT for action, _ in entries),
        failures=len(failures),
        last_failure=failures[-1] if failures else None,
    )


async def run_daily_imports(
    sessions: async_sessionmaker[AsyncSession], now: datetime, puller: Puller | None = None
) -> list[str]:
    """Run every import due now; the ids of campaigns that imported."""
    async with sessions() as session:
        candidates = (
            await session.execute(
                select(Campaign.id, Campaign.schedule).where(
                    Campaign.state.in_([state.value for state in PULLING_STATES]),
                    exists().where(ContactSource.campaign_id == Campaign.id),
                )
            )
        ).all()
        due: list[str] = []
        for campaign_id, stored in candidates:
            schedule = from_json(stored)
            blackouts = await blackout_days(session, campaign_id) if schedule else frozenset()
            due_at = import_due_at(schedule, blackouts, now)
            home = schedule.home_zone if schedule else "UTC"
            runs = await runs_today(session, campaign_id, local_day_bounds(home, now)[0])
            if should_run(due_at, now, runs):
                due.append(campaign_id)
    done = []
    for campaign_id in due:
        if await _run_one(sessions, puller or find_puller(), campaign_id, now):
            done.append(campaign_id)
    return done


async def _run_one(
    sessions: async_sessionmaker[AsyncSession], puller: Puller, campaign_id: str, now: datetime
) -> bool:
    """Pull, place the new contacts, record the run; False when a source failed."""
    error = None
    try:
        summaries = await puller(sessions, campaign_id)
    except Exception as exc:
        log.exception("daily import of campaign %s failed", campaign_id)
        # A partial failure still imported the other sources.
        summaries, error = list(getattr(exc, "summaries", [])), str(exc)
    details: dict[str, Any] = {"sources": [_as_dict(summary) for summary in summaries]}
    if error is not None:
        details["error"] = error
    async with sessions() as session, session.begin():
        details["placed"] = await replan_waiting(session, campaign_id, now, only_due=True)
    action = DAILY_IMPORT if error is None else DAILY_IMPORT_FAILED
    await _record(sessions, campaign_id, action, details, now)
    return error is None


def _as_dict(summary: Any) -> Any:
    to_dict = getattr(summary, "to_dict", None)
    return to_dict() if callable(to_dict) else str(summary)


async def _record(
    sessions: async_sessionmaker[AsyncSession],
    campaign_id: str,
    action: str,
    details: dict[str, Any],
    now: datetime,
) -> None:
    async with sessions() as session, session.begin():
        session.add(
            AuditEntry(
                actor=SCHEDULER,
                action=action,
                target_type="campaign",
                target_id=campaign_id,
                details=details,
                created_at=now,
            )
        )
