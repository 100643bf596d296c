"""The last check before a dial: may these contacts be called right now?

Runs in the dial job after its contacts are read and before any limit is taken, for the
whole batch at once (one suppression query per campaign, one query for the daily cap). A
contact that must never be called (suppressed) is closed; one that may be called later
(outside its window, a blackout day, its daily cap reached) is handed back with the moment
it may be tried again (:mod:`campaign_engine.campaigns.window_check` decides); one with no
allowed moment left is parked. Every refusal carries a reason the operator sees.
"""

from __future__ import annotations

from collections import Counter, defaultdict
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy.ext.asyncio import AsyncSession

from campaign_engine.campaigns.window_check import (
    DEFAULT_DAILY_CAP,
    Hold,
    calls_to_numbers,
    cap_bounds,
    cap_hold,
    window_hold,
)
from campaign_engine.contacts.suppression import describe, suppressed_among
from campaign_engine.dialer import attempts
from campaign_engine.dialer.targets import DialTarget
from campaign_engine.failure_kinds import FailureKind
from campaign_engine.states import ContactState

ALLOWED = "allowed"
SUPPRESSED = "suppressed"
NOT_NOW = "not-now"
PARKED = "parked"


@dataclass(frozen=True)
class Verdict:
    kind: str
    reason: str = ""
    # When held: the moment to try again.
    retry_at: datetime | None = None

    @property
    def allowed(self) -> bool:
        return self.kind == ALLOWED


def _from_hold(hold: Hold) -> Verdict:
    if hold.until is None:
        # No allowed moment is left (no zone known, or past the schedule's end).
        return Verdict(PARKED, hold.reason)
    return Verdict(NOT_NOW, hold.reason, hold.until)


async def check_before_dial(
    session: AsyncSession,
    targets: Sequence[DialTarget],
    now: datetime,
    *,
    daily_cap: int = DEFAULT_DAILY_CAP,
) -> list[Verdict]:
    """One verdict per target, in order (reads only)."""
    suppressed: dict[str, str] = {}
    phones_by_campaign: dict[str, list[str]] = defaultdict(list)
    for target in targets:
        phones_by_campaign[target.campaign_id].append(target.phone)
    for campaign_id, phones in phones_by_campaign.items():
        found = await suppressed_among(session, phones, campaign_id)
        suppressed.update(
            (phone, f"suppressed ({describe(entry)})") for phone, entry in found.items()
        )

    verdicts: dict[int, Verdict] = {}
    days = {}
    for target in targets:
        if target.phone in suppressed:
            verdicts[target.contact_id] = Verdict(SUPPRESSED, suppressed[target.phone])
        elif (hold := window_hold(target.calendar, now)) is not None:
            verdicts[target.contact_id] = _from_hold(hold)
        else:
            days[target.phone] = cap_bounds(target.calendar, now)
    used = await calls_to_numbers(session, days)
    for target in targets:
        if target.contact_id in verdicts:
            continue
        hold = cap_hold(target.calendar, target.phone, used[target.phone], daily_cap, now)
        verdicts[target.contact_id] = Verdict(ALLOWED) if hold is None else _from_hold(hold)
    return [verdicts[target.contact_id] for target in targets]


async def admit(
    session: AsyncSession,
    targets: Sequence[DialTarget],
    now: datetime,
    *,
    daily_cap: int = DEFAULT_DAILY_CAP,
) -> tuple[list[DialTarget], Counter[str]]:
    """The targets that may be dialed now; the others are closed, handed back or parked
    (one statement per kind, moment and reason: contacts of one zone share them).

    Returns the allowed targets and how many of the others went which way.
    """
    verdicts = await check_before_dial(session, targets, now, daily_cap=daily_cap)
    allowed = []
    refused: dict[Verdict, list[DialTarget]] = defaultdict(list)
    for target, verdict in zip(targets, verdicts, strict=True):
        if verdict.allowed:
            allowed.append(target)
        else:
            refused[verdict].append(target)
    tally: Counter[str] = Counter()
    for verdict, group in refused.items():
        tally[verdict.kind] += len(group)
        if verdict.kind == SUPPRESSED:
            await attempts.close_unattempted(
                session, group, ContactState.SUPPRESSED, verdict.reason
            )
        else:
            # Parked: waiting with no time, never queued again until the schedule changes.
            await attempts.hand_back(
                session,
                group,
                due_at=verdict.retry_at,
                parked=verdict.kind == PARKED,
                reason=verdict.reason,
                kind=FailureKind.PARKED if verdict.kind == PARKED else FailureKind.NOT_NOW,
            )
    return allowed, tally
