"""``campaign forecast``: without dialing, who will be called when, and what holds the rest.

Per zone and per local day of that zone: how many of the campaign's waiting contacts get
their next call, from the first possible moment on, at the pace the limits allow (the
estimate's plan: :func:`campaign_engine.campaigns.estimate.plan_starts`, shared out over
the zones whose windows are open). Held or blocked, each contact counted once:

- ``suppressed``: on the do-not-call list (the claim would close it);
- ``no_timezone``: parked, no zone is known for the number;
- ``schedule_end``: the calling time left ends before its turn (the schedule's ``end``);
- ``outside_every_window``: no allowed moment at all (e.g. zones whose windows never meet);
- ``daily_cap`` (held, not blocked): its number had its calls for today (all campaigns),
  so it waits for its next local day;
- ``after_days``: callable, but the pace (or its window) does not reach it within the
  days shown — each zone's own local days, today first.

A day with no calling time at all says why (blackout date, not a calling day, the
schedule's dates). Everything is planned from ``now`` — the injectable clock's, so a
dry run can ask about any moment.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from datetime import date, datetime, time, timedelta
from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from campaign_engine.campaigns.estimate import Group, open_intervals, plan_starts
from campaign_engine.campaigns.preflight import (
    campaign_estimate,
    group_label,
    is_suppressed,
)
from campaign_engine.campaigns.schedule import from_json
from campaign_engine.campaigns.window_check import (
    DEFAULT_DAILY_CAP,
    ContactCalendar,
    blackout_days,
    calls_to_numbers,
    cap_bounds,
    cap_hold,
)
from campaign_engine.campaigns.windows import local_date, zone
from campaign_engine.config import LimitSettings
from campaign_engine.db.models import Campaign, Contact
from campaign_engine.states import CONTACT_ACTIVE, CONTACT_FINAL, CONTACT_WAITING

# Waiting contacts released within this much of each other are planned together.
_RELEASE_STEP = timedelta(minutes=15)
BLOCKED = ("suppressed", "no_timezone", "schedule_end", "outside_every_window")


@dataclass
class Waiting:
    """Contacts with one calendar, callable from one moment (plain data for the plan)."""

    calendar: ContactCalendar
    release_at: datetime
    count: int = 1


@dataclass
class ZoneDay:
    day: date
    calls: float = 0.0
    first_at: datetime | None = None
    last_at: datetime | None = None
    note: str | None = None

    def to_dict(self) -> dict[str, Any]:
        return {
            "date": self.day.isoformat(),
            "calls": round(self.calls),
            "first_at": self.first_at.isoformat() if self.first_at else None,
            "last_at": self.last_at.isoformat() if self.last_at else None,
            "note": self.note,
        }


@dataclass
class ZoneForecast:
    zone: str
    contacts: int = 0
    first_call_at: datetime | None = None
    days: list[ZoneDay] = field(default_factory=list)
    after_days: int = 0

    def to_dict(self) -> dict[str, Any]:
        first = self.first_call_at
        return {
            "zone": self.zone,
            "contacts": self.contacts,
            "first_call_at": first.isoformat() if first else None,
            "first_call_local": first.astimezone(zone(self.zone)).strftime("%Y-%m-%d %H:%M")
            if first
            else None,
            "days": [day.to_dict() for day in self.days],
            "after_days": self.after_days,
        }


@dataclass
class Forecast:
    campaign_id: str
    now: datetime
    days: int
    contacts: dict[str, int] = field(default_factory=dict)
    zones: list[ZoneForecast] = field(default_factory=list)
    blocked: dict[str, int] = field(default_factory=lambda: dict.fromkeys(BLOCKED, 0))
    held: dict[str, int] = field(default_factory=lambda: {"daily_cap": 0})
    estimate: dict[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return {
            "campaign_id": self.campaign_id,
            "now": self.now.isoformat(),
            "days": self.days,
            "contacts": self.contacts,
            "zones": [zone_forecast.to_dict() for zone_forecast in self.zones],
            "blocked": self.blocked,
            "held": self.held,
            "estimate": self.estimate,
        }


def blocked_reason(calendar: ContactCalendar, release_at: datetime) -> str | None:
    """Why a waiting contact has no next call at all (None: it has one)."""
    schedule = calendar.schedule
    if schedule is None:
        return None
    if not calendar.zones:
        return "no_timezone"
    if calendar.next_allowed(release_at) is not None:
        return None
    endless = replace(calendar, schedule=replace(schedule, end=None))
    return (
        "schedule_end" if endless.next_allowed(release_at) is not None else "outside_every_window"
    )


def plan_days(
    waiting: Sequence[Waiting], per_second: float, now: datetime, days: int
) -> tuple[list[ZoneForecast], dict[str, int]]:
    """The per-zone, per-day plan of ``waiting`` (plain: no clock, no I/O), and the counts
    of those blocked by their calendar."""
    blocked: dict[str, int] = defaultdict(int)
    plan: list[Group] = []
    for entry in waiting:
        release = max(entry.release_at, now)
        reason = blocked_reason(entry.calendar, release)
        if reason is not None:
            blocked[reason] += entry.count
            continue
        plan.append(Group(group_label(entry.calendar), entry.count, entry.calendar, release))
    # A day more than asked: the far zones' last local day ends up to a day after now's.
    plan_starts(plan, per_second, now, now + timedelta(days=days + 1))
    zones: dict[str, ZoneForecast] = {}
    for group in plan:
        found = zones.setdefault(group.label, ZoneForecast(group.label))
        found.contacts += round(group.contacts)
    for label, found in zones.items():
        members = [group for group in plan if group.label == label]
        found.days, later = _days(members, label, now, days)
        found.after_days = round(later + sum(group.left for group in members))
        starts = [day.first_at for day in found.days if day.first_at is not None]
        found.first_call_at = min(starts, default=None)

    def by_first_call(item: ZoneForecast) -> tuple[bool, datetime, str]:
        return (item.first_call_at is None, item.first_call_at or now, item.zone)

    return sorted(zones.values(), key=by_first_call), dict(blocked)


def _days(
    groups: Sequence[Group], label: str, now: datetime, count: int
) -> tuple[list[ZoneDay], float]:
    """The zone's ``count`` local days from today: starts in each, and the starts planned
    after the last of them."""
    tz = zone(label)
    first = local_date(label, now)
    days = {first + timedelta(days=n): ZoneDay(first + timedelta(days=n)) for n in range(count)}
    later = 0.0
    for group in groups:
        for opens, closes, served in group.served:
            for piece_start, piece_end, share in _split_at_midnights(opens, closes, served, label):
                day = days.get(piece_start.astimezone(tz).date())
                if day is None:
                    later += share
                    continue
                day.calls += share
                day.first_at = min(day.first_at or piece_start, piece_start)
                day.last_at = max(day.last_at or piece_end, piece_end)
    calendar = groups[0].calendar if groups else None
    for day in days.values():
        begins = max(datetime.combine(day.day, time(), tz), now)
        ends = datetime.combine(day.day + timedelta(days=1), time(), tz)
        if calendar is not None and begins < ends and not open_intervals(calendar, begins, ends):
            noon = datetime.combine(day.day, time(12), tz)
            day.note = calendar.why_not(max(noon, begins))
    return list(days.values()), later


def _split_at_midnights(
    opens: datetime, closes: datetime, count: float, label: str
) -> list[tuple[datetime, datetime, float]]:
    """A stretch of starts cut at the zone's local midnights, its starts shared by time."""
    tz = zone(label)
    length = (closes - opens).total_seconds()
    pieces = []
    cursor = opens
    while cursor < closes:
        midnight = datetime.combine(cursor.astimezone(tz).date() + timedelta(days=1), time(), tz)
        stop = min(closes, midnight)
        share = count * (stop - cursor).total_seconds() / length if length else count
        pieces.append((cursor, stop, share))
        cursor = stop
    return pieces or [(opens, closes, count)]


