"""The read-mostly resources: limits, the notifications' outbox, the audit log; and the
token resource (admin only)."""

from __future__ import annotations

import httpx

from campaign_engine.runtime import Runtime
from tests.api.conftest import Tokens


async def test_limits_are_listed_with_their_use(api: httpx.AsyncClient, api_tokens: Tokens) -> None:
    limits = await api.get("/limits", headers=api_tokens.header("read"))

    assert limits.status_code == 200
    assert {"limits", "cooldown_ms"} <= set(limits.json())
    assert any(item["kind"] == "rate" for item in limits.json()["limits"])


async def test_the_outbox_counts_every_status_and_redrive_is_audited(
    api: httpx.AsyncClient,
) -> None:
    outbox = await api.get("/notifications", params={"status": "dead"})
    redriven = await api.post("/notifications/redrive", json={})
    bad = await api.get("/notifications", params={"status": "lost"})
    audit = (await api.get("/audit", params={"target_type": "notifications"})).json()["items"]

    assert outbox.json() == {
        "counts": {"pending": 0, "delivered": 0, "dead": 0},
        "notifications": [],
        "total": 0,
        "next_cursor": None,
    }
    assert redriven.json() == {"redriven": 0}
    assert bad.status_code == 422 and bad.json()["errors"][0]["field"] == "query.status"
    assert [(e["action"], e["actor"]) for e in audit] == [("notifications-redrive", "admin-bot")]


async def test_an_admin_creates_a_token_that_works_at_once_and_revokes_it(
    api: httpx.AsyncClient, runtime: Runtime
) -> None:
    made = await api.post("/tokens", json={"name": "crm", "scope": "read"})
    token = {"Authorization": f"Bearer {made.json()['token']}"}
    works = await api.get("/campaigns", headers=token)
    listed = (await api.get("/tokens")).json()
    revoked = await api.post("/tokens/crm/revoke")
    refused = await api.get("/campaigns", headers=token)
    bad_name = await api.post("/tokens", json={"name": "has space", "scope": "read"})
    taken = await api.post("/tokens", json={"name": "crm", "scope": "read"})

    assert made.status_code == 201 and made.json()["scope"] == "read"
    assert works.status_code == 200
    assert "crm" in [t["name"] for t in listed] and all("token" not in t for t in listed)
    assert revoked.json()["revoked_at"] and refused.status_code == 401
    assert bad_name.status_code == 422 and bad_name.json()["errors"][0]["field"] == "body.name"
    assert taken.status_code == 422 and "already exists" in taken.json()["detail"]
