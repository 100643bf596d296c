"""The claim: the last checks of each number and the move to ``dialing``, in one transaction.

Before any start request is sent, the contacts of a wave are claimed: each number is held
(:mod:`number_checks`: an advisory lock per number on PostgreSQL, the single writer on
SQLite), the do-not-call list, the per-number daily cap across campaigns and "one call per
number at a time" are read again under that hold, and only then are the contacts moved to
``dialing`` and their attempts inserted. Contacts refused are recorded with their reason as
the gate records them (:func:`refuse`). A partial unique index (one open attempt per
number) is the backstop nothing can race: a row it refuses is given back in the same
transaction and the rest of the batch goes on.
"""

from collections import Counter, defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from sqlalchemy import (
    select,
    tuple_,
    update,
)
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncSession

from campaign_engine.campaigns.window_check import DEFAULT_DAILY_CAP
from campaign_engine.db.models import CallAttempt, Campaign, Contact, utcnow
from campaign_engine.dialer import number_checks
from campaign_engine.dialer.attempts import (
    _CLAIMABLE,
    _DIALING,
    _closed_unattempted,
    _handed_back,
    give_attempts_back,
    hand_back,
)
from campaign_engine.dialer.number_checks import Verdict
from campaign_engine.dialer.targets import DialTarget
from campaign_engine.failure_kinds import FailureKind
from campaign_engine.journal import state_log
from campaign_engine.journal.state_log import Change
from campaign_engine.states import (
    AttemptState,
    CampaignState,
    ContactState,
)

_HELD_KINDS = {
    number_checks.NOT_NOW: FailureKind.NOT_NOW,
    number_checks.PARKED: FailureKind.PARKED,
    number_checks.IN_CALL: FailureKind.NUMBER_IN_CALL,
}


async def refuse(
    session: AsyncSession, refused: Iterable[tuple[DialTarget, Verdict]]
) -> dict[int, str]:
    """Record why these queued contacts are not dialed now: the suppressed are closed, the
    others handed back until their verdict's moment (parked: with none). One statement per
    kind, moment and reason (contacts of one zone share them). Returns the kinds of those
    moved, by id: one no longer queued (another job claimed it) is left as it is."""
    groups: dict[Verdict, list[DialTarget]] = defaultdict(list)
    for target, verdict in refused:
        groups[verdict].append(target)
    moved: dict[int, str] = {}
    for verdict, group in groups.items():
        if verdict.kind == number_checks.SUPPRESSED:
            ids = await _closed_unattempted(session, group, ContactState.SUPPRESSED, verdict.reason)
        else:
            parked = verdict.kind == number_checks.PARKED
            next_at = None if parked else verdict.retry_at
            ids = await _handed_back(
                session, group, next_at, verdict.reason, _HELD_KINDS[verdict.kind]
            )
        moved.update(dict.fromkeys(ids, verdict.kind))
    return moved


@dataclass(frozen=True)
class Claim:
    """What a claim did: the attempts won, and the contacts it refused (and recorded)."""

    won: dict[int, int]  # contact id -> attempt id
    refused: dict[int, str] = field(default_factory=dict)  # contact id -> verdict kind

    def tally(self) -> Counter[str]:
        return Counter(self.refused.values())


async def claim(
    session: AsyncSession,
    targets: Sequence[DialTarget],
    *,
    margin_seconds: float,
    daily_cap: int = DEFAULT_DAILY_CAP,
    now: datetime | None = None,
) -> dict[int, int]:
    """:func:`claim_checked`'s attempts won: ``{contact_id: attempt_id}``."""
    checked = await claim_checked(
        session, targets, margin_seconds=margin_seconds, daily_cap=daily_cap, now=now
    )
    return checked.won


