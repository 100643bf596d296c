"""Commit accepted deliveries to the inbox in groups: one round trip for many webhooks.

Each delivery must be committed before it is answered, and a statement through the
database layer costs far more CPU than the rest of the request (pool checkout, execution
context, result). So concurrent deliveries share one: a request queues its row and waits;
a short-lived drain task writes everything queued as one multi-row upsert (autocommit: the
statement is its own transaction) and wakes each request with its own result. Under light
load a group is one row and nothing waits longer than before; under heavy load groups grow
and the cost per delivery falls. No request is answered before its row is committed, and
a failed write fails every request in the group (each gets a 500; Vocobase retries).

Deliveries of one session_id in the same group are merged before writing: the first is
the original, the others are counted as duplicates (an upsert may not touch a row twice).
"""

from __future__ import annotations

import asyncio
import weakref
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy.ext.asyncio import AsyncEngine

from campaign_engine.db.models import utcnow
from campaign_engine.webhooks import inbox

# Rows per statement, and statements in flight at once (the next group forms meanwhile).
MAX_GROUP = 200
MAX_DRAINS = 2


@dataclass
class _Waiting:
    values: dict[str, Any]
    done: asyncio.Future[inbox.Stored] = field(repr=False)


def merge(waiting: list[_Waiting]) -> dict[str, list[_Waiting]]:
    """Requests by session_id, in arrival order (pure)."""
    groups: dict[str, list[_Waiting]] = {}
    for item in waiting:
        groups.setdefault(item.values["session_id"], []).append(item)
    return groups


class InboxWriter:
    """Groups concurrent inbox writes of one engine (see the module docstring)."""

    def __init__(self, engine: AsyncEngine) -> None:
        self.engine = engine.execution_options(isolation_level="AUTOCOMMIT")
        self._queue: list[_Waiting] = []
        self._drains = 0

    async def store(
        self,
        *,
        session_id: str,
        call_id: str | None,
        event_type: str,
        raw_body: bytes,
        headers: dict[str, Any],
    ) -> inbox.Stored:
        """Commit one delivery (or count it as a duplicate); returns once it is durable."""
        done: asyncio.Future[inbox.Stored] = asyncio.get_running_loop().create_future()
        self._queue.append(
            _Waiting(
                inbox.event_values(
                    session_id=session_id,
                    call_id=call_id,
                    event_type=event_type,
                    raw_body=raw_body,
                    headers=headers,
                    received_at=utcnow(),
                ),
                done,
            )
        )
        if self._drains < MAX_DRAINS:
            self._drains += 1
            asyncio.get_running_loop().create_task(self._drain())
        return await done

    async def _drain(self) -> None:
        try:
            while self._queue:
                group, self._queue = self._queue[:MAX_GROUP], self._queue[MAX_GROUP:]
                await self._write(group)
        finally:
            self._drains -= 1

    async def _write(self, group: list[_Waiting]) -> None:
        by_session = merge(group)
        rows = []
        for items in by_session.values():
            first = dict(items[0].values)
            first["duplicates"] = len(items) - 1
            rows.append(first)
        try:
            async with self.engine.connect() as conn:
                stored = await inbox.store_many(conn, rows)
        except Exception as exc:
            for item in group:
                if not item.done.done():
                    item.done.set_exception(exc)
            return
        for session_id, items in by_session.items():
            event_id = stored.get(session_id)
            results = [inbox.Stored(event_id, duplicate=event_id is None)]
            results += [inbox.Stored(None, duplicate=True)] * (len(items) - 1)
            for item, result in zip(items, results, strict=True):
                if not item.done.done():
                    item.done.set_result(result)


_WRITERS: weakref.WeakKeyDictionary[AsyncEngine, InboxWriter] = weakref.WeakKeyDictionary()


def writer_for(engine: AsyncEngine) -> InboxWriter:
    """The one writer of ``engine`` in this process (made on first use)."""
    found = _WRITERS.get(engine)
    if found is None:
        found = _WRITERS[engine] = InboxWriter(engine)
    return found
