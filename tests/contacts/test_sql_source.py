"""Importing from the operator's own database: a temporary SQLite file plays it (and the test
PostgreSQL server, through asyncpg); a re-run adds only the rows not yet in the campaign."""

from __future__ import annotations

import asyncio
import sqlite3
from collections.abc import Iterator
from datetime import date
from decimal import Decimal
from pathlib import Path

import pytest
from sqlalchemy import make_url, select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from campaign_engine.contacts.importer import ImportOptions, ImportRefused, import_sql
from campaign_engine.contacts.saved_sources import pull_saved_sources, save_source
from campaign_engine.contacts.sql_source import SqlSourceError, as_written, cell, display_url
from campaign_engine.db.models import Campaign, Contact
from tests.contacts.conftest import NewCampaign

QUERY = "SELECT mobile, first_name, score FROM leads ORDER BY id"


@pytest.fixture
def leads(tmp_path: Path) -> Iterator[Path]:
    """The operator's database: a leads table with a numeric column and a NULL."""
    path = tmp_path / "crm.db"
    with sqlite3.connect(path) as connection:
        connection.execute(
            "CREATE TABLE leads (id INTEGER PRIMARY KEY, mobile, first_name TEXT, score REAL)"
        )
        connection.executemany(
            "INSERT INTO leads (mobile, first_name, score) VALUES (?, ?, ?)",
            [("98765 43210", "Asha", 4.5), (919876543211, "Ravi", None), ("12345", "Bad", 1.0)],
        )
    yield path


def add_leads(path: Path, *rows: tuple[object, str, float | None]) -> None:
    with sqlite3.connect(path) as connection:
        connection.executemany(
            "INSERT INTO leads (mobile, first_name, score) VALUES (?, ?, ?)", rows
        )


async def contacts(sqlite_sessions: async_sessionmaker[AsyncSession]) -> dict[str, dict[str, str]]:
    async with sqlite_sessions() as session:
        return {c.phone_e164: c.variables for c in await session.scalars(select(Contact))}


async def test_rows_of_the_query_are_imported_like_a_csv(
    sqlite_sessions: async_sessionmaker[AsyncSession],
    leads: Path,
    tmp_path: Path,
    new_campaign: NewCampaign,
) -> None:
    campaign_id = await new_campaign(sqlite_sessions)
    rejects = tmp_path / "rejects.csv"

    summary = await import_sql(
        sqlite_sessions,
        campaign_id,
        f"sqlite:///{leads}",
        QUERY,
        ImportOptions(),
        rejects_path=rejects,
    )

    assert summary.to_dict() == {
        "file": f"sqlite:///{leads}",
        "encoding": "",
        "delimiter": "",
        "phone_column": "mobile",
        "variables": ["first_name", "score"],
        "rows": 3,
        "imported": 2,
        "rejected": 1,
        "rejected_by_reason": {"invalid_number": 1},
        "dry_run": False,
        "query": QUERY,
        "variables_checked": False,
    }
    assert await contacts(sqlite_sessions) == {
        "+919876543210": {"first_name": "Asha", "score": "4.5"},
        "+919876543211": {"first_name": "Ravi", "score": ""},
    }
    lines = rejects.read_text(encoding="utf-8-sig").splitlines()
    assert lines[0] == "mobile,first_name,score,_line,_reason,_detail"
    assert lines[1].startswith("12345,Bad,1,3,invalid_number,")  # the 3rd row of the result


async def test_running_it_again_adds_only_the_rows_not_yet_in_the_campaign(
    sqlite_sessions: async_sessionmaker[AsyncSession], leads: Path, new_campaign: NewCampaign
) -> None:
    campaign_id = await new_campaign(sqlite_sessions)
    url = f"sqlite:///{leads}"
    await import_sql(sqlite_sessions, campaign_id, url, QUERY, ImportOptions())
    add_leads(leads, ("9876543212", "Meera", 2.0), ("+91 98765 43210", "Asha again", None))

    daily = await import_sql(sqlite_sessions, campaign_id, url, QUERY, ImportOptions())

    assert (daily.rows, daily.imported) == (5, 1)
    assert dict(daily.rejected) == {
        "duplicate_in_campaign": 2,  # Asha and Ravi, imported yesterday
        "invalid_number": 1,
        "duplicate_in_file": 1,  # Asha written again further down the same result
    }
    assert set(await contacts(sqlite_sessions)) == {
        "+919876543210",
        "+919876543211",
        "+919876543212",
    }


async def test_an_async_driver_url_streams_the_same_rows(
    sqlite_sessions: async_sessionmaker[AsyncSession], leads: Path, new_campaign: NewCampaign
) -> None:
    campaign_id = await new_campaign(sqlite_sessions)
    summary = await import_sql(
        sqlite_sessions,
        campaign_id,
        f"sqlite+aiosqlite:///{leads}",
        QUERY,
        ImportOptions(chunk_size=1),
    )
    assert (summary.rows, summary.imported) == (3, 2)


