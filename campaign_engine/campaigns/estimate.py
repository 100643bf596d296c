"""When a campaign will be done, from what binds it — as plain functions of plain numbers.

Four things pace a campaign, and the slowest one binds:

- the rate limits every start passes (see ``limits/plan.py``): Vocobase's calls per minute,
  the provider's calls per second, the campaign's own pacing;
- the concurrency (partner, provider, campaign) divided by the expected call length —
  the mean of the campaign's own ended calls once there are :data:`LEARNED_AFTER` of them,
  the agent's maximum call length before;
- the calling windows of each contact's zone: starts are shared out over the groups whose
  windows are open (the one whose window closes first served first), so 500 US contacts
  waiting for their morning wait, and the pace is spent on whoever may be called;
- the retry policy: the outcome mix seen so far, run through the policy's own
  :func:`~campaign_engine.campaigns.retry_policy.decide`, gives the expected attempts per
  contact and the longest chain of retry delays one contact is likely to go through.

Nothing here reads a clock or a database: callers pass ``now`` (the injectable clock's)
and the counts. Post-call processing on Vocobase's side is not counted.
"""

from __future__ import annotations

import itertools
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta

from campaign_engine.campaigns.retry_outlook import RetryOutlook
from campaign_engine.campaigns.window_check import ContactCalendar
from campaign_engine.campaigns.windows import HORIZON_DAYS, Interval, allowed_intervals, zone
from campaign_engine.config import LimitSettings

LEARNED_AFTER = 5
# ``limits/plan.py``'s SAFETY_MARGIN: its per-second and per-minute windows are this wider.
_WIDENED = 1.01
_CHUNK = timedelta(days=31)


@dataclass(frozen=True)
class Pace:
    """Starts per second: the rate limits, and the concurrency limits with the call length."""

    rates: tuple[tuple[str, float], ...]
    concurrency: tuple[tuple[str, int], ...]
    call_seconds: float
    call_seconds_from: str

    @property
    def per_second(self) -> float:
        return min(speed for _, speed in self.candidates())

    def candidates(self) -> list[tuple[str, float]]:
        found = list(self.rates)
        if self.concurrency and self.call_seconds > 0:
            name, slots = min(self.concurrency, key=lambda item: item[1])
            found.append((name, slots / self.call_seconds))
        return found

    @property
    def binding(self) -> str:
        """``rate`` or ``concurrency``: which kind of limit sets the pace."""
        name, _ = min(self.candidates(), key=lambda item: item[1])
        return "concurrency" if any(name == n for n, _ in self.concurrency) else "rate"

    @property
    def batch(self) -> int:
        """Starts that go together: a wave of every slot when concurrency binds, else one."""
        if self.binding == "concurrency":
            return min(slots for _, slots in self.concurrency)
        return 1

    def tail_seconds(self, calls: float) -> float:
        """From the end of the last stretch of starts to the end of the last call: the last
        wave (or start) began ``batch / per_second`` before that end and lasts a call."""
        return max(self.call_seconds - min(self.batch, calls) / self.per_second, 0.0)

    def describe(self) -> str:
        name, _ = min(self.candidates(), key=lambda item: item[1])
        if self.binding == "concurrency":
            slots = dict(self.concurrency)[name]
            return f"limited by {name} {slots} and ~{_span(self.call_seconds)} calls"
        return f"limited by {name}"


def call_seconds(durations: Sequence[float], max_call_seconds: int) -> tuple[float, str]:
    """The expected call length, and where it comes from."""
    if len(durations) >= LEARNED_AFTER:
        return sum(durations) / len(durations), f"{len(durations)} ended calls"
    return float(max_call_seconds), "the agent's maximum call length"


