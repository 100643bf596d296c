"""Why a contact is waiting for another try, or was given up on: one SQL expression.

The same expression groups the retry queue, filters it, drives bulk requeues and labels the
retry-queue metric, so the CLI, the web console and Prometheus always agree. A 429 is known
by the failure kind the dialer stored (``contacts.last_failure_kind``), never by searching
the error text: a reason holding a number with "429" in it is not a 429.
"""

from __future__ import annotations

from sqlalchemy import ColumnElement, String, and_, case, literal, or_

from campaign_engine.db.models import Contact
from campaign_engine.failure_kinds import REFUSED_WITH_429, kind_values
from campaign_engine.states import ContactState

RATE_LIMITED = "rate_limited"
UNKNOWN = "unknown"
# Outcomes an operator acts on by name; any other reason is shown as "unknown".
NAMED_OUTCOMES = ("no_answer", "busy", "voicemail", "failed")
REASONS = (*NAMED_OUTCOMES, RATE_LIMITED, UNKNOWN)
DEAD_STATES = (
    ContactState.EXHAUSTED.value,
    ContactState.FAILED.value,
    ContactState.SUPPRESSED.value,
)


def reason_of() -> ColumnElement[str]:
    """A contact's reason: a 429 hand-back first (it says nothing about the callee)."""
    return case(
        (
            Contact.last_failure_kind.in_(kind_values(REFUSED_WITH_429)),
            literal(RATE_LIMITED, String),
        ),
        (Contact.last_outcome.in_(NAMED_OUTCOMES), Contact.last_outcome),
        else_=literal(UNKNOWN, String),
    )


def waiting_for_retry() -> ColumnElement[bool]:
    """Retrying contacts, and pending ones handed back with an error (e.g. a 429)."""
    return or_(
        Contact.state == ContactState.RETRYING.value,
        and_(Contact.state == ContactState.PENDING.value, Contact.last_error.is_not(None)),
    )