async def forecast(
    session: AsyncSession,
    campaign_id: str,
    limits: LimitSettings,
    now: datetime,
    *,
    days: int = 7,
    partner_concurrency: int | None = None,
    polling_share: float = 0.0,
    daily_cap: int = DEFAULT_DAILY_CAP,
) -> Forecast:
    if days < 1:
        raise ValueError(f"--days must be 1 or more, got {days}")
    campaign = await session.get(Campaign, campaign_id)
    if campaign is None:
        raise LookupError(f"campaign {campaign_id} not found")
    schedule = from_json(campaign.schedule)
    report = Forecast(campaign_id, now, days)
    rows = (
        await session.execute(
            select(
                Contact.state,
                Contact.phone_e164,
                Contact.timezones,
                Contact.next_attempt_at,
                is_suppressed(campaign_id).label("suppressed"),
            ).where(Contact.campaign_id == campaign_id)
        )
    ).all()
    waiting_states = {state.value for state in CONTACT_WAITING}
    report.contacts = {
        "total": len(rows),
        "final": sum(row.state in {s.value for s in CONTACT_FINAL} for row in rows),
        "in_flight": sum(row.state in {s.value for s in CONTACT_ACTIVE} for row in rows),
        "waiting": sum(row.state in waiting_states for row in rows),
    }
    blackouts = await blackout_days(session, campaign_id)
    waiting = []
    for row in rows:
        if row.state not in waiting_states:
            continue
        if row.suppressed:
            report.blocked["suppressed"] += 1
            continue
        calendar = ContactCalendar(schedule, tuple(row.timezones or ()), blackouts)
        waiting.append((row.phone_e164, calendar, row.next_attempt_at or now))
    plain = await _held_by_caps(session, waiting, now, daily_cap, report)
    pace, _, found = await campaign_estimate(
        session,
        campaign,
        limits,
        _callable(plain),
        now,
        partner_concurrency=partner_concurrency,
        polling_share=polling_share,
    )
    report.zones, blocked = plan_days(plain, pace.per_second, now, days)
    for reason, count in blocked.items():
        report.blocked[reason] += count
    report.estimate = {
        "finish": found.finish.isoformat() if found.finish else None,
        "binding": found.binding,
        "description": found.description,
        "calls_per_hour": round(found.starts_per_hour, 1),
    }
    return report


