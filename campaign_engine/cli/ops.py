"""``campaign-engine ops``: the operator's console in the terminal.

Views (``overview``, ``limits``, ``retries``, ``dead``, ``contact``, ``audit``) print rich
tables, or JSON with ``--json``; actions (``retry-now``, ``skip``, ``suppress``,
``edit-vars``, ``requeue-reason``, ``pause``, ``resume``, ``cancel``) are recorded in the
audit log under ``--actor`` (default: the login running the command).
"""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable, Sequence
from typing import Any

import typer
from pydantic import BaseModel
from redis.asyncio import Redis
from rich.markup import escape
from rich.table import Table
from sqlalchemy.ext.asyncio import AsyncSession

from campaign_engine.cli.common import console, db_session, print_json, run, settings_from
from campaign_engine.config import Settings
from campaign_engine.keys import RedisKeys
from campaign_engine.ops import actions, audit, campaign_control
from campaign_engine.ops.history import contact_history
from campaign_engine.ops.limits import limits_view
from campaign_engine.ops.progress import overview
from campaign_engine.ops.queues import dead_letters, retry_queue

app = typer.Typer(no_args_is_help=True)

JSON = typer.Option(False, "--json", help="Print JSON instead of a table.")
ACTOR = typer.Option(None, "--actor", help="Who acts (default: $USER); recorded in the audit log.")
CAMPAIGN = typer.Option(None, "--campaign", help="Only this campaign.")
PHONE = typer.Option(None, "--phone", help="Only numbers containing these digits.")
LIMIT = typer.Option(100, "--limit", min=1, help="At most this many rows.")


def _cell(value: Any) -> str:
    if value is None:
        return "-"
    if isinstance(value, float):
        return f"{value:g}"
    return escape(str(value))


def _table(title: str, rows: Sequence[BaseModel], columns: Sequence[str]) -> None:
    table = Table(title=title, title_justify="left")
    for column in columns:
        table.add_column(column.replace("_", " "))
    for row in rows:
        data = row.model_dump()
        table.add_row(*(_cell(data.get(column)) for column in columns))
    console.print(table)


def _show(data: BaseModel | list[Any], as_json: bool, render: Callable[[], None]) -> None:
    if as_json:
        if isinstance(data, BaseModel):
            print_json(data.model_dump(mode="json"))
        else:
            print_json([item.model_dump(mode="json") for item in data])
        return
    render()


def _read(settings: Settings, query: Callable[[AsyncSession], Awaitable[Any]]) -> Any:
    async def go() -> Any:
        async with db_session(settings) as session:
            return await query(session)

    return run(go)


@app.command("overview")
def overview_command(
    ctx: typer.Context,
    include_finished: bool = typer.Option(False, "--all", help="Finished campaigns too."),
    as_json: bool = JSON,
) -> None:
    """Campaigns: progress, calls in flight, recent rate, ETA, and why paused or stopped."""
    rows = _read(settings_from(ctx), lambda s: overview(s, include_finished=include_finished))

    def render() -> None:
        table = Table(title="campaigns", title_justify="left")
        for column in ("id", "name", "state", "progress", "in flight", "/min", "/hour", "eta"):
            table.add_column(column)
        table.add_column("why")
        for row in rows:
            eta = "-" if row.eta_seconds is None else f"{row.eta_seconds / 60:.1f} min"
            why = row.state_reason or (row.last_event.reason if row.last_event else None)
            table.add_row(
                row.id, escape(row.name), row.state, f"{row.final}/{row.total}",
                str(row.in_flight), str(row.calls_last_minute), str(row.calls_last_hour),
                eta, _cell(why),
            )  # fmt: skip
        console.print(table)

    _show(rows, as_json, render)


@app.command("limits")
def limits_command(ctx: typer.Context, as_json: bool = JSON) -> None:
    """Every limit with its configured value, use now, 429s and the adaptive state."""
    settings = settings_from(ctx)

    async def go() -> Any:
        redis = Redis.from_url(settings.redis.url)
        try:
            async with db_session(settings) as session:
                keys = RedisKeys(settings.redis.prefix)
                return await limits_view(session, redis, keys, settings.limits)
        finally:
            await redis.aclose()

    view = run(go)

    def render() -> None:
        _table("limits", view.limits, ("name", "kind", "limit", "in_use", "rate_limited_last_hour"))
        console.print(
            f"cooldown: {view.cooldown_ms} ms · learned concurrency: "
            f"{_cell(view.learned_concurrency)} · lowered concurrency: "
            f"{_cell(view.lowered_concurrency)} · lowered rate factor: "
            f"{_cell(view.lowered_rate_factor)}",
            highlight=False,
        )

    _show(view, as_json, render)


