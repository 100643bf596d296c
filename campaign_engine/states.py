"""The states of campaigns, contacts and call attempts, and the moves allowed between them.

Everything here is plain data and functions: the I/O layers ask these before they write, so
the rules live in one place and are tested without a database.

A contact's life::

    pending ─▶ queued ─▶ dialing ─▶ calling ─▶ completed | exhausted | failed
       ▲          │ └──▶ suppressed   │          │
       └──────────┴──────────┴──────────┘   (handed back, or a retry: state "retrying")

An attempt's life::

    dialing ─▶ started ─▶ ended            (the normal path: the webhook)
       │          ├────▶ processing ─▶ ended | expired   (polling saw the call end first)
       │          └────▶ expired           (no outcome by the deadline)
       ├──▶ unknown ─▶ started | processing | ended | expired | lost  (fate was unknown)
       ├──▶ not_sent                       (certainly never reached Vocobase; costs nothing)
       ├──▶ ended                          (Vocobase refused this number: 400)
       └──▶ expired                        (still dialing long past its deadline)

:data:`ATTEMPT_MOVES` is the only statement of these moves: every conditional UPDATE that
moves an attempt names the states it may leave as ``sources_of(target)``.

A webhook inbox row is ``received``, then ``applied``, ``ignored`` or ``invalid``, or
``unmatched`` (tried again later) until one of those; an outbox row is ``pending`` until
``delivered`` or ``dead`` (tries used up; an operator may re-drive it to ``pending``).
"""

from __future__ import annotations

from collections.abc import Iterable
from enum import StrEnum


class CampaignState(StrEnum):
    DRAFT = "draft"
    SCHEDULED = "scheduled"
    RUNNING = "running"
    # A recurring campaign (one with a saved source) whose contacts so far are all final:
    # open until its end date or an operator ends it; its next pull makes it running again.
    ONGOING = "ongoing"
    PAUSED = "paused"
    COMPLETED = "completed"
    CANCELED = "canceled"


CAMPAIGN_TERMINAL = frozenset({CampaignState.COMPLETED, CampaignState.CANCELED})

CAMPAIGN_MOVES: dict[CampaignState, frozenset[CampaignState]] = {
    CampaignState.DRAFT: frozenset(
        {CampaignState.SCHEDULED, CampaignState.RUNNING, CampaignState.CANCELED}
    ),
    CampaignState.SCHEDULED: frozenset(
        {CampaignState.RUNNING, CampaignState.PAUSED, CampaignState.CANCELED}
    ),
    CampaignState.RUNNING: frozenset(
        {
            CampaignState.ONGOING,
            CampaignState.PAUSED,
            CampaignState.COMPLETED,
            CampaignState.CANCELED,
        }
    ),
    # Back to running when contacts are added (a pull, an import, an operator's retry);
    # completed at its end date or when an operator ends it.
    CampaignState.ONGOING: frozenset(
        {
            CampaignState.RUNNING,
            CampaignState.PAUSED,
            CampaignState.COMPLETED,
            CampaignState.CANCELED,
        }
    ),
    # A campaign paused before its schedule's start resumes as scheduled; a recurring one
    # with nothing left to call resumes as ongoing.
    CampaignState.PAUSED: frozenset(
        {
            CampaignState.RUNNING,
            CampaignState.ONGOING,
            CampaignState.SCHEDULED,
            CampaignState.CANCELED,
        }
    ),
    CampaignState.COMPLETED: frozenset(),
    CampaignState.CANCELED: frozenset(),
}