async def _held_by_caps(
    session: AsyncSession,
    waiting: list[tuple[str, ContactCalendar, datetime]],
    now: datetime,
    daily_cap: int,
    report: Forecast,
) -> list[Waiting]:
    """Contacts whose number had its calls today wait for the number's next local day;
    those alike (one calendar, released within ``_RELEASE_STEP``) gathered as one."""
    days = {phone: cap_bounds(calendar, now) for phone, calendar, _ in waiting}
    used = await calls_to_numbers(session, days)
    gathered: dict[tuple[ContactCalendar, datetime], Waiting] = {}
    for phone, calendar, due_at in waiting:
        release_at = max(due_at, now)
        hold = cap_hold(calendar, phone, used.get(phone, 0), daily_cap, now)
        if hold is not None and hold.until is not None:
            report.held["daily_cap"] += 1
            release_at = max(release_at, hold.until)
        key = (calendar, now + (release_at - now) // _RELEASE_STEP * _RELEASE_STEP)
        if key in gathered:
            gathered[key].count += 1
            gathered[key].release_at = max(gathered[key].release_at, release_at)
        else:
            gathered[key] = Waiting(calendar, release_at)
    return list(gathered.values())


def _callable(waiting: Sequence[Waiting]) -> list[tuple[ContactCalendar, int]]:
    counts: dict[ContactCalendar, int] = defaultdict(int)
    for entry in waiting:
        if blocked_reason(entry.calendar, entry.release_at) is None:
            counts[entry.calendar] += entry.count
    return list(counts.items())
