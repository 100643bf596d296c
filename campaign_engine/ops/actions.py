"""Operator actions on contacts, each written to the audit log in the same transaction.

Only waiting or given-up contacts are touched: a contact in a call (queued jobs aside) is
the dialer's until its outcome is recorded, so acting on it could dial someone twice.
A contact made due here is picked up by the scheduler on its next tick.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import and_, or_, select
from sqlalchemy.ext.asyncio import AsyncSession

from campaign_engine.contacts.suppression import NUMBER
from campaign_engine.contacts.suppression_list import add_entries
from campaign_engine.db.models import Campaign, Contact, utcnow
from campaign_engine.journal import state_log
from campaign_engine.journal.audit import record
from campaign_engine.journal.state_log import Change
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
# Ids listed in a bulk action's audit entry at most (the count is always exact).
AUDIT_ID_LIMIT = 200


class ActionError(ValueError):
    """The action cannot be done on this contact or campaign; the message says why.

    A ``ValueError`` so that the CLI shows it as one line, like every refused request.
    """


def _log_contact(session: AsyncSession, contact: Contact, why: str) -> None:
    """Log the contact's move to the state it is now in."""
    change = Change("contact", contact.state, contact.campaign_id, contact.id, None, why)
    state_log.note(session, [change])


async def _close(
    session: AsyncSession, contact: Contact, state: ContactState, reason: str, detail: str
) -> None:
    """Close this (locked, closable) contact without a call, then reload it."""
    await close_without_call(
        session,
        Contact.id == contact.id,
        from_states=[ContactState(one) for one in CLOSABLE],
        state=state,
        reason=reason,
        detail=detail,
    )
    await session.refresh(contact)


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


def _make_due(session: AsyncSession, contact: Contact, now: datetime, why: str) -> str:
    """Due now; a given-up contact waits for a retry again, keeping its attempt count (a
    state change, logged as such)."""
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
    contact.next_attempt_at = now
    return before


async def retry_now(
    session: AsyncSession, contact_id: int, *, actor: str, now: datetime | None = None
) -> str:
    """Call this contact again as soon as the limits allow; the state it was in."""
    contact = await _contact(session, contact_id)
    await _dialable_campaign(session, contact.campaign_id)
    before = _make_due(session, contact, now or utcnow(), f"retry now, by {actor}")
    await record(
        session,
        actor=actor,
        action="retry-now",
        target_type="contact",
        target_id=contact_id,
        details={"from_state": before, "attempts_count": contact.attempts_count},
    )
    return before


async def skip(session: AsyncSession, contact_id: int, *, actor: str) -> None:
    """Never call this contact in this campaign (it stays callable in others)."""
    contact = await _contact(session, contact_id)
    if contact.state not in CLOSABLE:
        raise ActionError(f"contact {contact_id} is {contact.state}; only a waiting one is skipped")
    before = contact.state
    await _close(session, contact, ContactState.CANCELED, SKIPPED, f"{SKIPPED} by {actor}")
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

    Returns whether the contact was closed (one in a call finishes; the dialer's pre-dial
    check keeps it from being called again).
    """
    contact = await _contact(session, contact_id)
    added = await add_entries(
        session, [(NUMBER, contact.phone_e164)], reason=reason or SUPPRESSED, created_by=actor
    )
    closed = contact.state in CLOSABLE
    if closed:
        why = reason or SUPPRESSED
        await _close(session, contact, ContactState.SUPPRESSED, why, f"{why}, by {actor}")
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
) -> dict[str, Any]:
    """Change the contact's variables and make it due now; the new variables."""
    contact = await _contact(session, contact_id)
    await _dialable_campaign(session, contact.campaign_id)
    variables = {k: v for k, v in contact.variables.items() if k not in set(remove or [])}
    variables.update(values)
    before = _make_due(session, contact, now or utcnow(), f"variables edited, by {actor}")
    contact.variables = variables
    await record(
        session,
        actor=actor,
        action="edit-vars",
        target_type="contact",
        target_id=contact_id,
        details={"set": sorted(values), "removed": sorted(remove or []), "from_state": before},
    )
    return variables


async def requeue_reason(
    session: AsyncSession,
    campaign_id: str,
    reason: str,
    *,
    actor: str,
    now: datetime | None = None,
) -> int:
    """Make due now every contact of the campaign waiting for this reason, and every
    given-up one whose reason (or final state: ``failed``, ``exhausted``) it is; how many."""
    reason = reason.replace("-", "_")
    if reason not in REQUEUE_REASONS:
        raise ActionError(f"unknown reason {reason!r}; one of {', '.join(REQUEUE_REASONS)}")
    await _dialable_campaign(session, campaign_id)
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
    for contact in contacts:
        _make_due(session, contact, now, f"requeued for {reason}, by {actor}")
    ids = [contact.id for contact in contacts]
    await record(
        session,
        actor=actor,
        action="requeue-reason",
        target_type="campaign",
        target_id=campaign_id,
        details={"reason": reason, "count": len(ids), "contact_ids": ids[:AUDIT_ID_LIMIT]},
    )
    return len(ids)
