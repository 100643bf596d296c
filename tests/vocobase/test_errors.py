"""Pins the error tree: what each class says about a call having been placed, and which
refusals should pause a whole campaign."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from campaign_engine.vocobase.errors import (
    AmbiguousError,
    APIError,
    BadRequest,
    Forbidden,
    InvalidResponse,
    NotFound,
    RateLimited,
    RequestNotSent,
    ServerError,
    Unauthorized,
    VocobaseError,
    api_error_for,
    is_campaign_fatal,
    parse_retry_after,
)


def _api(
    status: int, message: str = "", code: str | None = None, path: str = "/calls/start"
) -> APIError:
    return api_error_for(method="POST", path=path, status_code=status, code=code, message=message)


@pytest.mark.parametrize(
    ("cls", "maybe_sent"),
    [
        (VocobaseError, True),
        (RequestNotSent, False),
        (AmbiguousError, True),
        (InvalidResponse, True),
        (APIError, False),
        (BadRequest, False),
        (Unauthorized, False),
        (Forbidden, False),
        (NotFound, False),
        (RateLimited, False),
        (ServerError, True),
    ],
)
def test_maybe_sent_follows_the_tree(cls: type[VocobaseError], maybe_sent: bool) -> None:
    assert cls.maybe_sent is maybe_sent


@pytest.mark.parametrize(
    ("status", "cls"),
    [
        (400, BadRequest),
        (401, Unauthorized),
        (403, Forbidden),
        (404, NotFound),
        (429, RateLimited),
        (500, ServerError),
        (503, ServerError),
        (409, APIError),
        (422, APIError),
    ],
)
def test_status_picks_the_subclass(status: int, cls: type[APIError]) -> None:
    exc = _api(status)
    assert type(exc) is cls
    assert exc.status_code == status


def test_error_text_has_method_path_status_code_and_message() -> None:
    exc = _api(403, "Insufficient credits", code="FORBIDDEN")
    assert str(exc) == "POST /calls/start: HTTP 403 FORBIDDEN: Insufficient credits"
    assert (exc.code, exc.message, exc.method, exc.path) == (
        "FORBIDDEN",
        "Insufficient credits",
        "POST",
        "/calls/start",
    )


def test_invalid_response_carries_status_and_excerpt() -> None:
    exc = InvalidResponse("bad", method="GET", path="/config", status_code=200, body_excerpt="<h")
    assert (exc.status_code, exc.body_excerpt) == (200, "<h")
    assert "GET /config" in str(exc)
    assert "200" in str(exc)


@pytest.mark.parametrize(
    ("code", "message", "kind"),
    [
        ("CONCURRENCY_LIMIT_EXCEEDED", "", "concurrency"),
        ("TOO_MANY_REQUESTS", "Concurrent call limit reached (5)", "concurrency"),
        ("RATE_LIMIT_EXCEEDED", "", "rate"),
        (None, "Rate limit exceeded, try again later", "rate"),
        ("TOO_MANY_REQUESTS", "Too many requests", "rate"),
        (None, "Slow down", "unknown"),
        (None, "Could not generate a separate greeting", "unknown"),
    ],
)
def test_a_429s_kind_is_never_read_from_its_code_or_message(
    code: str | None, message: str, kind: str
) -> None:
    """The docs do not word the two 429s: whatever the text says (``kind`` is what it once
    suggested), the limit hit is judged later from the engine's own counts."""
    exc = _api(429, message, code=code)
    assert isinstance(exc, RateLimited)
    assert exc.kind == "unknown"


def test_retry_after_seconds_and_http_date_are_parsed() -> None:
    now = datetime(2015, 10, 21, 7, 28, 0, tzinfo=UTC)
    assert parse_retry_after("30", now=now) == 30.0
    assert parse_retry_after(" 1.5 ", now=now) == 1.5
    assert parse_retry_after("Wed, 21 Oct 2015 07:28:45 GMT", now=now) == 45.0


def test_retry_after_in_the_past_is_zero() -> None:
    now = datetime(2015, 10, 21, 7, 30, 0, tzinfo=UTC)
    assert parse_retry_after("Wed, 21 Oct 2015 07:28:00 GMT", now=now) == 0.0


@pytest.mark.parametrize("value", [None, "", "soon", "-5", "nan", "inf"])
def test_unusable_retry_after_is_none(value: str | None) -> None:
    assert parse_retry_after(value) is None


def test_unauthorized_and_forbidden_are_campaign_fatal() -> None:
    assert is_campaign_fatal(_api(401, "Invalid API key"))
    assert is_campaign_fatal(_api(403, "Insufficient credits"))


def test_not_found_agent_is_campaign_fatal() -> None:
    assert is_campaign_fatal(_api(404, "Agent not found"))
    assert is_campaign_fatal(_api(404, "Not found", path="/agent/a1"))
    assert is_campaign_fatal(_api(404, "Resource not found"))


def test_not_found_call_lookup_is_not_campaign_fatal() -> None:
    assert not is_campaign_fatal(_api(404, "Call not found", path="/calls/c1"))


@pytest.mark.parametrize(
    "message",
    [
        "Provider twilio is not allowed for this partner",
        "Telephony provider plivo is not configured",
        "Invalid provider",
        "agent_id must be a valid UUID",
    ],
)
def test_bad_request_about_provider_or_agent_is_campaign_fatal(message: str) -> None:
    assert is_campaign_fatal(_api(400, message, code="VALIDATION_ERROR"))


@pytest.mark.parametrize(
    "message",
    [
        "to_number must be in E.164 format",
        "Invalid phone number for provider twilio",
        "Unknown variable 'foo'",
        "variables.callee_name must be a string",
    ],
)
def test_bad_request_about_number_or_variables_is_about_the_contact(message: str) -> None:
    assert not is_campaign_fatal(_api(400, message, code="VALIDATION_ERROR"))


def test_vague_bad_request_is_campaign_fatal() -> None:
    assert is_campaign_fatal(_api(400, "Invalid request", code="VALIDATION_ERROR"))


@pytest.mark.parametrize("status", [429, 500, 502, 409])
def test_rate_limit_server_and_other_errors_are_not_campaign_fatal(status: int) -> None:
    assert not is_campaign_fatal(_api(status, "provider not allowed"))


def test_campaign_fatal_property_matches_function() -> None:
    exc = _api(401, "nope")
    assert exc.campaign_fatal is is_campaign_fatal(exc) is True
