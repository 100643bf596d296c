"""The `session.completed` webhook signature scheme, shared by the receiver and the simulator.

Vocobase signs ``"{X-Webhook-Timestamp}.{raw body}"`` with HMAC-SHA256 keyed by the endpoint
secret string, and sends ``X-Webhook-Signature: sha256=<hex>``. The same scheme signs the
engine's own outbound notifications, so operators verify both the same way.
"""

from __future__ import annotations

import hashlib
import hmac

SIGNATURE_HEADER = "X-Webhook-Signature"
TIMESTAMP_HEADER = "X-Webhook-Timestamp"
_PREFIX = "sha256="


def sign(secret: str, timestamp: str, body: bytes) -> str:
    """Return the header value (``sha256=<hex>``) for ``body`` sent at ``timestamp``."""
    message = timestamp.encode("utf-8") + b"." + body
    digest = hmac.new(secret.encode("utf-8"), message, hashlib.sha256).hexdigest()
    return _PREFIX + digest


def signature_matches(secrets: list[str], timestamp: str, body: bytes, header: str) -> bool:
    """True when ``header`` is a valid signature under any of ``secrets`` (rotation).

    Every secret is compared in constant time, and all of them are always tried, so the
    time taken does not tell which secret (if any) came close.
    """
    if not header.startswith(_PREFIX):
        return False
    matched = False
    for secret in secrets:
        expected = sign(secret, timestamp, body)
        matched |= hmac.compare_digest(expected.encode("ascii"), header.encode("ascii", "replace"))
    return matched