def pace_of(
    limits: LimitSettings,
    *,
    provider: str,
    calls_per_minute: int | None,
    max_concurrent: int | None,
    partner_concurrency: int | None,
    length: tuple[float, str],
    polling_share: float = 0.0,
) -> Pace:
    """The limits a start must pass, as ``limits/plan.py``'s ``start_plan`` combines them.

    ``polling_share``: the part of Vocobase's ``/calls/*`` budget the reconciler takes
    while calls are in flight (``scheduler.reconcile_budget_share``); starts get the rest."""
    vocobase = limits.vocobase
    # The limiter spreads a window's allowance over the window widened by the arrival
    # jitter; the provider's and the campaign's windows by the safety margin.
    per_window = vocobase.calls_per_minute * vocobase.window_seconds / 60
    widened = vocobase.window_seconds + limits.rate_jitter_seconds
    starts = per_window / widened * (1 - polling_share)
    rates = [(f"Vocobase's {vocobase.calls_per_minute:g} calls/min", starts)]
    provider_limits = limits.providers.get(provider.lower())
    if provider_limits is not None:
        per_second = provider_limits.calls_per_second
        rates.append((f"{provider}'s {per_second:.3g} calls/s", per_second / _WIDENED))
    if calls_per_minute:
        rates.append(
            (
                f"the campaign's pacing of {calls_per_minute} calls/min",
                calls_per_minute / 60 / _WIDENED,
            )
        )
    provider_max = provider_limits.max_concurrent if provider_limits else None
    slots = [
        (name, value)
        for name, value in (
            ("concurrency", partner_concurrency),
            (f"{provider}'s concurrency", provider_max),
            ("the campaign's concurrency", max_concurrent),
        )
        if value
    ]
    return Pace(tuple(rates), tuple(slots), length[0], length[1])


@dataclass
class Group:
    """Contacts that share a calendar and become callable at the same moment."""

    label: str
    contacts: float
    calendar: ContactCalendar | None
    release_at: datetime
    # What the plan gave them: (start of a stretch, its end, starts in it).
    served: list[tuple[datetime, datetime, float]] = field(default_factory=list)

    @property
    def left(self) -> float:
        return self.contacts - sum(count for _, _, count in self.served)


def open_intervals(
    calendar: ContactCalendar | None, start: datetime, end: datetime
) -> list[Interval]:
    """The calendar's allowed moments in [start, end) (no calendar or schedule: all)."""
    schedule = calendar.schedule if calendar is not None else None
    if calendar is None or schedule is None:
        return [(start, end)] if start < end else []
    low = max(start, schedule.not_before or start)
    high = min(end, schedule.not_after or end)
    return allowed_intervals(calendar.rules(), low, high)


def plan_starts(
    groups: Sequence[Group], per_second: float, now: datetime, until: datetime
) -> datetime | None:
    """Share ``per_second`` starts out over the groups' open windows from ``now`` to
    ``until`` (filling each group's ``served``, a fluid of starts); the end of the last
    stretch of starts, or None when some are left at ``until``."""
    if per_second <= 0:
        return None
    last = now
    start = now
    while start < until and any(group.left > 1e-9 for group in groups):
        end = min(start + _CHUNK, until)
        last = _plan_chunk(groups, per_second, start, end) or last
        start = end
    return last if all(group.left <= 1e-9 for group in groups) else None


def _plan_chunk(
    groups: Sequence[Group], per_second: float, start: datetime, end: datetime
) -> datetime | None:
    opens = {
        id(group): open_intervals(group.calendar, max(start, group.release_at), end)
        for group in groups
        if group.left > 1e-9 and group.release_at < end
    }
    edges = sorted({edge for spans in opens.values() for span in spans for edge in span})
    last = None
    for low, high in itertools.pairwise(edges):
        active = []
        for group in groups:
            spans = opens.get(id(group), [])
            closing = next((b for a, b in spans if a <= low and high <= b), None)
            if closing is not None and group.left > 1e-9:
                active.append((closing, group))
        cursor = low
        for _, group in sorted(active, key=lambda item: item[0]):
            room = (high - cursor).total_seconds() * per_second
            if room <= 1e-9:
                break
            taken = min(room, group.left)
            stop = cursor + timedelta(seconds=taken / per_second)
            group.served.append((cursor, stop, taken))
            cursor = last = stop
    return last