@pytest.mark.postgres
async def test_a_postgresql_source_is_read_through_asyncpg(
    sqlite_sessions: async_sessionmaker[AsyncSession],
    postgres_ready: str,
    new_campaign: NewCampaign,
) -> None:
    campaign_id = await new_campaign(sqlite_sessions)
    query = (
        "SELECT * FROM (VALUES ('9876543210', 'Asha'), ('9876543211', 'Ravi')) "
        "AS leads (phone, name)"
    )
    summary = await import_sql(
        sqlite_sessions, campaign_id, postgres_ready, query, ImportOptions(chunk_size=1)
    )
    assert (summary.rows, summary.imported) == (2, 2)
    assert (await contacts(sqlite_sessions))["+919876543211"] == {"name": "Ravi"}


@pytest.mark.parametrize(
    ("url", "query", "message"),
    [
        ("not a url", "SELECT 1", "is not a SQLAlchemy database URL"),
        ("mysql+nosuchdriver://u:pw@h/db", "SELECT 1", "no database driver for mysql+"),
        ("sqlite:///{leads}", "SELECT * FROM nope", "the query failed on sqlite:///"),
        ("sqlite:///{leads}", "UPDATE leads SET score = 0", "read-only"),
        ("sqlite:///{leads}", "PRAGMA foreign_keys = ON", "returns no rows"),
        ("sqlite:///{leads}", "   ", "the source query is empty"),
    ],
)
async def test_an_unusable_source_is_one_clear_error_and_imports_nothing(
    sqlite_sessions: async_sessionmaker[AsyncSession],
    leads: Path,
    url: str,
    query: str,
    message: str,
    new_campaign: NewCampaign,
) -> None:
    campaign_id = await new_campaign(sqlite_sessions)
    with pytest.raises(SqlSourceError, match=message):
        await import_sql(
            sqlite_sessions, campaign_id, url.format(leads=leads), query, ImportOptions()
        )
    assert await contacts(sqlite_sessions) == {}


async def test_the_password_is_masked_in_every_message(
    sqlite_sessions: async_sessionmaker[AsyncSession],
    new_campaign: NewCampaign,
) -> None:
    campaign_id = await new_campaign(sqlite_sessions)
    url = "postgresql+asyncpg://crm:hunter2secret@127.0.0.1:1/crm"

    with pytest.raises(SqlSourceError) as caught:
        await import_sql(sqlite_sessions, campaign_id, url, "SELECT 1", ImportOptions())

    assert "hunter2secret" not in str(caught.value)
    assert "crm:***@127.0.0.1:1/crm" in str(caught.value)
    assert display_url(url) == "postgresql+asyncpg://crm:***@127.0.0.1:1/crm"


@pytest.mark.parametrize(
    ("value", "text"),
    [
        (None, ""),
        (919876543210, "919876543210"),
        (919876543210.0, "919876543210"),  # a phone kept in a float column
        (4.5, "4.5"),
        (Decimal("9.19876543210E+11"), "919876543210"),
        (date(2025, 1, 2), "2025-01-02"),
        (b"Jos\xc3\xa9", "José"),
    ],
)
def test_database_values_become_the_text_a_csv_cell_would_hold(value: object, text: str) -> None:
    assert cell(value) == text


@pytest.mark.parametrize(
    "query",
    [
        "SELECT mobile FROM leads WHERE first_name <> ' :x'",
        "SELECT ':name' AS a, 'x:y' AS b, ' :1' AS c",
        "SELECT CAST(mobile AS TEXT) FROM leads WHERE first_name::text <> ':x'",  # a PG cast
        "SELECT '\\:x' AS a, '\\\\:y' AS b, '\\: ' AS c, ':' AS d, ' :a:b' AS e",
        "SELECT ' :ä' AS a, '(:x)' AS b, ':x' || ':y' AS c",
        "SELECT '%' AS a, '%(x)s' AS b",
    ],
)
@pytest.mark.parametrize("dialect", ["sqlite", "postgresql+asyncpg", "postgresql+psycopg"])
def test_a_source_query_is_sent_to_the_database_as_written(query: str, dialect: str) -> None:
    engine_dialect = make_url(f"{dialect}://").get_dialect()()
    compiled = as_written(query).compile(dialect=engine_dialect)
    assert not compiled.params  # no colon was taken for a bind parameter
    sent = str(compiled)
    if engine_dialect.paramstyle in ("format", "pyformat"):
        sent = sent.replace("%%", "%")  # the driver undoes this escape
    assert sent == query


async def test_a_colon_in_a_string_literal_of_a_saved_query_is_not_a_bind_parameter(
    sqlite_sessions: async_sessionmaker[AsyncSession], leads: Path, new_campaign: NewCampaign
) -> None:
    campaign_id = await new_campaign(sqlite_sessions)
    query = "SELECT mobile, first_name || ' :x' AS label FROM leads WHERE first_name <> ':bad'"
    await save_source(sqlite_sessions, campaign_id, f"sqlite:///{leads}", query, ImportOptions())

    [summary] = await pull_saved_sources(sqlite_sessions, campaign_id)

    assert (summary.rows, summary.imported) == (3, 2)
    assert (await contacts(sqlite_sessions))["+919876543210"] == {"label": "Asha :x"}


