"""The `session.completed` webhook signature scheme, shared by the receiver and the simulator.

Vocobase signs ``"{X-Webhook-Timestamp}.{raw body}"`` with HMAC-SHA256 keyed by the endpoint
secret string, and sends ``X-Webhook-Signature: sha256=<hex>``. The same scheme signs the
engine's own outbound notifications, so operators verify both the same way.

Endpoint secrets look like ``whsec_…``, and the docs do not say whether that prefix is part
of the HMAC key. Both readings derive from the same secret, so accepting either weakens
nothing: :func:`matching_form` tries the secret as given and with the prefix removed, and
says which one matched, so an operator can see which reading Vocobase uses.
"""

from __future__ import annotations

import hashlib
import hmac

SIGNATURE_HEADER = "X-Webhook-Signature"
TIMESTAMP_HEADER = "X-Webhook-Timestamp"
_PREFIX = "sha256="
SECRET_PREFIX = "whsec_"
# The two readings of an endpoint secret as an HMAC key.
AS_GIVEN = "as_given"
WITHOUT_PREFIX = "without_prefix"
FORMS = (AS_GIVEN, WITHOUT_PREFIX)


def sign(secret: str, timestamp: str, body: bytes) -> str:
    """Return the header value (``sha256=<hex>``) for ``body`` sent at ``timestamp``."""
    message = timestamp.encode("utf-8") + b"." + body
    digest = hmac.new(secret.encode("utf-8"), message, hashlib.sha256).hexdigest()
    return _PREFIX + digest


def key_forms(secret: str) -> list[tuple[str, str]]:
    """The HMAC keys one endpoint secret may stand for: (form, key)."""
    forms = [(AS_GIVEN, secret)]
    if secret.startswith(SECRET_PREFIX) and len(secret) > len(SECRET_PREFIX):
        forms.append((WITHOUT_PREFIX, secret[len(SECRET_PREFIX) :]))
    return forms


def matching_form(secrets: list[str], timestamp: str, body: bytes, header: str) -> str | None:
    """Which form of a secret (:data:`FORMS`) signed ``header``, or None when none did.

    Every secret (rotation: several) is tried in every form and compared in constant time,
    all of them always, so the time taken does not tell which one (if any) came close.
    """
    if not header.startswith(_PREFIX):
        return None
    given = header.encode("ascii", "replace")
    matched: str | None = None
    for secret in secrets:
        for form, key in key_forms(secret):
            if hmac.compare_digest(sign(key, timestamp, body).encode("ascii"), given):
                matched = matched or form
    return matched


def signature_matches(secrets: list[str], timestamp: str, body: bytes, header: str) -> bool:
    """True when ``header`` is a valid signature under any form of any of ``secrets``."""
    return matching_form(secrets, timestamp, body, header) is not None
