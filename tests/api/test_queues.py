"""``/retry-queue`` and ``/dead-letters``, and the bulk requeue by reason."""

from __future__ import annotations

import httpx

from campaign_engine.runtime import Runtime
from tests.ops import seed


async def test_given_up_contacts_are_listed_and_requeued_by_reason(
    api: httpx.AsyncClient, runtime: Runtime
) -> None:
    async with runtime.sessions() as session, session.begin():
        cid = await seed.campaign(session)
        gone = await seed.contact(
            session, cid, "+919811111111", state="exhausted", attempts_count=3
        )

    dead = (await api.get("/dead-letters", params={"campaign_id": cid})).json()
    queue = await api.get("/retry-queue", params={"campaign_id": cid})
    requeued = await api.post(
        "/retry-queue/requeue", json={"campaign_id": cid, "reason": "exhausted"}
    )
    unknown = await api.post("/retry-queue/requeue", json={"campaign_id": cid, "reason": "bored"})
    audit = (await api.get("/audit", params={"target_id": cid})).json()["items"]

    assert [c["contact_id"] for c in dead["contacts"]] == [gone.id]
    assert queue.status_code == 200 and "by_reason" in queue.json()
    assert requeued.json()["requeued"] == 1
    assert requeued.json()["contacts"][0]["contact_id"] == gone.id
    assert unknown.status_code == 409 and "unknown reason" in unknown.json()["detail"]
    assert audit[0]["actor"] == "admin-bot"