class ContactState(StrEnum):
    PENDING = "pending"  # waiting for its first dial at next_attempt_at
    RETRYING = "retrying"  # waiting for a retry at next_attempt_at
    QUEUED = "queued"  # a dial job for it is in Redis
    DIALING = "dialing"  # an attempt is claimed; the start request is in flight or unknown
    CALLING = "calling"  # Vocobase accepted the call; waiting for its outcome
    COMPLETED = "completed"  # a conversation completed
    EXHAUSTED = "exhausted"  # not reached, and the retry policy allows no more attempts
    FAILED = "failed"  # a permanent error about this contact (e.g. Vocobase refused the number)
    CANCELED = "canceled"  # the campaign was canceled before the contact was done
    SUPPRESSED = "suppressed"  # on the do-not-call list when its turn came: never called


CONTACT_WAITING = frozenset({ContactState.PENDING, ContactState.RETRYING})
CONTACT_ACTIVE = frozenset({ContactState.QUEUED, ContactState.DIALING, ContactState.CALLING})
CONTACT_FINAL = frozenset(
    {
        ContactState.COMPLETED,
        ContactState.EXHAUSTED,
        ContactState.FAILED,
        ContactState.CANCELED,
        ContactState.SUPPRESSED,
    }
)

_C = ContactState
_WAIT = {_C.PENDING, _C.RETRYING}  # waiting (pending before any attempt, else retrying)
_CLOSED_UNDIALED = {_C.CANCELED, _C.SUPPRESSED}
_CONCLUDED = {_C.RETRYING, _C.COMPLETED, _C.EXHAUSTED, _C.FAILED, _C.CANCELED}

CONTACT_MOVES: dict[ContactState, frozenset[ContactState]] = {
    # queued by the scheduler, or closed without a call (cancel, skip, suppress, the gate)
    _C.PENDING: frozenset({_C.QUEUED, *_CLOSED_UNDIALED}),
    # ... and, for a late webhook that changes the outcome while the retry has not run,
    # back in its call for the length of the transaction that decides again
    _C.RETRYING: frozenset({_C.QUEUED, _C.CALLING, *_CLOSED_UNDIALED}),
    # claimed, handed back (no slot, not now, paused), or closed without a call
    _C.QUEUED: frozenset({_C.DIALING, *_WAIT, *_CLOSED_UNDIALED}),
    # started; given back (not sent, lost); or concluded (a webhook beat the start answer)
    _C.DIALING: frozenset({_C.CALLING, *_WAIT, *_CONCLUDED}),
    # given back (an unknown start found never placed) or concluded
    _C.CALLING: frozenset({*_WAIT, *_CONCLUDED}),
    _C.COMPLETED: frozenset(),
    # an operator calls a given-up contact again (retry now, requeue)
    _C.EXHAUSTED: frozenset({_C.RETRYING}),
    _C.FAILED: frozenset({_C.RETRYING}),
    _C.CANCELED: frozenset(),
    _C.SUPPRESSED: frozenset(),
}


def contact_guard(sources: Iterable[ContactState], *targets: ContactState) -> list[str]:
    """The stored values of ``sources`` for the guard of a move to ``targets``, after
    checking each move against :data:`CONTACT_MOVES`: a guard the table does not allow is a
    programming error, raised where the guard is built (at import, for most)."""
    chosen = frozenset(sources)
    for source in chosen:
        for target in targets:
            if target not in CONTACT_MOVES[source]:
                raise ValueError(f"contact move {source.value} -> {target.value} is not allowed")
    return state_values(chosen)


class AttemptState(StrEnum):
    DIALING = "dialing"  # claimed and committed; the start request may be in flight
    STARTED = "started"  # Vocobase returned call_id/session_id
    UNKNOWN = "unknown"  # the start request's fate is unknown; the reconciler decides
    ENDED = "ended"  # an outcome is known (see the attempt's outcome)
    NOT_SENT = "not_sent"  # certainly never reached Vocobase; does not count as an attempt
    EXPIRED = "expired"  # no outcome could be learned before the deadline
    LOST = "lost"  # an unknown start that Vocobase has no record of: it never dialed
    # The call is over (polling saw it end) and its slots are free; how it ended waits for
    # post-call processing: the webhook, or a poll once processing is complete (bounded).
    PROCESSING = "processing"


