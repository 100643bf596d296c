"""May this contact be called at this moment, and if not, when? Asked at every dial and retry.

What decides (see :mod:`campaign_engine.campaigns.schedule`): the campaign's windows on the
callee's clock (every zone of the number) or on its pinned zone's — and then its preset's
hours on the callee's clock too, which a pinned zone never widens —, its days, start and
end, blackout dates (the campaign's and the global ones in ``blackout_dates``), and a cap
on calls per number per day across *all* campaigns. The cap's day is the number's own
local day (its first zone).

A moment is either allowed, or refused with the next allowed moment — or with none (no
zone is known for the number, or no window is left before the schedule's end): such a
contact is *parked*, waiting with no ``next_attempt_at``, until the schedule changes.
"""

from __future__ import annotations

from collections.abc import Collection
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta

from sqlalchemy import ColumnElement, String, any_, bindparam, func, or_, select
from sqlalchemy.dialects.postgresql import ARRAY
from sqlalchemy.ext.asyncio import AsyncSession

from campaign_engine.campaigns.presets import format_minute
from campaign_engine.campaigns.schedule import Schedule, from_json
from campaign_engine.campaigns.schedule_values import WEEKDAYS
from campaign_engine.campaigns.windows import DAY_MINUTES, LocalRule, next_allowed, zone
from campaign_engine.db.models import BlackoutDate, CallAttempt, Campaign, Contact
from campaign_engine.states import ATTEMPT_OPEN, AttemptState, state_values

DEFAULT_DAILY_CAP = 3
# Attempts that certainly never rang anyone do not count towards the daily cap.
_NOT_CALLS = (AttemptState.NOT_SENT.value, AttemptState.LOST.value)
_OPEN = state_values(ATTEMPT_OPEN)


@dataclass(frozen=True)
class Hold:
    """Not now: why, and the next allowed moment (None: parked, no moment is left)."""

    reason: str
    until: datetime | None


@dataclass(frozen=True)
class ContactCalendar:
    """Everything that decides one contact's allowed moments (plain data)."""

    schedule: Schedule | None
    number_zones: tuple[str, ...]
    blackouts: frozenset[date] = frozenset()

    @property
    def zones(self) -> tuple[str, ...]:
        return self.schedule.zones_for(self.number_zones) if self.schedule else ()

    def rules(self) -> list[LocalRule]:
        assert self.schedule is not None
        return self.schedule.rules_for(self.zones, self.blackouts, self.number_zones)

    def next_allowed(self, after: datetime) -> datetime | None:
        """The first allowed moment at or after ``after`` (no schedule: ``after`` itself)."""
        if self.schedule is None:
            return after
        if not self.zones:
            return None
        return next_allowed(
            self.rules(),
            after,
            not_before=self.schedule.not_before,
            not_after=self.schedule.not_after,
        )

    def why_not(self, at: datetime) -> str:
        """An operator's explanation of why ``at`` is not an allowed moment."""
        schedule = self.schedule
        if schedule is None:
            return "allowed"
        if not self.zones:
            return "no time zone is known for the number (set fallback_timezone)"
        if schedule.not_before is not None and at < schedule.not_before:
            return "before the schedule's start"
        if schedule.not_after is not None and at >= schedule.not_after:
            return "after the schedule's end"
        for index, rule in enumerate(self.rules()):
            preset = schedule.preset if index >= len(self.zones) else None
            reason = _rule_refuses(rule, at, preset)
            if reason:
                return reason
        return "outside the calling window"

    def cap_zone(self) -> str:
        """The zone whose day the per-number cap counts (the number's own first zone)."""
        return (self.number_zones or self.zones or ("UTC",))[0]


def _rule_refuses(rule: LocalRule, at: datetime, preset: str | None) -> str:
    """Why ``rule`` refuses ``at`` ("" when it allows it); ``preset`` names a preset's rule."""
    local = at.astimezone(zone(rule.zone))
    day = local.date()
    if day in rule.blackouts:
        return f"blackout date {day.isoformat()} ({rule.zone})"
    if not rule.allows_day(day):
        return f"outside the schedule's dates ({rule.zone})"
    minute = local.hour * 60 + local.minute
    for start, end in rule.windows:
        if start <= minute < end and day.weekday() in rule.weekdays:
            return ""
        yesterday = (day - timedelta(days=1)).weekday()
        if start <= minute + DAY_MINUTES < end and yesterday in rule.weekdays:
            return ""
    clock = f"{format_minute(minute)} {rule.zone}"
    if preset is not None:
        return f"outside the {preset} hours at {clock}"
    if day.weekday() not in rule.weekdays:
        return f"{WEEKDAYS[day.weekday()]} is not a calling day ({rule.zone})"
    return f"outside the calling window at {clock}"


def local_day_bounds(zone_name: str, at: datetime) -> tuple[datetime, datetime]:
    """The UTC instants where ``at``'s local day begins and the next begins."""
    tz = zone(zone_name)
    day = at.astimezone(tz).date()
    begins = datetime.combine(day, time(), tz).astimezone(UTC)
    following = datetime.combine(day + timedelta(days=1), time(), tz).astimezone(UTC)
    return begins, following


async def blackout_days(session: AsyncSession, campaign_id: str | None) -> frozenset[date]:
    """Blackout dates that apply to the campaign: its own and the global ones."""
    scope: ColumnElement[bool] = BlackoutDate.campaign_id.is_(None)
    if campaign_id is not None:
        scope = or_(scope, BlackoutDate.campaign_id == campaign_id)
    return frozenset((await session.scalars(select(BlackoutDate.day).where(scope))).all())


