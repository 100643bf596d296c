"""What every command shares: loading settings, running async code, clear errors."""

from __future__ import annotations

import asyncio
import logging
import os
import sys
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any, NoReturn, TypeVar

import typer
from rich.console import Console
from rich.markup import escape
from sqlalchemy.ext.asyncio import AsyncSession

from campaign_engine.campaigns.lifecycle import TransitionError
from campaign_engine.campaigns.service import CampaignError
from campaign_engine.cli import failures
from campaign_engine.config import ConfigError, Settings, load_settings
from campaign_engine.db.session import create_engine, session_factory
from campaign_engine.journal import state_log
from campaign_engine.journal.audit import default_actor
from campaign_engine.journal.logs import handler
from campaign_engine.notifications import emit
from campaign_engine.vocobase.errors import VocobaseError

T = TypeVar("T")

console = Console()
errors = Console(stderr=True)

# Errors an operator can act on: shown as one clear line, exit status 1.
EXPECTED_ERRORS: tuple[type[Exception], ...] = (
    ConfigError,
    CampaignError,
    TransitionError,
    VocobaseError,
    LookupError,
    ValueError,
)


ACTOR_HELP = "Who acts (default: $USER); recorded in the audit log."


def actor_name(actor: str | None) -> str:
    """The ``--actor`` given, else the login running the command."""
    return actor or default_actor()


def fail(message: str, code: int = 1) -> NoReturn:
    # Literal text (a value may contain "[...]"), never wrapped: stderr is often a log file.
    errors.print(f"[bold red]error:[/] {escape(message)}", highlight=False, soft_wrap=True)
    raise typer.Exit(code)


def settings_from(ctx: typer.Context) -> Settings:
    """The settings for this invocation (``--config`` on the main command)."""
    obj = ctx.find_root().obj or {}
    cached = obj.get("settings")
    if isinstance(cached, Settings):
        return cached
    path: Path | None = obj.get("config_path")
    try:
        settings = load_settings(path)
    except ConfigError as exc:
        fail(str(exc), 2)
    obj["settings"] = settings
    ctx.find_root().obj = obj
    _loaded[:] = [settings]
    return settings


def run(coro_fn: Callable[[], Awaitable[T]]) -> T:
    """Run async command code; expected errors become one line on stderr, not a traceback."""
    try:
        return asyncio.run(_call(coro_fn))
    except EXPECTED_ERRORS as exc:
        fail(str(exc))
    except KeyboardInterrupt:
        fail("interrupted", 130)
    except BrokenPipeError:
        # The reader went away (``… | head``): say nothing more, as a pipe's writer does.
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        raise typer.Exit(141) from None
    except Exception as exc:
        message = failures.describe(exc, _current_settings())
        if message is None:
            raise
        fail(message)


def _current_settings() -> Settings | None:
    """The settings this invocation loaded, to name the URL that failed."""
    return _loaded[-1] if _loaded else None


_loaded: list[Settings] = []


async def _call(coro_fn: Callable[[], Awaitable[T]]) -> T:
    return await coro_fn()


@asynccontextmanager
async def db_session(settings: Settings) -> AsyncIterator[AsyncSession]:
    """A session in a transaction that commits when the block succeeds (writing the
    notifications of what it closes when notifications are on, as the services do)."""
    engine = create_engine(settings.database.url)
    sessions = session_factory(engine)
    if settings.notifications.enabled:
        emit.enable(sessions)
    try:
        async with sessions() as session, session.begin():
            yield session
    finally:
        await engine.dispose()


def in_session(settings: Settings, work: Callable[[AsyncSession], Awaitable[T]]) -> T:
    """Run ``work`` in one committed session: a query, or an action with its audit entry."""

    async def go() -> T:
        async with db_session(settings) as session:
            return await work(session)

    return run(go)


def setup_logging(level: str = "INFO") -> None:
    """Text on a terminal, JSON lines otherwise (a log collector); numbers always masked.
    For the long-running parts; replaces what :func:`setup_command_logging` set."""
    logging.basicConfig(
        level=level, handlers=[handler(sys.stderr, as_json=not sys.stderr.isatty())], force=True
    )
    logging.getLogger("httpx").setLevel(logging.WARNING)
    logging.getLogger("arq").setLevel(logging.WARNING)


def setup_command_logging() -> None:
    """A one-off command shows warnings and the state changes it makes (an operator's skip,
    pause or requeue is logged like the engine's own), on stderr."""
    logging.basicConfig(
        level=logging.WARNING, handlers=[handler(sys.stderr, as_json=not sys.stderr.isatty())]
    )
    state_log.log.setLevel(logging.INFO)


def print_json(data: Any) -> None:
    import json

    sys.stdout.write(json.dumps(data, indent=2, default=str) + "\n")
