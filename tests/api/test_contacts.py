"""``/campaigns/{id}/contacts`` and ``/contacts/{id}``: a JSON batch imported like a file,
pages of contacts with search, one contact's history, and the audited actions."""

from __future__ import annotations

import httpx
from sqlalchemy import update

from campaign_engine.db.models import Campaign
from campaign_engine.runtime import Runtime
from tests.api.conftest import Tokens
from tests.ops import seed


async def _running(runtime: Runtime) -> str:
    async with runtime.sessions() as session, session.begin():
        cid = await seed.campaign(session)
        await session.execute(
            update(Campaign).where(Campaign.id == cid).values(agent_variables=["name", "city"])
        )
    return cid


async def test_a_json_batch_is_imported_like_a_file_with_its_rejects(
    api: httpx.AsyncClient, runtime: Runtime
) -> None:
    cid = await _running(runtime)
    batch = {
        "default_region": "IN",
        "contacts": [
            {"phone": "98111 11111", "variables": {"name": "Asha", "city": "Pune"}},
            {"phone": "12", "variables": {"name": "Ravi"}},
            {"phone": "+919800000000", "variables": {"name": "Again"}},
        ],
    }
    added = await api.post(f"/campaigns/{cid}/contacts", json=batch)
    retried = await api.post(
        f"/campaigns/{cid}/contacts", json=batch, headers={"Idempotency-Key": "b1"}
    )
    undeclared = await api.post(
        f"/campaigns/{cid}/contacts",
        json={"contacts": [{"phone": "+919811111112", "variables": {"crm": "x"}}]},
    )

    assert added.status_code == 201, added.text
    body = added.json()
    assert (body["rows"], body["imported"], body["rejected"]) == (3, 1, 2)
    assert sorted(r["_reason"] for r in body["rejects"]) == [
        "duplicate_in_campaign",
        "invalid_number",
    ]
    assert retried.json()["imported"] == 0  # already in the campaign: never added twice
    assert undeclared.status_code == 422 and "crm" in undeclared.json()["detail"]


async def test_contacts_page_by_cursor_and_search_by_digits_and_state(
    api: httpx.AsyncClient, runtime: Runtime
) -> None:
    cid = await _running(runtime)
    async with runtime.sessions() as session, session.begin():
        for n in range(1, 6):
            await seed.contact(
                session, cid, f"+91981111111{n}", state="failed" if n == 5 else "pending"
            )

    first = (await api.get(f"/campaigns/{cid}/contacts", params={"limit": 4})).json()
    rest = (
        await api.get(
            f"/campaigns/{cid}/contacts", params={"limit": 4, "cursor": first["next_cursor"]}
        )
    ).json()
    found = (await api.get(f"/campaigns/{cid}/contacts", params={"phone": "98111 11113"})).json()
    failed = (await api.get(f"/campaigns/{cid}/contacts", params={"state": "failed"})).json()

    assert first["total"] == 6 and len(first["items"]) == 4
    assert len(rest["items"]) == 2 and rest["next_cursor"] is None
    assert [c["phone"] for c in found["items"]] == ["+919811111113"]
    assert [c["phone"] for c in failed["items"]] == ["+919811111115"]


async def test_history_and_the_actions_are_audited_under_the_tokens_name(
    api: httpx.AsyncClient, runtime: Runtime, api_tokens: Tokens
) -> None:
    cid = await _running(runtime)
    async with runtime.sessions() as session, session.begin():
        failed = await seed.contact(
            session, cid, "+919811111111", state="failed", variables={"name": "A"}
        )
        other = await seed.contact(session, cid, "+919811111112", state="pending")
        third = await seed.contact(session, cid, "+919811111113", state="pending")
        await seed.attempt(session, failed, state="ended", outcome="no_answer")
    operate = api_tokens.header("operate")

    history = await api.get(f"/contacts/{failed.id}", headers=api_tokens.header("read"))
    retried = await api.post(f"/contacts/{failed.id}/retry-now", headers=operate)
    edited = await api.post(
        f"/contacts/{failed.id}/edit-variables", json={"set": {"city": "Pune"}}, headers=operate
    )
    refused = await api.post(
        f"/contacts/{failed.id}/edit-variables", json={"set": {"crm": "x"}}, headers=operate
    )
    skipped = await api.post(f"/contacts/{other.id}/skip", headers=operate)
    suppressed = await api.post(
        f"/contacts/{third.id}/suppress", json={"reason": "asked"}, headers=operate
    )
    audit = (await api.get("/audit", params={"target_type": "contact"})).json()["items"]

    assert history.json()["attempts"][0]["outcome"] == "no_answer"
    assert retried.json()["from_state"] == "failed"
    assert edited.json()["variables"] == {"name": "A", "city": "Pune"}
    assert refused.status_code == 422 and "crm" in refused.json()["detail"]
    assert refused.json()["errors"] == [
        {"field": "body.set.crm", "problem": "the agent does not declare it"}
    ]
    assert skipped.json() == {"contact_id": other.id, "state": "canceled"}
    assert suppressed.json() == {"contact_id": third.id, "closed": True}
    assert sorted((e["action"], e["actor"]) for e in audit) == [
        ("edit-vars", "operate-bot"),
        ("retry-now", "operate-bot"),
        ("skip", "operate-bot"),
        ("suppress", "operate-bot"),
    ]
