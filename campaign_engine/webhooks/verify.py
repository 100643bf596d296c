"""Decide whether a webhook delivery really comes from Vocobase, before reading it.

The signature covers ``"{timestamp}.{raw body}"``, so it is checked on the raw bytes; the
timestamp must be recent (and not far in the future), so a captured delivery cannot be
replayed later. Any of several secrets is accepted while one is being rotated.
"""

from __future__ import annotations

from datetime import UTC, datetime

from campaign_engine.vocobase.signing import signature_matches


class Rejected(Exception):
    """The delivery is refused (401); the message says why, without any secret."""


def parse_timestamp(value: str) -> datetime:
    try:
        moment = datetime.fromisoformat(value.strip().replace("Z", "+00:00"))
    except ValueError:
        raise Rejected(f"X-Webhook-Timestamp is not ISO-8601: {value[:40]!r}") from None
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


def verify(
    *,
    secrets: list[str],
    timestamp: str | None,
    signature: str | None,
    body: bytes,
    tolerance_seconds: float,
    now: datetime,
) -> None:
    """Raise :class:`Rejected` unless the delivery is signed, fresh and matches a secret."""
    if not secrets:
        raise Rejected("no webhook secret is configured; refusing unsigned trust")
    if not timestamp:
        raise Rejected("missing X-Webhook-Timestamp header")
    if not signature:
        raise Rejected("missing X-Webhook-Signature header")
    age = (now - parse_timestamp(timestamp)).total_seconds()
    if age > tolerance_seconds:
        raise Rejected(f"timestamp is {age:.0f}s old (tolerance {tolerance_seconds:.0f}s)")
    if age < -tolerance_seconds:
        raise Rejected(f"timestamp is {-age:.0f}s in the future")
    if not signature_matches(secrets, timestamp, body, signature):
        raise Rejected("signature does not match")
