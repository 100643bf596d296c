"""Shared fixtures: the real Redis, real SQLite and PostgreSQL databases, and the simulator.

Database tests run on both backends through the ``database_url`` fixture. PostgreSQL comes
from ``TEST_DATABASE_URL`` (default: the local server's ``test`` database), where each
session creates a database of its own, migrates it, empties it between tests and drops it
at the end. Each test gets its
own Redis key prefix, so nothing leaks between tests.
"""

from __future__ import annotations

import asyncio
import atexit
import os
import shutil
import sys
import uuid
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import pytest
from redis.asyncio import Redis
from sqlalchemy import make_url, text

from campaign_engine.config import Settings, with_overrides
from campaign_engine.db.migrate import upgrade
from campaign_engine.db.session import create_engine
from campaign_engine.local_redis import reachable, start_local_redis
from campaign_engine.runtime import Runtime

TEST_DATABASE_URL = os.environ.get(
    "TEST_DATABASE_URL", "postgresql+asyncpg://postgres@127.0.0.1:5432/test"
)


def _test_redis_url() -> str:
    """The Redis to test against; on a machine without one, a private server for the run."""
    url = os.environ.get("TEST_REDIS_URL", "redis://127.0.0.1:6379/0")
    if reachable(url):
        return url
    local = start_local_redis()
    atexit.register(local.stop)
    print(f"no Redis at {url}; testing against a private one at {local.url}", file=sys.stderr)
    return local.url


TEST_REDIS_URL = _test_redis_url()
TABLES = (
    "engine_secrets",
    "scheduler_leader",
    "idempotency_keys",
    "api_tokens",
    "notifications",
    "audit_log",
    "suppressions",
    "blackout_dates",
    "contact_sources",
    "webhook_events",
    "call_attempts",
    "contacts",
    "campaign_events",
    "campaigns",
)


async def _create_database(admin_url: str, name: str) -> str:
    """A fresh database for this test session, so parallel runs never share tables."""
    engine = create_engine(admin_url).execution_options(isolation_level="AUTOCOMMIT")
    async with engine.connect() as conn:
        await conn.execute(text(f'CREATE DATABASE "{name}"'))
    await engine.dispose()
    url = make_url(admin_url).set(database=name).render_as_string(hide_password=False)
    await upgrade(url)
    return url


async def _drop_database(admin_url: str, name: str) -> None:
    engine = create_engine(admin_url).execution_options(isolation_level="AUTOCOMMIT")
    async with engine.connect() as conn:
        await conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
    await engine.dispose()


async def _truncate_postgres(url: str) -> None:
    engine = create_engine(url)
    async with engine.begin() as conn:
        await conn.execute(text(f"TRUNCATE {', '.join(TABLES)} RESTART IDENTITY CASCADE"))
    await engine.dispose()


@pytest.fixture(scope="session")
def sqlite_template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """One migrated SQLite file, copied for each test (migrating each time is slower)."""
    path = tmp_path_factory.mktemp("db") / "template.db"
    asyncio.run(upgrade(f"sqlite+aiosqlite:///{path}"))
    return path


@pytest.fixture(scope="session")
def postgres_ready() -> Iterator[str]:
    """A migrated PostgreSQL database of this session's own (CI must have the server; a
    laptop may go without, and its PostgreSQL tests are skipped with this message)."""
    name = f"ce_test_{uuid.uuid4().hex[:12]}"
    try:
        url = asyncio.run(_create_database(TEST_DATABASE_URL, name))
    except OSError as exc:
        message = (
            f"PostgreSQL at {TEST_DATABASE_URL} is not reachable ({exc}); "
            "set TEST_DATABASE_URL to test on PostgreSQL"
        )
        if os.environ.get("CI"):
            pytest.fail(message)
        pytest.skip(message)
    yield url
    asyncio.run(_drop_database(TEST_DATABASE_URL, name))


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
def database_url(
    request: pytest.FixtureRequest, tmp_path: Path, sqlite_template: Path
) -> Iterator[str]:
    """A migrated, empty database: each test using it runs once per backend."""
    if request.param == "sqlite":
        path = tmp_path / "test.db"
        shutil.copy(sqlite_template, path)
        yield f"sqlite+aiosqlite:///{path}"
        return
    url: str = request.getfixturevalue("postgres_ready")
    asyncio.run(_truncate_postgres(url))
    yield url


@pytest.fixture
def postgres_url(postgres_ready: str) -> str:
    """The production backend only (fault tests, benchmarks' twins): migrated and empty."""
    asyncio.run(_truncate_postgres(postgres_ready))
    return postgres_ready


@pytest.fixture
def sqlite_url(tmp_path: Path, sqlite_template: Path) -> str:
    """For tests about behaviour that does not depend on the backend."""
    path = tmp_path / "test.db"
    shutil.copy(sqlite_template, path)
    return f"sqlite+aiosqlite:///{path}"


@pytest.fixture
def redis_prefix() -> Iterator[str]:
    prefix = f"ce-test-{uuid.uuid4().hex[:10]}"
    yield prefix

    async def clean() -> None:
        client = Redis.from_url(TEST_REDIS_URL)
        for pattern in (f"{prefix}:*", f"arq:*{prefix}*"):
            keys = [key async for key in client.scan_iter(match=pattern, count=1000)]
            if keys:
                await client.delete(*keys)
        await client.aclose()

    asyncio.run(clean())


def engine_settings(
    database_url: str,
    redis_prefix: str,
    *,
    base_url: str = "http://127.0.0.1:9/api/v2",
    api_key: str = "rg_live_test",
    webhook_secret: str = "whsec_test",
    **sections: dict[str, Any],
) -> Settings:
    """Settings for a test: real services, quick timings, and any section overrides."""
    base = with_overrides(
        Settings(),
        database={"url": database_url},
        redis={"url": TEST_REDIS_URL, "prefix": redis_prefix},
        vocobase={
            "base_url": base_url,
            "api_key": api_key,
            "webhook_secret": webhook_secret,
            "timeout_seconds": 2.0,
            "connect_timeout_seconds": 1.0,
        },
        scheduler={"tick_seconds": 0.1},
        dialer={"max_wait_seconds": 5.0},
    )
    return with_overrides(base, **sections) if sections else base


@pytest.fixture
async def runtime(database_url: str, redis_prefix: str) -> AsyncIterator[Runtime]:
    """A runtime on the test database and Redis (Vocobase pointing nowhere)."""
    opened = await Runtime.open(engine_settings(database_url, redis_prefix))
    try:
        yield opened
    finally:
        await opened.close()


@pytest.fixture
async def sqlite_runtime(sqlite_url: str, redis_prefix: str) -> AsyncIterator[Runtime]:
    """A runtime on SQLite only, for behaviour that does not depend on the backend."""
    opened = await Runtime.open(engine_settings(sqlite_url, redis_prefix))
    try:
        yield opened
    finally:
        await opened.close()