QUEUE_COLUMNS = (
    "contact_id", "campaign_id", "phone", "state", "reason", "next_attempt_number",
    "next_attempt_at", "last_error",
)  # fmt: skip


@app.command("retries")
def retries_command(
    ctx: typer.Context,
    campaign: str | None = CAMPAIGN,
    phone: str | None = PHONE,
    reason: str | None = typer.Option(None, "--reason", help="Only this reason."),
    limit: int = LIMIT,
    as_json: bool = JSON,
) -> None:
    """Contacts waiting for a retry, soonest first, with counts by reason."""
    queue = _read(
        settings_from(ctx),
        lambda s: retry_queue(s, campaign_id=campaign, phone=phone, reason=reason, limit=limit),
    )

    def render() -> None:
        counts = ", ".join(f"{name}: {n}" for name, n in sorted(queue.by_reason.items()))
        console.print(f"by reason: {counts or 'none waiting'}", highlight=False)
        _table("retry queue", queue.contacts, QUEUE_COLUMNS)

    _show(queue, as_json, render)


@app.command("dead")
def dead_command(
    ctx: typer.Context,
    campaign: str | None = CAMPAIGN,
    phone: str | None = PHONE,
    limit: int = LIMIT,
    as_json: bool = JSON,
) -> None:
    """Contacts given up on (exhausted, failed, suppressed) and attempts stuck or expired."""
    dead = _read(
        settings_from(ctx),
        lambda s: dead_letters(s, campaign_id=campaign, phone=phone, limit=limit),
    )

    def render() -> None:
        _table("dead letters", dead.contacts, QUEUE_COLUMNS)
        _table(
            "attempts stuck or expired",
            dead.attempts,
            ("attempt_id", "contact_id", "phone", "state", "claimed_at", "deadline_at", "error"),
        )

    _show(dead, as_json, render)


@app.command("contact")
def contact_command(ctx: typer.Context, contact_id: int, as_json: bool = JSON) -> None:
    """One contact's history: every attempt and the raw webhooks it received."""
    history = _read(settings_from(ctx), lambda s: contact_history(s, contact_id))

    def render() -> None:
        console.print(
            f"contact {history.contact_id} {history.phone} ({history.state}, "
            f"{history.attempts_count} attempts) in campaign {history.campaign_id}",
            highlight=False,
        )
        columns = (
            "id", "attempt_number", "state", "call_id", "session_id", "call_status",
            "disposition", "answered_by", "outcome", "duration_seconds", "claimed_at",
            "ended_at", "error",
        )  # fmt: skip
        _table("attempts", history.attempts, columns)
        for attempt in history.attempts:
            for hook in attempt.webhooks:
                console.print(
                    f"attempt {attempt.id} webhook {hook.id} {hook.status} "
                    f"at {hook.received_at.isoformat()}: {escape(hook.body)}",
                    highlight=False,
                    soft_wrap=True,
                )

    _show(history, as_json, render)


@app.command("audit")
def audit_command(
    ctx: typer.Context,
    limit: int = typer.Option(50, "--limit", min=1),
    target: str | None = typer.Option(None, "--target", help="TYPE:ID, e.g. contact:42."),
    as_json: bool = JSON,
) -> None:
    """The latest operator actions, newest first."""
    kind, _, ident = (target or "").partition(":")
    rows = _read(
        settings_from(ctx),
        lambda s: audit.entries(s, limit=limit, target_type=kind or None, target_id=ident or None),
    )
    columns = ("at", "actor", "action", "target_type", "target_id", "details")
    _show(rows, as_json, lambda: _table("audit log", rows, columns))


def _act(ctx: typer.Context, action: Callable[[AsyncSession], Awaitable[Any]]) -> Any:
    return _read(settings_from(ctx), action)


