"""Reading contacts from the operator's own database: a SQLAlchemy URL and a SELECT.

Any URL whose driver is installed works. Two come with the engine: ``sqlite:///path`` (the
standard library's driver) and ``postgresql+asyncpg://user@host/db``; others need their
driver installed (``mysql+pymysql://`` needs PyMySQL, plain ``postgresql://`` needs psycopg).
Synchronous drivers are read in this process between chunks, asynchronous ones are awaited.
Rows are streamed (a server-side cursor where the driver has one), a chunk at a time, so a
table of any size is read in flat memory.

The query's result columns are the header (the phone column and variables map as for a CSV),
each value becomes text (NULL as empty, a float with no fraction as an integer, dates in ISO
form) and a row's "line" is its position in the result, from 1. The query runs in a
transaction that is never committed.

The URL may carry a password: only ``display_url`` (password masked) is ever shown, and a
driver's error text is scrubbed of it too.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Iterable, Iterator, Sequence
from datetime import date, datetime, time
from decimal import Decimal
from typing import Any

from sqlalchemy import create_engine, make_url, text
from sqlalchemy.engine import URL, Connection, Result
from sqlalchemy.exc import ArgumentError, DBAPIError, SQLAlchemyError
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncResult, create_async_engine

from campaign_engine.contacts.csv_source import Record


class SqlSourceError(ValueError):
    """The source database or its query cannot be read; the message names it (masked)."""


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
        except (SQLAlchemyError, OSError) as exc:
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
            try:
                result = await connection.stream(
                    text(source.query), execution_options={"yield_per": chunk_size}
                )
            except (SQLAlchemyError, OSError) as exc:
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
            try:
                result = connection.execution_options(yield_per=chunk_size).execute(
                    text(source.query)
                )
            except (SQLAlchemyError, OSError) as exc:
                raise source.failure(exc, "the query failed on") from None
            if not result.returns_rows:
                raise SqlSourceError(
                    f"the query on {source.display_url} returns no rows; it must be a SELECT"
                )
            yield result
    finally:
        engine.dispose()
