"""Engines per backend: SQLite connections get WAL, a busy timeout and foreign keys;
PostgreSQL a pool; sessions keep their objects loaded after a commit."""

from __future__ import annotations

from pathlib import Path

import pytest
from sqlalchemy import inspect, select, text
from sqlalchemy.exc import IntegrityError, InvalidRequestError

from campaign_engine.db.models import Campaign
from campaign_engine.db.session import (
    SQLITE_BUSY_TIMEOUT_MS,
    create_engine,
    is_sqlite,
    session_factory,
)

AGENT_ID = "00000000-0000-4000-8000-0000000000aa"


@pytest.mark.parametrize(
    ("url", "sqlite"),
    [
        ("sqlite+aiosqlite:///./campaign-engine.db", True),
        ("sqlite+aiosqlite://", True),
        ("sqlite:///plain.db", True),
        ("postgresql+asyncpg://postgres@127.0.0.1/test", False),
        ("postgresql://postgres@127.0.0.1/test", False),
    ],
)
def test_is_sqlite_looks_at_the_backend_whatever_the_driver(url: str, sqlite: bool) -> None:
    assert is_sqlite(url) is sqlite


def test_a_sqlite_url_without_the_async_driver_is_refused(tmp_path: Path) -> None:
    # create_engine adds no driver: the settings do (DatabaseSettings); a plain URL fails here.
    with pytest.raises(InvalidRequestError, match="requires an async driver"):
        create_engine(f"sqlite:///{tmp_path / 'plain.db'}")


def test_a_postgresql_url_without_the_async_driver_is_refused() -> None:
    with pytest.raises((InvalidRequestError, ModuleNotFoundError)):
        create_engine("postgresql://postgres@127.0.0.1/test")


async def test_a_postgresql_engine_pools_ten_connections_and_twenty_more_at_peaks() -> None:
    engine = create_engine("postgresql+asyncpg://postgres@127.0.0.1:1/none")  # never connects
    try:
        pool = engine.sync_engine.pool
        assert pool.size() == 10
        assert pool._max_overflow == 20  # type: ignore[attr-defined]
        assert engine.dialect.driver == "asyncpg"
    finally:
        await engine.dispose()


async def test_every_sqlite_connection_uses_wal_a_busy_timeout_and_foreign_keys(
    tmp_path: Path,
) -> None:
    engine = create_engine(f"sqlite+aiosqlite:///{tmp_path / 'pragmas.db'}")
    try:
        async with engine.connect() as conn:
            values = [
                (await conn.execute(text(f"PRAGMA {name}"))).scalar()
                for name in ("journal_mode", "synchronous", "busy_timeout", "foreign_keys")
            ]
    finally:
        await engine.dispose()

    # synchronous=NORMAL is 1.
    assert values == ["wal", 1, SQLITE_BUSY_TIMEOUT_MS, 1]
    assert SQLITE_BUSY_TIMEOUT_MS == 30_000


async def test_sqlite_foreign_keys_are_enforced(sqlite_url: str) -> None:
    engine = create_engine(sqlite_url)
    try:
        async with engine.connect() as conn:
            with pytest.raises(IntegrityError, match="FOREIGN KEY constraint failed"):
                await conn.execute(
                    text(
                        "INSERT INTO contacts (campaign_id, phone_e164, timezones, variables, "
                        "state, attempts_count, created_at, updated_at) VALUES ('nope', "
                        "'+919876543210', '[]', '{}', 'pending', 0, '2030-01-01', '2030-01-01')"
                    )
                )
    finally:
        await engine.dispose()


async def test_objects_stay_loaded_after_a_commit(database_url: str) -> None:
    engine = create_engine(database_url)
    try:
        sessions = session_factory(engine)
        async with sessions() as session, session.begin():
            campaign = Campaign(name="kept", agent_id=AGENT_ID, provider="twilio")
            session.add(campaign)
        # Read after the commit without a session round trip (an expired attribute would
        # need a lazy load, which async sessions cannot do implicitly).
        assert inspect(campaign).expired_attributes == set()
        assert (campaign.name, campaign.state) == ("kept", "draft")
        async with sessions() as session:
            assert await session.scalar(select(Campaign.name)) == "kept"
    finally:
        await engine.dispose()
