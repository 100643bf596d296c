"""Helpers for the webhook tests: signed deliveries, rows made directly, the app over ASGI.

Signatures are computed here with ``hmac``/``hashlib``, independently of
``campaign_engine.vocobase.signing``, so a mistake there cannot hide in the tests.
"""

from __future__ import annotations

import hashlib
import hmac
import json
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest
from sqlalchemy import select

from campaign_engine.campaigns.retry_policy import RetryPolicy
from campaign_engine.db.models import CallAttempt, Campaign, Contact, WebhookEvent, utcnow
from campaign_engine.runtime import Runtime
from campaign_engine.server import create_app

SECRET = "whsec_test"  # the `runtime` fixture's webhook secret
AGENT_ID = "00000000-0000-4000-8000-0000000000aa"
PHONE = "+919876543210"


def iso(moment: datetime) -> str:
    return moment.astimezone(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def hmac_signature(secret: str, timestamp: str, body: bytes) -> str:
    digest = hmac.new(secret.encode(), timestamp.encode() + b"." + body, hashlib.sha256)
    return "sha256=" + digest.hexdigest()


def signed(body: bytes, *, secret: str = SECRET, at: datetime | None = None) -> dict[str, str]:
    timestamp = iso(at or datetime.now(UTC))
    return {
        "Content-Type": "application/json",
        "X-Webhook-Timestamp": timestamp,
        "X-Webhook-Signature": hmac_signature(secret, timestamp, body),
    }


def event_body(
    *,
    session_id: str = "sess-1",
    call_id: str | None = "call-1",
    to_number: str = PHONE,
    status: str = "completed",
    disposition: str | None = "completed",
    answered_by: str | None = "human",
    variables: dict[str, Any] | None = None,
    **data: Any,
) -> bytes:
    """A documented ``session.completed`` body (``call_id=None`` leaves the call out)."""
    payload: dict[str, Any] = {
        "session_id": session_id,
        "agent_id": AGENT_ID,
        "agent_name": "Test agent",
        "duration_seconds": 42.5,
        "credits_used": 1.25,
        "processing_complete": True,
        "pipeline_completed_at": iso(datetime.now(UTC)),
        "transcript": [
            {"role": "assistant", "content": "Hello, is this Asha?"},
            {"role": "user", "content": "Yes, speaking."},
        ],
        "recording_url": f"https://recordings.example/{session_id}.mp3",
        "variables": variables if variables is not None else {"name": "Asha"},
        "extraction": None,
        "call": None,
    }
    if call_id is not None:
        payload["call"] = {
            "call_id": call_id,
            "from_number": "+918000000000",
            "to_number": to_number,
            "direction": "outbound",
            "status": status,
            "disposition": disposition,
            "answered_by": answered_by,
        }
    payload.update(data)
    body = {"event": "session.completed", "timestamp": iso(datetime.now(UTC)), "data": payload}
    return json.dumps(body).encode()


@dataclass(frozen=True)
class Made:
    campaign_id: str
    contact_id: int
    attempt_id: int


async def make_attempt(
    runtime: Runtime,
    *,
    attempt_state: str = "started",
    contact_state: str = "calling",
    call_id: str | None = "call-1",
    session_id: str | None = "sess-1",
    policy: RetryPolicy | None = None,
    phone: str = PHONE,
    **attempt_fields: Any,
) -> Made:
    """A running campaign with one contact and its first attempt, written directly."""
    now = utcnow()
    async with runtime.sessions() as session, session.begin():
        campaign = Campaign(
            name="webhook test",
            agent_id=AGENT_ID,
            provider="twilio",
            state="running",
            retry_policy=(policy or RetryPolicy()).model_dump(mode="json"),
            started_at=now,
        )
        session.add(campaign)
        await session.flush()
        contact = Contact(
            campaign_id=campaign.id,
            phone_e164=phone,
            region="IN",
            timezones=["Asia/Calcutta"],
            variables={"name": "Asha"},
            state=contact_state,
            attempts_count=1,
        )
        session.add(contact)
        await session.flush()
        attempt = CallAttempt(
            contact_id=contact.id,
            campaign_id=campaign.id,
            attempt_number=1,
            state=attempt_state,
            provider="twilio",
            to_number=phone,
            call_id=call_id,
            session_id=session_id,
            deadline_at=now + timedelta(hours=1),
            **attempt_fields,
        )
        session.add(attempt)
        await session.flush()
        return Made(campaign.id, contact.id, attempt.id)


async def inbox_rows(runtime: Runtime) -> list[WebhookEvent]:
    async with runtime.sessions() as session:
        return list((await session.scalars(select(WebhookEvent).order_by(WebhookEvent.id))).all())


async def load_attempt(runtime: Runtime, attempt_id: int) -> CallAttempt:
    async with runtime.sessions() as session:
        attempt = await session.get(CallAttempt, attempt_id)
        assert attempt is not None
        return attempt


async def load_contact(runtime: Runtime, contact_id: int) -> Contact:
    async with runtime.sessions() as session:
        contact = await session.get(Contact, contact_id)
        assert contact is not None
        return contact


def client_for(runtime: Runtime) -> httpx.AsyncClient:
    """The engine's ASGI app in-process; background tasks finish before a response returns."""
    transport = httpx.ASGITransport(app=create_app(runtime))
    return httpx.AsyncClient(transport=transport, base_url="http://engine.test")


@pytest.fixture
async def client(runtime: Runtime) -> AsyncIterator[httpx.AsyncClient]:
    async with client_for(runtime) as opened:
        yield opened


async def deliver(client: httpx.AsyncClient, body: bytes, **sign: Any) -> httpx.Response:
    return await client.post("/webhooks/vocobase", content=body, headers=signed(body, **sign))
