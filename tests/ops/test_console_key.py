"""The console's session key: made once, kept in the database, the same for every process."""

from __future__ import annotations

import asyncio

from sqlalchemy import select

from campaign_engine.db.models import EngineSecret
from campaign_engine.ops.console_key import NAME, console_key
from campaign_engine.runtime import Runtime


async def test_the_key_is_made_once_and_every_process_reads_the_same_one(
    runtime: Runtime,
) -> None:
    racing = await asyncio.gather(*(console_key(runtime.sessions) for _ in range(4)))
    again = await console_key(runtime.sessions)
    async with runtime.sessions() as session:
        rows = (await session.scalars(select(EngineSecret).where(EngineSecret.name == NAME))).all()

    assert len(set(racing)) == 1 and again == racing[0]
    assert len(again) == 64 and len(rows) == 1
