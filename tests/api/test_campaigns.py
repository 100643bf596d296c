"""``/campaigns``: created with the TOML files' rules and errors, listed by pages and state,
rescheduled, re-policied, moved (audited under the token's name), preflighted."""

from __future__ import annotations

import httpx

from campaign_engine.runtime import Runtime
from tests.api.conftest import Tokens
from tests.ops import seed
from tests.ops.seed import AGENT_ID

NEW = {"name": "Reminders", "agent_id": AGENT_ID, "default_region": "IN"}


async def test_create_takes_schedule_and_retry_policy_as_the_files_keys(
    api: httpx.AsyncClient,
) -> None:
    made = await api.post(
        "/campaigns",
        json={
            **NEW,
            "provider": "twilio",
            "max_concurrent": 5,
            "priority": 3,
            "schedule": {"windows": ["09:30-18:00"], "days": ["mon", "tue"]},
            "retry_policy": {"max_attempts": 4, "no_answer": {"max_retries": 2, "delay": "15m"}},
        },
    )
    got = await api.get(f"/campaigns/{made.json()['id']}")

    assert made.status_code == 201
    body = got.json()
    assert (body["state"], body["provider"], body["max_concurrent"], body["priority"]) == (
        "draft",
        "twilio",
        5,
        3,
    )
    assert body["schedule"]["windows"] == ["09:30-18:00"]
    assert body["retry_policy"]["max_attempts"] == 4
    assert body["retry_policy"]["rules"]["no_answer"]["delay_seconds"] == 900


async def test_bad_schedule_retry_and_service_refusals_name_their_field(
    api: httpx.AsyncClient,
) -> None:
    schedule = await api.post("/campaigns", json={**NEW, "schedule": {"windowz": ["9-5"]}})
    retry = await api.post("/campaigns", json={**NEW, "retry_policy": {"completed": {}}})
    provider = await api.post("/campaigns", json={**NEW, "provider": "carrier-pigeon"})
    agent = await api.post("/campaigns", json={**NEW, "agent_id": "not-a-uuid"})

    assert schedule.status_code == retry.status_code == provider.status_code == 422
    assert schedule.json()["errors"][0]["field"] == "body.schedule"
    assert "windowz: unknown key" in schedule.json()["detail"]
    assert retry.json()["errors"][0]["field"] == "body.retry_policy"
    assert "never retried" in retry.json()["detail"]
    assert provider.json()["errors"][0]["field"] == "body.provider"
    assert agent.json()["errors"][0]["field"] == "body.agent_id"


async def test_list_pages_with_a_cursor_and_filters_by_state(
    api: httpx.AsyncClient, runtime: Runtime
) -> None:
    ids = [
        (await api.post("/campaigns", json={**NEW, "name": f"C{i}"})).json()["id"] for i in range(5)
    ]
    async with runtime.sessions() as session, session.begin():
        running = await seed.campaign(session)

    first = (await api.get("/campaigns", params={"limit": 4})).json()
    second = (
        await api.get("/campaigns", params={"limit": 4, "cursor": first["next_cursor"]})
    ).json()
    drafts = (await api.get("/campaigns", params={"state": "draft"})).json()

    assert first["total"] == 6 and len(first["items"]) == 4 and first["next_cursor"]
    seen = [c["id"] for c in first["items"] + second["items"]]
    assert sorted(seen) == sorted([*ids, running]) and second["next_cursor"] is None
    assert drafts["total"] == 5 and running not in [c["id"] for c in drafts["items"]]


async def test_pause_resume_cancel_are_audited_under_the_tokens_name(
    api: httpx.AsyncClient, runtime: Runtime, api_tokens: Tokens
) -> None:
    async with runtime.sessions() as session, session.begin():
        cid = await seed.campaign(session)
    operate = api_tokens.header("operate")

    paused = await api.post(f"/campaigns/{cid}/pause", json={"reason": "CRM sync"}, headers=operate)
    resumed = await api.post(f"/campaigns/{cid}/resume", headers=operate)
    canceled = await api.post(f"/campaigns/{cid}/cancel", json={"reason": "done"})
    again = await api.post(f"/campaigns/{cid}/resume", headers=operate)
    audit = (await api.get("/audit", params={"target_id": cid})).json()["items"]

    assert (paused.json()["state"], resumed.json()["state"]) == ("paused", "running")
    assert again.status_code == 409 and again.headers["content-type"] == "application/problem+json"
    assert canceled.json()["state"] == "canceled" and canceled.json()["contacts_closed"] == 1
    assert [(e["action"], e["actor"]) for e in reversed(audit)] == [
        ("pause", "operate-bot"),
        ("resume", "operate-bot"),
        ("cancel", "admin-bot"),
    ]
    assert audit[-1]["details"]["reason"] == "CRM sync"


async def test_schedule_and_retry_policy_change_and_are_checked(
    api: httpx.AsyncClient,
) -> None:
    cid = (await api.post("/campaigns", json=NEW)).json()["id"]

    scheduled = await api.put(
        f"/campaigns/{cid}/schedule", json={"schedule": {"windows": ["10:00-12:00"]}}
    )
    cleared = await api.put(f"/campaigns/{cid}/schedule", json={"schedule": None})
    bad = await api.put(
        f"/campaigns/{cid}/schedule", json={"schedule": {"windows": ["25:00-26:00"]}}
    )
    policy = await api.put(
        f"/campaigns/{cid}/retry-policy", json={"retry_policy": {"max_attempts": 2}}
    )
    bad_policy = await api.put(
        f"/campaigns/{cid}/retry-policy", json={"retry_policy": {"max_attempts": 0}}
    )

    assert scheduled.json()["campaign"]["schedule"]["windows"] == ["10:00-12:00"]
    assert cleared.json()["campaign"]["schedule"] is None
    assert bad.status_code == 422 and bad.json()["errors"][0]["field"] == "body.schedule"
    assert policy.json()["retry_policy"]["max_attempts"] == 2
    assert bad_policy.status_code == 422
    assert bad_policy.json()["errors"][0]["field"] == "body.retry_policy"


async def test_start_refuses_an_empty_campaign_and_preflight_counts_contacts(
    api: httpx.AsyncClient, runtime: Runtime
) -> None:
    cid = (await api.post("/campaigns", json=NEW)).json()["id"]
    empty = await api.post(f"/campaigns/{cid}/start")
    async with runtime.sessions() as session, session.begin():
        await seed.contact(session, cid, "+919800000001", state="pending")
    report = await api.get(f"/campaigns/{cid}/preflight")

    assert empty.status_code == 409 and "no contacts" in empty.json()["detail"]
    assert report.status_code == 200
    assert (report.json()["contacts"], report.json()["callable"]) == (1, 1)


async def test_preflight_plans_with_the_partner_concurrency_vocobase_taught_the_engine(
    api: httpx.AsyncClient, runtime: Runtime
) -> None:
    cid = (await api.post("/campaigns", json=NEW)).json()["id"]
    async with runtime.sessions() as session, session.begin():
        for n in range(20):
            await seed.contact(session, cid, f"+9198000{n:05d}", state="pending")
    configured = (await api.get(f"/campaigns/{cid}/preflight")).json()
    await runtime.redis.set(runtime.keys.learned_concurrency, 1)
    learned = (await api.get(f"/campaigns/{cid}/preflight")).json()

    assert "concurrency 1 " in learned["binding_description"]
    assert learned["calls_per_hour"] < configured["calls_per_hour"]
