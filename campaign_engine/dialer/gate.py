"""The last check before a dial: may this contact be called right now?

Runs in the dial job after the contact is read and before any limit is taken. A contact
that must never be called (suppressed) is closed; one that may be called later (outside
its window, a blackout day, its daily cap reached) is handed back with the time it may be
tried again. Every refusal carries a reason the operator sees.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy.ext.asyncio import AsyncSession

from campaign_engine.contacts.suppression import suppression_for
from campaign_engine.dialer.attempts import DialTarget


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


async def check_before_dial(session: AsyncSession, target: DialTarget, now: datetime) -> Verdict:
    suppressed = await suppression_for(session, target.phone, target.campaign_id)
    if suppressed is not None:
        reason = f"suppressed ({suppressed.kind} {suppressed.pattern})"
        if suppressed.reason:
            reason += f": {suppressed.reason}"
        return Verdict(False, reason)
    return ALLOWED
