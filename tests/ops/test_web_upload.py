"""Uploading a contact list in the console: preview, the agent's variables checked before
anything is imported, kept columns, progress, the reject report, and the export."""

from __future__ import annotations

import asyncio
import re
from pathlib import Path

import httpx
from sqlalchemy import select

from campaign_engine.db.models import Campaign, Contact
from campaign_engine.journal import audit
from campaign_engine.runtime import Runtime
from tests.ops import seed
from tests.ops.web_client import CONFIG_TOKEN, console, csrf, logged_in

MESSY = (
    "\ufeffCustomer Name;Mobile No;CRM Id;Due\r\n"
    "Asha;+91 98111 11111;C-1;1200\r\n"
    "Ravi;not a number;C-2;300\r\n"
    "Meera;9822222222;C-3;50\r\n"
    "Asha again;+91 98111 11111;C-4;1\r\n"
).encode()


async def _campaign(runtime: Runtime, declared: list[str]) -> str:
    async with runtime.sessions() as session, session.begin():
        cid = await seed.campaign(session, start=False)
        campaign = await session.get(Campaign, cid)
        assert campaign is not None
        campaign.agent_variables = declared
        campaign.default_region = "IN"
    return cid


async def _upload(browser: httpx.AsyncClient, cid: str, body: bytes) -> tuple[httpx.Response, str]:
    page = await browser.get(f"/ops/campaigns/{cid}/upload")
    token = csrf(page.text)
    sent = await browser.post(
        f"/ops/campaigns/{cid}/upload",
        params={"name": "leads.csv"},
        content=body,
        headers={"x-csrf-token": token, "content-type": "text/csv"},
    )
    return sent, token


async def _finished(browser: httpx.AsyncClient, progress: str) -> str:
    for _ in range(200):
        page = await browser.get(progress)
        if "· done" in page.text:
            return page.text
        await asyncio.sleep(0.05)
    raise AssertionError(f"the import did not finish: {page.text}")


async def test_upload_preview_import_with_a_kept_column_and_download_the_rejects(
    database_url: str, redis_prefix: str
) -> None:
    async with console(database_url, redis_prefix) as runtime:
        cid = await _campaign(runtime, ["customer_name", "due", "ce_attempt_id"])
        async with logged_in(runtime, CONFIG_TOKEN) as browser:
            sent, token = await _upload(browser, cid, MESSY)
            assert sent.status_code == 200, sent.text
            preview_url = sent.json()["preview"]
            preview = await browser.get(preview_url)
            upload_id = preview_url.rsplit("/", 1)[1]
            form = {
                "csrf": token, "phone_column": "Mobile No", "step": "import",
                "role:0": "variable", "name:0": "customer_name",
                "role:2": "keep", "name:2": "crm_id",
                "role:3": "variable", "name:3": "due",
            }  # fmt: skip
            started = await browser.post(f"/ops/uploads/{upload_id}/import", data=form)
            done = await _finished(browser, started.headers["location"])
            rejects = await browser.get(f"/ops/uploads/{upload_id}/rejects.csv")
            export = await browser.get(f"/ops/campaigns/{cid}/results.csv")
        async with runtime.sessions() as session:
            contacts = (
                await session.scalars(select(Contact).where(Contact.campaign_id == cid))
            ).all()
            entries = [(e.action, e.actor) for e in await audit.entries(session)]

    assert "semicolon" in preview.text and "<strong>phone number</strong>" in preview.text
    assert re.search(r"<td>Mobile No</td>\s*<td><strong>phone number", preview.text)
    assert 'value="customer_name"' in preview.text and "Asha · Ravi · Meera" in preview.text
    assert "the agent declares: customer_name, due, ce_attempt_id" in preview.text
    assert "the agent does not declare it" in preview.text  # crm_id, as first proposed
    assert started.status_code == 303
    assert "4 rows read · 2 imported · 2 rejected" in done
    assert "kept for the export, not sent to the agent: CRM Id" in done
    assert rejects.status_code == 200 and "_reason" in rejects.text and "Ravi" in rejects.text
    by_phone = {c.phone_e164: c.variables for c in contacts if c.phone_e164 != "+919800000000"}
    assert by_phone["+919811111111"] == {
        "customer_name": "Asha",
        "due": "1200",
        "kept:crm_id": "C-1",
    }
    header = export.text.splitlines()[0].split(",")
    assert "kept.crm_id" in header and "var.customer_name" in header
    assert ("contacts.import", "config") in entries


async def test_an_upload_the_agent_cannot_take_is_refused_before_anything_is_imported(
    sqlite_url: str, redis_prefix: str
) -> None:
    async with console(sqlite_url, redis_prefix) as runtime:
        cid = await _campaign(runtime, ["customer_name", "due", "amount"])
        async with logged_in(runtime, CONFIG_TOKEN) as browser:
            sent, token = await _upload(browser, cid, MESSY)
            upload_id = sent.json()["preview"].rsplit("/", 1)[1]
            refused = await browser.post(
                f"/ops/uploads/{upload_id}/import", data={"csrf": token, "step": "import"}
            )
        async with runtime.sessions() as session:
            count = len(
                (await session.scalars(select(Contact.id).where(Contact.campaign_id == cid))).all()
            )
    assert refused.status_code == 422
    assert "nothing imported; columns the agent does not declare: crm_id" in refused.text
    assert "variables the agent declares that no column supplies: amount" in refused.text
    assert count == 1  # only the seed's contact


