"""``/suppressions``: the do-not-call list over HTTP, audited under the token's name."""

from __future__ import annotations

import httpx

from campaign_engine.runtime import Runtime
from tests.api.conftest import Tokens


async def test_add_list_import_and_remove_are_audited_under_the_tokens_name(
    api: httpx.AsyncClient, runtime: Runtime, api_tokens: Tokens
) -> None:
    operate = api_tokens.header("operate")
    added = await api.post(
        "/suppressions",
        json={
            "numbers": ["098111 11111"],
            "prefixes": ["+1 800"],
            "default_region": "IN",
            "reason": "asked",
        },
        headers=operate,
    )
    imported = await api.post(
        "/suppressions/import",
        content=b"number,reason\n+919822222222,opt-out\nnope,x\n",
        params={"reason": "list"},
        headers={**operate, "Content-Type": "text/csv"},
    )
    listed = (await api.get("/suppressions", headers=api_tokens.header("read"))).json()["items"]
    removed = await api.post(
        "/suppressions/remove", json={"prefixes": ["+1800"], "reason": "mistake"}, headers=operate
    )
    after = (await api.get("/suppressions")).json()["items"]
    audit = (await api.get("/audit")).json()["items"]

    assert added.status_code == 201 and added.json() == {"added": 2, "already": 0}
    assert (imported.json()["added"], imported.json()["rejected"]) == (1, 1)
    assert [(e["kind"], e["pattern"]) for e in listed] == [
        ("number", "+919811111111"),
        ("prefix", "+1800"),
        ("number", "+919822222222"),
    ]
    assert removed.json() == {"removed": 1}
    assert [e["pattern"] for e in after] == ["+919811111111", "+919822222222"]
    actions = {(e["action"], e["actor"]) for e in audit if e["action"].startswith("suppress")}
    assert actions == {
        ("suppress-add", "operate-bot"),
        ("suppress-import", "operate-bot"),
        ("suppress-remove", "operate-bot"),
    }


async def test_a_bad_number_or_an_empty_request_names_the_field(api: httpx.AsyncClient) -> None:
    bad = await api.post("/suppressions", json={"numbers": ["+91 98111", "call me"]})
    empty = await api.post("/suppressions", json={})

    assert bad.status_code == 422 and bad.json()["errors"][0]["field"].startswith("body.numbers.")
    assert empty.status_code == 422 and empty.json()["errors"][0]["field"] == "body.numbers"
