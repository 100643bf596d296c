"""``/campaigns/{id}/results``: the export over HTTP, CSV or JSON Lines, per contact or per
attempt — the same rows as ``results export``."""

from __future__ import annotations

import csv
import io
import json

import httpx

from campaign_engine.runtime import Runtime
from tests.api.conftest import Tokens
from tests.ops import seed


async def test_results_export_as_csv_and_json_lines_per_contact_and_per_attempt(
    api: httpx.AsyncClient, runtime: Runtime, api_tokens: Tokens
) -> None:
    async with runtime.sessions() as session, session.begin():
        cid = await seed.campaign(session)
        done = await seed.contact(session, cid, "+919811111111", state="completed")
        await seed.attempt(session, done, state="ended", outcome="completed")
        await seed.attempt(session, done, state="ended", outcome="no_answer", number=2)
    read = api_tokens.header("read")

    contacts_csv = await api.get(f"/campaigns/{cid}/results", headers=read)
    attempts_jsonl = await api.get(
        f"/campaigns/{cid}/results", params={"format": "jsonl", "per": "attempt"}, headers=read
    )
    missing = await api.get("/campaigns/00000000-0000-4000-8000-000000000000/results")

    assert contacts_csv.headers["content-type"].startswith("text/csv")
    rows = list(csv.DictReader(io.StringIO(contacts_csv.text)))
    assert sorted(r["phone"] for r in rows) == ["+919800000000", "+919811111111"]
    assert attempts_jsonl.headers["content-type"] == "application/x-ndjson"
    attempts = [json.loads(line) for line in attempts_jsonl.text.splitlines()]
    assert sorted(a["outcome"] for a in attempts) == ["completed", "no_answer"]
    assert missing.status_code == 404
