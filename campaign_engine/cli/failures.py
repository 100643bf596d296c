"""What went wrong with a service a command needs — the database, Redis, a file — in an
operator's words.

A database URL with a typo, a database nobody migrated, a Redis that is down or a report path
in a missing folder are configuration and input mistakes, not engine bugs: the operator gets
one line naming the setting or file and what to do, never a driver's traceback. Anything not
recognised here is a bug and keeps its traceback.
"""

from __future__ import annotations

import re
import socket
from urllib.parse import urlsplit, urlunsplit

from redis.exceptions import RedisError
from sqlalchemy import exc as sa_exc
from sqlalchemy.engine import make_url

from campaign_engine.config import Settings

DATABASE_HINT = "check [database] url or CAMPAIGN_ENGINE_DATABASE__URL"
REDIS_HINT = "check [redis] url or CAMPAIGN_ENGINE_REDIS__URL"
# SQLite says "no such table", PostgreSQL 'relation "x" does not exist' (UndefinedTableError).
_NO_SCHEMA = re.compile(r"no such table|relation \S+ does not exist|UndefinedTable", re.IGNORECASE)


def describe(exc: BaseException, settings: Settings | None) -> str | None:
    """One line for ``exc`` if it is a service or file failure an operator can fix, else None."""
    database = _masked_database_url(settings.database.url) if settings else "the database"
    if isinstance(exc, sa_exc.DBAPIError):
        detail = _first_line(exc.orig if exc.orig is not None else exc)
        if _NO_SCHEMA.search(f"{type(exc.orig).__name__} {detail}"):
            return (
                f"{database} has no campaign-engine tables (or older ones): "
                f"run `campaign-engine db upgrade` first ({detail})"
            )
        # No statement: it failed while connecting. A statement that broke a constraint
        # or was malformed is the engine's bug, and keeps its traceback.
        if exc.statement is None or isinstance(exc, sa_exc.OperationalError):
            return f"database {database}: {detail} ({DATABASE_HINT})"
        return None
    if isinstance(exc, sa_exc.ArgumentError):
        return f"database URL {database}: {_first_line(exc)} ({DATABASE_HINT})"
    if isinstance(exc, RedisError):
        redis = _masked_url(settings.redis.url) if settings else "Redis"
        return f"Redis at {redis}: {_first_line(exc)} ({REDIS_HINT})"
    if isinstance(exc, (ConnectionRefusedError, ConnectionResetError, socket.gaierror)) or (
        type(exc) is TimeoutError
    ):
        # Raised bare by the PostgreSQL driver while connecting (redis-py and httpx wrap theirs).
        return f"cannot connect to the database {database}: {exc} ({DATABASE_HINT})"
    if isinstance(exc, OSError) and exc.filename is not None:
        return f"{exc.filename}: {exc.strerror or exc}"
    return None


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip()
    return text.splitlines()[0] if text else type(exc).__name__


def _masked_database_url(url: str) -> str:
    try:
        return make_url(url).render_as_string(hide_password=True)
    except sa_exc.ArgumentError:
        return repr(url)


def _masked_url(url: str) -> str:
    parts = urlsplit(url)
    if parts.password is None:
        return url
    host = parts.hostname or ""
    port = f":{parts.port}" if parts.port else ""
    user = f"{parts.username}:***@" if parts.username else ":***@"
    return urlunsplit(parts._replace(netloc=f"{user}{host}{port}"))
