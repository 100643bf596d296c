"""Pins VocobaseClient against a mock transport: what goes on the wire, and which error
class each way of failing comes out as."""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import Callable
from typing import Any

import httpx
import pytest

from campaign_engine.vocobase.client import SlidingWindow, VocobaseClient
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
)
from campaign_engine.vocobase.schemas import CallStatus, StartCallRequest

BASE_URL = "https://api.vocobase.test/api/v2"
API_KEY = "rg_live_supersecret123"
STARTED = {
    "call_id": "c1",
    "session_id": "s1",
    "status": "pending",
    "provider": "mcube",
    "from_number": None,
    "to_number": "+919876543210",
    "agent_id": "a1",
}
REQUEST = StartCallRequest(
    agent_id="a1", to_number="+919876543210", variables={"callee_name": "Sajal"}
)

Handler = Callable[[httpx.Request], httpx.Response]


def client_for(handler: Handler) -> VocobaseClient:
    return VocobaseClient(BASE_URL, API_KEY, transport=httpx.MockTransport(handler))


def ok(data: Any) -> Handler:
    return lambda request: httpx.Response(200, json={"success": True, "data": data})


def refuse(status: int, code: str, message: str, **headers: str) -> Handler:
    body = {"success": False, "error": {"code": code, "message": message}}
    return lambda request: httpx.Response(status, json=body, headers=headers)


def raises(exc_type: type[httpx.TransportError]) -> Handler:
    def handler(request: httpx.Request) -> httpx.Response:
        raise exc_type("boom", request=request)

    return handler


async def start(handler: Handler) -> Any:
    async with client_for(handler) as client:
        return await client.start_call(REQUEST)


async def failure(handler: Handler) -> VocobaseError:
    with pytest.raises(VocobaseError) as info:
        await start(handler)
    return info.value


async def test_start_call_sends_bearer_and_variables() -> None:
    seen: list[httpx.Request] = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        return ok(STARTED)(request)

    await start(handler)
    (request,) = seen
    assert request.method == "POST"
    assert str(request.url) == f"{BASE_URL}/calls/start"
    assert request.headers["Authorization"] == f"Bearer {API_KEY}"
    assert json.loads(request.content) == {
        "agent_id": "a1",
        "to_number": "+919876543210",
        "provider": "mcube",
        "variables": {"callee_name": "Sajal"},
    }


async def test_start_call_returns_started_call() -> None:
    started = await start(ok(STARTED))
    assert (started.call_id, started.session_id, started.from_number) == ("c1", "s1", None)


@pytest.mark.parametrize("exc_type", [httpx.ConnectError, httpx.ConnectTimeout, httpx.PoolTimeout])
async def test_connect_error_is_request_not_sent(exc_type: type[httpx.TransportError]) -> None:
    exc = await failure(raises(exc_type))
    assert isinstance(exc, RequestNotSent)
    assert exc.maybe_sent is False
    assert isinstance(exc.__cause__, exc_type)


@pytest.mark.parametrize(
    "exc_type",
    [
        httpx.ReadTimeout,
        httpx.WriteTimeout,
        httpx.ReadError,
        httpx.WriteError,
        httpx.RemoteProtocolError,
    ],
)
async def test_read_timeout_is_ambiguous(exc_type: type[httpx.TransportError]) -> None:
    exc = await failure(raises(exc_type))
    assert isinstance(exc, AmbiguousError)
    assert exc.maybe_sent is True


async def test_other_transport_error_is_ambiguous() -> None:
    assert isinstance(await failure(raises(httpx.ProxyError)), AmbiguousError)


async def test_429_whatever_its_wording_is_rate_limited_of_a_kind_still_to_judge() -> None:
    exc = await failure(refuse(429, "CONCURRENCY_LIMIT", "Too many active calls"))
    assert isinstance(exc, RateLimited)
    assert (exc.kind, exc.retry_after, exc.maybe_sent) == ("unknown", None, False)


async def test_429_retry_after_header_is_read() -> None:
    exc = await failure(refuse(429, "RATE_LIMITED", "Rate limit", **{"Retry-After": "12"}))
    assert isinstance(exc, RateLimited)
    assert (exc.kind, exc.retry_after) == ("unknown", 12.0)


async def test_429_without_envelope_is_still_rate_limited() -> None:
    exc = await failure(lambda request: httpx.Response(429, text="slow down"))
    assert isinstance(exc, RateLimited)
    assert (exc.code, exc.kind) == (None, "unknown")


