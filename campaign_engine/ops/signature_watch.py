"""Counts webhook deliveries the receiver refuses for their signature (HTTP 401).

Refused deliveries are never stored, so the database cannot tell how many there were; a
burst of them means a rotated secret or someone probing the endpoint. This ASGI wrapper
only watches the response status: the receiver itself is untouched.
"""

from __future__ import annotations

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from campaign_engine.ops.metrics import SIGNATURE_FAILURES

WEBHOOK_PATH = "/webhooks/vocobase"
REFUSED = 401


class SignatureFailureCounter:
    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope.get("path") != WEBHOOK_PATH:
            await self.app(scope, receive, send)
            return

        async def watch(message: Message) -> None:
            if message["type"] == "http.response.start" and message["status"] == REFUSED:
                SIGNATURE_FAILURES.inc()
            await send(message)

        await self.app(scope, receive, watch)
