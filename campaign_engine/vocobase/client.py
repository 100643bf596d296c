"""The one way the engine talks to the Vocobase V2 API.

Every failure comes out as a class from ``errors`` so the dialer can decide from
``maybe_sent`` whether a ``POST /calls/start`` may have placed a call; GETs are safe to
retry whatever the class. Make one client per process and share it: it owns a connection
pool, and Vocobase's limits are per API key, not per connection.
"""

from __future__ import annotations

import asyncio
import json
import time
from collections import deque
from types import TracebackType
from typing import Any, Self, TypeVar
from urllib.parse import quote

import httpx
from pydantic import BaseModel, ValidationError

from campaign_engine.config import Settings
from campaign_engine.vocobase.errors import (
    AmbiguousError,
    InvalidResponse,
    RequestNotSent,
    api_error_for,
    parse_retry_after,
)
from campaign_engine.vocobase.schemas import (
    Agent,
    CallDetail,
    CallList,
    Concurrency,
    ConnectionList,
    PartnerConfig,
    StartCallRequest,
    StartedCall,
)

ModelT = TypeVar("ModelT", bound=BaseModel)

_EXCERPT_CHARS = 200
_REDACTED = "[redacted]"
_NOT_SENT = (httpx.ConnectError, httpx.ConnectTimeout, httpx.PoolTimeout)


class VocobaseClient:
    """Async client for the endpoints the engine uses. The API key lives only in the
    pooled client's default headers and is redacted from every error text."""

    def __init__(
        self,
        base_url: str,
        api_key: str,
        *,
        timeout: float = 10.0,
        connect_timeout: float = 5.0,
        max_connections: int = 100,
        general_per_window: int | None = None,
        window_seconds: float = 60.0,
        transport: httpx.AsyncBaseTransport | None = None,
    ) -> None:
        if not api_key.strip():
            raise ValueError("api_key is empty")
        # The endpoints outside /calls/* have their own budget. Only operator commands use
        # them (a campaign start, an import's agent lookup: a few requests each), never the
        # fleet, so each process keeps to it on its own; the shared /calls/* budget is the
        # dialer's (Redis).
        self._general = (
            SlidingWindow(general_per_window, window_seconds) if general_per_window else None
        )
        self._base_url = base_url
        self._secret = api_key
        # Requests beyond the pool wait here rather than in httpx's pool, whose bookkeeping
        # grows with every request waiting in it (a dial job sends a whole wave at once).
        self._slots = asyncio.Semaphore(max_connections)
        # A request still waiting for a connection after this long is given up unsent: the
        # start's short concurrency lease must not run out before the request even leaves.
        self._slot_wait = connect_timeout
        self._http = httpx.AsyncClient(
            base_url=base_url,
            headers={
                "Authorization": f"Bearer {api_key}",
                "Accept": "application/json",
                "User-Agent": "campaign-engine",
            },
            timeout=httpx.Timeout(timeout, connect=connect_timeout),
            limits=httpx.Limits(
                max_connections=max_connections, max_keepalive_connections=max_connections
            ),
            transport=transport,
            follow_redirects=False,
        )

    def __repr__(self) -> str:
        return f"VocobaseClient(base_url={self._base_url!r})"

    async def __aenter__(self) -> Self:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.aclose()

    async def aclose(self) -> None:
        await self._http.aclose()

    @classmethod
    def from_settings(cls, settings: Settings) -> VocobaseClient:
        vocobase, limits = settings.vocobase, settings.limits.vocobase
        return cls(
            vocobase.base_url,
            vocobase.api_key.get_secret_value(),
            timeout=vocobase.timeout_seconds,
            connect_timeout=vocobase.connect_timeout_seconds,
            max_connections=vocobase.max_connections,
            general_per_window=limits.general_per_minute,
            window_seconds=limits.window_seconds,
        )

    async def get_config(self) -> PartnerConfig:
        await self._pace_general()
        return await self._request("GET", "/config", PartnerConfig)

    async def get_agent(self, agent_id: str) -> Agent:
        await self._pace_general()
        return await self._request("GET", f"/agent/{_segment(agent_id)}", Agent)

    async def list_connections(self) -> ConnectionList:
        """``GET /telephony/connections``: SIP and multi-trunk set-ups."""
        await self._pace_general()
        return await self._request("GET", "/telephony/connections", ConnectionList)

    async def _pace_general(self) -> None:
        if self._general is not None:
            await asyncio.sleep(self._general.take())

    async def start_call(self, request: StartCallRequest) -> StartedCall:
        """Not idempotent: on failure, read ``maybe_sent`` before trying again."""
        return await self._request("POST", "/calls/start", StartedCall, body=request.to_json())

    async def list_calls(
        self, *, limit: int = 100, offset: int = 0, status: str | None = None
    ) -> CallList:
        if not 1 <= limit <= 100:
            raise ValueError(f"limit must be 1-100, got {limit}")
        if offset < 0:
            raise ValueError(f"offset must be >= 0, got {offset}")
        params: dict[str, str | int] = {"limit": limit, "offset": offset}
        if status is not None:
            params["status"] = str(status)
        return await self._request("GET", "/calls", CallList, params=params)

    async def get_call(self, call_id: str) -> CallDetail:
        return await self._request("GET", f"/calls/{_segment(call_id)}", CallDetail)

    async def get_concurrency(self) -> Concurrency:
        return await self._request("GET", "/calls/concurrency", Concurrency)

    async def _request(
        self,
        method: str,
        path: str,
        model: type[ModelT],
        *,
        body: dict[str, Any] | None = None,
        params: dict[str, str | int] | None = None,
    ) -> ModelT:
        try:
            async with asyncio.timeout(self._slot_wait):
                await self._slots.acquire()
        except TimeoutError:
            detail = f"no free connection to Vocobase within {self._slot_wait:g}s; not sent"
            raise RequestNotSent(detail, method=method, path=path) from None
        try:
            response = await self._http.request(method, path, json=body, params=params)
        except _NOT_SENT as exc:
            raise RequestNotSent(self._describe(exc), method=method, path=path) from exc
        except httpx.TransportError as exc:
            # Read/write timeouts and errors, dropped connections, protocol errors, and
            # anything httpx adds later: the request may have been acted on.
            raise AmbiguousError(self._describe(exc), method=method, path=path) from exc
        finally:
            self._slots.release()
        return self._decode(response, method, path, model)

    def _decode(
        self, response: httpx.Response, method: str, path: str, model: type[ModelT]
    ) -> ModelT:
        status = response.status_code
        body = _json_or_none(response)

        def invalid(detail: str) -> InvalidResponse:
            return InvalidResponse(
                self._redact(detail),
                method=method,
                path=path,
                status_code=status,
                body_excerpt=self._excerpt(response),
            )

        if 200 <= status < 300:
            if not isinstance(body, dict) or body.get("success") is not True:
                raise invalid("success without the {success: true, data} envelope")
            if "data" not in body:
                raise invalid("envelope has no 'data'")
            try:
                return model.model_validate(body["data"])
            except ValidationError as exc:
                raise invalid(f"{model.__name__}: {_field_errors(exc)}") from exc

        error = _error_envelope(body)
        if error is not None:
            code, message = error
        elif status >= 500 or status == 429:
            # A gateway's own page: the status still says what happened.
            code, message = None, self._excerpt(response) or response.reason_phrase
        else:
            raise invalid("error without the {success: false, error} envelope")
        raise api_error_for(
            method=method,
            path=path,
            status_code=status,
            code=code,
            message=self._redact(message),
            retry_after=parse_retry_after(response.headers.get("Retry-After")),
        )

    def _excerpt(self, response: httpx.Response) -> str:
        text = " ".join(response.text.split())
        return self._redact(text)[:_EXCERPT_CHARS]

    def _describe(self, exc: httpx.TransportError) -> str:
        text = str(exc)
        return self._redact(f"{type(exc).__name__}: {text}" if text else type(exc).__name__)

    def _redact(self, text: str) -> str:
        return text.replace(self._secret, _REDACTED)


