"""What the number itself allows: the do-not-call list, the daily cap across all campaigns,
and one call per number at a time. Asked early by the gate (a cheap pre-filter that spares a
limit slot) and again by the claim, in its own transaction, where the answer counts.

Between the gate and the claim up to a job's wait passes (~30 s): a number may be suppressed,
or dialed by another campaign, meanwhile. So the claim first holds its numbers
(:func:`hold_numbers`): from then until it commits, no other claim of these numbers can
commit, and what it reads about them is what it writes against. A suppression committed
after the claim read the list is after the claim (the call stands; the number is never
called again).
"""

from __future__ import annotations

import hashlib
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import BigInteger, bindparam, text
from sqlalchemy.dialects.postgresql import ARRAY
from sqlalchemy.ext.asyncio import AsyncSession

from campaign_engine.campaigns.window_check import (
    DEFAULT_DAILY_CAP,
    Hold,
    cap_bounds,
    cap_hold,
    number_usage,
)
from campaign_engine.contacts.suppression import describe, suppressed_among
from campaign_engine.dialer.targets import DialTarget

ALLOWED = "allowed"
SUPPRESSED = "suppressed"
NOT_NOW = "not-now"
PARKED = "parked"
IN_CALL = "number-in-call"
# How long a contact whose number is in another call waits before it is tried again: about
# a short call; the claim then checks again.
IN_CALL_WAIT = timedelta(seconds=60)


@dataclass(frozen=True)
class Verdict:
    kind: str
    reason: str = ""
    # When held: the moment to try again.
    retry_at: datetime | None = None

    @property
    def allowed(self) -> bool:
        return self.kind == ALLOWED


def from_hold(hold: Hold) -> Verdict:
    if hold.until is None:
        # No allowed moment is left (no zone known, or past the schedule's end).
        return Verdict(PARKED, hold.reason)
    return Verdict(NOT_NOW, hold.reason, hold.until)


def in_call(phone: str, campaign_id: str, own_campaign: str, now: datetime) -> Verdict:
    """Held a short while: ``phone`` is in a call claimed by ``campaign_id``."""
    whose = "this campaign" if campaign_id == own_campaign else f"campaign {campaign_id}"
    reason = f"number {phone} is in a call of {whose}; one call per number at a time"
    return Verdict(IN_CALL, reason, now + IN_CALL_WAIT)


async def number_verdicts(
    session: AsyncSession,
    targets: Sequence[DialTarget],
    now: datetime,
    *,
    daily_cap: int = DEFAULT_DAILY_CAP,
) -> dict[int, Verdict]:
    """Each target's verdict by contact id: suppressed first, then a number in a call, then
    the daily cap (reads only: one suppression lookup per campaign, one attempts query)."""
    suppressed: dict[str, dict[str, str]] = {}
    phones_by_campaign: dict[str, list[str]] = defaultdict(list)
    for target in targets:
        phones_by_campaign[target.campaign_id].append(target.phone)
    for campaign_id, phones in phones_by_campaign.items():
        found = await suppressed_among(session, phones, campaign_id)
        suppressed[campaign_id] = {
            phone: f"suppressed ({describe(entry)})" for phone, entry in found.items()
        }
    usage = await number_usage(
        session, {target.phone: cap_bounds(target.calendar, now) for target in targets}
    )
    verdicts: dict[int, Verdict] = {}
    for target in targets:
        reason = suppressed[target.campaign_id].get(target.phone)
        busy_with = usage.in_call.get(target.phone)
        if reason is not None:
            verdicts[target.contact_id] = Verdict(SUPPRESSED, reason)
        elif busy_with is not None:
            verdicts[target.contact_id] = in_call(target.phone, busy_with, target.campaign_id, now)
        else:
            used = usage.calls[target.phone]
            hold = cap_hold(target.calendar, target.phone, used, daily_cap, now)
            verdicts[target.contact_id] = Verdict(ALLOWED) if hold is None else from_hold(hold)
    return verdicts


def _lock_key(phone: str) -> int:
    """A number's advisory lock key (a signed 64-bit hash: a collision only makes two
    numbers' claims wait for each other)."""
    digest = hashlib.blake2b(phone.encode(), digest_size=8, person=b"ce-number").digest()
    return int.from_bytes(digest, "big", signed=True)


_PG_HOLD = text("SELECT pg_advisory_xact_lock(k) FROM unnest(:keys) AS u(k)").bindparams(
    bindparam("keys", type_=ARRAY(BigInteger()))
)
# SQLite has one writer at a time: a write as the transaction's first statement (this one
# matches no row) makes it that writer until it commits.
_SQLITE_HOLD = text("UPDATE call_attempts SET id = id WHERE id = -1")


async def hold_numbers(session: AsyncSession, phones: Sequence[str]) -> None:
    """Until this transaction ends, no other claim of ``phones`` commits (and it waits for
    those under way): one statement, made before the claim reads anything about them.

    PostgreSQL: a transaction advisory lock per number, taken in one order (no deadlock
    between two claims); READ COMMITTED gives every later statement a fresh snapshot, so
    reads after the locks see every claim that committed before. SQLite: the write lock.
    """
    if session.get_bind().dialect.name == "postgresql":
        keys = sorted({_lock_key(phone) for phone in phones})
        await session.execute(_PG_HOLD, {"keys": keys})
    else:
        await session.execute(_SQLITE_HOLD)
