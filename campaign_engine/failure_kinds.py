"""Why an attempt failed, or why a contact was handed back: data, not words in an error text.

The dialer knows the kind at the moment it happens (a 429 is a ``RateLimited``, a refused
number a 400); it stores it in ``call_attempts.failure_kind`` and, on the contact, in
``contacts.last_failure_kind`` next to ``last_error``. Readers (the retry queue's reasons,
the metrics, the limits view) compare these columns and never search the error text, so a
reason that happens to contain "429" (a phone number, say) is never mistaken for a 429.

The bottom layer: imports nothing from the engine.
"""

from __future__ import annotations

from collections.abc import Iterable
from enum import StrEnum


class FailureKind(StrEnum):
    # A start refused with 429 for the request rate, or with a 429 that names no limit.
    RATE_LIMITED = "rate_limited"
    # A start refused with 429 for the number of calls in progress.
    CONCURRENCY_LIMITED = "concurrency_limited"
    # The start request certainly never reached Vocobase (connect error, pool timeout).
    NOT_SENT = "not_sent"
    # Refused for every contact of the campaign (401, 403, agent missing): the start is
    # given back and the campaign paused.
    CAMPAIGN_PAUSED = "campaign_paused"
    # Refused for this number alone (a 400 or 404 about the contact): the contact fails.
    REJECTED = "rejected"
    # Refused for this start with a status the docs do not describe (409, 422, ...): no call
    # was placed; the attempt counts as failed and the retry policy decides.
    REFUSED = "refused"
    # The start may have placed a call (timeout, 5xx, an unreadable answer): the reconciler
    # looks it up.
    UNKNOWN = "unknown"
    # The reconciler found no call for an attempt of unknown fate: given back.
    LOST = "lost"
    # Handed back before any attempt: the campaign was not running, no limit had room, the
    # calling window or daily cap says later, or no allowed moment is left (parked).
    CAMPAIGN_NOT_RUNNING = "campaign_not_running"
    NO_SLOT = "no_slot"
    NOT_NOW = "not_now"
    PARKED = "parked"
    # Handed back at its claim for a short while: the number is in a call of another
    # campaign (or an earlier call still open), and one number is in one call at a time.
    NUMBER_IN_CALL = "number_in_call"


# Kinds that are a 429 from Vocobase: shown to operators as the "rate_limited" reason and
# counted by the rate-limited metric and limits view, whichever limit was hit.
REFUSED_WITH_429 = frozenset({FailureKind.RATE_LIMITED, FailureKind.CONCURRENCY_LIMITED})


def kind_values(kinds: Iterable[FailureKind]) -> list[str]:
    """The strings stored for ``kinds``, sorted (for ``column.in_(...)``)."""
    return sorted(kind.value for kind in kinds)


def of_429(limit: str) -> FailureKind:
    """The kind of a 429 whose limit was guessed as ``rate``, ``concurrency`` or
    ``unknown`` (``RateLimited.kind``)."""
    return FailureKind.CONCURRENCY_LIMITED if limit == "concurrency" else FailureKind.RATE_LIMITED
