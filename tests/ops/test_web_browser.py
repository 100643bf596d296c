"""The web console in a real headless Chromium, against a running campaign.

Everything is real: ``serve``'s app under uvicorn on a loopback port, PostgreSQL, Redis, a
worker and the scheduler dialing the bundled simulator. The browser logs in through the
form with a named token, creates a campaign with a schedule, uploads a messy CSV (mapping
its columns, keeping a CRM id for the export), reads the rejects, starts the campaign,
watches the overview reload itself until its progress moves, requeues a contact from the
retry queue with the page's own form (so the CSRF token travels as a browser sends it),
pauses with a reason, finds each change in the audit log under the token's name, and
exports the results.

PostgreSQL, because it is the backend deployments run, and the worker, scheduler, webhook
processing and the console's reads all hit it at once here; the console's logic itself is
pinned on SQLite by ``test_web.py``. Skipped with a message when Debian's Chromium or the
``playwright`` package is missing (``.ci/run`` installs Chromium; under ``CI=true`` a
missing browser is a failure, as a missing PostgreSQL is).
"""

from __future__ import annotations

import asyncio
import importlib.util
import os
import time
from collections.abc import AsyncIterator
from pathlib import Path
from typing import TYPE_CHECKING

import pytest
from sqlalchemy import func, select

from campaign_engine.db.models import Contact
from campaign_engine.ops.tokens import Scope, create_token
from tests.harness import AGENT_ID, Harness, running_engine, sim_config, wait_until

if TYPE_CHECKING:
    from playwright.async_api import Locator, Page

pytestmark = [pytest.mark.slow, pytest.mark.postgres]

CHROMIUM = Path("/usr/bin/chromium")
# Headless without a sandbox or GPU (CI runs as root in a container); and no background
# traffic, which on a machine without Internet access only makes the browser slow and noisy.
CHROMIUM_FLAGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
TOKEN = "browser-t0ken"
OPERATOR = "night-shift"
REFRESH_SECONDS = 1
# Each step waits for what it needs; these only bound how long before the test gives up.
STEP_MS = 15_000
NUMBERS = [f"+9198{index:08d}" for index in range(60)]


def _missing_browser() -> str | None:
    if importlib.util.find_spec("playwright") is None:
        return "the playwright package is not installed (pip install -e '.[dev]')"
    if not CHROMIUM.exists():
        return f"no Chromium at {CHROMIUM} (apt-get install chromium)"
    return None


@pytest.fixture
async def page(tmp_path: Path) -> AsyncIterator[Page]:
    """A tab in a fresh headless Chromium profile."""
    missing = _missing_browser()
    if missing is not None:
        message = f"no browser for the console's browser test: {missing}"
        if os.environ.get("CI"):
            pytest.fail(message)
        pytest.skip(message)
    from playwright.async_api import async_playwright

    async with async_playwright() as playwright:
        context = await playwright.chromium.launch_persistent_context(
            str(tmp_path / "profile"),
            executable_path=str(CHROMIUM),
            headless=True,
            args=CHROMIUM_FLAGS,
        )
        context.set_default_timeout(STEP_MS)
        try:
            yield context.pages[0] if context.pages else await context.new_page()
        finally:
            await context.close()


async def _busy_contact_waiting(engine: Harness) -> bool:
    async with engine.runtime.sessions() as session:
        count = await session.scalar(
            select(func.count())
            .select_from(Contact)
            .where(Contact.state == "retrying", Contact.last_outcome == "busy")
        )
    return bool(count)


async def _after_a_reload_showing_change(page: Page, shown: Locator, before: str) -> str:
    """Let the page reload itself until ``shown`` reads differently; return the new text.

    Read right after each reload's load event, so the next step starts with a whole
    refresh period ahead of it and never races the page's own reload.
    """
    give_up = time.monotonic() + STEP_MS / 1000
    while time.monotonic() < give_up:
        await page.wait_for_event("load")
        now = await shown.inner_text()
        if now != before:
            return now
    raise AssertionError(f"progress stayed at {before} for {STEP_MS / 1000:.0f}s of reloads")


async def _read(path: Path, encoding: str) -> str:
    return await asyncio.to_thread(path.read_text, encoding)


def _messy_csv(path: Path) -> Path:
    """What a CRM exports: a BOM, semicolons, spaced numbers, columns the agent does not
    take (a CRM id, kept for the export; an amount, left out) and a row with no number."""
    rows = [f"P{i};+91 98 {i:04d} {i:04d};CRM-{i};{100 + i}" for i in range(len(NUMBERS))]
    rows.append("Nobody;12345;CRM-X;1")
    text = "\ufeffFull Name;Mobile;CRM Id;Due Amount\r\n" + "\r\n".join(rows) + "\r\n"
    path.write_text(text, encoding="utf-8")
    return path


