"""The web console in a real headless Chromium, against a running campaign.

Everything is real: ``serve``'s app under uvicorn on a loopback port, PostgreSQL, Redis, a
worker and the scheduler dialing the bundled simulator. The browser logs in through the
form, watches the overview reload itself until the campaign's progress moves, opens the
retry queue, requeues a contact with the page's own form (so the CSRF token travels as a
browser sends it) and finds the action in the audit log.

PostgreSQL, because it is the backend deployments run, and the worker, scheduler, webhook
processing and the console's reads all hit it at once here; the console's logic itself is
pinned on SQLite by ``test_web.py``. Skipped with a message when Debian's Chromium or the
``playwright`` package is missing (``.ci/run`` installs Chromium; under ``CI=true`` a
missing browser is a failure, as a missing PostgreSQL is).
"""

from __future__ import annotations

import importlib.util
import os
import time
from collections.abc import AsyncIterator
from pathlib import Path
from typing import TYPE_CHECKING

import pytest
from sqlalchemy import func, select

from campaign_engine.campaigns.retry_policy import RetryPolicy
from campaign_engine.db.models import Contact
from tests.harness import Harness, running_engine, sim_config, wait_until

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


async def test_an_operator_logs_in_watches_progress_requeues_a_contact_and_sees_the_audit_entry(
    page: Page, postgres_url: str, redis_prefix: str
) -> None:
    from playwright.async_api import expect

    async with running_engine(
        postgres_url,
        redis_prefix,
        simulator=sim_config(outcome_mix={"completed": 70.0, "busy": 30.0}),
        ops={"token": TOKEN, "refresh_seconds": REFRESH_SECONDS},
    ) as engine:
        # Two calls a second: the campaign runs for the whole test; busy contacts wait
        # 15 minutes (the default policy), so the retry queue keeps them.
        await engine.add_campaign(NUMBERS, policy=RetryPolicy(), calls_per_minute=120)
        base = f"http://127.0.0.1:{engine.services.bound_port}/ops"

        await page.goto(f"{base}/")
        await page.get_by_label("token").fill(TOKEN)
        await page.get_by_role("button", name="log in").click()
        await expect(page.get_by_role("heading", name="campaigns")).to_be_visible()
        progress = page.locator("span.progress")
        before = await progress.inner_text()

        await wait_until(lambda: _busy_contact_waiting(engine), STEP_MS / 1000, "a busy contact")
        after = await _after_a_reload_showing_change(page, progress, before)
        assert int(after.split("/")[0]) > int(before.split("/")[0]), (before, after)

        await page.get_by_role("link", name="retry queue").click()
        await expect(page.get_by_role("heading", name="retry queue")).to_be_visible()
        row = page.locator("tr").filter(has_text="busy").first
        contact_id = await row.locator("td").first.inner_text()
        async with page.expect_response(lambda r: r.request.method == "POST") as posted:
            await row.get_by_role("button", name="requeue now").click()
        response = await posted.value
        assert (response.url, response.status) == (f"{base}/contacts/{contact_id}/retry-now", 303)
        await expect(page.get_by_role("heading", name="retry queue")).to_be_visible()

        await page.get_by_role("link", name="audit log").click()
        entry = page.locator("tr").filter(has_text="retry-now")
        await expect(entry).to_have_count(1)
        await expect(entry).to_contain_text(f"contact {contact_id}")
        await expect(entry.locator("td").nth(1)).to_have_text("web")
