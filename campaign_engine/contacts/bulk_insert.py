"""Writing a batch of new contacts at import speed, never twice per campaign.

``store.insert_batch`` (ORM rows, one parameter set per contact) is fine for tests and small
lists, but a million-row import spends most of its time there. This writes through the
driver, inside the caller's session transaction (committed or rolled back with it):

The rows arrive already encoded (``payloads``, by the workers that checked them), so a batch
is one string join away from what the driver sends:

- PostgreSQL: ``COPY`` the batch (text format) into a temporary table, then one
  ``INSERT ... SELECT ... ON CONFLICT DO NOTHING RETURNING`` moves it into ``contacts``.
  The returned numbers are exactly the ones inserted, even with another import of the same
  numbers running at the same moment (the unique index decides, and waits for it).
- SQLite: take the write lock first (``BEGIN IMMEDIATE``), so nobody can add a number between
  our check and our insert, then look up the numbers already present and insert the rest.
  The batch goes in as *one* JSON text that SQLite expands itself (``json_each``, JSON1):
  binding parameters row by row (``executemany``) holds the GIL for every value, so the
  write would crawl while this process reads and dedups the next batch; expanding JSON in C
  runs with the GIL released.

Both insert in number order: the unique (campaign, number) index and the number index are
filled in key order instead of at random places, which on a million-row import is several
times less page churn (and WAL). Within a batch, ids therefore follow the numbers rather than
the file; every contact of a batch is due at the same moment anyway. Batch size matters too,
differently per backend (``preferred_batch_size``).

Both return the numbers that were *not* inserted because the campaign already has them.
The values are written exactly as the ORM would write them (the JSON columns get the same
JSON text, dates go through the model's own column type).
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from datetime import datetime
from operator import itemgetter
from typing import Any, Protocol, cast

import aiosqlite
from sqlalchemy import text
from sqlalchemy.engine import Dialect
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncSession

from campaign_engine.contacts.payloads import Encoded
from campaign_engine.db.models import Contact
from campaign_engine.states import ContactState

_STAGING = "contact_import_rows"
_STAGING_COLUMNS = ("line", "phone_e164", "region", "timezones", "variables")  # = payloads
_CREATE_STAGING = (
    f"CREATE TEMP TABLE IF NOT EXISTS {_STAGING} "
    "(line integer, phone_e164 text, region text, timezones text, variables text) "
    "ON COMMIT DELETE ROWS"
)
_MOVE_STAGED = (
    "INSERT INTO contacts (campaign_id, phone_e164, region, timezones, variables, state, "
    "attempts_count, next_attempt_at, source_line, created_at, updated_at) "
    "SELECT $1, phone_e164, region, timezones::json, variables::json, $2, 0, $3, line, $3, $3 "
    f"FROM {_STAGING} ORDER BY phone_e164 "
    "ON CONFLICT (campaign_id, phone_e164) DO NOTHING RETURNING phone_e164"
)
_SQLITE_INSERT = (
    "INSERT INTO contacts (campaign_id, phone_e164, region, timezones, variables, state, "
    "attempts_count, next_attempt_at, source_line, created_at, updated_at) "
    "SELECT ?1, json_extract(value, '$[1]'), json_extract(value, '$[2]'), "
    "json_extract(value, '$[3]'), json_extract(value, '$[4]'), ?2, 0, ?3, "
    "json_extract(value, '$[0]'), ?3, ?3 "
    "FROM json_each(?4) WHERE true "  # "WHERE true": SQLite's INSERT...SELECT...ON CONFLICT
    "ON CONFLICT (campaign_id, phone_e164) DO NOTHING"
)
_SQLITE_PRESENT = (
    "SELECT phone_e164 FROM contacts "
    "WHERE campaign_id = ? AND phone_e164 IN (SELECT value FROM json_each(?))"
)

# Measured on a million random numbers: SQLite gains from big transactions (fewer rewrites of
# the same index pages: 14k rows/s at 5,000 rows, 38k at 20,000, 51k at 50,000; 20,000 keeps
# two batches in memory well under budget). PostgreSQL, with the per-batch flush gone
# (``relaxed_commit``), imported the benchmark's million rows in 28.5 s at 5,000, 20-24 s at
# 10,000 and 20,000, 26.5 s at 50,000 (which also took the importer past 280 MB).
_BATCH_SIZES = {"sqlite": 20_000, "postgresql": 10_000}
DEFAULT_BATCH_SIZE = 5_000


def preferred_batch_size(dialect: str) -> int:
    """Contacts per transaction that import fastest on this backend."""
    return _BATCH_SIZES.get(dialect, DEFAULT_BATCH_SIZE)


class _AsyncpgConnection(Protocol):
    """The few asyncpg methods used here (asyncpg ships no type information)."""

    def is_in_transaction(self) -> bool: ...

    async def execute(self, query: str, *args: Any) -> str: ...

    async def fetch(self, query: str, *args: Any) -> list[Sequence[Any]]: ...

    async def copy_to_table(
        self, table_name: str, *, source: memoryview, columns: Sequence[str], format: str
    ) -> str: ...


async def insert_new_contacts(
    session: AsyncSession, campaign_id: str, rows: Sequence[Encoded], *, due_at: datetime
) -> set[str]:
    """Add ``rows`` (distinct numbers, encoded for this database by ``payloads``) as pending
    contacts due at ``due_at``, in the session's transaction; returns the numbers skipped
    because the campaign already has them."""
    if not rows:
        return set()
    connection = await session.connection()
    dialect = connection.dialect
    if dialect.name == "postgresql":
        return await _insert_postgres(connection, campaign_id, rows, due_at)
    if dialect.name == "sqlite":
        return await _insert_sqlite(connection, dialect, campaign_id, rows, due_at)
    raise NotImplementedError(f"bulk import into {dialect.name} is not supported")


async def relaxed_commit(session: AsyncSession) -> None:
    """Let this transaction's commit return before its WAL is on disk (PostgreSQL's
    ``synchronous_commit = off``, for this transaction only): the import stops waiting for a
    flush per batch. A later synchronous commit flushes it too; a server crash before then
    loses it whole, never part of it. SQLite (WAL, ``synchronous=NORMAL``) does not wait for
    the disk at commit anyway."""
    if session.get_bind().dialect.name == "postgresql":
        await session.execute(text("SET LOCAL synchronous_commit = off"))


async def _driver(connection: AsyncConnection) -> Any:
    raw = await connection.get_raw_connection()
    return raw.driver_connection


async def _insert_postgres(
    connection: AsyncConnection, campaign_id: str, rows: Sequence[Encoded], due_at: datetime
) -> set[str]:
    driver = cast(_AsyncpgConnection, await _driver(connection))
    if not driver.is_in_transaction():
        # SQLAlchemy opens the driver's transaction at the first statement; the COPY must be
        # inside it, or it would commit on its own and survive the caller's rollback.
        await connection.execute(text("SELECT 1"))
    if not driver.is_in_transaction():  # pragma: no cover - a change in SQLAlchemy
        raise RuntimeError("no database transaction is open for the bulk insert")
    await driver.execute(_CREATE_STAGING)
    data = memoryview("".join([row[2] for row in rows]).encode())  # bytes would be a path
    await driver.copy_to_table(_STAGING, source=data, columns=_STAGING_COLUMNS, format="text")
    inserted = await driver.fetch(_MOVE_STAGED, campaign_id, ContactState.PENDING.value, due_at)
    if len(inserted) == len(rows):
        return set()
    added = {record[0] for record in inserted}
    return {row[1] for row in rows if row[1] not in added}


async def _insert_sqlite(
    connection: AsyncConnection,
    dialect: Dialect,
    campaign_id: str,
    rows: Sequence[Encoded],
    due_at: datetime,
) -> set[str]:
    driver = cast(aiosqlite.Connection, await _driver(connection))
    if not driver.in_transaction:
        await driver.execute("BEGIN IMMEDIATE")
    ordered = sorted(rows, key=itemgetter(1))
    numbers = json.dumps([row[1] for row in ordered])
    async with driver.execute(_SQLITE_PRESENT, (campaign_id, numbers)) as cursor:
        present = {row[0] for row in await cursor.fetchall()}
    fresh = "[" + ",".join([row[2] for row in ordered if row[1] not in present]) + "]"
    stamp = _sqlite_datetime(dialect, due_at)
    await driver.execute(_SQLITE_INSERT, (campaign_id, ContactState.PENDING.value, stamp, fresh))
    return present


def _sqlite_datetime(dialect: Dialect, value: datetime) -> Any:
    """``value`` as the model's UTC column type stores it on this dialect."""
    processor = Contact.__table__.c.created_at.type.bind_processor(dialect)
    return processor(value) if processor else value
