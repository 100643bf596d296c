"""What the campaign's contacts were waiting for, sampled through a phase: when dialing
stalls, the sample taken during the stall names the reason (each contact's state and the
kind of its last hand-back or failure, and how long until the earliest is due again).
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import text
from sqlalchemy.ext.asyncio import create_async_engine
from sqlalchemy.pool import NullPool

from campaign_engine.db.models import utcnow

SAMPLE_SECONDS = 1.0
_QUERY = text(
    "SELECT state, last_failure_kind, count(*), min(next_attempt_at) FROM contacts "
    "WHERE campaign_id = :id AND state NOT IN "
    "('completed', 'exhausted', 'failed', 'canceled', 'suppressed') "
    "GROUP BY state, last_failure_kind"
)


def describe(rows: list[tuple[Any, ...]], now: datetime) -> dict[str, Any]:
    """``state/kind`` -> ``{"contacts": n, "due_in": seconds until the earliest is due}``."""
    found: dict[str, Any] = {}
    for state, kind, count, due in rows:
        if isinstance(due, str):
            due = datetime.fromisoformat(due)
        if due is not None and due.tzinfo is None:  # stored as UTC without a zone
            due = due.replace(tzinfo=UTC)
        due_in = None if due is None else round((due - now).total_seconds(), 1)
        found[f"{state}/{kind or '-'}"] = {"contacts": int(count), "due_in": due_in}
    return dict(sorted(found.items()))


class ProgressWatch:
    def __init__(self, database_url: str, campaign_id: str) -> None:
        self.database_url = database_url
        self.campaign_id = campaign_id
        self.samples: list[tuple[float, dict[str, Any]]] = []
        self._task: asyncio.Task[None] | None = None

    def start(self) -> None:
        self._task = asyncio.create_task(self._sample(time.monotonic()))

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task

    def at(self, moment: float) -> dict[str, Any] | None:
        """The sample nearest to ``moment`` seconds into the phase."""
        if not self.samples:
            return None
        when, sample = min(self.samples, key=lambda item: abs(item[0] - moment))
        return {"at": round(when, 1), "waiting": sample}

    async def _sample(self, began: float) -> None:
        engine = create_async_engine(self.database_url, poolclass=NullPool)
        try:
            while True:
                with contextlib.suppress(Exception):  # the database may be restarting
                    async with engine.connect() as conn:
                        rows = (await conn.execute(_QUERY, {"id": self.campaign_id})).all()
                    self.samples.append(
                        (time.monotonic() - began, describe([tuple(r) for r in rows], utcnow()))
                    )
                await asyncio.sleep(SAMPLE_SECONDS)
        finally:
            await engine.dispose()
