"""Delivery of the ``session.completed`` webhook, with Vocobase's retry schedule and faults.

The engine's correctness hinges on how it copes with this webhook being late, missing,
repeated or racing the start response, so each of those is reproducible here: retries
follow the documented +1 s, +2 s, +4 s schedule (scaled), and drops and duplicates come
from the call's plan. A webhook is dispatched when the call's post-call processing is done
(not when the call ends), and its timestamps, ``X-Webhook-Timestamp`` included, are the
simulator's clock (true time + ``clock_skew_seconds``).
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Callable
from datetime import datetime
from typing import Any

import httpx

from campaign_engine.simulator.calls import SimCall
from campaign_engine.simulator.knobs import SimulatorConfig
from campaign_engine.simulator.ledger import iso_utc, skewed_now
from campaign_engine.vocobase.signing import SIGNATURE_HEADER, TIMESTAMP_HEADER, key_forms, sign

EVENT = "session.completed"


def session_completed_payload(call: SimCall, now: datetime) -> dict[str, Any]:
    """The documented webhook body for a call whose processing is done; ``now`` is the
    simulator's clock."""
    record = call.record
    return {
        "event": EVENT,
        "timestamp": iso_utc(now),
        "data": {
            "session_id": record.session_id,
            "agent_id": record.agent_id,
            "agent_name": call.agent.name,
            "duration_seconds": record.duration_seconds,
            "credits_used": call.credits_used,
            "processing_complete": call.processing_complete,
            "pipeline_completed_at": iso_utc(record.pipeline_completed_at),
            "transcript": [dict(turn) for turn in call.transcript],
            "recording_url": call.recording_url,
            "variables": dict(record.variables),
            "extraction": None,
            "call": {
                "call_id": record.call_id,
                "from_number": call.from_number,
                "to_number": record.to_number,
                "direction": "outbound",
                "status": record.status,
                "disposition": record.disposition,
                "answered_by": record.answered_by,
            },
        },
    }


def signing_key(config: SimulatorConfig) -> str:
    """The HMAC key the simulator signs with: the endpoint secret in the chosen form."""
    return dict(key_forms(config.webhook_secret)).get(
        config.webhook_key_form, config.webhook_secret
    )


def signed_headers(secret: str, body: bytes, now: datetime) -> dict[str, str]:
    """Headers for one attempt; signed afresh so a retry's timestamp is current."""
    timestamp = iso_utc(now) or ""
    return {
        "Content-Type": "application/json",
        TIMESTAMP_HEADER: timestamp,
        SIGNATURE_HEADER: sign(secret, timestamp, body),
    }


class WebhookSender:
    """Sends webhooks in background tasks over one shared HTTP client."""

    def __init__(
        self,
        config: SimulatorConfig,
        transport: httpx.AsyncBaseTransport | None = None,
        now: Callable[[], datetime] | None = None,
    ) -> None:
        self._config = config
        self._transport = transport
        self._now = now or (lambda: skewed_now(config.clock_skew_seconds))
        self._client: httpx.AsyncClient | None = None
        self._tasks: set[asyncio.Task[None]] = set()
        self._first_attempts: dict[str, asyncio.Event] = {}

    def _http(self) -> httpx.AsyncClient:
        # Created lazily: an app driven through ASGITransport never runs its lifespan.
        if self._client is None:
            self._client = httpx.AsyncClient(transport=self._transport)
        return self._client

    def dispatch(self, call: SimCall) -> None:
        """Schedule delivery for a call whose processing just completed (or record that its
        webhook is dropped)."""
        url = self._config.webhook_url
        if url is None:
            return
        if call.plan.drop_webhook:
            call.record.dropped = True
            return
        payload = session_completed_payload(call, self._now())
        body = json.dumps(payload, separators=(",", ":")).encode()
        first_attempt = asyncio.Event()
        self._first_attempts[call.call_id] = first_attempt
        copies = 2 if call.plan.duplicate_webhook else 1
        task = asyncio.create_task(
            self._deliver_copies(call, url, body, copies, first_attempt),
            name=f"sim-webhook-{call.call_id}",
        )
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def wait_first_attempt(self, call_id: str) -> None:
        """Return once the first delivery attempt for ``call_id`` has finished, if any."""
        event = self._first_attempts.get(call_id)
        if event is not None:
            await event.wait()

    async def _deliver_copies(
        self, call: SimCall, url: str, body: bytes, copies: int, first_attempt: asyncio.Event
    ) -> None:
        try:
            delivered = False
            for _ in range(copies):
                delivered = await self._deliver(call, url, body, first_attempt) or delivered
            if not delivered:
                call.record.dropped = True
        finally:
            first_attempt.set()
            self._first_attempts.pop(call.call_id, None)

    async def _deliver(
        self, call: SimCall, url: str, body: bytes, first_attempt: asyncio.Event
    ) -> bool:
        """One delivery: the first attempt plus the retries; True once a 2xx came back."""
        config = self._config
        delays = [0.0, *config.webhook_retry_delays]
        for delay in delays:
            if delay:
                await asyncio.sleep(delay * config.time_scale)
            call.record.webhook_attempts += 1
            try:
                response = await self._http().post(
                    url,
                    content=body,
                    headers=signed_headers(signing_key(config), body, self._now()),
                    timeout=config.webhook_timeout_seconds,
                )
                if 200 <= response.status_code < 300:
                    call.record.webhook_deliveries += 1
                    return True
            except httpx.HTTPError:
                pass
            finally:
                first_attempt.set()
        return False

    @property
    def in_flight(self) -> int:
        """Deliveries (with their retries) not finished yet."""
        return len(self._tasks)

    async def drain(self) -> None:
        """Wait until every scheduled delivery, retries included, has finished."""
        while self._tasks:
            await asyncio.gather(*list(self._tasks), return_exceptions=True)

    async def cancel_all(self) -> None:
        tasks = list(self._tasks)
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        self._tasks.clear()
        self._first_attempts.clear()

    async def aclose(self) -> None:
        await self.cancel_all()
        if self._client is not None:
            await self._client.aclose()
            self._client = None
