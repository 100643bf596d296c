"""``/campaigns/{id}/uploads``: a CSV streamed in (raw or multipart), imported like
``contacts import`` with its options, progress readable, rejects downloadable; a body cut
off halfway imports nothing and says so; an upload over its own limit is refused unread."""

from __future__ import annotations

import asyncio
import csv
import io
import json
from typing import Any

import httpx
from sqlalchemy import select, update

from campaign_engine.db.models import Campaign, Contact
from campaign_engine.runtime import Runtime
from tests.api.conftest import api_app
from tests.ops.seed import AGENT_ID

CSV = "Phone,Name,crm_id\n+919800000001,Asha,A1\nnot a number,Ravi,A2\n+919800000003,Meena,A3\n"


async def _campaign(api: httpx.AsyncClient, runtime: Runtime) -> str:
    """A draft whose agent is known to declare ``name`` (as start would have learned)."""
    made = await api.post(
        "/campaigns", json={"name": "Up", "agent_id": AGENT_ID, "default_region": "IN"}
    )
    cid = str(made.json()["id"])
    async with runtime.sessions() as session, session.begin():
        await session.execute(
            update(Campaign).where(Campaign.id == cid).values(agent_variables=["name"])
        )
    return cid


async def _contacts(runtime: Runtime, campaign_id: str) -> list[tuple[str, dict[str, Any]]]:
    async with runtime.sessions() as session:
        rows = await session.execute(
            select(Contact.phone_e164, Contact.variables)
            .where(Contact.campaign_id == campaign_id)
            .order_by(Contact.phone_e164)
        )
        return [(phone, variables) for phone, variables in rows.all()]


async def test_a_csv_body_is_imported_with_the_cli_options_and_its_rejects_downloadable(
    api: httpx.AsyncClient, runtime: Runtime
) -> None:
    cid = await _campaign(api, runtime)
    done = await api.post(
        f"/campaigns/{cid}/uploads",
        content=CSV.encode(),
        params={"wait": "true", "map": "Name=name", "keep": "crm_id"},
        headers={"Content-Type": "text/csv"},
    )
    assert done.status_code == 202, done.text
    status = await api.get(f"/uploads/{done.json()['id']}")
    rejects = await api.get(f"/uploads/{done.json()['id']}/rejects")

    assert done.status_code == 202, done.text
    body = status.json()
    assert (body["state"], body["rows"], body["imported"], body["rejected"]) == ("done", 3, 2, 1)
    assert body["summary"]["kept_columns"] == ["crm_id"]
    assert body["rejects_url"] == f"/api/v1/uploads/{body['id']}/rejects"
    assert rejects.headers["content-type"].startswith("text/csv")
    rejected = list(csv.DictReader(io.StringIO(rejects.content.decode("utf-8-sig"))))
    assert [row["Phone"] for row in rejected] == ["not a number"]
    assert await _contacts(runtime, cid) == [
        ("+919800000001", {"name": "Asha", "kept:crm_id": "A1"}),
        ("+919800000003", {"name": "Meena", "kept:crm_id": "A3"}),
    ]


async def test_a_multipart_upload_keeps_only_the_file_part_and_progress_reaches_done(
    api: httpx.AsyncClient, runtime: Runtime
) -> None:
    cid = await _campaign(api, runtime)
    started = await api.post(
        f"/campaigns/{cid}/uploads",
        files={"file": ("list.csv", CSV.encode(), "text/csv")},
        data={"note": "ignored"},
        params={"exclude": ["crm_id"], "map": ["Name=name"]},
    )
    upload_id = started.json()["id"]
    states = [started.json()["state"]]
    while states[-1] not in ("done", "refused", "failed"):
        await asyncio.sleep(0.05)
        states.append((await api.get(f"/uploads/{upload_id}")).json()["state"])

    final = (await api.get(f"/uploads/{upload_id}")).json()
    assert started.status_code == 202 and states[0] == "importing" and states[-1] == "done", final[
        "detail"
    ]
    assert await _contacts(runtime, cid) == [
        ("+919800000001", {"name": "Asha"}),
        ("+919800000003", {"name": "Meena"}),
    ]


