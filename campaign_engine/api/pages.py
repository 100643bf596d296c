"""Cursor pagination: a page of rows after an opaque cursor (the last row's sort key), and
the total, so a client can say "50 of 1,234" and fetch the next page without offsets
(stable while rows are added, cheap on big tables)."""

from __future__ import annotations

import base64
import json
from typing import Any, Generic, TypeVar

from pydantic import BaseModel, Field

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