def _actor(actor: str | None) -> str:
    return actor or audit.default_actor()


@app.command("retry-now")
def retry_now_command(ctx: typer.Context, contact_id: int, actor: str | None = ACTOR) -> None:
    """Call a waiting contact now, or a given-up (exhausted/failed) one again."""
    before = _act(ctx, lambda s: actions.retry_now(s, contact_id, actor=_actor(actor)))
    typer.echo(f"contact {contact_id} ({before}) is due now")


@app.command("skip")
def skip_command(ctx: typer.Context, contact_id: int, actor: str | None = ACTOR) -> None:
    """Never call this contact in its campaign."""
    _act(ctx, lambda s: actions.skip(s, contact_id, actor=_actor(actor)))
    typer.echo(f"contact {contact_id} skipped")


@app.command("suppress")
def suppress_command(
    ctx: typer.Context,
    contact_id: int,
    reason: str | None = typer.Option(None, "--reason"),
    actor: str | None = ACTOR,
) -> None:
    """Put the contact's number on the do-not-call list (and close it if waiting)."""
    closed = _act(
        ctx, lambda s: actions.suppress(s, contact_id, actor=_actor(actor), reason=reason)
    )
    typer.echo(f"contact {contact_id}'s number suppressed" + (", contact closed" if closed else ""))


def _pairs(raw: list[str]) -> dict[str, Any]:
    values: dict[str, Any] = {}
    for item in raw:
        name, sep, value = item.partition("=")
        if not sep or not name:
            raise ValueError(f"--set wants NAME=VALUE, got {item!r}")
        values[name] = value
    return values


@app.command("edit-vars")
def edit_vars_command(
    ctx: typer.Context,
    contact_id: int,
    values: list[str] = typer.Option([], "--set", help="NAME=VALUE (repeatable)."),
    remove: list[str] = typer.Option([], "--unset", help="NAME (repeatable)."),
    actor: str | None = ACTOR,
) -> None:
    """Change a contact's variables and call it again now."""

    async def go(session: AsyncSession) -> dict[str, Any]:
        return await actions.edit_variables(
            session, contact_id, actor=_actor(actor), values=_pairs(values), remove=remove
        )

    typer.echo(json.dumps(_act(ctx, go), sort_keys=True))


@app.command("requeue-reason")
def requeue_reason_command(
    ctx: typer.Context, campaign_id: str, reason: str, actor: str | None = ACTOR
) -> None:
    """Call again now every contact of the campaign waiting or given up for this reason."""
    count = _act(ctx, lambda s: actions.requeue_reason(s, campaign_id, reason, actor=_actor(actor)))
    typer.echo(f"requeued {count}")


def _control(ctx: typer.Context, campaign_id: str, action: str, actor: str | None,
             reason: str | None) -> None:  # fmt: skip
    settings = settings_from(ctx)
    keys = RedisKeys(settings.redis.prefix)

    async def go() -> None:
        async with db_session(settings) as session:
            jobs = await campaign_control.control(
                session, keys, campaign_id, action, actor=_actor(actor), reason=reason
            )
        redis = Redis.from_url(settings.redis.url)
        try:
            await campaign_control.withdraw(redis, keys, jobs)
        finally:
            await redis.aclose()

    run(go)
    typer.echo(f"campaign {campaign_id}: {action} done")


REASON = typer.Option(None, "--reason", help="Why (recorded with the state change).")


@app.command("pause")
def pause_command(
    ctx: typer.Context, campaign_id: str, reason: str | None = REASON, actor: str | None = ACTOR
) -> None:
    """Pause a campaign (queued jobs are withdrawn)."""
    _control(ctx, campaign_id, "pause", actor, reason)


@app.command("resume")
def resume_command(
    ctx: typer.Context, campaign_id: str, reason: str | None = REASON, actor: str | None = ACTOR
) -> None:
    """Resume a paused campaign."""
    _control(ctx, campaign_id, "resume", actor, reason)


@app.command("cancel")
def cancel_command(
    ctx: typer.Context, campaign_id: str, reason: str | None = REASON, actor: str | None = ACTOR
) -> None:
    """Cancel a campaign: every contact not final or in a call is canceled."""
    _control(ctx, campaign_id, "cancel", actor, reason)
