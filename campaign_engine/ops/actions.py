"""Operator actions on contacts, each written to the audit log in the same transaction.

Only waiting or given-up contacts are touched: a contact in a call (queued jobs aside) is
the dialer's until its outcome is recorded, so acting on it could dial someone twice.
A contact called again here ("call now") is marked for the lane the scheduler serves ahead
of every backlog, within the limits and the callee's window; the answer says when.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from typing import Any

from sqlalchemy import and_, or_, select
from sqlalchemy.ext.asyncio import AsyncSession

from campaign_engine.campaigns.schedule import from_json
from campaign_engine.campaigns.window_check import ContactCalendar, blackout_days, window_hold
from campaign_engine.contacts.agent_contract import edit_problems, edit_refusal
from campaign_engine.contacts.suppression import NUMBER
from campaign_engine.contacts.suppression_list import add_entries
from campaign_engine.db.models import Campaign, Contact, utcnow
from campaign_engine.journal import state_log
from campaign_engine.journal.audit import record
from campaign_engine.journal.state_log import Change
from campaign_engine.ops.call_now import CallNow
from campaign_engine.ops.retry_reasons import REASONS, reason_of, waiting_for_retry
from campaign_engine.outcomes.closing import close_without_call
from campaign_engine.states import (
    CAMPAIGN_TERMINAL,
    CONTACT_WAITING,
    CampaignState,
    ContactState,
    contact_guard,
)

SKIPPED = "skipped by operator"
# What a bulk requeue takes: a retry reason, or a given-up state.
REQUEUE_REASONS = tuple(
    dict.fromkeys((*REASONS, ContactState.FAILED.value, ContactState.EXHAUSTED.value))
)
SUPPRESSED = "suppressed by operator"
GIVEN_UP = (ContactState.EXHAUSTED.value, ContactState.FAILED.value)
WAITING = tuple(state.value for state in CONTACT_WAITING)
# Contacts a skip or suppression may close: not yet in a call (a queued job finds its
# contact no longer queued and does nothing).
CLOSABLE = (*WAITING, ContactState.QUEUED.value)
# Contacts an attempt was claimed for: the call goes ahead whatever an operator does now.
IN_CALL = (ContactState.DIALING.value, ContactState.CALLING.value)
# Ids listed in a bulk action's audit entry at most (the count is always exact).
AUDIT_ID_LIMIT = 200


# A contact's calendar in its campaign (the campaign's schedule and blackouts, read once).
CalendarOf = Callable[[Contact], ContactCalendar]


class ActionError(ValueError):
    """The action cannot be done on this contact or campaign; the message says why.

    A ``ValueError`` so that the CLI shows it as one line, like every refused request.
    """


class VariablesRefused(ActionError):
    """An edit of a contact's variables that breaks the agent's contract: a bad value
    (422 over HTTP), not a refusal of the contact's state. Names what is wrong."""

    def __init__(self, message: str, *, undeclared: list[str], removed: list[str]) -> None:
        super().__init__(message)
        self.undeclared, self.removed = undeclared, removed


def _log_contact(session: AsyncSession, contact: Contact, why: str) -> None:
    """Log the contact's move to the state it is now in."""
    change = Change("contact", contact.state, contact.campaign_id, contact.id, None, why)
    state_log.note(session, [change])


async def _close(
    session: AsyncSession, contact: Contact, state: ContactState, reason: str, detail: str
) -> bool:
    """Close this closable contact without a call if it is still in the state it was read
    in, then reload it; whether it was closed. A claim may have taken it since the read
    (SQLite locks nothing on a read): then the claim won, and the contact shows it."""
    closed = await close_without_call(
        session,
        Contact.id == contact.id,
        from_states=[ContactState(contact.state)],
        state=state,
        reason=reason,
        detail=detail,
    )
    await session.refresh(contact)
    return bool(closed)


def _not_closable(contact: Contact, action: str) -> ActionError:
    """Why an operator's skip cannot close this contact (it moved on, or is final)."""
    if contact.state in IN_CALL:
        return ActionError(
            f"contact {contact.id} is being dialed ({contact.state}); only a waiting one is "
            f"{action}: the call goes ahead (suppress its number to stop any further call)"
        )
    return ActionError(f"contact {contact.id} is {contact.state}; only a waiting one is {action}")


