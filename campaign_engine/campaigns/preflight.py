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

The finish is :mod:`campaign_engine.campaigns.estimate`'s: paced by the binding limit (the
rates, or the concurrency times the expected call length), spent inside each zone's
windows, with the retries the outcome mix so far makes likely; ``binding`` says which of
them sets it and ``binding_description`` says it in words.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy import and_, exists, func, not_, or_, select
from sqlalchemy.ext.asyncio import AsyncSession

from campaign_engine.campaigns.estimate import (
    Estimate,
    Group,
    Pace,
    call_seconds,
    estimate,
    pace_of,
)
from campaign_engine.campaigns.preset_warning import preset_warning
from campaign_engine.campaigns.replan import zone_groups
from campaign_engine.campaigns.retry_outlook import RetryOutlook, retry_outlook
from campaign_engine.campaigns.retry_policy import RetryPolicy
from campaign_engine.campaigns.schedule import Schedule, from_json
from campaign_engine.campaigns.window_check import ContactCalendar, blackout_days
from campaign_engine.campaigns.windows import local_date
from campaign_engine.config import LimitSettings
from campaign_engine.contacts.suppression import NUMBER, PREFIX
from campaign_engine.db.models import CallAttempt, Campaign, Contact, Suppression
from campaign_engine.states import CONTACT_FINAL, ContactState

_OPEN = [state.value for state in ContactState if state not in CONTACT_FINAL]
# The newest ended calls the expected call length is learned from.
_LEARN_FROM = 500


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
    # What sets the finish: rate | concurrency | windows | retries | nothing left.
    binding: str = ""
    binding_description: str = ""
    expected_calls: float = 0.0
    attempts_per_contact: float = 1.0

    def to_dict(self) -> dict[str, Any]:
        data = asdict(self)
        for key in ("first_call_at", "estimated_finish"):
            value = data[key]
            data[key] = value.isoformat() if value is not None else None
        return data


async def preflight(
    session: AsyncSession,
    campaign_id: str,
    limits: LimitSettings,
    now: datetime,
    *,
    partner_concurrency: int | None = None,
    polling_share: float = 0.0,
) -> Preflight:
    """``partner_concurrency``: the partner's concurrent calls in force (``limits/plan.py``'s
    ``effective_concurrency``); None counts only a configured number. ``polling_share``:
    the reconciler's share of Vocobase's request budget (``scheduler.reconcile_budget_share``)."""
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
    suppressed = is_suppressed(campaign_id)
    report.blocked["suppressed"] = int(
        await session.scalar(
            select(func.count()).where(
                Contact.campaign_id == campaign_id, Contact.state.in_(_OPEN), suppressed
            )
        )
        or 0
    )
    schedule = from_json(campaign.schedule)
    groups = await _callable_groups(session, campaign_id, schedule, now, report)
    if partner_concurrency is None and isinstance(limits.vocobase.concurrency, int):
        partner_concurrency = limits.vocobase.concurrency
    found = await campaign_estimate(
        session,
        campaign,
        limits,
        groups,
        now,
        partner_concurrency=partner_concurrency,
        polling_share=polling_share,
    )
    pace, outlook, result = found
    report.average_call_seconds, report.average_call_from = (
        pace.call_seconds,
        pace.call_seconds_from,
    )
    report.calls_per_hour = round(result.starts_per_hour, 1)
    report.binding, report.binding_description = result.binding, result.description
    report.expected_calls = round(result.calls, 1)
    report.attempts_per_contact = round(outlook.attempts_per_contact, 3)
    if report.callable:
        report.estimated_finish = result.finish
    return report


def is_suppressed(campaign_id: str) -> Any:
    """True for a contact whose number is on the do-not-call list (global or the campaign's)."""
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
) -> list[tuple[ContactCalendar, int]]:
    """Sort the open, unsuppressed contacts by zone group; the calendars of callable ones,
    with how many contacts each holds."""
    report.blocked.setdefault("no_timezone", 0)
    report.blocked.setdefault("outside_every_window", 0)
    blackouts = await blackout_days(session, campaign_id)
    groups = await zone_groups(session, campaign_id, _OPEN, not_(is_suppressed(campaign_id)))
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
        calendars.append((calendar, count))
        if report.first_call_at is None or first < report.first_call_at:
            report.first_call_at = first
    return calendars


async def campaign_estimate(
    session: AsyncSession,
    campaign: Campaign,
    limits: LimitSettings,
    groups: list[tuple[ContactCalendar, int]],
    now: datetime,
    *,
    partner_concurrency: int | None,
    polling_share: float = 0.0,
) -> tuple[Pace, RetryOutlook, Estimate]:
    """The estimate for these callable groups, from the campaign's own ended calls."""
    durations = (
        await session.scalars(
            select(CallAttempt.duration_seconds)
            .where(
                CallAttempt.campaign_id == campaign.id, CallAttempt.duration_seconds.is_not(None)
            )
            .order_by(CallAttempt.id.desc())
            .limit(_LEARN_FROM)
        )
    ).all()
    outcomes = {
        str(outcome): int(count)
        for outcome, count in (
            await session.execute(
                select(CallAttempt.outcome, func.count())
                .where(CallAttempt.campaign_id == campaign.id, CallAttempt.outcome.is_not(None))
                .group_by(CallAttempt.outcome)
            )
        ).all()
    }
    pace = pace_of(
        limits,
        provider=campaign.provider,
        calls_per_minute=campaign.calls_per_minute,
        max_concurrent=campaign.max_concurrent,
        partner_concurrency=partner_concurrency,
        polling_share=polling_share,
        length=call_seconds([float(d or 0) for d in durations], campaign.max_call_seconds),
    )
    policy = RetryPolicy.model_validate(campaign.retry_policy or {})
    contacts = sum(count for _, count in groups)
    outlook = retry_outlook(policy, outcomes, contacts)
    plan = [Group(group_label(calendar), count, calendar, now) for calendar, count in groups]
    return pace, outlook, estimate(plan, pace, outlook, now)


async def callable_groups(session: AsyncSession, campaign_id: str, now: datetime) -> list[Group]:
    """The campaign's open, callable contacts by calendar, released at ``now``."""
    campaign = await session.get(Campaign, campaign_id)
    if campaign is None:
        raise LookupError(f"campaign {campaign_id} not found")
    schedule = from_json(campaign.schedule)
    found = await _callable_groups(session, campaign_id, schedule, now, Preflight(campaign_id))
    return [Group(group_label(calendar), count, calendar, now) for calendar, count in found]


def group_label(calendar: ContactCalendar) -> str:
    """The zone a group is shown (and its local times read) in."""
    return (calendar.zones or calendar.number_zones or ("UTC",))[0]
