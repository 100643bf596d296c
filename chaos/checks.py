"""What the soak proves at the end, from the simulator's ledger and the engine's database.

Pure functions over plain records (read by :mod:`chaos.records`), so each rule is tested
on hand-made histories: a double dial, a lost contact, a webhook applied twice must each
show up here as a violation, never be explained away.
"""

from __future__ import annotations

import itertools
from collections import defaultdict
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

FINAL_CONTACT_STATES = frozenset({"completed", "exhausted", "failed", "canceled", "suppressed"})
WAITING_CONTACT_STATES = frozenset({"pending", "retrying"})
PROCESSED_INBOX_STATES = frozenset({"applied", "ignored"})


@dataclass(frozen=True)
class PlacedCall:
    """One call in the simulator's ledger: the truth of what was dialed."""

    call_id: str
    session_id: str
    to_number: str
    created_at: datetime
    ended_at: datetime | None
    disposition: str | None
    webhook_deliveries: int


@dataclass(frozen=True)
class RecordedAttempt:
    """What the engine recorded of one call."""

    call_id: str | None
    to_number: str
    state: str
    outcome: str | None
    disposition: str | None


@dataclass(frozen=True)
class ContactRow:
    phone: str
    state: str
    next_attempt_at: datetime | None
    last_error: str | None


@dataclass(frozen=True)
class InboxRow:
    session_id: str | None
    status: str
    duplicates: int


def double_dials(
    calls: Iterable[PlacedCall], attempts: Iterable[RecordedAttempt]
) -> list[dict[str, Any]]:
    """Every call to a number placed while an earlier call to it was live ("overlap"), or
    after an earlier call whose outcome the engine never recorded ("no_outcome_between")."""
    outcome = {a.call_id: a.outcome for a in attempts if a.call_id}
    by_number: dict[str, list[PlacedCall]] = defaultdict(list)
    for call in calls:
        by_number[call.to_number].append(call)
    found: list[dict[str, Any]] = []
    for number, placed in by_number.items():
        placed.sort(key=lambda call: call.created_at)
        live_until: datetime | None = placed[0].ended_at
        still_live = placed[0].ended_at is None
        for before, after in itertools.pairwise(placed):
            reason = None
            if still_live or (live_until is not None and after.created_at < live_until):
                reason = "overlap"
            elif outcome.get(before.call_id) is None:
                reason = "no_outcome_between"
            if reason:
                found.append(
                    {
                        "number": number,
                        "first": before.call_id,
                        "second": after.call_id,
                        "reason": reason,
                    }
                )
            if after.ended_at is None:
                still_live = True
            elif live_until is None or after.ended_at > live_until:
                live_until = after.ended_at
    return found


def unknown_calls(calls: Iterable[PlacedCall], attempts: Iterable[RecordedAttempt]) -> list[str]:
    """Calls Vocobase placed that no attempt of the engine knows (it lost track of them)."""
    known = {a.call_id for a in attempts if a.call_id}
    return sorted(call.call_id for call in calls if call.call_id not in known)


def stuck_contacts(numbers: Sequence[str], contacts: Iterable[ContactRow]) -> dict[str, list[str]]:
    """Contacts imported but missing ("lost"), or neither final nor waiting with a reason
    (a due time or an error) — "stuck"."""
    rows = {row.phone: row for row in contacts}
    lost = sorted(number for number in numbers if number not in rows)
    stuck = sorted(
        row.phone
        for row in rows.values()
        if row.state not in FINAL_CONTACT_STATES
        and not (
            row.state in WAITING_CONTACT_STATES
            and (row.next_attempt_at is not None or row.last_error)
        )
    )
    return {"lost": lost, "stuck": stuck}


def webhook_application(
    calls: Iterable[PlacedCall],
    inbox: Iterable[InboxRow],
    attempts: Iterable[RecordedAttempt],
) -> dict[str, Any]:
    """Every delivered webhook stored once (the inbox is unique per session), processed,
    and its outcome the one the engine holds for the call."""
    rows: dict[str | None, list[InboxRow]] = defaultdict(list)
    for row in inbox:
        rows[row.session_id].append(row)
    dispositions = {a.call_id: a.disposition for a in attempts if a.call_id}
    delivered = [call for call in calls if call.webhook_deliveries > 0]
    missing, unprocessed, repeated, mismatched = [], [], [], []
    stored_deliveries = 0
    for call in delivered:
        stored = rows.get(call.session_id, [])
        if not stored:
            missing.append(call.call_id)
            continue
        if len(stored) > 1:
            repeated.append(call.call_id)
        if any(row.status not in PROCESSED_INBOX_STATES for row in stored):
            unprocessed.append(call.call_id)
        stored_deliveries += sum(row.duplicates + 1 for row in stored)
        if dispositions.get(call.call_id) != call.disposition:
            mismatched.append(call.call_id)
    return {
        "calls_with_delivered_webhook": len(delivered),
        "ledger_deliveries": sum(call.webhook_deliveries for call in delivered),
        "inbox_rows": sum(len(value) for key, value in rows.items() if key is not None),
        "inbox_deliveries_counted": stored_deliveries,
        "delivered_not_stored": missing,
        "stored_more_than_once": repeated,
        "not_applied": unprocessed,
        "outcome_differs_from_ledger": mismatched,
    }


def placement_pace(
    calls: Sequence[PlacedCall], since: datetime, until: datetime | None = None
) -> dict[str, Any]:
    """When calls were placed, in seconds from ``since``: the first, the last, and the
    longest stretch with none placed (where a fault stalled dialing, and for how long),
    counting the one from the last call to ``until`` (the campaign's end, or giving up)."""
    moments = sorted((call.created_at - since).total_seconds() for call in calls)
    if not moments:
        return {"first_call_at": None, "last_call_at": None, "longest_pause": None}
    ends = [*moments, (until - since).total_seconds()] if until else moments
    pauses = [(after - before, before) for before, after in itertools.pairwise(ends)]
    longest = max(pauses, default=(0.0, moments[0]))
    return {
        "first_call_at": round(moments[0], 2),
        "last_call_at": round(moments[-1], 2),
        "longest_pause": {"seconds": round(longest[0], 2), "from": round(longest[1], 2)},
    }


def verdict(figures: Mapping[str, Any]) -> list[str]:
    """The names of the checks that failed (empty: the soak passed)."""
    failed = []
    if not figures["completed"]:
        failed.append("campaign did not complete")
    if figures["double_dials"]:
        failed.append("numbers dialed twice without a final outcome between")
    if figures["calls_unknown_to_engine"]:
        failed.append("calls placed that the engine has no attempt for")
    if figures["contacts"]["lost"] or figures["contacts"]["stuck"]:
        failed.append("contacts lost or stuck")
    if figures["peak_concurrency"] > figures["concurrency_limit"]:
        failed.append("more calls live than the concurrency limit")
    hooks = figures["webhooks"]
    for name in (
        "delivered_not_stored",
        "stored_more_than_once",
        "not_applied",
        "outcome_differs_from_ledger",
    ):
        if hooks[name]:
            failed.append(f"webhooks: {name.replace('_', ' ')}")
    return failed