async def _contact(session: AsyncSession, contact_id: int) -> Contact:
    contact = await session.get(Contact, contact_id, with_for_update=True)
    if contact is None:
        raise LookupError(f"contact {contact_id} not found")
    return contact


async def _dialable_campaign(session: AsyncSession, campaign_id: str) -> Campaign:
    campaign = await session.get(Campaign, campaign_id)
    if campaign is None:
        raise LookupError(f"campaign {campaign_id} not found")
    if CampaignState(campaign.state) in CAMPAIGN_TERMINAL:
        raise ActionError(
            f"campaign {campaign_id} is {campaign.state}; its contacts are no longer called"
        )
    return campaign


async def _calendar(session: AsyncSession, campaign: Campaign) -> CalendarOf:
    """How to build a contact's calendar in this campaign (its blackouts read once)."""
    schedule = from_json(campaign.schedule)
    blackouts = await blackout_days(session, campaign.id) if schedule else frozenset()
    return lambda contact: ContactCalendar(schedule, tuple(contact.timezones or ()), blackouts)


def _make_due(
    session: AsyncSession, contact: Contact, now: datetime, why: str, calendar: CalendarOf
) -> CallNow:
    """Due now, in the "call now" lane the scheduler serves first — or, when the callee's
    window does not allow it now, at its next allowed moment. A given-up contact waits for
    a retry again, keeping its attempt count (a state change, logged as such)."""
    before = contact.state
    if before in GIVEN_UP:
        contact_guard([ContactState(before)], ContactState.RETRYING)  # the table allows it
        contact.state = ContactState.RETRYING.value
        _log_contact(session, contact, why)
    elif before not in WAITING:
        raise ActionError(
            f"contact {contact.id} is {before}; only a waiting or "
            "exhausted/failed contact can be called again"
        )
    hold = window_hold(calendar(contact), now)
    contact.next_attempt_at = now if hold is None else hold.until
    contact.call_now_at = now
    if hold is None:
        return CallNow(contact.id, before, now)
    if hold.until is None:
        return CallNow(contact.id, before, None, f"{hold.reason}; no allowed moment is left")
    return CallNow(contact.id, before, hold.until, hold.reason)


def _unless_stopped(answer: CallNow, campaign: Campaign) -> CallNow:
    """The answer, saying so when the campaign does not run (paused, not started yet)."""
    if campaign.state == CampaignState.RUNNING.value or not answer.now:
        return answer
    held = f"campaign {campaign.state}: called ahead of the queue once it runs"
    return CallNow(answer.contact_id, answer.from_state, None, held)


async def retry_now(
    session: AsyncSession, contact_id: int, *, actor: str, now: datetime | None = None
) -> CallNow:
    """Call this contact again ahead of the backlog, as soon as the limits and its window
    allow; when that will be."""
    contact = await _contact(session, contact_id)
    campaign = await _dialable_campaign(session, contact.campaign_id)
    calendar = await _calendar(session, campaign)
    answer = _make_due(session, contact, now or utcnow(), f"retry now, by {actor}", calendar)
    answer = _unless_stopped(answer, campaign)
    await record(
        session,
        actor=actor,
        action="retry-now",
        target_type="contact",
        target_id=contact_id,
        details={"from_state": answer.from_state, "attempts_count": contact.attempts_count},
    )
    return answer


async def skip(session: AsyncSession, contact_id: int, *, actor: str) -> None:
    """Never call this contact in this campaign (it stays callable in others).

    A contact a claim took first (being dialed) is refused with that reason, even when the
    claim committed between this read and this write: one of the two wins, never both.
    """
    contact = await _contact(session, contact_id)
    if contact.state not in CLOSABLE:
        raise _not_closable(contact, "skipped")
    before = contact.state
    if not await _close(session, contact, ContactState.CANCELED, SKIPPED, f"{SKIPPED} by {actor}"):
        raise _not_closable(contact, "skipped")
    await record(
        session,
        actor=actor,
        action="skip",
        target_type="contact",
        target_id=contact_id,
        details={"from_state": before},
    )