async def test_5xx_is_server_error_and_maybe_sent() -> None:
    exc = await failure(refuse(500, "INTERNAL_ERROR", "Something broke"))
    assert isinstance(exc, ServerError)
    assert exc.maybe_sent is True
    assert (exc.status_code, exc.code) == (500, "INTERNAL_ERROR")


async def test_5xx_with_html_body_is_server_error() -> None:
    page = "<html><body>502 Bad Gateway</body></html>"
    exc = await failure(lambda request: httpx.Response(502, text=page))
    assert isinstance(exc, ServerError)
    assert exc.code is None
    assert "502 Bad Gateway" in exc.message


@pytest.mark.parametrize(
    ("status", "cls"),
    [(400, BadRequest), (401, Unauthorized), (403, Forbidden), (404, NotFound), (409, APIError)],
)
async def test_4xx_envelope_maps_to_subclass(status: int, cls: type[APIError]) -> None:
    exc = await failure(refuse(status, "SOME_CODE", "Nope"))
    assert type(exc) is cls
    assert isinstance(exc, APIError)
    assert (exc.status_code, exc.code, exc.message) == (status, "SOME_CODE", "Nope")


async def test_4xx_without_envelope_is_invalid_response() -> None:
    exc = await failure(lambda request: httpx.Response(403, text="<h1>Forbidden by WAF</h1>"))
    assert isinstance(exc, InvalidResponse)
    assert (exc.status_code, exc.maybe_sent) == (403, True)
    assert "Forbidden by WAF" in exc.body_excerpt


async def test_success_without_envelope_is_invalid_response() -> None:
    exc = await failure(lambda request: httpx.Response(200, json=STARTED))
    assert isinstance(exc, InvalidResponse)
    assert exc.maybe_sent is True


async def test_success_with_non_json_body_is_invalid_response() -> None:
    exc = await failure(lambda request: httpx.Response(200, text="OK"))
    assert isinstance(exc, InvalidResponse)
    assert exc.body_excerpt == "OK"


async def test_2xx_with_success_false_is_invalid_response() -> None:
    assert isinstance(await failure(refuse(200, "X", "odd")), InvalidResponse)


async def test_success_missing_field_is_invalid_response_naming_field() -> None:
    exc = await failure(ok({k: v for k, v in STARTED.items() if k != "call_id"}))
    assert isinstance(exc, InvalidResponse)
    assert "call_id" in str(exc)
    assert "StartedCall" in str(exc)


async def test_body_excerpt_is_short() -> None:
    exc = await failure(lambda request: httpx.Response(200, text="x" * 5000))
    assert isinstance(exc, InvalidResponse)
    assert len(exc.body_excerpt) <= 200


async def test_api_key_never_in_repr_or_error_text() -> None:
    client = client_for(refuse(401, "UNAUTHORIZED", f"Invalid API key {API_KEY}"))
    assert API_KEY not in repr(client)
    assert API_KEY not in str(client)
    with pytest.raises(Unauthorized) as refused:
        await client.start_call(REQUEST)
    await client.aclose()

    def echo_key(request: httpx.Request) -> httpx.Response:
        raise httpx.ReadTimeout(f"timed out sending {API_KEY}", request=request)

    gateway = await failure(lambda request: httpx.Response(502, text=f"bad key {API_KEY}"))
    invalid = await failure(lambda request: httpx.Response(200, text=f"key={API_KEY}"))
    for exc in (refused.value, await failure(echo_key), gateway, invalid):
        assert API_KEY not in str(exc)
        assert API_KEY not in repr(exc)
        assert API_KEY not in getattr(exc, "message", "")
        assert API_KEY not in getattr(exc, "body_excerpt", "")


def test_empty_api_key_is_refused() -> None:
    with pytest.raises(ValueError, match="api_key"):
        VocobaseClient(BASE_URL, " ")


async def test_list_calls_sends_limit_offset_and_status() -> None:
    seen: list[httpx.Request] = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        return ok(
            {"calls": [{"call_id": "c1", "status": "busy"}], "total": 1, "limit": 50, "offset": 100}
        )(request)

    async with client_for(handler) as client:
        page = await client.list_calls(limit=50, offset=100, status=CallStatus.NO_ANSWER)
    assert seen[0].url.path == "/api/v2/calls"
    assert dict(seen[0].url.params) == {"limit": "50", "offset": "100", "status": "no_answer"}
    assert page.calls[0].status == "busy"


