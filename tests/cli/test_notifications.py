"""``campaign-engine notifications list|redrive`` against a real SQLite database."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path

import pytest

from campaign_engine.runtime import Runtime
from tests.cli.support import Cli
from tests.conftest import engine_settings
from tests.notifications.support import add_notifications, notifications
from tests.webhooks.conftest import make_attempt


@pytest.fixture
def cli(config: Path) -> Cli:
    """``campaign-engine notifications …``."""
    return Cli(config, "notifications")


def seeded(sqlite_url: str, redis_prefix: str) -> tuple[list[int], list[int], str]:
    """Two dead and one pending notification; (dead ids, pending ids, campaign id)."""

    async def seed() -> tuple[list[int], list[int], str]:
        settings = engine_settings(sqlite_url, redis_prefix)
        runtime = await Runtime.open(settings)
        try:
            made = await make_attempt(runtime)
            dead = await add_notifications(
                runtime,
                made.contact_id,
                made.campaign_id,
                2,
                status="dead",
                tries=8,
                last_error="HTTP 503: down",
            )
            pending = await add_notifications(runtime, made.contact_id, made.campaign_id, 1)
            return dead, pending, made.campaign_id
        finally:
            await runtime.close()

    return asyncio.run(seed())


def states(sqlite_url: str, redis_prefix: str) -> dict[int, tuple[str, int]]:
    async def load() -> dict[int, tuple[str, int]]:
        runtime = await Runtime.open(engine_settings(sqlite_url, redis_prefix))
        try:
            return {row.id: (row.status, row.tries) for row in await notifications(runtime)}
        finally:
            await runtime.close()

    return asyncio.run(load())


def test_list_dead_shows_only_the_dead_letter_list_with_counts_as_json(
    cli: Cli, sqlite_url: str, redis_prefix: str
) -> None:
    dead, _, _ = seeded(sqlite_url, redis_prefix)

    code, out, err = cli.run("list", "--dead", "--json")

    assert (code, err) == (0, "")
    data = json.loads(out)
    assert data["counts"] == {"pending": 1, "delivered": 0, "dead": 2}
    listed = data["notifications"]
    assert [row["id"] for row in listed] == sorted(dead, reverse=True)
    assert {row["last_error"] for row in listed} == {"HTTP 503: down"}
    assert {row["event"] for row in listed} == {"attempt.outcome", "contact.final"}


def test_list_as_a_table_names_each_notification(
    cli: Cli, sqlite_url: str, redis_prefix: str
) -> None:
    seeded(sqlite_url, redis_prefix)
    code, out, _ = cli.run("list")
    assert code == 0
    assert "HTTP 503: down" in out
    assert "pending: 1, delivered: 0, dead: 2" in out


def test_redrive_all_dead_puts_them_back_with_a_fresh_budget(
    cli: Cli, sqlite_url: str, redis_prefix: str
) -> None:
    dead, pending, _ = seeded(sqlite_url, redis_prefix)

    code, out, _ = cli.run("redrive", "--all-dead")

    assert (code, out.strip()) == (0, "re-driven 2")
    after = states(sqlite_url, redis_prefix)
    assert [after[i] for i in dead] == [("pending", 0), ("pending", 0)]
    assert after[pending[0]] == ("pending", 0)


def test_redrive_by_id_moves_only_dead_ones_and_says_so(
    cli: Cli, sqlite_url: str, redis_prefix: str
) -> None:
    dead, pending, _ = seeded(sqlite_url, redis_prefix)

    code, out, _ = cli.run("redrive", "--id", str(dead[0]), "--id", str(pending[0]))

    assert code == 0
    assert out.strip() == "re-driven 1 of 2 (only dead notifications move)"
    assert states(sqlite_url, redis_prefix)[dead[1]] == ("dead", 8)


@pytest.mark.parametrize("args", [[], ["--id", "1", "--all-dead"]])
def test_redrive_needs_exactly_one_of_id_or_all_dead(cli: Cli, args: list[str]) -> None:
    code, out, err = cli.run("redrive", *args)
    assert (code, out) == (1, "")
    assert err == "error: give either --id N (one or more) or --all-dead\n"


def test_list_refuses_an_unknown_status(cli: Cli) -> None:
    code, _, err = cli.run("list", "--status", "lost")
    assert code == 1
    assert err.startswith("error: unknown status 'lost'")