async def test_an_operator_creates_uploads_starts_watches_pauses_audits_and_exports(
    page: Page, postgres_url: str, redis_prefix: str, tmp_path: Path
) -> None:
    from playwright.async_api import expect

    async with running_engine(
        postgres_url,
        redis_prefix,
        simulator=sim_config(outcome_mix={"completed": 70.0, "busy": 30.0}),
        ops={"token": TOKEN, "refresh_seconds": REFRESH_SECONDS},
    ) as engine:
        async with engine.runtime.sessions() as session, session.begin():
            named = await create_token(session, name=OPERATOR, scope=Scope.OPERATE, actor="test")
        base = f"http://127.0.0.1:{engine.services.bound_port}/ops"

        # Log in with a named token.
        await page.goto(f"{base}/")
        await page.get_by_label("token").fill(named)
        await page.get_by_role("button", name="log in").click()
        await expect(page.get_by_role("heading", name="campaigns")).to_be_visible()
        await expect(page.get_by_text(f"{OPERATOR} (operate)")).to_be_visible()

        # Create a campaign with a schedule (every day, all day: calls start at once).
        await page.get_by_role("link", name="new campaign").first.click()
        await page.get_by_label("name", exact=True).fill("Browser run")
        await page.get_by_label("agent id").fill(AGENT_ID)
        await page.get_by_label("calls per minute").fill("120")
        await page.get_by_label("calling hours").check()
        await page.get_by_label("windows").fill("00:00-24:00")
        for day in ("sat", "sun"):
            await page.get_by_label(day, exact=True).check()
        await page.get_by_role("button", name="create the campaign").click()
        await expect(page.get_by_role("heading", name="upload contacts")).to_be_visible()

        # Upload a messy CSV, map its columns, keep the CRM id for the export, import.
        await page.set_input_files("#file", _messy_csv(tmp_path / "crm export.csv"))
        await expect(page.get_by_role("heading", name="check the columns")).to_be_visible()
        await expect(page.get_by_text("semicolon")).to_be_visible()
        await page.get_by_label("variable name for Full Name").fill("name")
        await page.get_by_label("what CRM Id becomes").select_option("keep")
        await page.get_by_role("button", name="check again").click()
        await expect(page.get_by_role("alert")).to_contain_text("does not declare: due_amount")
        await page.get_by_label("what Due Amount becomes").select_option("skip")
        await page.get_by_role("button", name="import", exact=True).click()
        await expect(page.get_by_role("heading", name="import finished")).to_be_visible()
        await expect(page.locator("p.summary")).to_contain_text(
            f"{len(NUMBERS) + 1} rows read · {len(NUMBERS)} imported · 1 rejected"
        )

        # Read the rejects.
        async with page.expect_download() as downloading:
            await page.get_by_role("link", name="download the rejected rows").click()
        rejects = await _read(await (await downloading.value).path(), "utf-8-sig")
        assert "Nobody" in rejects and "_reason" in rejects

        # Start it against the simulator and watch it move.
        await page.get_by_role("link", name="back to the campaign").click()
        await page.get_by_role("button", name="start").click()
        await expect(page.get_by_text("campaign is running")).to_be_visible()
        await page.get_by_role("link", name="campaigns", exact=True).click()
        progress = page.locator("span.progress")
        before = await progress.inner_text()
        await wait_until(lambda: _busy_contact_waiting(engine), STEP_MS / 1000, "a busy contact")
        after = await _after_a_reload_showing_change(page, progress, before)
        assert int(after.split("/")[0]) > int(before.split("/")[0]), (before, after)

        # Requeue a busy contact from the retry queue (the page's own form and CSRF token).
        await page.get_by_role("link", name="retry queue").click()
        await expect(page.get_by_role("heading", name="retry queue")).to_be_visible()
        await expect(page.get_by_text("showing 1\u2013").first).to_be_visible()
        row = page.locator("tr").filter(has_text="busy").first
        contact_id = await row.locator("td").first.inner_text()
        async with page.expect_response(lambda r: r.request.method == "POST") as posted:
            await row.get_by_role("button", name="requeue now").click()
        response = await posted.value
        assert (response.url, response.status) == (f"{base}/contacts/{contact_id}/retry-now", 303)

        # Pause with a reason.
        await page.get_by_role("link", name="campaigns", exact=True).click()
        await page.get_by_role("link", name="Browser run").click()
        await page.get_by_label("reason").first.fill("lunch break")
        await page.get_by_role("button", name="pause", exact=True).click()
        await expect(page.get_by_text("campaign paused")).to_be_visible()

        # The audit log names the token for each change.
        await page.get_by_role("link", name="audit log").click()
        for action in ("pause", "retry-now", "contacts.import", "campaign.create"):
            entry = page.locator("tr").filter(has=page.locator("td", has_text=action)).first
            await expect(entry.locator("td").nth(1)).to_have_text(OPERATOR)
        paused = page.locator("tr").filter(has_text="lunch break")
        await expect(paused).to_have_count(1)
        retried = page.locator("tr").filter(has_text="retry-now")
        await expect(retried).to_contain_text(f"contact {contact_id}")

        # Export the results: the CRM id is there, kept aside from the call variables.
        await page.get_by_role("link", name="campaigns", exact=True).click()
        await page.get_by_role("link", name="Browser run").click()
        async with page.expect_download() as downloading:
            await page.get_by_role("link", name="export results (CSV)").click()
        exported = await _read(await (await downloading.value).path(), "utf-8")
        header = exported.splitlines()[0].split(",")
        assert "kept.crm_id" in header and "var.name" in header and "var.due_amount" not in header
        assert "CRM-7" in exported
