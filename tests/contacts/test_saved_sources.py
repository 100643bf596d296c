"""Saved database sources: pulled again on demand (or daily), each run recorded."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from campaign_engine.contacts.importer import ImportOptions
from campaign_engine.contacts.saved_sources import (
    PullFailed,
    describe_source,
    pull_saved_sources,
    remove_source,
    save_source,
    saved_sources,
)
from campaign_engine.db.models import Contact
from tests.contacts.conftest import NewCampaign

QUERY = "SELECT phone, name FROM leads"


def crm(path: Path, *numbers: str) -> str:
    with sqlite3.connect(path) as connection:
        connection.execute("CREATE TABLE IF NOT EXISTS leads (phone TEXT, name TEXT)")
        connection.executemany(
            "INSERT INTO leads VALUES (?, ?)", [(n, f"lead {n[-2:]}") for n in numbers]
        )
    return f"sqlite:///{path}"


async def count(sqlite_sessions: async_sessionmaker[AsyncSession]) -> int:
    async with sqlite_sessions() as session:
        return int(await session.scalar(select(func.count()).select_from(Contact)) or 0)


async def test_each_pull_enrols_only_the_leads_added_since_the_last(
    sqlite_sessions: async_sessionmaker[AsyncSession], tmp_path: Path, new_campaign: NewCampaign
) -> None:
    campaign_id = await new_campaign(sqlite_sessions)
    url = crm(tmp_path / "crm.db", "9876543210", "9876543211")
    await save_source(sqlite_sessions, campaign_id, url, QUERY, ImportOptions(phone_column="phone"))

    [first] = await pull_saved_sources(sqlite_sessions, campaign_id)
    crm(tmp_path / "crm.db", "9876543212")
    [second] = await pull_saved_sources(sqlite_sessions, campaign_id)

    assert (first.imported, second.imported, await count(sqlite_sessions)) == (2, 1, 3)
    assert second.rejected == {"duplicate_in_campaign": 2}
    [source] = await saved_sources(sqlite_sessions, campaign_id)
    assert source.last_run_at is not None
    assert source.last_result is not None
    assert (source.last_result["ok"], source.last_result["imported"]) == (True, 1)
    assert source.options["phone_column"] == "phone"


async def test_saving_the_same_source_again_updates_it_instead_of_adding_a_second(
    sqlite_sessions: async_sessionmaker[AsyncSession], tmp_path: Path, new_campaign: NewCampaign
) -> None:
    campaign_id = await new_campaign(sqlite_sessions)
    url = crm(tmp_path / "crm.db", "9876543210")
    first = await save_source(sqlite_sessions, campaign_id, url, QUERY, ImportOptions())
    again = await save_source(
        sqlite_sessions, campaign_id, url, QUERY, ImportOptions(default_region="US")
    )

    assert first == again
    [source] = await saved_sources(sqlite_sessions, campaign_id)
    assert source.options["default_region"] == "US"


async def test_a_failing_source_is_recorded_and_does_not_stop_the_others(
    sqlite_sessions: async_sessionmaker[AsyncSession], tmp_path: Path, new_campaign: NewCampaign
) -> None:
    campaign_id = await new_campaign(sqlite_sessions)
    broken = "postgresql+asyncpg://crm:pw-secret@127.0.0.1:1/crm"
    await save_source(sqlite_sessions, campaign_id, broken, QUERY, ImportOptions())
    working = crm(tmp_path / "crm.db", "9876543210")
    await save_source(sqlite_sessions, campaign_id, working, QUERY, ImportOptions())

    with pytest.raises(PullFailed) as caught:
        await pull_saved_sources(sqlite_sessions, campaign_id)

    assert "pw-secret" not in str(caught.value) and "crm:***@" in str(caught.value)
    assert [summary.imported for summary in caught.value.summaries] == [1]
    failed, succeeded = await saved_sources(sqlite_sessions, campaign_id)
    assert failed.last_result is not None and failed.last_result["ok"] is False
    assert succeeded.last_result is not None and succeeded.last_result["ok"] is True


async def test_a_source_is_described_with_its_password_masked_and_can_be_forgotten(
    sqlite_sessions: async_sessionmaker[AsyncSession],
    new_campaign: NewCampaign,
) -> None:
    campaign_id = await new_campaign(sqlite_sessions)
    url = "postgresql+asyncpg://crm:pw-secret@db.example/crm"
    source_id = await save_source(sqlite_sessions, campaign_id, url, QUERY, ImportOptions())

    [source] = await saved_sources(sqlite_sessions, campaign_id)
    assert describe_source(source)["source_url"] == "postgresql+asyncpg://crm:***@db.example/crm"
    await remove_source(sqlite_sessions, source_id)
    assert await saved_sources(sqlite_sessions, campaign_id) == []
    with pytest.raises(LookupError):
        await remove_source(sqlite_sessions, source_id)


async def test_a_campaign_without_sources_pulls_nothing(
    sqlite_sessions: async_sessionmaker[AsyncSession],
    new_campaign: NewCampaign,
) -> None:
    assert await pull_saved_sources(sqlite_sessions, await new_campaign(sqlite_sessions)) == []
