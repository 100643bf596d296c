"""The webhook signature scheme: HMAC-SHA256 over ``"{timestamp}.{body}"``, either reading
of a ``whsec_`` secret, several secrets while one is rotated. Expected values are computed
here with ``hmac`` directly."""

from __future__ import annotations

import hashlib
import hmac

from campaign_engine.vocobase.signing import (
    AS_GIVEN,
    WITHOUT_PREFIX,
    key_forms,
    matching_form,
    sign,
    signature_matches,
)

STAMP = "2030-06-03T12:00:00.000Z"
BODY = b'{"event":"session.completed"}'


def expected(key: str, timestamp: str = STAMP, body: bytes = BODY) -> str:
    digest = hmac.new(key.encode(), timestamp.encode() + b"." + body, hashlib.sha256)
    return "sha256=" + digest.hexdigest()


def test_a_signature_is_the_hmac_of_the_timestamp_dot_body() -> None:
    assert sign("whsec_abc", STAMP, BODY) == expected("whsec_abc")
    assert sign("whsec_abc", STAMP, BODY + b" ") != sign("whsec_abc", STAMP, BODY)
    assert sign("whsec_abc", STAMP + "1", BODY) != sign("whsec_abc", STAMP, BODY)


def test_a_whsec_secret_stands_for_itself_and_for_the_key_without_its_prefix() -> None:
    assert key_forms("whsec_abc") == [(AS_GIVEN, "whsec_abc"), (WITHOUT_PREFIX, "abc")]
    assert key_forms("plain") == [(AS_GIVEN, "plain")]
    assert key_forms("whsec_") == [(AS_GIVEN, "whsec_")]


def test_the_matching_form_says_which_reading_of_the_secret_signed() -> None:
    assert matching_form(["whsec_abc"], STAMP, BODY, expected("whsec_abc")) == AS_GIVEN
    assert matching_form(["whsec_abc"], STAMP, BODY, expected("abc")) == WITHOUT_PREFIX


def test_any_of_several_secrets_may_have_signed_during_a_rotation() -> None:
    secrets = ["whsec_old", "whsec_new"]
    assert signature_matches(secrets, STAMP, BODY, expected("whsec_new"))
    assert signature_matches(secrets, STAMP, BODY, expected("old"))
    assert not signature_matches(["whsec_new"], STAMP, BODY, expected("whsec_old"))


def test_a_forged_or_malformed_signature_matches_nothing() -> None:
    good = expected("whsec_abc")
    assert matching_form(["whsec_abc"], STAMP, BODY + b"x", good) is None
    assert matching_form(["whsec_abc"], STAMP, BODY, good.removeprefix("sha256=")) is None
    assert matching_form(["whsec_abc"], STAMP, BODY, "sha256=" + "0" * 64) is None
    assert matching_form(["whsec_abc"], STAMP, BODY, "sha256=é") is None
    assert matching_form([], STAMP, BODY, good) is None
