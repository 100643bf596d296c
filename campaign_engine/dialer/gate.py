"""The last check before a dial: may this contact be called right now?

Runs in the dial job after the contact is read and before any limit is taken. A contact
that must never be called (suppressed) is closed; one that may be called later (outside
its window, a blackout day, its daily cap reached) is handed back with the time it may be
tried again (:mod:`campaign_engine.campaigns.compliance` decides); one with no allowed
moment left is parked. Every refusal carries a reason the operator sees.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import update
from sqlalchemy.ext.asyncio import AsyncSession

from campaign_engine.campaigns.compliance import DEFAULT_DAILY_CAP, hold_for
from campaign_engine.campaigns.states import ContactState
from campaign_engine.contacts.suppression import suppression_for
from campaign_engine.db.models import Contact
from campaign_engine.dialer.attempts import DialTarget, waiting_state


@dataclass(frozen=True)
class Verdict:
    allowed: bool
    reason: str = ""
    # When refused: None means never (close the contact); else the moment to try again.
    retry_at: datetime | None = None

    @property
    def never(self) -> bool:
        return not self.allowed and self.retry_at is None


ALLOWED = Verdict(True)


async def check_before_dial(
    session: AsyncSession,
    target: DialTarget,
    now: datetime,
    *,
    daily_cap: int = DEFAULT_DAILY_CAP,
) -> Verdict:
    suppressed = await suppression_for(session, target.phone, target.campaign_id)
    if suppressed is not None:
        reason = f"suppressed ({suppressed.kind} {suppressed.pattern})"
        if suppressed.reason:
            reason += f": {suppressed.reason}"
        return Verdict(False, reason)
    hold = await hold_for(session, target.contact_id, target.phone, now, daily_cap=daily_cap)
    if hold is None:
        return ALLOWED
    if hold.until is None:
        # No allowed moment is left (no zone known, or past the schedule's end): park it,
        # waiting with no time, so it is never queued again until the schedule changes.
        await _park(session, target, hold.reason)
        return Verdict(False, hold.reason, retry_at=now)
    return Verdict(False, hold.reason, retry_at=hold.until)


async def _park(session: AsyncSession, target: DialTarget, reason: str) -> None:
    await session.execute(
        update(Contact)
        .where(Contact.id == target.contact_id, Contact.state == ContactState.QUEUED.value)
        .values(
            state=waiting_state(target.attempts_count),
            queued_at=None,
            next_attempt_at=None,
            last_error=reason,
        )
    )