async def test_list_calls_omits_status_when_not_given() -> None:
    seen: list[httpx.Request] = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        return ok({"calls": [], "total": 0, "limit": 100, "offset": 0})(request)

    async with client_for(handler) as client:
        await client.list_calls()
    assert dict(seen[0].url.params) == {"limit": "100", "offset": "0"}


@pytest.mark.parametrize(("limit", "offset"), [(0, 0), (101, 0), (10, -1)])
async def test_list_calls_rejects_out_of_range_paging(limit: int, offset: int) -> None:
    async with client_for(ok({})) as client:
        with pytest.raises(ValueError):
            await client.list_calls(limit=limit, offset=offset)


async def test_get_call_quotes_id_into_one_path_segment() -> None:
    seen: list[str] = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request.url.raw_path.decode())
        return ok({"call_id": "x", "status": "completed", "session": None})(request)

    async with client_for(handler) as client:
        await client.get_call("../config")
        with pytest.raises(ValueError):
            await client.get_call("")
    assert seen == ["/api/v2/calls/..%2Fconfig"]


async def test_get_call_parses_detail_with_session() -> None:
    session = {"session_id": "s1", "transcript": [{"role": "user", "content": "hi"}]}
    async with client_for(ok({"call_id": "c1", "status": "completed", "session": session})) as c:
        detail = await c.get_call("c1")
    assert detail.session is not None
    assert detail.session.transcript[0].content == "hi"


async def test_get_endpoints_hit_documented_paths() -> None:
    paths: list[str] = []
    answers: dict[str, Any] = {
        "/api/v2/config": {"allowed_telephony_providers": ["mcube"], "telephony": {}},
        "/api/v2/agent/a1": {"id": "a1", "variables": ["callee_name"]},
        "/api/v2/calls/concurrency": {"limit": 5, "active": 1, "remaining": 4},
    }

    def handler(request: httpx.Request) -> httpx.Response:
        assert request.method == "GET"
        paths.append(request.url.path)
        return ok(answers[request.url.path])(request)

    async with client_for(handler) as client:
        config = await client.get_config()
        agent = await client.get_agent("a1")
        concurrency = await client.get_concurrency()
    assert paths == list(answers)
    assert config.allows("MCUBE")
    assert agent.variables == ["callee_name"]
    assert concurrency.remaining == 4


async def test_closed_client_refuses_requests() -> None:
    async with client_for(ok(STARTED)) as client:
        pass
    with pytest.raises(RuntimeError):
        await client.start_call(REQUEST)


async def test_a_request_that_waits_too_long_for_a_connection_is_given_up_unsent() -> None:
    release = asyncio.Event()

    async def slow(request: httpx.Request) -> httpx.Response:
        await release.wait()
        return httpx.Response(200, json={"success": True, "data": STARTED})

    client = VocobaseClient(
        BASE_URL,
        API_KEY,
        connect_timeout=0.2,
        max_connections=1,
        transport=httpx.MockTransport(slow),
    )
    first = asyncio.create_task(client.start_call(REQUEST))
    await asyncio.sleep(0.05)
    with pytest.raises(RequestNotSent, match=r"no free connection to Vocobase within 0\.2s"):
        await client.start_call(REQUEST)
    release.set()
    assert (await first).call_id == "c1"
    assert (await client.start_call(REQUEST)).call_id == "c1"  # the connection was freed
    await client.aclose()


def test_the_general_endpoints_window_lets_its_limit_through_then_waits_for_the_oldest() -> None:
    window = SlidingWindow(limit=2, window_seconds=60)
    assert [window.take(now=100.0), window.take(now=101.0)] == [0.0, 0.0]
    assert window.take(now=102.0) == 58.0  # booked when the first leaves the window (160)
    assert window.take(now=161.5) == 0.0  # the 101 one is gone; 160 and 161.5 remain
    assert window.take(now=162.0) == 58.0  # after the one booked at 160


async def test_general_requests_keep_to_their_own_per_minute_limit() -> None:
    seen: list[str] = []

    def answer(request: httpx.Request) -> httpx.Response:
        seen.append(request.url.path)
        data = {"allowed_telephony_providers": ["mcube"], "telephony": {}}
        return httpx.Response(200, json={"success": True, "data": data})

    client = VocobaseClient(
        BASE_URL,
        API_KEY,
        general_per_window=2,
        window_seconds=0.4,
        transport=httpx.MockTransport(answer),
    )
    started = time.monotonic()
    for _ in range(3):
        await client.get_config()
    elapsed = time.monotonic() - started
    await client.aclose()

    assert len(seen) == 3
    assert elapsed >= 0.35  # the third waited for the first to leave the window
