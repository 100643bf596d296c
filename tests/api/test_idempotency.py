"""``Idempotency-Key``: a retried creation answers the same and creates nothing twice; the
same key with another request is refused; keys are per token."""

from __future__ import annotations

import httpx
from sqlalchemy import func, select

from campaign_engine.db.models import Campaign
from campaign_engine.runtime import Runtime
from tests.api.conftest import Tokens
from tests.ops.seed import AGENT_ID

NEW = {"name": "Reminders", "agent_id": AGENT_ID}


async def _campaigns(runtime: Runtime) -> int:
    async with runtime.sessions() as session:
        return int(await session.scalar(select(func.count()).select_from(Campaign)) or 0)


async def test_a_retried_create_returns_the_first_answer_and_creates_one_campaign(
    api: httpx.AsyncClient, runtime: Runtime
) -> None:
    key = {"Idempotency-Key": "order-42"}
    first = await api.post("/campaigns", json=NEW, headers=key)
    again = await api.post("/campaigns", json=NEW, headers=key)
    other = await api.post("/campaigns", json=NEW, headers={"Idempotency-Key": "order-43"})

    assert first.status_code == again.status_code == 201
    assert again.json() == first.json() and again.headers["Idempotent-Replayed"] == "true"
    assert other.json()["id"] != first.json()["id"]
    assert await _campaigns(runtime) == 2


async def test_the_same_key_with_another_body_is_refused_naming_the_header(
    api: httpx.AsyncClient, runtime: Runtime
) -> None:
    key = {"Idempotency-Key": "k1"}
    await api.post("/campaigns", json=NEW, headers=key)
    changed = await api.post("/campaigns", json={**NEW, "name": "Other"}, headers=key)

    assert changed.status_code == 422
    assert changed.json()["errors"][0]["field"] == "header.Idempotency-Key"
    assert await _campaigns(runtime) == 1


async def test_a_failed_request_stores_nothing_so_its_fixed_retry_creates(
    api: httpx.AsyncClient, runtime: Runtime
) -> None:
    key = {"Idempotency-Key": "k2"}
    bad = await api.post("/campaigns", json={**NEW, "agent_id": "nope"}, headers=key)
    fixed = await api.post("/campaigns", json={**NEW, "agent_id": "nope"}, headers=key)

    assert bad.status_code == fixed.status_code == 422
    assert await _campaigns(runtime) == 0


async def test_keys_belong_to_one_token(
    api: httpx.AsyncClient, runtime: Runtime, api_tokens: Tokens
) -> None:
    key = {"Idempotency-Key": "shared"}
    mine = await api.post("/campaigns", json=NEW, headers=key)
    theirs = await api.post("/campaigns", json=NEW, headers={**key, **api_tokens.header("operate")})

    assert mine.json()["id"] != theirs.json()["id"]
    assert await _campaigns(runtime) == 2
