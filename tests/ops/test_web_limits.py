"""What the console refuses before working: too many failed logins from one address, and
bodies over the limit (judged before they are read)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from redis.asyncio import Redis
from starlette.requests import Request

from campaign_engine.ops.web_limits import (
    BodyTooLarge,
    LoginThrottle,
    declared_too_large,
    login_wait,
    parse_form,
    read_body,
)
from tests.conftest import TEST_REDIS_URL

T0 = datetime(2026, 12, 7, 9, 0, tzinfo=UTC)


def test_failed_logins_up_to_the_limit_are_let_through_then_refused_with_the_wait() -> None:
    failures: list[datetime] = []
    for second in range(3):
        assert login_wait(failures, T0 + timedelta(seconds=second), 3) is None
        failures.append(T0 + timedelta(seconds=second))
    assert login_wait(failures, T0 + timedelta(seconds=10), 3) == 50
    assert login_wait([], T0 + timedelta(seconds=10), 3) is None


def test_the_throttle_lets_an_address_try_again_once_its_oldest_failure_is_a_minute_old() -> None:
    failures = [T0, T0 + timedelta(seconds=30)]
    assert login_wait(failures, T0 + timedelta(seconds=59), 2) == 1
    assert login_wait(failures, T0 + timedelta(seconds=60), 2) is None
    assert login_wait(failures, T0 + timedelta(seconds=89), 2) is None
    failures.append(T0 + timedelta(seconds=89))
    assert login_wait(failures, T0 + timedelta(seconds=89), 2) == 1


async def test_every_server_process_counts_the_same_failed_logins_in_redis(
    redis_prefix: str,
) -> None:
    """Two throttles on two connections (two ``serve`` processes) share one count per
    address; the address's key expires on its own."""
    first, second = Redis.from_url(TEST_REDIS_URL), Redis.from_url(TEST_REDIS_URL)
    try:
        one = LoginThrottle(first, redis_prefix, 3)
        other = LoginThrottle(second, redis_prefix, 3)
        await one.failed("10.0.0.1", T0)
        await other.failed("10.0.0.1", T0 + timedelta(seconds=1))
        await one.failed("10.0.0.1", T0 + timedelta(seconds=2))
        waits = [
            await throttle.retry_after("10.0.0.1", T0 + timedelta(seconds=10))
            for throttle in (one, other)
        ]
        elsewhere = await other.retry_after("10.0.0.2", T0 + timedelta(seconds=10))
        ttl = await first.ttl(f"{redis_prefix}:console:login-failures:10.0.0.1")
    finally:
        await first.aclose()
        await second.aclose()
    assert waits == [50, 50]
    assert elsewhere is None
    assert 0 < ttl <= 61


def _request(body: bytes, *, length: str | None) -> tuple[Request, list[int]]:
    """A request whose body arrives in 10-byte chunks; the list counts chunks read."""
    read: list[int] = []
    chunks = [body[i : i + 10] for i in range(0, len(body), 10)] or [b""]

    async def receive() -> dict[str, object]:
        index = len(read)
        read.append(index)
        return {"type": "http.request", "body": chunks[index], "more_body": index + 1 < len(chunks)}

    headers = [(b"content-length", length.encode())] if length is not None else []
    scope = {"type": "http", "method": "POST", "path": "/", "headers": headers}
    return Request(scope, receive), read  # type: ignore[arg-type]


async def test_a_body_within_the_limit_is_read_whole() -> None:
    request, _ = _request(b"token=abc&x=1", length="13")
    assert await read_body(request, 13) == b"token=abc&x=1"


async def test_a_body_declared_too_large_is_refused_before_a_byte_is_read() -> None:
    request, read = _request(b"x" * 100, length="100")
    assert declared_too_large(request, 99)
    with pytest.raises(BodyTooLarge, match="over 99 bytes"):
        await read_body(request, 99)
    assert read == []


async def test_a_chunked_body_is_cut_off_one_chunk_past_the_limit() -> None:
    request, read = _request(b"x" * 1000, length=None)
    with pytest.raises(BodyTooLarge):
        await read_body(request, 25)
    assert len(read) == 3


def test_a_garbled_content_length_counts_as_too_large() -> None:
    request, _ = _request(b"", length="lots")
    assert declared_too_large(request, 10)


def test_a_form_keeps_the_last_value_of_each_field_and_blank_ones() -> None:
    assert parse_form(b"a=1&a=2&b=&c=%3Cx%3E") == {"a": "2", "b": "", "c": "<x>"}
