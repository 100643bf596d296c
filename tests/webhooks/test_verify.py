"""Who may deliver a webhook: signed with a configured secret, over the raw body, recently."""

from __future__ import annotations

import hashlib
import hmac
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest

from campaign_engine.webhooks.verify import Rejected, accepted_by_form, verify

NOW = datetime(2026, 5, 4, 10, 30, 0, tzinfo=UTC)
BODY = b'{"event":"session.completed","data":{"session_id":"s-1"}}'
TOLERANCE = 300.0


def stamp(moment: datetime) -> str:
    return moment.isoformat(timespec="milliseconds").replace("+00:00", "Z")


def expected_signature(secret: str, timestamp: str, body: bytes) -> str:
    message = f"{timestamp}.".encode() + body
    return "sha256=" + hmac.new(secret.encode(), message, hashlib.sha256).hexdigest()


def check(
    *,
    secrets: list[str] | None = None,
    timestamp: str | None = None,
    signature: str | None = None,
    body: bytes = BODY,
    signed_with: str = "whsec_current",
    signed_body: bytes | None = None,
) -> str:
    """``verify`` with a delivery signed by ``signed_with`` unless a part is given; the form
    of the secret that matched."""
    timestamp = stamp(NOW) if timestamp is None else timestamp
    if signature is None:
        signature = expected_signature(signed_with, timestamp, signed_body or body)
    return verify(
        secrets=["whsec_current"] if secrets is None else secrets,
        timestamp=timestamp,
        signature=signature,
        body=body,
        tolerance_seconds=TOLERANCE,
        now=NOW,
    )


def test_delivery_signed_with_the_secret_over_timestamp_dot_body_is_accepted() -> None:
    check()


def test_delivery_signed_with_another_secret_is_rejected() -> None:
    with pytest.raises(Rejected, match="signature does not match"):
        check(signed_with="whsec_someone_else")


def test_body_changed_after_signing_is_rejected() -> None:
    tampered = BODY.replace(b"s-1", b"s-2")
    with pytest.raises(Rejected, match="signature does not match"):
        check(body=tampered, signed_body=BODY)


def test_signature_over_a_different_timestamp_is_rejected() -> None:
    signature = expected_signature("whsec_current", stamp(NOW - timedelta(seconds=1)), BODY)
    with pytest.raises(Rejected, match="signature does not match"):
        check(timestamp=stamp(NOW), signature=signature)


def test_timestamp_older_than_tolerance_is_rejected_even_when_correctly_signed() -> None:
    with pytest.raises(Rejected, match=r"timestamp is 301s old \(tolerance 300s\)"):
        check(timestamp=stamp(NOW - timedelta(seconds=TOLERANCE + 1)))


def test_timestamp_too_far_in_the_future_is_rejected() -> None:
    with pytest.raises(Rejected, match="301s in the future"):
        check(timestamp=stamp(NOW + timedelta(seconds=TOLERANCE + 1)))


@pytest.mark.parametrize("offset", [-(TOLERANCE - 1), TOLERANCE - 1])
def test_timestamp_within_tolerance_either_side_is_accepted(offset: float) -> None:
    check(timestamp=stamp(NOW + timedelta(seconds=offset)))


def test_timestamp_with_an_offset_is_compared_as_the_same_instant() -> None:
    india = NOW.astimezone(ZoneInfo("Asia/Kolkata")).isoformat()
    check(timestamp=india)


def test_timestamp_without_a_zone_is_read_as_utc() -> None:
    check(timestamp=NOW.replace(tzinfo=None).isoformat())


@pytest.mark.parametrize("signed_with", ["whsec_current", "whsec_previous"])
def test_during_rotation_either_configured_secret_is_accepted(signed_with: str) -> None:
    check(secrets=["whsec_current", "whsec_previous"], signed_with=signed_with)


def test_during_rotation_a_secret_not_configured_is_still_rejected() -> None:
    with pytest.raises(Rejected, match="signature does not match"):
        check(secrets=["whsec_current", "whsec_previous"], signed_with="whsec_retired")


@pytest.mark.parametrize("timestamp", [None, ""])
def test_missing_timestamp_header_is_rejected(timestamp: str | None) -> None:
    with pytest.raises(Rejected, match="missing X-Webhook-Timestamp"):
        verify(
            secrets=["whsec_current"],
            timestamp=timestamp,
            signature=expected_signature("whsec_current", stamp(NOW), BODY),
            body=BODY,
            tolerance_seconds=TOLERANCE,
            now=NOW,
        )


@pytest.mark.parametrize("signature", [None, ""])
def test_missing_signature_header_is_rejected(signature: str | None) -> None:
    with pytest.raises(Rejected, match="missing X-Webhook-Signature"):
        verify(
            secrets=["whsec_current"],
            timestamp=stamp(NOW),
            signature=signature,
            body=BODY,
            tolerance_seconds=TOLERANCE,
            now=NOW,
        )


def test_correct_hex_digest_without_the_sha256_prefix_is_rejected() -> None:
    bare = expected_signature("whsec_current", stamp(NOW), BODY).removeprefix("sha256=")
    with pytest.raises(Rejected, match="signature does not match"):
        check(signature=bare)


@pytest.mark.parametrize("timestamp", ["yesterday", "1714818600", "2026-13-45T99:00:00Z"])
def test_timestamp_that_is_not_iso_8601_is_rejected(timestamp: str) -> None:
    with pytest.raises(Rejected, match="not ISO-8601"):
        check(timestamp=timestamp)


def test_with_no_secret_configured_every_delivery_is_rejected() -> None:
    with pytest.raises(Rejected, match="no webhook secret is configured"):
        check(secrets=[])


def test_rejection_messages_never_contain_a_secret() -> None:
    for kwargs in (
        {"signed_with": "whsec_other"},
        {"timestamp": stamp(NOW - timedelta(hours=1))},
        {"timestamp": "nope"},
    ):
        with pytest.raises(Rejected) as caught:
            check(secrets=["whsec_current", "whsec_previous"], **kwargs)  # type: ignore[arg-type]
        assert "whsec" not in str(caught.value)


def test_a_secret_is_accepted_as_the_whole_whsec_string_or_without_its_prefix() -> None:
    """Vocobase does not say whether ``whsec_`` is part of the HMAC key: both readings of the
    configured secret are accepted, and the answer says which one signed."""
    assert check(signed_with="whsec_current") == "as_given"
    assert check(signed_with="current") == "without_prefix"


def test_the_prefix_alone_or_another_secrets_tail_is_not_a_key() -> None:
    with pytest.raises(Rejected, match="signature does not match"):
        check(signed_with="whsec_")
    with pytest.raises(Rejected, match="signature does not match"):
        check(secrets=["whsec_current"], signed_with="other")
    with pytest.raises(Rejected, match="signature does not match"):
        check(secrets=["plain-secret"], signed_with="secret")


def test_accepted_deliveries_are_counted_by_the_form_that_matched() -> None:
    before = accepted_by_form()
    check(signed_with="current")
    check(signed_with="current")
    check(signed_with="whsec_current")
    after = accepted_by_form()
    assert after["without_prefix"] - before["without_prefix"] == 2
    assert after["as_given"] - before["as_given"] == 1