async def test_an_upload_over_the_limit_is_refused_and_kept_nowhere(
    sqlite_url: str, redis_prefix: str, tmp_path: Path
) -> None:
    folder = tmp_path / "uploads"
    async with console(
        sqlite_url, redis_prefix, max_upload_bytes=64, upload_dir=str(folder)
    ) as runtime:
        cid = await _campaign(runtime, ["customer_name"])
        async with logged_in(runtime, CONFIG_TOKEN) as browser:
            sent, _ = await _upload(browser, cid, MESSY)
    assert sent.status_code == 413 and "over 64 bytes" in sent.json()["error"]
    assert not folder.exists() or list(folder.iterdir()) == []


async def test_another_server_process_sees_the_upload_and_its_progress(
    sqlite_url: str, redis_prefix: str, tmp_path: Path
) -> None:
    async with console(sqlite_url, redis_prefix, upload_dir=str(tmp_path)) as runtime:
        cid = await _campaign(runtime, ["customer_name", "due", "ce_attempt_id"])
        async with (
            logged_in(runtime, CONFIG_TOKEN) as first,
            logged_in(runtime, CONFIG_TOKEN) as second,
        ):
            sent, token = await _upload(first, cid, MESSY)
            preview_url = sent.json()["preview"]
            upload_id = preview_url.rsplit("/", 1)[1]
            seen = await second.get(preview_url)
            form = {"csrf": token, "step": "import", "role:2": "keep", "name:2": "crm_id"}
            started = await first.post(f"/ops/uploads/{upload_id}/import", data=form)
            done = await _finished(second, started.headers["location"])
    assert seen.status_code == 200 and "leads.csv" in seen.text
    assert "2 imported · 2 rejected" in done


async def test_an_upload_without_the_csrf_header_or_form_token_is_refused(
    sqlite_url: str, redis_prefix: str
) -> None:
    async with console(sqlite_url, redis_prefix) as runtime:
        cid = await _campaign(runtime, ["customer_name"])
        async with logged_in(runtime, CONFIG_TOKEN) as browser:
            sent = await browser.post(f"/ops/campaigns/{cid}/upload", content=MESSY)
    assert sent.status_code == 403


async def test_a_plain_form_upload_works_without_javascript(
    sqlite_url: str, redis_prefix: str
) -> None:
    async with console(sqlite_url, redis_prefix) as runtime:
        cid = await _campaign(runtime, ["customer_name"])
        async with logged_in(runtime, CONFIG_TOKEN) as browser:
            page = await browser.get(f"/ops/campaigns/{cid}/upload")
            action = re.search(r'<form id="upload" method="post" action="([^"]+)"', page.text)
            assert action is not None and 'enctype="multipart/form-data"' in page.text
            target = action.group(1).replace("&amp;", "&")
            sent = await browser.post(target, files={"file": ("leads.csv", MESSY, "text/csv")})
            preview = await browser.get(sent.headers["location"])
            forged = await browser.post(
                f"/ops/campaigns/{cid}/upload?csrf=nope",
                files={"file": ("leads.csv", MESSY, "text/csv")},
            )
    assert sent.status_code == 303 and preview.status_code == 200
    assert "leads.csv · utf-8" in preview.text and "<strong>phone number</strong>" in preview.text
    assert forged.status_code == 403


async def test_an_upload_through_the_api_shows_in_the_console_and_one_in_the_console_in_the_api(
    sqlite_url: str, redis_prefix: str, tmp_path: Path
) -> None:
    """One store for both doors (``[ops] upload_dir`` is an alias of ``[api] upload_dir``)."""
    async with console(sqlite_url, redis_prefix, upload_dir=str(tmp_path / "up")) as runtime:
        cid = await _campaign(runtime, ["customer_name", "due", "crm_id", "ce_attempt_id"])
        async with logged_in(runtime, CONFIG_TOKEN) as browser:
            api = {"Authorization": f"Bearer {CONFIG_TOKEN}", "content-type": "text/csv"}
            by_api = await browser.post(
                f"/api/v1/campaigns/{cid}/uploads", content=MESSY, params={"wait": "true"},
                headers=api,
            )  # fmt: skip
            api_id = by_api.json()["id"]
            in_console = await _finished(browser, f"/ops/uploads/{api_id}/progress")
            console_preview = await browser.get(f"/ops/uploads/{api_id}")
            sent, _ = await _upload(browser, cid, MESSY)
            console_id = sent.json()["preview"].rsplit("/", 1)[1]
            in_api = await browser.get(f"/api/v1/uploads/{console_id}", headers=api)
    assert by_api.status_code == 202 and by_api.json()["state"] == "done"
    assert "2 imported · 2 rejected" in in_console
    assert console_preview.status_code == 303  # already imported: to its progress
    assert in_api.status_code == 200
    assert (in_api.json()["state"], in_api.json()["campaign_id"]) == ("received", cid)
    assert sorted(p.name for p in (tmp_path / "up").iterdir()) == sorted([api_id, console_id])
