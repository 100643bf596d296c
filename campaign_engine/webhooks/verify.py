"""Decide whether a webhook delivery really comes from Vocobase, before reading it.

The signature covers ``"{timestamp}.{raw body}"``, so it is checked on the raw bytes; the
timestamp must be recent (and not far in the future), so a captured delivery cannot be
replayed later. Any of several secrets is accepted while one is being rotated, each as
given or without its ``whsec_`` prefix (:mod:`campaign_engine.vocobase.signing`); which form
matched is counted in :data:`SIGNATURE_FORMS` (``/metrics`` and the console's limits page).
"""

from __future__ import annotations

from datetime import UTC, datetime

from prometheus_client import Counter

from campaign_engine.vocobase.signing import FORMS, matching_form

# Accepted deliveries by the form of the secret that signed them; counted by this process.
SIGNATURE_FORMS = Counter(
    "campaign_engine_webhook_signature_form",
    "Webhook deliveries accepted, by the form of the secret that signed them "
    "(as_given: the whole whsec_ secret is the HMAC key; without_prefix: the part after it).",
    ["form"],
    registry=None,
)
for _form in FORMS:
    SIGNATURE_FORMS.labels(form=_form)


def accepted_by_form() -> dict[str, int]:
    """How many deliveries this process accepted under each form of the secret."""
    counts = dict.fromkeys(FORMS, 0)
    for metric in SIGNATURE_FORMS.collect():
        for sample in metric.samples:
            if sample.name.endswith("_total"):
                counts[sample.labels["form"]] = int(sample.value)
    return counts


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
) -> str:
    """Raise :class:`Rejected` unless the delivery is signed, fresh and matches a secret;
    the form of the secret that matched (counted)."""
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
    form = matching_form(secrets, timestamp, body, signature)
    if form is None:
        raise Rejected("signature does not match")
    SIGNATURE_FORMS.labels(form=form).inc()
    return form
