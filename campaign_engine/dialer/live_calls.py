"""Which of our calls have ended, proven from listings of the calls still live (pure).

``GET /calls`` filters by ``status`` (documented), and the live statuses are few:
``pending → ringing → in_progress``, a call only ever moving forward. Their listings are
short — no longer than the partner's concurrency — however long the account's history is,
so they can be read in full within a few requests. Read in that order, a call live through
the whole scan is seen at least once: a call not yet in ``in_progress`` when the first two
were read is there when the third is, unless it has ended meanwhile. So a call of ours whose
id was known before the scan began and that none of the three listings shows has ended —
its concurrency slot is free, whatever its webhook does.

That is only proof when each listing was read whole. Pages are read one after another and
the order of a listing is not documented: calls leaving a status between two pages can
shift the offsets and hide a call that never left. A listing counts as whole when it came
in one page, or when every page together holds exactly ``total`` distinct calls and the
total did not change between pages. Anything less proves nothing, and nothing is inferred.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from campaign_engine.vocobase.schemas import CallList

# Read in this order: the order a call moves through them.
LIVE_STATUSES = ("pending", "ringing", "in_progress")


@dataclass(frozen=True)
class StatusListing:
    """The calls one live status listed, and whether the listing was read whole."""

    status: str
    call_ids: frozenset[str]
    whole: bool


def read_whole(pages: Sequence[CallList]) -> bool:
    """True when ``pages`` (one status, offsets 0, 100, …) hold every call of the listing."""
    if not pages:
        return False
    totals = {page.total for page in pages}
    if len(totals) != 1:
        return False
    (total,) = totals
    ids = [call.call_id for page in pages for call in page.calls]
    return len(ids) == total and len(set(ids)) == total


def listing_of(status: str, pages: Sequence[CallList]) -> StatusListing:
    ids = frozenset(call.call_id for page in pages for call in page.calls)
    return StatusListing(status, ids, read_whole(pages))


def ended_calls(known_before: Mapping[int, str], listings: Sequence[StatusListing]) -> list[int]:
    """The attempts (of ``{attempt_id: call_id}``, ids known before the scan began) whose call
    no live listing shows; none unless every live status was read whole."""
    statuses = {listing.status for listing in listings if listing.whole}
    if not set(LIVE_STATUSES) <= statuses:
        return []
    live = frozenset().union(*(listing.call_ids for listing in listings))
    return sorted(attempt for attempt, call_id in known_before.items() if call_id not in live)
