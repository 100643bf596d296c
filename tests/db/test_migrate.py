"""Migrations run from code: the alembic config built without an ini file, a fresh
database's revision, and upgrades to a revision or to head on both backends."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from alembic.script import ScriptDirectory
from sqlalchemy import inspect, make_url, text

from campaign_engine.db.migrate import MIGRATIONS_DIR, alembic_config, current_revision, upgrade
from campaign_engine.db.session import create_engine
from tests.conftest import TEST_DATABASE_URL

HEAD = ScriptDirectory.from_config(alembic_config("sqlite://")).get_current_head()


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
async def fresh_url(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[str]:
    """An empty database that was never migrated."""
    if request.param == "sqlite":
        yield f"sqlite+aiosqlite:///{tmp_path / 'fresh.db'}"
        return
    name = f"ce_fresh_{uuid.uuid4().hex[:12]}"
    admin = create_engine(TEST_DATABASE_URL).execution_options(isolation_level="AUTOCOMMIT")
    try:
        async with admin.connect() as conn:
            await conn.execute(text(f'CREATE DATABASE "{name}"'))
    except OSError as exc:
        await admin.dispose()
        pytest.skip(f"PostgreSQL at {TEST_DATABASE_URL} is not reachable ({exc})")
    try:
        yield make_url(TEST_DATABASE_URL).set(database=name).render_as_string(hide_password=False)
    finally:
        async with admin.connect() as conn:
            await conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        await admin.dispose()


async def tables(url: str) -> set[str]:
    engine = create_engine(url)
    try:
        async with engine.connect() as conn:
            return set(await conn.run_sync(lambda sync: inspect(sync).get_table_names()))
    finally:
        await engine.dispose()


def test_the_config_points_at_the_projects_migrations() -> None:
    config = alembic_config("sqlite+aiosqlite:///x.db")

    assert config.get_main_option("script_location") == str(MIGRATIONS_DIR)
    assert (MIGRATIONS_DIR / "env.py").is_file()
    assert "connection" not in config.attributes


def test_a_percent_sign_in_the_url_survives_the_configs_interpolation() -> None:
    url = "postgresql+asyncpg://crm:p%40ss%25word@127.0.0.1/db"

    assert alembic_config(url).get_main_option("sqlalchemy.url") == url


def test_a_given_connection_is_handed_to_the_migration_environment() -> None:
    marker = object()

    config = alembic_config("sqlite://", marker)  # type: ignore[arg-type]

    assert config.attributes["connection"] is marker


def test_the_migrations_form_one_line_of_history_to_head() -> None:
    script = ScriptDirectory.from_config(alembic_config("sqlite://"))

    assert script.get_heads() == [HEAD]
    revisions = [rev.revision for rev in script.walk_revisions()]
    assert revisions[0] == HEAD
    assert revisions[-1] == "0001"
    assert len(revisions) == len(set(revisions))


async def test_a_fresh_database_has_no_revision_and_head_after_upgrade(fresh_url: str) -> None:
    assert await current_revision(fresh_url) is None

    await upgrade(fresh_url)

    assert await current_revision(fresh_url) == HEAD
    assert {"campaigns", "contacts", "call_attempts", "alembic_version"} <= await tables(fresh_url)


async def test_an_upgrade_can_stop_at_a_revision_and_continue_to_head(fresh_url: str) -> None:
    await upgrade(fresh_url, "0001")

    assert await current_revision(fresh_url) == "0001"
    assert "audit_log" not in await tables(fresh_url)  # added by 0002

    await upgrade(fresh_url)

    assert await current_revision(fresh_url) == HEAD
    assert "audit_log" in await tables(fresh_url)


async def test_upgrading_creates_a_sqlite_file_that_does_not_exist_yet(tmp_path: Path) -> None:
    path = tmp_path / "new.db"
    assert not path.exists()

    await upgrade(f"sqlite+aiosqlite:///{path}")

    assert path.is_file()
    assert await current_revision(f"sqlite+aiosqlite:///{path}") == HEAD
