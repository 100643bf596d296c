"""The first check before a dial: may these contacts be called right now?

Runs in the dial job after its contacts are read and before any limit is taken, for the
whole batch at once (one suppression query per campaign, one query for the daily cap and
the numbers in a call). A pre-filter that spares limit slots: the claim checks the number
again where it counts (:mod:`number_checks`), since up to a job's wait passes in between. A
contact that must never be called (suppressed) is closed; one that may be called later
(outside its window, a blackout day, its daily cap reached) is handed back with the moment
it may be tried again (:mod:`campaign_engine.campaigns.window_check` decides); one with no
allowed moment left is parked. Every refusal carries a reason the operator sees.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from datetime import datetime

from sqlalchemy.ext.asyncio import AsyncSession

from campaign_engine.campaigns.window_check import DEFAULT_DAILY_CAP, window_hold
from campaign_engine.dialer import claim
from campaign_engine.dialer.number_checks import (
    ALLOWED,
    IN_CALL,
    NOT_NOW,
    PARKED,
    SUPPRESSED,
    Verdict,
    from_hold,
    number_verdicts,
)
from campaign_engine.dialer.targets import DialTarget

__all__ = [
    "ALLOWED",
    "IN_CALL",
    "NOT_NOW",
    "PARKED",
    "SUPPRESSED",
    "Verdict",
    "admit",
    "check_before_dial",
]


async def check_before_dial(
    session: AsyncSession,
    targets: Sequence[DialTarget],
    now: datetime,
    *,
    daily_cap: int = DEFAULT_DAILY_CAP,
) -> list[Verdict]:
    """One verdict per target, in order (reads only): suppressed first, then the calling
    window, then the number's own verdict (in a call, daily cap)."""
    numbers = await number_verdicts(session, targets, now, daily_cap=daily_cap)
    verdicts = []
    for target in targets:
        verdict = numbers[target.contact_id]
        if verdict.kind != SUPPRESSED and (hold := window_hold(target.calendar, now)):
            verdict = from_hold(hold)
        verdicts.append(verdict)
    return verdicts


async def admit(
    session: AsyncSession,
    targets: Sequence[DialTarget],
    now: datetime,
    *,
    daily_cap: int = DEFAULT_DAILY_CAP,
) -> tuple[list[DialTarget], Counter[str]]:
    """The targets that may be dialed now; the others are closed, handed back or parked
    (:func:`claim.refuse`). Returns the allowed targets and how many of the others went
    which way."""
    verdicts = await check_before_dial(session, targets, now, daily_cap=daily_cap)
    allowed = [t for t, verdict in zip(targets, verdicts, strict=True) if verdict.allowed]
    refused = await claim.refuse(
        session,
        ((t, verdict) for t, verdict in zip(targets, verdicts, strict=True) if not verdict.allowed),
    )
    return allowed, Counter(refused.values())
