"""The fencing token: work a scheduler began under a lease it has since lost is refused by
the database, never done twice (who leads is :mod:`~campaign_engine.control.leadership`).

The one-row table ``scheduler_leader`` holds the current leader's token; each new leader
takes the next one (:func:`take_next_token`: ``token + 1`` in the database, so it only ever
grows, whatever Redis forgets).

Every transaction a leading scheduler commits runs a guard, in that transaction, at its
commit (:func:`check_token`; :func:`fenced_sessions` wraps a session factory so that every
transaction made from it does, and the scheduler, its reconciler, the campaign steps, daily
pulls and completion all use that factory; :func:`fence` runs it by hand). On PostgreSQL it takes a
transaction-scoped *shared* advisory lock, then reads the token (a statement of its own, so
it reads what was committed once the lock was granted); a new leader takes that lock
*exclusively* to write its token, so it waits for every transaction that passed the guard
to commit, and any that comes after reads the new token and is refused. (A row lock, ``SELECT
… FOR SHARE``, would do the same but writes the row: measured 2.7 to 3.5 ms more per
transaction, as each became a write to flush; the advisory lock costs a round trip.) On
SQLite a no-op ``UPDATE … WHERE token = ours`` takes SQLite's single writer lock for the rest
of the transaction. A refused transaction is rolled back (:class:`NotLeader`). Guarding at
commit rather than at the start also refuses a transaction begun under the lease and
finished after it was lost. Leaders' transactions never wait for each other (shared locks);
only a takeover waits, for those already committing.
"""

from __future__ import annotations

from collections import ChainMap
from collections.abc import Callable

from sqlalchemy import Connection, event, insert, select, text, update
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker
from sqlalchemy.orm import Session

from campaign_engine.db.models import SchedulerLeader, utcnow

NAME = "scheduler"

# PostgreSQL advisory locks (per database) ordering the guard and a takeover (see above).
_LOCK_KEY = "hashtextextended('campaign_engine.scheduler_leader:' || :name, 0)"
_SHARED_LOCK = text(f"SELECT pg_advisory_xact_lock_shared({_LOCK_KEY})")
_EXCLUSIVE_LOCK = text(f"SELECT pg_advisory_xact_lock({_LOCK_KEY})")


class NotLeader(RuntimeError):
    """A scheduler's transaction refused: it no longer holds the fencing token."""


def check_token(connection: Connection, token: int | None, name: str = NAME) -> None:
    """The guard (see the module docstring), on the connection of the transaction it
    fences; raises :class:`NotLeader` unless ``token`` is still the leader's."""
    if token is None:
        raise NotLeader("this scheduler does not lead (it lost or never had the lease)")
    if connection.dialect.name == "sqlite":
        result = connection.execute(
            update(SchedulerLeader)
            .where(SchedulerLeader.name == name, SchedulerLeader.token == token)
            .values(token=SchedulerLeader.token)
        )
        current = token if result.rowcount == 1 else None
    else:
        connection.execute(_SHARED_LOCK, {"name": name})
        current = connection.execute(
            select(SchedulerLeader.token).where(SchedulerLeader.name == name)
        ).scalar()
    if current != token:
        raise NotLeader(f"fencing token {token} is no longer the leader's: refused")


async def fence(session: AsyncSession, token: int | None, name: str = NAME) -> None:
    """:func:`check_token` in ``session``'s transaction (which must be open)."""
    await session.run_sync(lambda sync: check_token(sync.connection(), token, name))


def fenced_sessions(
    sessions: async_sessionmaker[AsyncSession],
    token: Callable[[], int | None],
    name: str = NAME,
) -> async_sessionmaker[AsyncSession]:
    """A session factory like ``sessions`` whose every transaction runs :func:`check_token`
    with ``token()`` (read at each commit) before it commits."""

    class FencedSession(Session):
        pass

    def guard(session: Session) -> None:
        check_token(session.connection(), token(), name)

    event.listen(FencedSession, "before_commit", guard)
    made: async_sessionmaker[AsyncSession] = async_sessionmaker(class_=sessions.class_)
    # Read through to ``sessions``' options, so that what is configured on it later
    # (notifications switched on, say) holds for fenced sessions too.
    made.kw = ChainMap({"sync_session_class": FencedSession}, sessions.kw)  # type: ignore[assignment]
    return made


async def take_next_token(
    sessions: async_sessionmaker[AsyncSession], name: str, holder: str, *, wait_ms: int
) -> int:
    """Become the leader in the database: the next token, written with ``holder``. On
    PostgreSQL it waits (at most ``wait_ms``) for every transaction that passed the previous
    token's guard to commit."""
    now = utcnow()
    async with sessions() as session, session.begin():
        if session.get_bind().dialect.name == "postgresql":
            await session.execute(text(f"SET LOCAL lock_timeout = {int(wait_ms)}"))
            await session.execute(_EXCLUSIVE_LOCK, {"name": name})
        token = await session.scalar(
            update(SchedulerLeader)
            .where(SchedulerLeader.name == name)
            .values(token=SchedulerLeader.token + 1, holder=holder, since=now, renewed_at=now)
            .returning(SchedulerLeader.token)
        )
        if token is None:
            token = 1
            await session.execute(
                insert(SchedulerLeader).values(
                    name=name, token=token, holder=holder, since=now, renewed_at=now
                )
            )
    return int(token)
