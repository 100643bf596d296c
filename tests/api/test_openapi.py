"""The OpenAPI document is generated from the operations' own models, and the docs page
needs nothing from outside the machine."""

from __future__ import annotations

import httpx

from campaign_engine.api import OPERATIONS
from campaign_engine.runtime import Runtime
from campaign_engine.server import create_app
from tests.api.conftest import Tokens


async def test_the_document_lists_every_operation_with_its_models_and_problem_answers(
    api: httpx.AsyncClient,
) -> None:
    doc = (await api.get("/openapi.json", headers={"Authorization": ""})).json()
    operations = [(m.upper(), p) for p, item in doc["paths"].items() for m in item]

    assert doc["openapi"] == "3.1.0"
    assert sorted(operations) == sorted((op.method, op.document_path) for op in OPERATIONS)
    create = doc["paths"]["/campaigns"]["post"]
    assert create["requestBody"]["content"]["application/json"]["schema"] == {
        "$ref": "#/components/schemas/CampaignIn"
    }
    assert "name" in doc["components"]["schemas"]["CampaignIn"]["required"]
    assert create["responses"]["422"]["content"]["application/problem+json"]["schema"] == {
        "$ref": "#/components/schemas/Problem"
    }
    assert any(p["name"] == "Idempotency-Key" for p in create["parameters"])
    upload = doc["paths"]["/campaigns/{campaign_id}/uploads"]["post"]
    assert set(upload["requestBody"]["content"]) == {"text/csv", "multipart/form-data"}


async def test_the_docs_page_loads_only_from_this_server(api: httpx.AsyncClient) -> None:
    page = await api.get("/docs", headers={"Authorization": ""})

    assert page.status_code == 200 and 'fetch("openapi.json")' in page.text
    assert "http://" not in page.text and "https://" not in page.text and "//cdn" not in page.text


async def test_the_server_app_serves_the_api_beside_the_console(
    runtime: Runtime, api_tokens: Tokens
) -> None:
    transport = httpx.ASGITransport(app=create_app(runtime))
    async with httpx.AsyncClient(transport=transport, base_url="http://engine") as client:
        listed = await client.get("/api/v1/campaigns", headers=api_tokens.header("read"))
        doc = await client.get("/api/v1/openapi.json")

    assert listed.status_code == 200 and listed.json()["items"] == []
    assert doc.json()["servers"] == [{"url": "/api/v1"}]