async def test_a_refused_file_imports_nothing_and_names_the_reason(
    api: httpx.AsyncClient, runtime: Runtime
) -> None:
    cid = await _campaign(api, runtime)
    refused = await api.post(
        f"/campaigns/{cid}/uploads",
        content=CSV.encode(),
        params={"wait": "true", "phone_column": "Mobile"},
    )
    bad_map = await api.post(f"/campaigns/{cid}/uploads", content=b"x", params={"map": "Name"})

    assert refused.status_code == 422 and "Mobile" in refused.json()["detail"]
    assert bad_map.status_code == 422 and bad_map.json()["errors"][0]["field"] == "query.map"
    assert await _contacts(runtime, cid) == []


async def test_an_upload_declared_over_its_limit_is_refused_unread(
    api: httpx.AsyncClient, runtime: Runtime
) -> None:
    cid = await _campaign(api, runtime)
    runtime.settings.api.upload_max_bytes = 100
    asked: list[int] = []

    async def body():  # type: ignore[no-untyped-def]
        asked.append(1)
        yield b"x" * 101

    declared = await api.post(
        f"/campaigns/{cid}/uploads", content=body(), headers={"Content-Length": "101"}
    )
    streamed = await api.post(f"/campaigns/{cid}/uploads", content=(CSV * 5).encode())

    assert declared.status_code == 413 and asked == []
    assert streamed.status_code == 413
    assert await _contacts(runtime, cid) == []


async def test_an_upload_cut_off_halfway_imports_nothing_and_its_status_says_so(
    api: httpx.AsyncClient, runtime: Runtime, api_tokens: Any
) -> None:
    cid = await _campaign(api, runtime)
    lines = "".join(f"+9198{n:08d},N{n}\n" for n in range(2000))
    whole = ("Phone,Name\n" + lines).encode()
    half = whole[: len(whole) // 2]
    messages = [
        {"type": "http.request", "body": half[:1000], "more_body": True},
        {"type": "http.request", "body": half[1000:], "more_body": True},
        {"type": "http.disconnect"},
    ]
    sent: list[dict[str, Any]] = []

    async def receive() -> dict[str, Any]:
        return messages.pop(0)

    async def send(message: dict[str, Any]) -> None:
        sent.append(message)

    scope = {
        "type": "http",
        "asgi": {"version": "3.0"},
        "http_version": "1.1",
        "method": "POST",
        "scheme": "http",
        "path": f"/api/v1/campaigns/{cid}/uploads",
        "raw_path": f"/api/v1/campaigns/{cid}/uploads".encode(),
        "query_string": b"",
        "root_path": "",
        "headers": [
            (b"authorization", f"Bearer {api_tokens.admin}".encode()),
            (b"content-type", b"text/csv"),
            (b"content-length", str(len(whole)).encode()),
        ],
        "client": ("127.0.0.1", 1),
        "server": ("engine", 80),
    }
    app = api_app(runtime)
    await app(scope, receive, send)
    uploads = [
        e for e in (await api.get("/audit")).json()["items"] if e["action"] == "contacts-upload"
    ]
    folder = runtime.settings.api.upload_dir

    assert uploads == []  # nothing was imported, so nothing is recorded as imported
    assert await _contacts(runtime, cid) == []
    from campaign_engine.ops.upload_store import root

    statuses = [json.loads(p.read_text()) for p in root(folder).glob("*/status.json")]
    cut = [s for s in statuses if s["campaign_id"] == cid]
    assert [s["state"] for s in cut] == ["cut_off"]
    assert cut[0]["received_bytes"] == len(half)
    assert f"cut off after {len(half)} bytes: nothing imported" in cut[0]["detail"]
