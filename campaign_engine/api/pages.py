"""Cursor pagination: a page of rows after an opaque cursor (the last row's sort key), and
the total, so a client can say "50 of 1,234" and fetch the next page without offsets
(stable while rows are added, cheap on big tables)."""

from __future__ import annotations

import base64
import json
from typing import Any, Generic, TypeVar

from pydantic import BaseModel, Field
from sqlalchemy import Select, func, select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import InstrumentedAttribute

from campaign_engine.api.problems import invalid

T = TypeVar("T")
DEFAULT_LIMIT = 50
MAX_LIMIT = 500


class PageQuery(BaseModel):
    limit: int = Field(DEFAULT_LIMIT, ge=1, le=MAX_LIMIT, description="Rows per page.")
    cursor: str | None = Field(None, max_length=500, description="next_cursor of the last page.")


class Page(BaseModel, Generic[T]):
    items: list[T]
    total: int
    next_cursor: str | None = Field(description="Give as cursor for the next page; null: last.")


def encode(key: list[Any]) -> str:
    return base64.urlsafe_b64encode(json.dumps(key, default=str).encode()).decode()


def decode(cursor: str | None, size: int) -> list[Any] | None:
    """The sort key a cursor holds; 422 on one this API did not give out."""
    if cursor is None:
        return None
    try:
        key = json.loads(base64.urlsafe_b64decode(cursor.encode()))
    except (ValueError, UnicodeDecodeError):
        key = None
    if not isinstance(key, list) or len(key) != size:
        raise invalid("query.cursor", "not a cursor this API gave out")
    return key


async def by_id(
    session: AsyncSession,
    query: Select[Any],
    id_column: InstrumentedAttribute[int],
    page: PageQuery,
    *,
    newest_first: bool,
) -> tuple[list[Any], int, str | None]:
    """One page of ``query``'s rows in id order (newest first or oldest first), the total
    of all its rows, and the cursor of the next page (None on the last)."""
    after = decode(page.cursor, 1)
    total = await session.scalar(select(func.count()).select_from(query.subquery()))
    if after is not None:
        if not isinstance(after[0], int):
            raise invalid("query.cursor", "not a cursor this API gave out")
        query = query.where(id_column < after[0] if newest_first else id_column > after[0])
    order = id_column.desc() if newest_first else id_column.asc()
    limited = query.order_by(None).order_by(order).limit(page.limit + 1)
    rows = list((await session.scalars(limited)).all())
    more = len(rows) > page.limit
    rows = rows[: page.limit]
    return rows, total or 0, encode([rows[-1].id]) if more else None
