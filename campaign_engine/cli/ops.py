"""``campaign-engine ops``: the operator's console in the terminal.

Views (``overview``, ``limits``, ``retries``, ``dead``, ``contact``, ``audit``) print rich
tables, or JSON with ``--json``; the actions, audited under ``--actor``, are in
:mod:`campaign_engine.cli.ops_actions`.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import typer
from pydantic import BaseModel
from redis.asyncio import Redis
from rich.markup import escape
from rich.table import Table

from campaign_engine.cli import ops_actions
from campaign_engine.cli.common import (
    console,
    db_session,
    in_session,
    print_json,
    run,
    settings_from,
)
from campaign_engine.journal import audit
from campaign_engine.keys import RedisKeys
from campaign_engine.ops.history import contact_history
from campaign_engine.ops.limits_view import limits_view
from campaign_engine.ops.progress import overview
from campaign_engine.ops.queues import dead_letters, retry_queue

app = typer.Typer(no_args_is_help=True)

JSON = typer.Option(False, "--json", help="Print JSON instead of a table.")
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


@app.command("overview")
def overview_command(
    ctx: typer.Context,
    include_finished: bool = typer.Option(False, "--all", help="Finished campaigns too."),
    as_json: bool = JSON,
) -> None:
    """Campaigns: progress, calls in flight, recent rate, ETA, and why paused or stopped."""
    rows = in_session(settings_from(ctx), lambda s: overview(s, include_finished=include_finished))

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
        if view.scheduler_leader is not None:
            console.print(f"scheduler leader: {view.scheduler_leader.describe()}", highlight=False)

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
    queue = in_session(
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
    dead = in_session(
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
    history = in_session(settings_from(ctx), lambda s: contact_history(s, contact_id))

    def render() -> None:
        console.print(
            f"contact {history.contact_id} {history.phone} ({history.state}, "
            f"{history.attempts_count} attempts) in campaign {history.campaign_id}",
            highlight=False,
        )
        if history.waiting_for:
            console.print(f"waiting: {history.waiting_for}", highlight=False)
        columns = (
            "id", "attempt_number", "state", "call_id", "session_id", "call_status",
            "disposition", "answered_by", "outcome", "outcome_source", "duration_seconds",
            "claimed_at", "ended_at", "error",
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
    rows = in_session(
        settings_from(ctx),
        lambda s: audit.entries(s, limit=limit, target_type=kind or None, target_id=ident or None),
    )
    columns = ("at", "actor", "action", "target_type", "target_id", "details")
    _show(rows, as_json, lambda: _table("audit log", rows, columns))


ops_actions.register(app)
