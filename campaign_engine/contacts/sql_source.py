"""Reading contacts from the operator's own database: a SQLAlchemy URL and a SELECT.

Any URL whose driver is installed works. Two come with the engine: ``sqlite:///path`` (the
standard library's driver) and ``postgresql+asyncpg://user@host/db``; others need their
driver installed (``mysql+pymysql://`` needs PyMySQL, plain ``postgresql://`` needs psycopg).
Synchronous drivers are read in this process between chunks, asynchronous ones are awaited.
Rows are streamed (a server-side cursor where the driver has one), a chunk at a time, so a
table of any size is read in flat memory.

The query's result columns are the header (the phone column and variables map as for a CSV),
each value becomes text (NULL as empty, a float with no fraction as an integer, dates in ISO
form) and a row's "line" is its position in the result, from 1.

The query is sent as written (``as_written``: a colon in it is never taken for a bind
parameter) and runs read-only where the database can enforce it (``READ_ONLY``: PostgreSQL's
``SET TRANSACTION READ ONLY``, SQLite's ``PRAGMA query_only``), so a query that would write
fails with an error saying so and writes nothing; on any database its transaction is never
committed.

The URL may carry a password: only ``display_url`` (password masked) is ever shown, and a
driver's error text is scrubbed of it too.
"""

from __future__ import annotations

import asyncio
import contextlib
import re
from collections.abc import AsyncIterator, Iterable, Iterator, Sequence
from datetime import date, datetime, time
from decimal import Decimal
from typing import Any

from sqlalchemy import create_engine, make_url, text
from sqlalchemy.engine import URL, Connection, Result
from sqlalchemy.exc import ArgumentError, DBAPIError, SQLAlchemyError
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncResult, create_async_engine
from sqlalchemy.sql.elements import TextClause

from campaign_engine.contacts.csv_source import Record


class SqlSourceError(ValueError):
    """The source database or its query cannot be read; the message names it (masked)."""


READ_ONLY: dict[str, str] = {
    # The first statement of the transaction the query then runs in.
    "postgresql": "SET TRANSACTION READ ONLY",
    # For this connection: every later write fails with "attempt to write a readonly
    # database", DDL too (which the sqlite3 module would otherwise run outside a transaction).
    "sqlite": "PRAGMA query_only = ON",
    # For the session's transactions (not tested here: no MySQL server in the test setup).
    "mysql": "SET SESSION TRANSACTION READ ONLY",
    "mariadb": "SET SESSION TRANSACTION READ ONLY",
}
"""How each database (by SQLAlchemy dialect name) is told to refuse writes; others rely on
the query's transaction never being committed."""

QUERY_ERRORS: tuple[type[Exception], ...] = (Exception,)
"""What running or reading the query may raise: SQLAlchemy's errors, and any driver's own,
which can escape SQLAlchemy's wrapping (asyncpg's do when a server-side cursor fetches:
"cannot execute nextval() in a read-only transaction" arrives that way). Each is reported
as the query failing, with its message."""

_READ_ONLY_HINT = "; source queries run read-only, so the query may only read (a SELECT)"
_READ_ONLY_ERRORS = ("read-only", "readonly", "read only")

# text() takes ":name" for a bind parameter wherever it stands, string literals included
# ("WHERE note <> ' :x'"), and a backslash before such a colon for an escape it removes
# (the two patterns SQLAlchemy's compiler applies). A source query has no parameters, so a
# backslash goes before each of both: the database then gets exactly the text written.
_BIND_LIKE = re.compile(r"\\(?=:\w*(?![:\w]))|(?<![:\w\\]):(?=\w+(?![:\w]))")


def as_written(query: str) -> TextClause:
    """``query`` as a statement with no bind parameters, sent to the database as written."""
    return text(_BIND_LIKE.sub(lambda found: "\\" + found.group(), query))


def display_url(url: str) -> str:
    """``url`` with its password masked, safe to print and log."""
    try:
        return make_url(url).render_as_string(hide_password=True)
    except ArgumentError:
        return "(a database URL that cannot be parsed)"


def _parse(url: str) -> URL:
    try:
        return make_url(url)
    except ArgumentError:
        raise SqlSourceError(
            "the source URL is not a SQLAlchemy database URL "
            "(e.g. sqlite:///leads.db or postgresql+asyncpg://user@host/db)"
        ) from None


def cell(value: Any) -> str:
    """One database value as the text a CSV cell would hold."""
    if value is None:
        return ""
    if isinstance(value, str):
        return value
    if isinstance(value, float) and value.is_integer():
        return str(int(value))  # a phone number kept in a float column
    if isinstance(value, Decimal):
        return format(value, "f")
    if isinstance(value, datetime | date | time):
        return value.isoformat()
    if isinstance(value, bytes | bytearray | memoryview):
        return bytes(value).decode("utf-8", errors="replace")
    return str(value)


def _records(rows: Sequence[Sequence[Any]], first_line: int) -> list[Record]:
    return [
        Record(line, [cell(value) for value in row])
        for line, row in enumerate(rows, start=first_line)
    ]