async def suppress(
    session: AsyncSession, contact_id: int, *, actor: str, reason: str | None = None
) -> bool:
    """Put the number on the global do-not-call list; close the contact if it was waiting.

    Returns whether the contact was closed. One a claim took first (even one that committed
    between this read and this write) is not: its current call stands, and the claim's
    checks keep the number from being called again.
    """
    contact = await _contact(session, contact_id)
    added = await add_entries(
        session, [(NUMBER, contact.phone_e164)], reason=reason or SUPPRESSED, created_by=actor
    )
    closed = False
    if contact.state in CLOSABLE:
        why = reason or SUPPRESSED
        closed = await _close(session, contact, ContactState.SUPPRESSED, why, f"{why}, by {actor}")
    await record(
        session,
        actor=actor,
        action="suppress",
        target_type="contact",
        target_id=contact_id,
        details={"phone_last4": contact.phone_e164[-4:], "added": added.added, "closed": closed},
    )
    return closed


async def edit_variables(
    session: AsyncSession,
    contact_id: int,
    *,
    actor: str,
    values: dict[str, Any],
    remove: list[str] | None = None,
    now: datetime | None = None,
) -> tuple[dict[str, Any], CallNow]:
    """Change the contact's variables and call it again like :func:`retry_now`; the new
    variables, and when it will be called."""
    contact = await _contact(session, contact_id)
    campaign = await _dialable_campaign(session, contact.campaign_id)
    calendar = await _calendar(session, campaign)
    variables = {k: v for k, v in contact.variables.items() if k not in set(remove or [])}
    variables.update(values)
    refusal = edit_refusal(contact.variables, variables, campaign.agent_variables)
    if refusal is not None:
        undeclared, removed = edit_problems(contact.variables, variables, campaign.agent_variables)
        raise VariablesRefused(refusal, undeclared=undeclared, removed=removed)
    answer = _make_due(session, contact, now or utcnow(), f"variables edited, by {actor}", calendar)
    answer = _unless_stopped(answer, campaign)
    before = answer.from_state
    contact.variables = variables
    await record(
        session,
        actor=actor,
        action="edit-vars",
        target_type="contact",
        target_id=contact_id,
        details={"set": sorted(values), "removed": sorted(remove or []), "from_state": before},
    )
    return variables, answer


async def requeue_reason(
    session: AsyncSession,
    campaign_id: str,
    reason: str,
    *,
    actor: str,
    now: datetime | None = None,
) -> list[CallNow]:
    """Call again, like :func:`retry_now`, every contact of the campaign waiting for this
    reason, and every given-up one whose reason (or final state: ``failed``,
    ``exhausted``) it is; when each will be called."""
    reason = reason.replace("-", "_")
    if reason not in REQUEUE_REASONS:
        raise ActionError(f"unknown reason {reason!r}; one of {', '.join(REQUEUE_REASONS)}")
    campaign = await _dialable_campaign(session, campaign_id)
    calendar = await _calendar(session, campaign)
    now = now or utcnow()
    why = reason_of()
    given_up = and_(Contact.state.in_(GIVEN_UP), or_(why == reason, Contact.state == reason))
    contacts = (
        await session.scalars(
            select(Contact)
            .where(
                Contact.campaign_id == campaign_id,
                or_(and_(waiting_for_retry(), why == reason), given_up),
            )
            .order_by(Contact.id)
            .with_for_update()
        )
    ).all()
    answers = [
        _unless_stopped(
            _make_due(session, contact, now, f"requeued for {reason}, by {actor}", calendar),
            campaign,
        )
        for contact in contacts
    ]
    ids = [contact.id for contact in contacts]
    await record(
        session,
        actor=actor,
        action="requeue-reason",
        target_type="campaign",
        target_id=campaign_id,
        details={"reason": reason, "count": len(ids), "contact_ids": ids[:AUDIT_ID_LIMIT]},
    )
    return answers
