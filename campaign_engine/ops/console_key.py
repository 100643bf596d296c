"""The key that signs the console's session cookies and CSRF tokens.

Made at random on first use and kept in the database (``engine_secrets``): it exists on
every install whether or not ``[ops] token`` is set (named tokens alone open the console),
and every ``serve`` process on every host reads the same one from the database they share.
A key derived from a configured secret was the alternative: the Vocobase API key and the
webhook secret are both known to Vocobase, so a key derived from either could be forged
outside the engine, and rotating them would log everyone out as a side effect; a random key
of our own is known only to our database. Deleting its row (then restarting the servers)
logs every console session out.
"""

from __future__ import annotations

import secrets

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from campaign_engine.db.models import EngineSecret

NAME = "console-session"


async def console_key(sessions: async_sessionmaker[AsyncSession]) -> bytes:
    """The shared key, made now if no process has made it yet (when two make it at once,
    the first to commit wins and the other reads it)."""
    async with sessions() as session:
        found = await session.scalar(select(EngineSecret.value).where(EngineSecret.name == NAME))
    if found is not None:
        return found.encode()
    try:
        async with sessions() as session, session.begin():
            session.add(EngineSecret(name=NAME, value=secrets.token_hex(32)))
    except IntegrityError:
        pass
    async with sessions() as session:
        made = await session.scalar(select(EngineSecret.value).where(EngineSecret.name == NAME))
    assert made is not None
    return made.encode()