async def claim_checked(
    session: AsyncSession,
    targets: Sequence[DialTarget],
    *,
    margin_seconds: float,
    daily_cap: int = DEFAULT_DAILY_CAP,
    now: datetime | None = None,
) -> Claim:
    """Claim the next attempt of each target that its number allows, atomically with the
    last checks of that number.

    The numbers are held first (:func:`number_checks.hold_numbers`), then checked: on the
    do-not-call list → closed as suppressed; in a call (any campaign) → handed back a short
    while; daily cap reached across all campaigns → handed back to its next allowed moment.
    A target is lost when someone else claimed it, an operator closed it, its count moved
    on, or its campaign stopped running meanwhile (then every allowed one is handed back). The
    partial unique index ``uq_call_attempts_open_number`` backs the one-call-per-number rule
    up: an attempt it refuses is not inserted and its contact is given back in the same
    transaction, never the whole batch failed. Must be committed before any start request
    is sent: after a crash, the rows are what tell the reconciler that calls may have been
    placed.
    """
    if not targets:
        return Claim({})
    campaign_id = targets[0].campaign_id
    if any(target.campaign_id != campaign_id for target in targets):
        raise ValueError("one claim takes the contacts of one campaign")
    now = now or utcnow()
    await number_checks.hold_numbers(session, [target.phone for target in targets])
    verdicts = await number_checks.number_verdicts(session, targets, now, daily_cap=daily_cap)
    refused = await refuse(
        session,
        ((t, verdict) for t in targets if not (verdict := verdicts[t.contact_id]).allowed),
    )
    # A refused target that was not queued any more (another job claimed it) is lost.
    allowed = [target for target in targets if verdicts[target.contact_id].allowed]
    if not allowed:
        return Claim({}, refused)
    running = (
        select(Campaign.id)
        .where(Campaign.id == campaign_id, Campaign.state == CampaignState.RUNNING.value)
        .exists()
    )
    expected = [(target.contact_id, target.attempts_count) for target in allowed]
    claimed = set(
        (
            await session.scalars(
                update(Contact)
                .where(
                    tuple_(Contact.id, Contact.attempts_count).in_(expected),
                    Contact.state.in_(_CLAIMABLE),
                    running,
                )
                .values(
                    state=_DIALING,
                    attempts_count=Contact.attempts_count + 1,
                    queued_at=None,
                )
                .returning(Contact.id)
                .execution_options(synchronize_session=False)
            )
        ).all()
    )
    if not claimed:
        campaign_state = await session.scalar(
            select(Campaign.state).where(Campaign.id == campaign_id)
        )
        if campaign_state != CampaignState.RUNNING.value:
            await hand_back(
                session,
                allowed,
                reason=f"campaign {campaign_state}",
                kind=FailureKind.CAMPAIGN_NOT_RUNNING,
            )
        return Claim({}, refused)
    won = await _insert_attempts(
        session, [t for t in allowed if t.contact_id in claimed], now, margin_seconds
    )
    if collided := claimed - set(won):
        refused = await _give_back_collided(session, allowed, collided, now, refused)
    state_log.note(
        session,
        (
            Change("attempt", "dialing", campaign_id, contact, attempt)
            for contact, attempt in won.items()
        ),
    )
    return Claim(won, refused)


async def _insert_attempts(
    session: AsyncSession, claimed: Sequence[DialTarget], now: datetime, margin_seconds: float
) -> dict[int, int]:
    """Insert the claimed attempts, skipping any a unique index refuses (a number already in
    an open attempt): ``{contact_id: attempt_id}`` of those inserted."""
    dialect = session.get_bind().dialect.name
    statement = (postgresql.insert if dialect == "postgresql" else sqlite.insert)(CallAttempt)
    # An executemany (one compiled statement, cached) rather than a VALUES list of varying
    # length, which would be compiled anew for every batch.
    rows = await session.execute(
        statement.on_conflict_do_nothing().returning(CallAttempt.id, CallAttempt.contact_id),
        [
            {
                "contact_id": target.contact_id,
                "campaign_id": target.campaign_id,
                "attempt_number": target.next_attempt_number,
                "state": AttemptState.DIALING.value,
                "provider": target.provider,
                "to_number": target.phone,
                "claimed_at": now,
                "deadline_at": now + timedelta(seconds=target.max_call_seconds + margin_seconds),
                "updated_at": now,
            }
            for target in claimed
        ],
    )
    return {contact_id: attempt_id for attempt_id, contact_id in rows}


async def _give_back_collided(
    session: AsyncSession,
    targets: Sequence[DialTarget],
    collided: set[int],
    now: datetime,
    refused: dict[int, str],
) -> dict[int, str]:
    """Claimed contacts whose attempt the index refused: their number is in another open
    attempt. The claim's count is undone and they wait a short while, with that reason."""
    phones = sorted(t.phone for t in targets if t.contact_id in collided)
    await give_attempts_back(
        session,
        sorted(collided),
        error=f"number in another call claimed at the same moment ({', '.join(phones)})",
        delay_seconds=number_checks.IN_CALL_WAIT.total_seconds(),
        kind=FailureKind.NUMBER_IN_CALL,
        now=now,
    )
    return {**refused, **dict.fromkeys(collided, number_checks.IN_CALL)}