class SqlSource:
    """An executed query: ``header`` is known, ``chunks`` streams its rows as records."""

    def __init__(self, url: URL, query: str) -> None:
        self.url = url
        self.display_url = url.render_as_string(hide_password=True)
        self.query = query
        self.header: list[str] = []
        self._sync_result: Result[Any] | None = None
        self._async_result: AsyncResult[Any] | None = None

    def failure(self, exc: BaseException, doing: str) -> SqlSourceError:
        """A one-line error about ``exc``, without the password."""
        if isinstance(exc, DBAPIError) and exc.orig is not None:
            reason = str(exc.orig)
        else:
            reason = str(exc) or type(exc).__name__
        reason = reason.strip().splitlines()[0] if reason.strip() else type(exc).__name__
        if self.url.password:
            reason = reason.replace(str(self.url.password), "***")
        if any(word in reason.lower() for word in _READ_ONLY_ERRORS):
            reason += _READ_ONLY_HINT
        return SqlSourceError(f"{doing} {self.display_url}: {reason}")

    async def chunks(self, size: int) -> AsyncIterator[list[Record]]:
        line = 1
        try:
            if self._async_result is not None:
                async for rows in self._async_result.partitions(size):
                    yield _records(rows, line)
                    line += len(rows)
            elif self._sync_result is not None:
                for rows in self._sync_result.partitions(size):
                    yield _records(rows, line)
                    line += len(rows)
                    await asyncio.sleep(0)  # let a batch being written make progress
        except QUERY_ERRORS as exc:
            raise self.failure(exc, f"reading row {line} onwards failed at") from None


@contextlib.asynccontextmanager
async def open_sql_source(url: str, query: str, *, chunk_size: int) -> AsyncIterator[SqlSource]:
    """Connect, run ``query`` and give its header and rows; raises SqlSourceError."""
    parsed = _parse(url)
    if not query.strip():
        raise SqlSourceError("the source query is empty")
    source = SqlSource(parsed, query)
    try:
        is_async = parsed.get_dialect().is_async
    except (ArgumentError, ImportError) as exc:
        raise source.failure(exc, "no database driver for") from None
    if is_async:
        async with _async_result(source, chunk_size) as result:
            source._async_result = result
            yield _with_header(source, result.keys())
    else:
        with _sync_result(source, chunk_size) as sync_result:
            source._sync_result = sync_result
            yield _with_header(source, sync_result.keys())


def _with_header(source: SqlSource, columns: Iterable[Any]) -> SqlSource:
    source.header = [str(column) for column in columns]
    if not source.header:
        raise SqlSourceError(f"the query on {source.display_url} returns no columns")
    return source


@contextlib.asynccontextmanager
async def _async_result(source: SqlSource, chunk_size: int) -> AsyncIterator[AsyncResult[Any]]:
    try:
        engine = create_async_engine(source.url)
    except (ArgumentError, ImportError) as exc:
        raise source.failure(exc, "no database driver for") from None
    try:
        connection: AsyncConnection
        try:
            connection = await engine.connect()
        except (SQLAlchemyError, OSError) as exc:
            raise source.failure(exc, "cannot connect to") from None
        try:
            read_only = READ_ONLY.get(connection.dialect.name)
            try:
                if read_only is not None:
                    await connection.exec_driver_sql(read_only)
            except (SQLAlchemyError, OSError) as exc:
                raise source.failure(exc, "cannot make the query read-only on") from None
            try:
                result = await connection.stream(
                    as_written(source.query), execution_options={"yield_per": chunk_size}
                )
            except QUERY_ERRORS as exc:
                raise source.failure(exc, "the query failed on") from None
            yield result
        finally:
            await connection.close()  # rolls back: the query never commits
    finally:
        await engine.dispose()


@contextlib.contextmanager
def _sync_result(source: SqlSource, chunk_size: int) -> Iterator[Result[Any]]:
    try:
        engine = create_engine(source.url)
    except (ArgumentError, ImportError) as exc:
        raise source.failure(exc, "no database driver for") from None
    try:
        connection: Connection
        try:
            connection = engine.connect()
        except (SQLAlchemyError, OSError) as exc:
            raise source.failure(exc, "cannot connect to") from None
        with connection:  # closing rolls back: the query never commits
            read_only = READ_ONLY.get(connection.dialect.name)
            try:
                if read_only is not None:
                    connection.exec_driver_sql(read_only)
            except (SQLAlchemyError, OSError) as exc:
                raise source.failure(exc, "cannot make the query read-only on") from None
            try:
                result = connection.execution_options(yield_per=chunk_size).execute(
                    as_written(source.query)
                )
            except QUERY_ERRORS as exc:
                raise source.failure(exc, "the query failed on") from None
            if not result.returns_rows:
                raise SqlSourceError(
                    f"the query on {source.display_url} returns no rows; it must be a SELECT"
                )
            yield result
    finally:
        engine.dispose()