@dataclass(frozen=True)
class Estimate:
    finish: datetime | None
    binding: str  # rate | concurrency | windows | retries | nothing left
    description: str
    calls: float
    starts_per_hour: float


def estimate(
    groups: Sequence[Group],
    pace: Pace,
    outlook: RetryOutlook,
    now: datetime,
    *,
    horizon_days: int = HORIZON_DAYS,
) -> Estimate:
    """The finish (the last call's end) and what binds it. ``groups`` hold contacts whose
    next call is a first or a retry alike; each counts for the expected attempts (the
    groups themselves are left as they are)."""
    per_second = pace.per_second
    work = [
        replace(group, contacts=group.contacts * outlook.attempts_per_contact, served=[])
        for group in groups
    ]
    calls = sum(group.contacts for group in work)
    retries = "" if outlook.known else "; retries not counted until calls end"
    if calls <= 0:
        return Estimate(now, "nothing left", "nothing left to call", 0.0, per_second * 3600)
    until = now + timedelta(days=horizon_days)
    last_start = plan_starts(work, per_second, now, until)
    if last_start is None:
        return Estimate(
            None, "windows", "not within the schedule's dates" + retries, calls, per_second * 3600
        )
    tail = timedelta(seconds=pace.tail_seconds(calls))
    finish = last_start + tail
    binding, words = pace.binding, pace.describe()
    unbound = now + timedelta(seconds=calls / per_second) + tail
    if (finish - unbound).total_seconds() > 0.1 * max((unbound - now).total_seconds(), 1):
        binding = "windows"
    if outlook.chain_seconds:
        first = [replace(group, served=[]) for group in groups]
        plan_starts(first, per_second, now, until)
        chained = _retry_finish(first, outlook.chain_seconds, pace.call_seconds)
        if chained is not None and chained > finish:
            finish, binding = chained, "retries"
            words += f"; retry delays of up to {_span(outlook.chain_seconds)} per contact"
    waits = _window_waits(work, now)
    if waits:
        words += "; " + "; ".join(waits)
    return Estimate(finish, binding, words + retries, calls, per_second * 3600)


def paced_finish(
    groups: Sequence[Group], per_second: float, now: datetime
) -> tuple[datetime | None, list[str]]:
    """At an observed pace (starts per second), when the last of ``groups`` starts given
    their windows, and which zones wait for their window to open (the groups are planned
    on copies)."""
    plan = [replace(group, served=[]) for group in groups]
    last = plan_starts(plan, per_second, now, now + timedelta(days=HORIZON_DAYS))
    return last, _window_waits(plan, now)


def _window_waits(groups: Sequence[Group], now: datetime) -> list[str]:
    """``America/New_York contacts start at 09:00 their time`` for groups that wait."""
    firsts: dict[str, datetime] = {}
    for group in groups:
        if group.served and group.served[0][0] > now + timedelta(minutes=1):
            first = group.served[0][0]
            if group.label not in firsts or first < firsts[group.label]:
                firsts[group.label] = first
    words = []
    for label, first in sorted(firsts.items(), key=lambda item: item[1]):
        local = first.astimezone(zone(label))
        day = "" if local.date() == now.astimezone(zone(label)).date() else f" {local:%a}"
        words.append(f"{label} contacts start at{day} {local:%H:%M} their time")
    return words


def _retry_finish(groups: Sequence[Group], chain: float, length: float) -> datetime | None:
    """When the longest likely retry chain of a contact first called last ends."""
    latest: datetime | None = None
    for group in groups:
        if not group.served:
            continue
        first_calls = group.served[-1][0]
        due = first_calls + timedelta(seconds=chain)
        calendar = group.calendar
        moment = due if calendar is None else calendar.next_allowed(due)
        if moment is not None and (latest is None or moment > latest):
            latest = moment
    return None if latest is None else latest + timedelta(seconds=length)


def _span(seconds: float) -> str:
    if seconds >= 5400:
        return f"{seconds / 3600:.0f} h"
    if seconds >= 90:
        return f"{seconds / 60:.0f} min"
    return f"{seconds:.0f} s"
