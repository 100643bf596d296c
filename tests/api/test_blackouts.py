"""``/blackouts``: days nobody is called, added, listed and removed over HTTP."""

from __future__ import annotations

import httpx


async def test_a_blackout_date_is_added_listed_refused_twice_and_removed(
    api: httpx.AsyncClient,
) -> None:
    added = await api.post("/blackouts", json={"day": "2026-12-25", "reason": "Christmas"})
    twice = await api.post("/blackouts", json={"day": "2026-12-25"})
    listed = (await api.get("/blackouts")).json()
    removed = await api.post("/blackouts/remove", json={"day": "2026-12-25"})
    bad_day = await api.post("/blackouts", json={"day": "25/12/2026"})

    assert added.status_code == 201 and added.json()["reason"] == "Christmas"
    assert twice.status_code == 409
    assert [(d["day"], d["campaign_id"]) for d in listed] == [("2026-12-25", None)]
    assert removed.status_code == 204 and (await api.get("/blackouts")).json() == []
    assert bad_day.status_code == 422 and bad_day.json()["errors"][0]["field"] == "body.day"
