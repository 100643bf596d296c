"""What every operation shares: a token, the scope it needs, bodies limited before they are
read, and every error as problem details naming the field."""

from __future__ import annotations

import httpx

from campaign_engine.api.problems import MEDIA_TYPE
from campaign_engine.ops import tokens
from campaign_engine.runtime import Runtime
from tests.api.conftest import Tokens
from tests.ops.seed import AGENT_ID

NEW = {"name": "Reminders", "agent_id": AGENT_ID, "default_region": "IN"}


def _problem(response: httpx.Response, status: int) -> dict:
    assert response.status_code == status, response.text
    assert response.headers["content-type"] == MEDIA_TYPE
    body = response.json()
    assert body["status"] == status and body["title"] and body["detail"]
    assert body["type"].startswith("https://")
    return body


async def test_no_token_a_wrong_one_and_a_revoked_one_are_401(
    api: httpx.AsyncClient, runtime: Runtime, api_tokens: Tokens
) -> None:
    async with runtime.sessions() as session, session.begin():
        await tokens.revoke_token(session, "read-bot", actor="t")

    missing = await api.get("/campaigns", headers={"Authorization": ""})
    wrong = await api.get("/campaigns", headers={"Authorization": "Bearer ce_nope"})
    basic = await api.get("/campaigns", headers={"Authorization": "Basic eDp5"})
    revoked = await api.get("/campaigns", headers=api_tokens.header("read"))

    for response in (missing, wrong, basic, revoked):
        _problem(response, 401)
    assert "Bearer" in _problem(missing, 401)["detail"]


async def test_a_read_token_may_read_but_not_act_and_operate_may_not_manage_tokens(
    api: httpx.AsyncClient, api_tokens: Tokens
) -> None:
    listed = await api.get("/campaigns", headers=api_tokens.header("read"))
    create = await api.post("/campaigns", json=NEW, headers=api_tokens.header("read"))
    made = await api.post("/campaigns", json=NEW, headers=api_tokens.header("operate"))
    token = await api.post(
        "/tokens", json={"name": "x", "scope": "read"}, headers=api_tokens.header("operate")
    )

    assert listed.status_code == 200
    assert "scope read" in _problem(create, 403)["detail"]
    assert made.status_code == 201
    assert "needs admin" in _problem(token, 403)["detail"]


async def test_the_config_token_is_an_admin_named_config(
    runtime: Runtime, api: httpx.AsyncClient
) -> None:
    runtime.settings.ops.token = type(runtime.settings.ops.token)("old-shared-token")
    made = await api.post(
        "/campaigns", json=NEW, headers={"Authorization": "Bearer old-shared-token"}
    )
    audit = await api.get("/audit", params={"target_type": "campaign"})

    assert made.status_code == 201
    assert [(e["actor"], e["action"]) for e in audit.json()["items"]] == [
        ("config", "campaign-create")
    ]


async def test_a_body_declared_larger_than_the_limit_is_refused_before_it_is_read(
    runtime: Runtime, api: httpx.AsyncClient
) -> None:
    limit = runtime.settings.server.max_body_bytes
    received: list[int] = []

    async def body():  # type: ignore[no-untyped-def]
        for _ in range(3):
            received.append(1)
            yield b"x" * 1024

    declared = await api.post(
        "/campaigns", content=body(), headers={"Content-Length": str(limit + 1)}
    )
    streamed = await api.post("/campaigns", content=b'{"name": "' + b"x" * (limit + 1) + b'"}')

    assert _problem(declared, 413)["errors"] == [
        {"field": "body", "problem": f"larger than {limit} bytes"}
    ]
    assert received == []  # not one chunk was asked for
    _problem(streamed, 413)


async def test_every_malformed_field_is_named_in_a_422(api: httpx.AsyncClient) -> None:
    bad = await api.post(
        "/campaigns",
        json={"name": "", "agent_id": AGENT_ID, "max_concurrent": 0, "surprise": 1},
    )
    not_json = await api.post("/campaigns", content=b"{nope")
    bad_query = await api.get("/campaigns", params={"limit": "many", "state": "asleep"})
    bad_cursor = await api.get("/campaigns", params={"cursor": "bm9wZQ"})

    fields = {e["field"] for e in _problem(bad, 422)["errors"]}
    assert fields == {"body.name", "body.max_concurrent", "body.surprise"}
    assert _problem(not_json, 422)["errors"][0]["field"] == "body"
    assert {e["field"] for e in _problem(bad_query, 422)["errors"]} == {
        "query.limit",
        "query.state",
    }
    assert _problem(bad_cursor, 422)["errors"][0]["field"] == "query.cursor"


async def test_unknown_paths_and_things_are_404_problems(api: httpx.AsyncClient) -> None:
    nowhere = await api.get("/nowhere")
    no_campaign = await api.get("/campaigns/00000000-0000-4000-8000-000000000000")
    no_contact = await api.get("/contacts/12345")

    _problem(nowhere, 404)
    assert "not found" in _problem(no_campaign, 404)["detail"]
    assert "not found" in _problem(no_contact, 404)["detail"]
