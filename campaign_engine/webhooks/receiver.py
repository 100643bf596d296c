"""``POST /webhooks/vocobase``: verify, store, answer fast, process after answering.

Vocobase waits at most 10 s for a 2xx and retries only three times, so the answer must not
wait for outcome processing: the event is committed to the inbox (an autocommit upsert
shared by concurrent deliveries, see :mod:`~campaign_engine.webhooks.inbox_writer`), the
200 goes out, and the event is applied in the background — by the server's
:class:`~campaign_engine.webhooks.background.InboxProcessor` when the app runs with its
lifespan, else by a response background task. Whatever a crash leaves behind is found
again by the processor's catch-up and the scheduler's sweep.
"""

from __future__ import annotations

import json
import logging
from typing import Any

from pydantic import ValidationError
from starlette.background import BackgroundTask
from starlette.requests import ClientDisconnect, Request
from starlette.responses import JSONResponse

from campaign_engine.db.models import utcnow
from campaign_engine.runtime import Runtime
from campaign_engine.vocobase.schemas import SessionCompletedEvent
from campaign_engine.vocobase.signing import SIGNATURE_HEADER, TIMESTAMP_HEADER
from campaign_engine.webhooks import inbox
from campaign_engine.webhooks.apply import process_event
from campaign_engine.webhooks.background import InboxProcessor
from campaign_engine.webhooks.inbox_writer import writer_for
from campaign_engine.webhooks.verify import Rejected, verify

log = logging.getLogger(__name__)

_KEPT_HEADERS = (TIMESTAMP_HEADER, SIGNATURE_HEADER, "content-type", "user-agent")


class BodyTooLarge(Exception):
    pass


async def read_body(request: Request, limit: int) -> bytes:
    """The raw body, refusing to hold more than ``limit`` bytes in memory."""
    declared = request.headers.get("content-length")
    if declared is not None and declared.isdigit() and int(declared) > limit:
        raise BodyTooLarge
    chunks: list[bytes] = []
    size = 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > limit:
            raise BodyTooLarge
        chunks.append(chunk)
    return b"".join(chunks)


def _error(status: int, message: str) -> JSONResponse:
    return JSONResponse({"ok": False, "error": message}, status_code=status)


async def receive_vocobase(request: Request) -> JSONResponse:
    runtime: Runtime = request.app.state.runtime
    server = runtime.settings.server
    try:
        body = await read_body(request, server.max_body_bytes)
    except BodyTooLarge:
        return _error(413, f"body larger than {server.max_body_bytes} bytes")
    except ClientDisconnect:
        return _error(400, "client disconnected")
    try:
        verify(
            secrets=runtime.settings.vocobase.webhook_secrets(),
            timestamp=request.headers.get(TIMESTAMP_HEADER),
            signature=request.headers.get(SIGNATURE_HEADER),
            body=body,
            tolerance_seconds=server.webhook_tolerance_seconds,
            now=utcnow(),
        )
    except Rejected as exc:
        log.warning("webhook refused: %s", exc)
        return _error(401, str(exc))
    headers = {name: request.headers.get(name) for name in _KEPT_HEADERS}
    try:
        event = SessionCompletedEvent.model_validate_json(body)
    except ValidationError as exc:
        reason = _describe_invalid(body, exc)
        async with writer_for(runtime.engine).engine.connect() as conn:  # autocommit
            await inbox.store_invalid(conn, raw_body=body, headers=headers, reason=reason)
        return _error(400, reason)
    stored = await writer_for(runtime.engine).store(
        session_id=event.data.session_id,
        call_id=event.data.call.call_id if event.data.call else None,
        event_type=event.event,
        raw_body=body,
        headers=headers,
    )
    if stored.duplicate or stored.event_id is None:
        return JSONResponse({"ok": True, "duplicate": True})
    processor: InboxProcessor | None = getattr(request.app.state, "inbox_processor", None)
    if processor is not None:
        processor.submit(stored.event_id)
        return JSONResponse({"ok": True, "event_id": stored.event_id})
    return JSONResponse(
        {"ok": True, "event_id": stored.event_id},
        background=BackgroundTask(process_event, runtime, stored.event_id),
    )


def _describe_invalid(body: bytes, exc: ValidationError) -> str:
    try:
        json.loads(body)
    except (UnicodeDecodeError, json.JSONDecodeError) as decode_error:
        return f"body is not JSON: {decode_error}"[:300]
    problems: list[str] = []
    for error in exc.errors()[:5]:
        where: Any = ".".join(str(part) for part in error["loc"]) or "(body)"
        problems.append(f"{where}: {error['msg']}")
    return "body is not a session.completed event: " + "; ".join(problems)
