"""Fixtures shared by the contact tests: a migrated database's sessions and campaigns in it.

``sessions`` runs each test on both backends (``database_url``); ``sqlite_sessions`` is for
behaviour that does not depend on the backend (file quirks, reading an operator's SQL).
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable
from typing import Protocol

import pytest
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from campaign_engine.campaigns import service
from campaign_engine.db.session import create_engine, session_factory
from tests.harness import AGENT_ID

Sessions = async_sessionmaker[AsyncSession]


class NewCampaign(Protocol):
    def __call__(
        self,
        sessions: Sessions,
        *,
        agent_variables: list[str] | None = None,
        default_region: str = "IN",
    ) -> Awaitable[str]: ...


async def _open(url: str) -> AsyncIterator[Sessions]:
    engine = create_engine(url)
    try:
        yield session_factory(engine)
    finally:
        await engine.dispose()


@pytest.fixture
async def sessions(database_url: str) -> AsyncIterator[Sessions]:
    """Sessions on a migrated, empty database: each test runs on SQLite and PostgreSQL."""
    async for opened in _open(database_url):
        yield opened


@pytest.fixture
async def sqlite_sessions(sqlite_url: str) -> AsyncIterator[Sessions]:
    """Sessions on a migrated, empty SQLite database only."""
    async for opened in _open(sqlite_url):
        yield opened


async def _new_campaign(
    sessions: Sessions,
    *,
    agent_variables: list[str] | None = None,
    default_region: str = "IN",
) -> str:
    async with sessions() as session, session.begin():
        campaign = await service.create_campaign(
            session, name="contacts test", agent_id=AGENT_ID, default_region=default_region
        )
        campaign.agent_variables = agent_variables
        return campaign.id


@pytest.fixture
def new_campaign() -> NewCampaign:
    """Creates a draft campaign (numbers read as Indian by default) in ``sessions``' database
    and returns its id."""
    return _new_campaign
