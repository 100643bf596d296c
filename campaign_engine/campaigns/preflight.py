"""Before starting: how many contacts can be called, how many cannot and why, and when the
campaign should finish.

Blocked, each contact counted once in this order:

- ``suppressed``: on the do-not-call list (global or this campaign's; exact or prefix);
- ``no_timezone``: the schedule reads windows on the callee's clock and the number has no
  known zone (set ``fallback_timezone``, or pin a zone);
- ``outside_every_window``: no allowed moment between now and the schedule's end (e.g. a
  multi-zone number whose zones' windows never overlap).

``warnings``: what the operator should know, e.g. that a pinned zone's windows are narrowed
by a preset read on each callee's own clock (with what that means for the callees' zones).

The finish estimate assumes one call per callable contact (retries add more), paced by the
slowest limit — Vocobase's calls per minute, the provider's calls per second, the
campaign's pacing, and concurrency divided by the average call length (from this
campaign's finished calls, else the agent's maximum call length) — and spent only inside
the allowed windows.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import and_, exists, func, not_, or_, select
from sqlalchemy.ext.asyncio import AsyncSession

from campaign_engine.campaigns.preset_warning import preset_warning
from campaign_engine.campaigns.replan import zone_groups
from campaign_engine.campaigns.schedule import Schedule, from_json
from campaign_engine.campaigns.window_check import ContactCalendar, blackout_days
from campaign_engine.campaigns.windows import (
    HORIZON_DAYS,
    Interval,
    allowed_intervals,
    local_date,
    merge,
)
from campaign_engine.config import LimitSettings
from campaign_engine.contacts.suppression import NUMBER, PREFIX
from campaign_engine.db.models import CallAttempt, Campaign, Contact, Suppression
from campaign_engine.states import CONTACT_FINAL, ContactState

_OPEN = [state.value for state in ContactState if state not in CONTACT_FINAL]
_CHUNK = timedelta(days=31)


@dataclass
class Preflight:
    campaign_id: str
    contacts: int = 0
    final: int = 0
    callable: int = 0
    blocked: dict[str, int] = field(default_factory=dict)
    first_call_at: datetime | None = None
    calls_per_hour: float = 0.0
    average_call_seconds: float = 0.0
    average_call_from: str = ""
    estimated_finish: datetime | None = None
    warnings: list[str] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        data = asdict(self)
        for key in ("first_call_at", "estimated_finish"):
            value = data[key]
            data[key] = value.isoformat() if value is not None else None
        return data


def dial_rate(
    limits: LimitSettings,
    *,
    provider: str,
    calls_per_minute: int | None,
    max_concurrent: int | None,
    average_call_seconds: float,
) -> float:
    """Calls per second the slowest limit allows."""
    rates = [limits.vocobase.calls_per_minute / 60]
    provider_limits = limits.providers.get(provider.lower())
    if provider_limits is not None:
        rates.append(provider_limits.calls_per_second)
    if calls_per_minute:
        rates.append(calls_per_minute / 60)
    concurrency = [
        value
        for value in (
            max_concurrent,
            provider_limits.max_concurrent if provider_limits else None,
            limits.vocobase.concurrency if isinstance(limits.vocobase.concurrency, int) else None,
        )
        if value
    ]
    if concurrency and average_call_seconds > 0:
        rates.append(min(concurrency) / average_call_seconds)
    return min(rates)


def finish_time(intervals: list[Interval], calls: int, per_second: float) -> datetime | None:
    """When ``calls`` calls at ``per_second`` are done using only ``intervals``; None when
    the intervals are not enough."""
    needed = calls / per_second if per_second > 0 else float("inf")
    for opens, closes in intervals:
        length = (closes - opens).total_seconds()
        if needed <= length:
            return opens + timedelta(seconds=needed)
        needed -= length
    return None


async def preflight(
    session: AsyncSession, campaign_id: str, limits: LimitSettings, now: datetime
) -> Preflight:
    campaign = await session.get(Campaign, campaign_id)
    if campaign is None:
        raise LookupError(f"campaign {campaign_id} not found")
    report = Preflight(campaign_id)
    by_state = dict(
        (
            await session.execute(
                select(Contact.state, func.count())
                .where(Contact.campaign_id == campaign_id)
                .group_by(Contact.state)
            )
        ).all()
    )
    report.contacts = sum(by_state.values())
    report.final = sum(count for state, count in by_state.items() if state in CONTACT_FINAL)
    suppressed = _suppressed(campaign_id)
    report.blocked["suppressed"] = int(
        await session.scalar(
            select(func.count()).where(
                Contact.campaign_id == campaign_id, Contact.state.in_(_OPEN), suppressed
            )
        )
        or 0
    )
    schedule = from_json(campaign.schedule)
    calendars = await _callable_groups(session, campaign_id, schedule, now, report)
    await _estimate(session, campaign, limits, calendars, now, report)
    return report


def _suppressed(campaign_id: str) -> Any:
    return exists().where(
        or_(Suppression.campaign_id.is_(None), Suppression.campaign_id == campaign_id),
        or_(
            and_(Suppression.kind == NUMBER, Suppression.pattern == Contact.phone_e164),
            and_(Suppression.kind == PREFIX, Contact.phone_e164.startswith(Suppression.pattern)),
        ),
    )


async def _callable_groups(
    session: AsyncSession,
    campaign_id: str,
    schedule: Schedule | None,
    now: datetime,
    report: Preflight,
) -> list[ContactCalendar]:
    """Sort the open, unsuppressed contacts by zone group; the calendars of callable ones."""
    report.blocked.setdefault("no_timezone", 0)
    report.blocked.setdefault("outside_every_window", 0)
    blackouts = await blackout_days(session, campaign_id)
    groups = await zone_groups(session, campaign_id, _OPEN, not_(_suppressed(campaign_id)))
    if schedule is not None:
        largest = [zones for _, zones, _ in sorted(groups, key=lambda group: -group[2])]
        warning = preset_warning(schedule, largest, on=local_date(schedule.home_zone, now))
        report.warnings.extend([warning] if warning else [])
    calendars = []
    for _, zones, count in groups:
        calendar = ContactCalendar(schedule, zones, blackouts)
        if schedule is not None and not calendar.zones:
            report.blocked["no_timezone"] += count
            continue
        first = calendar.next_allowed(now)
        if first is None:
            report.blocked["outside_every_window"] += count
            continue
        report.callable += count
        calendars.append(calendar)
        if report.first_call_at is None or first < report.first_call_at:
            report.first_call_at = first
    return calendars


async def _estimate(
    session: AsyncSession,
    campaign: Campaign,
    limits: LimitSettings,
    calendars: list[ContactCalendar],
    now: datetime,
    report: Preflight,
) -> None:
    average = await session.scalar(
        select(func.avg(CallAttempt.duration_seconds)).where(
            CallAttempt.campaign_id == campaign.id, CallAttempt.duration_seconds.is_not(None)
        )
    )
    if average:
        report.average_call_seconds, report.average_call_from = float(average), "finished calls"
    else:
        report.average_call_seconds = float(campaign.max_call_seconds)
        report.average_call_from = "the agent's maximum call length"
    per_second = dial_rate(
        limits,
        provider=campaign.provider,
        calls_per_minute=campaign.calls_per_minute,
        max_concurrent=campaign.max_concurrent,
        average_call_seconds=report.average_call_seconds,
    )
    report.calls_per_hour = round(per_second * 3600, 1)
    if not report.callable:
        return
    remaining, start = report.callable, now
    horizon = now + timedelta(days=HORIZON_DAYS)
    while start < horizon:
        end = min(start + _CHUNK, horizon)
        window = merge(i for calendar in calendars for i in _intervals(calendar, start, end))
        done = finish_time(window, remaining, per_second)
        if done is not None:
            report.estimated_finish = done
            return
        remaining -= int(sum((b - a).total_seconds() for a, b in window) * per_second)
        start = end


def _intervals(calendar: ContactCalendar, start: datetime, end: datetime) -> list[Interval]:
    schedule = calendar.schedule
    if schedule is None:
        return [(start, end)]
    low = max(start, schedule.not_before or start)
    high = min(end, schedule.not_after or end)
    return allowed_intervals(calendar.rules(), low, high)