@pytest.mark.parametrize("driver", ["sqlite", "sqlite+aiosqlite"])
@pytest.mark.parametrize(
    "query",
    [
        "DELETE FROM leads RETURNING mobile, first_name",
        "UPDATE leads SET first_name = 'X' RETURNING mobile, first_name",
        "CREATE TABLE stolen AS SELECT * FROM leads",  # SQLite would autocommit this DDL
        "DROP TABLE leads",
    ],
)
async def test_a_query_that_writes_to_a_sqlite_source_fails_and_writes_nothing(
    sqlite_sessions: async_sessionmaker[AsyncSession],
    leads: Path,
    new_campaign: NewCampaign,
    driver: str,
    query: str,
) -> None:
    campaign_id = await new_campaign(sqlite_sessions)
    before = await asyncio.to_thread(leads.read_bytes)

    with pytest.raises(SqlSourceError, match="read-only") as caught:
        await import_sql(
            sqlite_sessions, campaign_id, f"{driver}:///{leads}", query, ImportOptions()
        )

    assert f"{driver}:///{leads}" in str(caught.value)
    with sqlite3.connect(leads) as connection:
        tables = {row[0] for row in connection.execute("SELECT name FROM sqlite_master")}
        names = [row[0] for row in connection.execute("SELECT first_name FROM leads ORDER BY id")]
    assert tables == {"leads"}
    assert names == ["Asha", "Ravi", "Bad"]
    assert await asyncio.to_thread(leads.read_bytes) == before
    assert await contacts(sqlite_sessions) == {}


@pytest.mark.postgres
@pytest.mark.parametrize(
    "query",
    [
        "SELECT nextval('ro_check_seq')::text || '9876543210' AS phone",  # never rolled back
        "WITH gone AS (DELETE FROM ro_check_leads RETURNING phone) SELECT phone FROM gone",
        "INSERT INTO ro_check_leads VALUES ('9876543211') RETURNING phone",
    ],
)
async def test_a_query_that_writes_to_a_postgresql_source_fails_and_writes_nothing(
    sqlite_sessions: async_sessionmaker[AsyncSession],
    postgres_ready: str,
    new_campaign: NewCampaign,
    query: str,
) -> None:
    import asyncpg

    dsn = postgres_ready.replace("postgresql+asyncpg://", "postgresql://")
    connection = await asyncpg.connect(dsn)
    try:
        await connection.execute(
            "DROP TABLE IF EXISTS ro_check_leads; DROP SEQUENCE IF EXISTS ro_check_seq;"
            "CREATE TABLE ro_check_leads (phone TEXT); CREATE SEQUENCE ro_check_seq;"
            "INSERT INTO ro_check_leads VALUES ('9876543210')"
        )
        campaign_id = await new_campaign(sqlite_sessions)

        with pytest.raises(SqlSourceError, match="read-only"):
            await import_sql(sqlite_sessions, campaign_id, postgres_ready, query, ImportOptions())

        assert await connection.fetchval("SELECT last_value FROM ro_check_seq") == 1
        assert await connection.fetchval("SELECT is_called FROM ro_check_seq") is False
        assert [r["phone"] for r in await connection.fetch("SELECT phone FROM ro_check_leads")] == [
            "9876543210"
        ]
        assert await contacts(sqlite_sessions) == {}
    finally:
        await connection.execute(
            "DROP TABLE IF EXISTS ro_check_leads; DROP SEQUENCE IF EXISTS ro_check_seq"
        )
        await connection.close()


@pytest.mark.postgres
async def test_a_postgresql_source_query_runs_as_written(
    sqlite_sessions: async_sessionmaker[AsyncSession],
    postgres_ready: str,
    new_campaign: NewCampaign,
) -> None:
    campaign_id = await new_campaign(sqlite_sessions)
    query = (
        "SELECT phone::text, name || ' :x' AS name FROM (VALUES ('9876543210', 'Asha')) "
        "AS leads (phone, name) WHERE name <> ':bad' AND name LIKE '%sh%'"
    )
    summary = await import_sql(sqlite_sessions, campaign_id, postgres_ready, query, ImportOptions())
    assert (summary.rows, summary.imported) == (1, 1)
    assert (await contacts(sqlite_sessions))["+919876543210"] == {"name": "Asha :x"}


async def test_a_database_import_into_a_canceled_campaign_is_refused(
    sqlite_sessions: async_sessionmaker[AsyncSession], leads: Path, new_campaign: NewCampaign
) -> None:
    campaign_id = await new_campaign(sqlite_sessions)
    async with sqlite_sessions() as session, session.begin():
        campaign = await session.get(Campaign, campaign_id)
        assert campaign is not None
        campaign.state = "canceled"

    with pytest.raises(ImportRefused, match=f"campaign {campaign_id} is canceled"):
        await import_sql(sqlite_sessions, campaign_id, f"sqlite:///{leads}", QUERY, ImportOptions())
    assert await contacts(sqlite_sessions) == {}