def _segment(value: str) -> str:
    """Quote an id for the path, so a malformed one cannot reach another endpoint."""
    if not value:
        raise ValueError("id is empty")
    return quote(value, safe="")


def _json_or_none(response: httpx.Response) -> Any:
    try:
        return json.loads(response.content)
    except ValueError:
        return None


def _error_envelope(body: Any) -> tuple[str | None, str] | None:
    if not isinstance(body, dict) or body.get("success") is not False:
        return None
    error = body.get("error")
    if not isinstance(error, dict):
        return None
    code = error.get("code")
    message = error.get("message")
    return (
        str(code) if code is not None else None,
        str(message) if message is not None else "",
    )


def _field_errors(exc: ValidationError, limit: int = 3) -> str:
    """Name the fields, not the values: values may be phone numbers or transcripts."""
    parts = [
        f"{'.'.join(str(p) for p in err['loc']) or '<root>'}: {err['msg']}"
        for err in exc.errors(include_url=False, include_input=False)[:limit]
    ]
    extra = exc.error_count() - limit
    if extra > 0:
        parts.append(f"and {extra} more")
    return "; ".join(parts)


class SlidingWindow:
    """At most ``limit`` requests in any ``window_seconds`` (this process's own count)."""

    def __init__(self, limit: int, window_seconds: float) -> None:
        self._limit = limit
        self._window = window_seconds
        self._sent: deque[float] = deque()

    def take(self, now: float | None = None) -> float:
        """Book the next request: how many seconds to wait before sending it."""
        now = time.monotonic() if now is None else now
        while self._sent and self._sent[0] <= now - self._window:
            self._sent.popleft()
        at = now
        if len(self._sent) >= self._limit:
            at = self._sent[-self._limit] + self._window
        self._sent.append(at)
        return at - now
