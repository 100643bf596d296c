"""Times as an operator reads them: "Mon 09:30 UTC" in the console's zone, and in the
callee's own zone where a contact is concerned ("next call Mon 09:30 IST").

Times are UTC (a naive one is read as UTC); a page never shows microseconds or an offset to decode.
Dates further than a week away carry their day of the month, so "Mon" is never ambiguous.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

WEEK = timedelta(days=6)


def readable(at: datetime | None, zone: str, *, now: datetime | None = None) -> str:
    """``at`` in ``zone``: "Mon 09:30 UTC"; "-" for no time."""
    if at is None:
        return "-"
    if at.tzinfo is None:
        at = at.replace(tzinfo=UTC)
    local = at.astimezone(ZoneInfo(zone))
    pattern = "%a %H:%M %Z"
    if now is not None and abs(at - now) > WEEK:
        pattern = "%a %d %b %H:%M %Z"
    return local.strftime(pattern)


def callee_zone(timezones: Sequence[str]) -> str | None:
    """The callee's zone when the number has one (a country of one zone), else None."""
    return timezones[0] if len(timezones) == 1 else None


def next_call_text(
    state: str, next_attempt_at: datetime | None, timezones: Sequence[str], now: datetime
) -> str | None:
    """For a waiting contact: when its next call is, in the callee's zone ("waiting for the
    window; next call Mon 09:30 IST") when it is held for later; None when nothing waits."""
    if next_attempt_at is None or state not in ("pending", "retrying"):
        return None
    zone = callee_zone(timezones) or "UTC"
    when = readable(next_attempt_at, zone, now=now)
    if next_attempt_at <= now:
        return f"due now; in the callee's zone it is {readable(now, zone, now=now)}"
    wait = "waiting for the window" if state == "pending" else "waiting to retry"
    return f"{wait}; next call {when}"