async def calls_to_number(
    session: AsyncSession, phone: str, since: datetime, until: datetime
) -> int:
    """Attempts to ``phone`` in [since, until), every campaign (``ix_call_attempts_number_day``)."""
    return int(
        await session.scalar(
            select(func.count())
            .select_from(CallAttempt)
            .where(
                CallAttempt.to_number == phone,
                CallAttempt.claimed_at >= since,
                CallAttempt.claimed_at < until,
                CallAttempt.state.not_in(_NOT_CALLS),
            )
        )
        or 0
    )


async def calls_to_numbers(
    session: AsyncSession, days: dict[str, tuple[datetime, datetime]]
) -> dict[str, int]:
    """``calls_to_number`` for many numbers at once, each over its own local day."""
    return (await number_usage(session, days)).calls


@dataclass(frozen=True)
class NumberUsage:
    """What the attempts of every campaign say about some numbers."""

    # Calls to each number in its cap day.
    calls: dict[str, int]
    # For each number with an open attempt (a call claimed, live or awaiting its outcome):
    # that attempt's campaign. One number is in one call at a time.
    in_call: dict[str, str]


async def number_usage(
    session: AsyncSession, days: dict[str, tuple[datetime, datetime]]
) -> NumberUsage:
    """Calls to each number over its own local day (``days``: number -> its cap day) and
    the open attempts of these numbers, whenever claimed: one query, every campaign."""
    if not days:
        return NumberUsage({}, {})
    since = min(begins for begins, _ in days.values())
    rows = await session.execute(
        select(
            CallAttempt.to_number,
            CallAttempt.claimed_at,
            CallAttempt.state,
            CallAttempt.campaign_id,
        ).where(
            _number_in(list(days), session.get_bind().dialect.name),
            CallAttempt.state.not_in(_NOT_CALLS),
            or_(CallAttempt.claimed_at >= since, CallAttempt.state.in_(_OPEN)),
        )
    )
    used = dict.fromkeys(days, 0)
    in_call: dict[str, str] = {}
    for phone, claimed_at, state, campaign_id in rows:
        begins, ends = days[phone]
        if begins <= claimed_at < ends:
            used[phone] += 1
        if state in _OPEN:
            in_call[phone] = campaign_id
    return NumberUsage(used, in_call)


def _number_in(numbers: list[str], dialect: str) -> ColumnElement[bool]:
    """``to_number`` is one of ``numbers``: on PostgreSQL one array parameter, so the
    statement is the same (prepared once) whatever the batch's size."""
    if dialect == "postgresql":
        return CallAttempt.to_number == any_(bindparam("numbers", numbers, ARRAY(String)))
    return CallAttempt.to_number.in_(numbers)


async def calendar_of(session: AsyncSession, contact_id: int) -> ContactCalendar | None:
    """The contact's calendar, read from its campaign, its number and the blackout table."""
    return (await calendars_of(session, [contact_id])).get(contact_id)


async def calendars_of(
    session: AsyncSession, contact_ids: Collection[int]
) -> dict[int, ContactCalendar]:
    """Several contacts' calendars in one read (plus one per scheduled campaign, for its
    blackout dates); contacts that do not exist are left out."""
    if not contact_ids:
        return {}
    rows = (
        await session.execute(
            select(Contact.id, Contact.timezones, Contact.campaign_id, Campaign.schedule)
            .join(Campaign, Campaign.id == Contact.campaign_id)
            .where(Contact.id.in_(contact_ids))
        )
    ).all()
    schedules: dict[str, Schedule | None] = {}
    for row in rows:
        if row.campaign_id not in schedules:
            schedules[row.campaign_id] = from_json(row.schedule)
    blackouts = {
        campaign_id: await blackout_days(session, campaign_id)
        for campaign_id, schedule in schedules.items()
        if schedule is not None
    }
    return {
        row.id: ContactCalendar(
            schedules[row.campaign_id],
            tuple(row.timezones or ()),
            blackouts.get(row.campaign_id, frozenset()),
        )
        for row in rows
    }


def window_hold(calendar: ContactCalendar, now: datetime) -> Hold | None:
    """Why ``now`` is outside the contact's windows, days and dates, and until when."""
    allowed_at = calendar.next_allowed(now)
    if allowed_at == now:
        return None
    return Hold(calendar.why_not(now), allowed_at)


def cap_bounds(calendar: ContactCalendar, now: datetime) -> tuple[datetime, datetime]:
    """The local day (as UTC instants) the per-number cap counts calls in."""
    return local_day_bounds(calendar.cap_zone(), now)


def cap_hold(
    calendar: ContactCalendar, phone: str, used: int, daily_cap: int, now: datetime
) -> Hold | None:
    """Held until the number's next local day when it has had ``daily_cap`` calls today."""
    if used < daily_cap:
        return None
    _, tomorrow = cap_bounds(calendar, now)
    return Hold(
        f"daily cap reached: {used} calls to {phone} today, at most {daily_cap}",
        calendar.next_allowed(tomorrow),
    )


async def hold_for(
    session: AsyncSession,
    contact_id: int,
    phone: str,
    now: datetime,
    *,
    daily_cap: int = DEFAULT_DAILY_CAP,
) -> Hold | None:
    """None when the contact may be called at ``now``; else why not and until when."""
    calendar = await calendar_of(session, contact_id)
    if calendar is None:
        return None
    hold = window_hold(calendar, now)
    if hold is not None:
        return hold
    used = await calls_to_number(session, phone, *cap_bounds(calendar, now))
    return cap_hold(calendar, phone, used, daily_cap, now)