ATTEMPT_OPEN = frozenset(
    {AttemptState.DIALING, AttemptState.STARTED, AttemptState.UNKNOWN, AttemptState.PROCESSING}
)
# Open attempts whose call may be live: they hold concurrency slots.
ATTEMPT_HOLDING = frozenset({AttemptState.DIALING, AttemptState.STARTED, AttemptState.UNKNOWN})
ATTEMPT_FINAL = frozenset(
    {AttemptState.ENDED, AttemptState.NOT_SENT, AttemptState.EXPIRED, AttemptState.LOST}
)

ATTEMPT_MOVES: dict[AttemptState, frozenset[AttemptState]] = {
    AttemptState.DIALING: frozenset(
        {
            AttemptState.STARTED,
            AttemptState.UNKNOWN,
            # A webhook that arrives before the start response ends the attempt; a late
            # start response then leaves it ended.
            AttemptState.ENDED,
            AttemptState.NOT_SENT,
            # The reconciler closes every attempt still open past its deadline (plus
            # expire_after), whatever its state: one whose start request never answered
            # and that the orphan sweep has not yet made unknown is expired, not left open.
            AttemptState.EXPIRED,
        }
    ),
    AttemptState.STARTED: frozenset(
        {AttemptState.ENDED, AttemptState.PROCESSING, AttemptState.EXPIRED}
    ),
    AttemptState.UNKNOWN: frozenset(
        {
            AttemptState.STARTED,
            AttemptState.PROCESSING,
            AttemptState.ENDED,
            AttemptState.EXPIRED,
            AttemptState.LOST,
        }
    ),
    AttemptState.PROCESSING: frozenset({AttemptState.ENDED, AttemptState.EXPIRED}),
    AttemptState.ENDED: frozenset(),
    AttemptState.NOT_SENT: frozenset(),
    AttemptState.EXPIRED: frozenset(),
    AttemptState.LOST: frozenset(),
}


_ATTEMPT_SOURCES: dict[AttemptState, frozenset[AttemptState]] = {
    target: frozenset(state for state, targets in ATTEMPT_MOVES.items() if target in targets)
    for target in AttemptState
}


def sources_of(target: AttemptState) -> frozenset[AttemptState]:
    """The states from which an attempt may move to ``target``: the guard of that move."""
    return _ATTEMPT_SOURCES[target]


def state_values(states: Iterable[StrEnum]) -> list[str]:
    """The strings stored for ``states``, sorted (for ``column.in_(...)``)."""
    return sorted(state.value for state in states)


def campaign_can_move(current: CampaignState, target: CampaignState) -> bool:
    return target in CAMPAIGN_MOVES[current]


class InboxStatus(StrEnum):
    """The status of a webhook inbox row (``webhook_events.status``)."""

    RECEIVED = "received"  # stored, not processed yet
    UNMATCHED = "unmatched"  # no attempt matches it yet; processed again later
    APPLIED = "applied"  # its outcome was recorded on its attempt
    IGNORED = "ignored"  # not applied: its attempt was already final, or set aside
    INVALID = "invalid"  # its body could not be read; kept with the reason


INBOX_ACTIVE = frozenset({InboxStatus.RECEIVED, InboxStatus.UNMATCHED})
INBOX_FINAL = frozenset({InboxStatus.APPLIED, InboxStatus.IGNORED, InboxStatus.INVALID})


class OutboxStatus(StrEnum):
    """The status of a notification outbox row (``notifications.status``)."""

    PENDING = "pending"  # due at next_try_at (or claimed by a sender until then)
    DELIVERED = "delivered"
    DEAD = "dead"  # tries used up; back to pending only by an operator's re-drive


OUTBOX_ACTIVE = frozenset({OutboxStatus.PENDING})
OUTBOX_FINAL = frozenset({OutboxStatus.DELIVERED, OutboxStatus.DEAD})
