"""The operator's endpoint as a real HTTP server on loopback, and rows made directly.

Signatures are checked here with ``hmac``/``hashlib``, independently of
``campaign_engine.vocobase.signing``, so a mistake there cannot hide in these tests.
"""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import json
import socket
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from typing import Any

import uvicorn
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from campaign_engine.config import NotificationSettings
from campaign_engine.embedded_server import EmbeddedServer

OPERATOR_SECRET = "whsec_operator"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def notification_settings(port: int, **fields: Any) -> NotificationSettings:
    values: dict[str, Any] = {
        "url": f"http://127.0.0.1:{port}/results",
        "secret": OPERATOR_SECRET,
        "timeout_seconds": 2.0,
        "backoff_seconds": 60.0,
    }
    values.update(fields)
    return NotificationSettings(**values)


def signature_ok(secret: str, timestamp: str, body: bytes, header: str) -> bool:
    digest = hmac.new(secret.encode(), timestamp.encode() + b"." + body, hashlib.sha256)
    return hmac.compare_digest("sha256=" + digest.hexdigest(), header)


@dataclass
class Received:
    headers: dict[str, str]
    body: bytes

    @property
    def json(self) -> dict[str, Any]:
        data: dict[str, Any] = json.loads(self.body)
        return data

    @property
    def signed_correctly(self) -> bool:
        return signature_ok(
            OPERATOR_SECRET,
            self.headers.get("x-webhook-timestamp", ""),
            self.body,
            self.headers.get("x-webhook-signature", ""),
        )


@dataclass
class OperatorEndpoint:
    """Answers ``status`` (200 unless told otherwise) and keeps every request."""

    status: int = 200
    received: list[Received] = field(default_factory=list)

    async def handle(self, request: Request) -> JSONResponse:
        body = await request.body()
        self.received.append(Received(dict(request.headers), body))
        return JSONResponse({"ok": self.status < 300}, status_code=self.status)

    def ids(self) -> list[int]:
        return [item.json["id"] for item in self.received]


@asynccontextmanager
async def serving(endpoint: OperatorEndpoint, port: int) -> AsyncIterator[None]:
    """The endpoint on ``127.0.0.1:port`` for the duration of the block."""
    app = Starlette(routes=[Route("/results", endpoint.handle, methods=["POST"])])
    server = EmbeddedServer(
        uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning", lifespan="off")
    )
    task = asyncio.create_task(server.serve())
    try:
        while not server.started:
            if task.done():
                task.result()
            await asyncio.sleep(0.01)
        yield
    finally:
        server.should_exit = True
        await task
