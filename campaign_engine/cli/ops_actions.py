"""``campaign-engine ops`` actions: each is written to the audit log under ``--actor``
(default: the login running the command), in the same transaction as the action.

Contact actions (``retry-now``, ``skip``, ``suppress``, ``edit-vars``, ``requeue-reason``)
and campaign controls (``pause``, ``resume``, ``cancel``; queued jobs are withdrawn from
Redis after the change is committed).
"""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable
from typing import Any

import typer
from redis.asyncio import Redis
from sqlalchemy.ext.asyncio import AsyncSession

from campaign_engine.cli.common import (
    ACTOR_HELP,
    actor_name,
    db_session,
    errors,
    in_session,
    print_json,
    run,
    settings_from,
)
from campaign_engine.control import campaign_moves
from campaign_engine.keys import RedisKeys
from campaign_engine.ops import actions
from campaign_engine.ops.call_now import CallNow, summary

ACTOR = typer.Option(None, "--actor", help=ACTOR_HELP)


def _act(ctx: typer.Context, action: Callable[[AsyncSession], Awaitable[Any]]) -> Any:
    return in_session(settings_from(ctx), action)


JSON = typer.Option(False, "--json", help="Print one JSON object.")


def retry_now_command(
    ctx: typer.Context, contact_id: int, actor: str | None = ACTOR, as_json: bool = JSON
) -> None:
    """Call a waiting contact now, or a given-up (exhausted/failed) one again: ahead of the
    queue, or at the next moment its calling window allows (the answer says when)."""
    answer: CallNow = _act(ctx, lambda s: actions.retry_now(s, contact_id, actor=actor_name(actor)))
    if as_json:
        print_json(answer.to_dict())
        return
    typer.echo(f"contact {contact_id} ({answer.from_state}) {answer.when()}")


def skip_command(ctx: typer.Context, contact_id: int, actor: str | None = ACTOR) -> None:
    """Never call this contact in its campaign."""
    _act(ctx, lambda s: actions.skip(s, contact_id, actor=actor_name(actor)))
    typer.echo(f"contact {contact_id} skipped")


def suppress_command(
    ctx: typer.Context,
    contact_id: int,
    reason: str | None = typer.Option(None, "--reason"),
    actor: str | None = ACTOR,
) -> None:
    """Put the contact's number on the do-not-call list (and close it if waiting)."""
    closed = _act(
        ctx, lambda s: actions.suppress(s, contact_id, actor=actor_name(actor), reason=reason)
    )
    typer.echo(
        f"contact {contact_id}'s number suppressed"
        + (
            ", contact closed"
            if closed
            else "; the contact was not waiting: a call under way stands, no other follows"
        )
    )


def _pairs(raw: list[str]) -> dict[str, Any]:
    values: dict[str, Any] = {}
    for item in raw:
        name, sep, value = item.partition("=")
        if not sep or not name:
            raise ValueError(f"--set wants NAME=VALUE, got {item!r}")
        values[name] = value
    return values


def edit_vars_command(
    ctx: typer.Context,
    contact_id: int,
    values: list[str] = typer.Option([], "--set", help="NAME=VALUE (repeatable)."),
    remove: list[str] = typer.Option([], "--unset", help="NAME (repeatable)."),
    actor: str | None = ACTOR,
    as_json: bool = typer.Option(
        False, "--json", help="Print one JSON object: the variables and when it is called."
    ),
) -> None:
    """Change a contact's variables and call it again now (or when its window allows).

    Prints the new variables (JSON) and, on stderr, when the contact will be called."""

    async def go(session: AsyncSession) -> tuple[dict[str, Any], CallNow]:
        return await actions.edit_variables(
            session, contact_id, actor=actor_name(actor), values=_pairs(values), remove=remove
        )

    variables, answer = _act(ctx, go)
    if as_json:
        print_json({"variables": variables, "call": answer.to_dict()})
        return
    typer.echo(json.dumps(variables, sort_keys=True))
    errors.print(f"contact {contact_id} {answer.when()}", highlight=False, soft_wrap=True)


def requeue_reason_command(
    ctx: typer.Context,
    campaign_id: str,
    reason: str,
    actor: str | None = ACTOR,
    as_json: bool = JSON,
) -> None:
    """Call again now every contact of the campaign waiting or given up for this reason
    (ahead of the queue; those whose window is closed, when it opens)."""
    answers: list[CallNow] = _act(
        ctx, lambda s: actions.requeue_reason(s, campaign_id, reason, actor=actor_name(actor))
    )
    if as_json:
        print_json(
            {
                "count": len(answers),
                "now": sum(1 for answer in answers if answer.now),
                "contacts": [answer.to_dict() for answer in answers],
            }
        )
        return
    typer.echo(summary(answers))


def _control(ctx: typer.Context, campaign_id: str, action: str, actor: str | None,
             reason: str | None) -> None:  # fmt: skip
    settings = settings_from(ctx)
    keys = RedisKeys(settings.redis.prefix)

    async def go() -> None:
        async with db_session(settings) as session:
            moved = await campaign_moves.control(
                session, keys, campaign_id, action, actor=actor_name(actor), reason=reason
            )
        redis = Redis.from_url(settings.redis.url)
        try:
            await campaign_moves.withdraw(redis, keys, moved.jobs)
        finally:
            await redis.aclose()

    run(go)
    typer.echo(f"campaign {campaign_id}: {action} done")


REASON = typer.Option(None, "--reason", help="Why (recorded with the state change).")


def pause_command(
    ctx: typer.Context, campaign_id: str, reason: str | None = REASON, actor: str | None = ACTOR
) -> None:
    """Pause a campaign (queued jobs are withdrawn)."""
    _control(ctx, campaign_id, "pause", actor, reason)


def resume_command(
    ctx: typer.Context, campaign_id: str, reason: str | None = REASON, actor: str | None = ACTOR
) -> None:
    """Resume a paused campaign."""
    _control(ctx, campaign_id, "resume", actor, reason)


def cancel_command(
    ctx: typer.Context, campaign_id: str, reason: str | None = REASON, actor: str | None = ACTOR
) -> None:
    """Cancel a campaign: every contact not final or in a call is canceled."""
    _control(ctx, campaign_id, "cancel", actor, reason)


def register(app: typer.Typer) -> None:
    """Add the action commands to ``campaign-engine ops``."""
    for name, command in (
        ("retry-now", retry_now_command),
        ("skip", skip_command),
        ("suppress", suppress_command),
        ("edit-vars", edit_vars_command),
        ("requeue-reason", requeue_reason_command),
        ("pause", pause_command),
        ("resume", resume_command),
        ("cancel", cancel_command),
    ):
        app.command(name)(command)
