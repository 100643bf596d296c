"""Cursor pagination on the audit log, the do-not-call list and the notifications' outbox,
as on campaigns and contacts: pages of ``limit`` rows, a total, a cursor to the next page,
every row exactly once; ``limit`` alone still works."""

from __future__ import annotations

from typing import Any

import httpx

from campaign_engine.db.models import Notification
from campaign_engine.journal.audit import record
from campaign_engine.runtime import Runtime
from tests.ops import seed


async def _all_pages(api: httpx.AsyncClient, path: str, key: str, **params: Any) -> list[Any]:
    """Every page of ``path`` at 2 rows a page: the pages' rows, checked for their totals."""
    pages: list[list[Any]] = []
    cursor = None
    while True:
        sent = {**params, "limit": 2, **({"cursor": cursor} if cursor else {})}
        page = (await api.get(path, params=sent)).json()
        pages.append(page[key])
        assert len(page[key]) <= 2
        cursor = page["next_cursor"]
        if cursor is None:
            return pages


async def test_the_audit_log_pages_newest_first_with_a_total(
    api: httpx.AsyncClient, runtime: Runtime
) -> None:
    async with runtime.sessions() as session, session.begin():
        for n in range(5):
            await record(session, actor="t", action=f"a{n}", target_type="thing", target_id="x")

    pages = await _all_pages(api, "/audit", "items", target_type="thing")
    first = (await api.get("/audit", params={"target_type": "thing", "limit": 2})).json()

    assert [[e["action"] for e in page] for page in pages] == [["a4", "a3"], ["a2", "a1"], ["a0"]]
    assert first["total"] == 5


async def test_the_do_not_call_list_pages_oldest_first(api: httpx.AsyncClient) -> None:
    numbers = [f"+91981111111{n}" for n in range(5)]
    await api.post("/suppressions", json={"numbers": numbers})

    pages = await _all_pages(api, "/suppressions", "items")
    whole = (await api.get("/suppressions", params={"limit": 10})).json()

    assert [e["pattern"] for page in pages for e in page] == numbers
    assert [len(page) for page in pages] == [2, 2, 1]
    assert whole["total"] == 5 and whole["next_cursor"] is None


async def test_the_outbox_pages_newest_first_and_refuses_a_foreign_cursor(
    api: httpx.AsyncClient, runtime: Runtime
) -> None:
    async with runtime.sessions() as session, session.begin():
        cid = await seed.campaign(session)
        contact = await seed.contact(session, cid, "+919811111111", state="done")
        for n in range(3):
            session.add(
                Notification(campaign_id=cid, contact_id=contact.id, kind="final", payload={"n": n})
            )

    pages = await _all_pages(api, "/notifications", "notifications", campaign_id=cid)
    first = (await api.get("/notifications", params={"limit": 2})).json()
    foreign = await api.get("/notifications", params={"cursor": "bm90IGEgY3Vyc29y"})

    ids = [n["id"] for page in pages for n in page]
    assert ids == sorted(ids, reverse=True) and len(ids) == 3
    assert [len(page) for page in pages] == [2, 1]
    assert first["total"] == 3 and first["counts"]["pending"] == 3
    assert foreign.status_code == 422 and foreign.json()["errors"][0]["field"] == "query.cursor"
