"""The ASGI wrapper that counts webhook deliveries refused for their signature (401)."""

from __future__ import annotations

import httpx
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import PlainTextResponse
from starlette.routing import Route
from starlette.types import Receive, Scope, Send

from campaign_engine.ops.metrics import SIGNATURE_FAILURES
from campaign_engine.ops.signature_watch import REFUSED, WEBHOOK_PATH, SignatureFailureCounter


async def _answer(request: Request) -> PlainTextResponse:
    return PlainTextResponse("x", status_code=int(request.query_params.get("status", "200")))


def client() -> httpx.AsyncClient:
    inner = Starlette(
        routes=[
            Route(WEBHOOK_PATH, _answer, methods=["POST"]),
            Route("/other", _answer, methods=["POST"]),
        ]
    )
    app = SignatureFailureCounter(inner)
    return httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://engine")


def failures() -> float:
    return float(SIGNATURE_FAILURES._value.get())


def test_the_watched_path_and_status_are_the_receivers() -> None:
    assert (WEBHOOK_PATH, REFUSED) == ("/webhooks/vocobase", 401)


async def test_a_401_on_the_webhook_path_is_counted_once_and_passed_through() -> None:
    before = failures()
    async with client() as http:
        response = await http.post(WEBHOOK_PATH, params={"status": "401"})
    assert (response.status_code, response.text) == (401, "x")
    assert failures() == before + 1


async def test_other_statuses_on_the_webhook_path_are_not_counted() -> None:
    before = failures()
    async with client() as http:
        statuses = [
            (await http.post(WEBHOOK_PATH, params={"status": str(code)})).status_code
            for code in (200, 400, 403, 500)
        ]
    assert statuses == [200, 400, 403, 500]
    assert failures() == before


async def test_a_401_on_another_path_is_not_counted() -> None:
    before = failures()
    async with client() as http:
        response = await http.post("/other", params={"status": "401"})
        similar = await http.post(WEBHOOK_PATH + "/x", params={"status": "401"})
    assert response.status_code == 401
    assert similar.status_code == 404
    assert failures() == before


async def test_non_http_scopes_go_straight_to_the_app() -> None:
    seen: list[str] = []

    async def inner(scope: Scope, receive: Receive, send: Send) -> None:
        seen.append(scope["type"])

    async def receive() -> dict[str, str]:
        return {"type": "lifespan.startup"}

    async def send(message: object) -> None:
        return None

    await SignatureFailureCounter(inner)({"type": "lifespan"}, receive, send)
    assert seen == ["lifespan"]
