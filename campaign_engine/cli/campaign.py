"""``campaign-engine campaign``: create, schedule, preflight, start, pause, resume, cancel,
end (a recurring campaign), show, status, list.

Every state change is recorded with the operator (``operator:<login>``) and the reason
given with ``--reason``. Pausing withdraws the campaign's queued jobs at once.
"""

from __future__ import annotations

import getpass
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import typer
from redis.asyncio import Redis
from redis.exceptions import RedisError
from rich.table import Table
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from campaign_engine.campaigns import service
from campaign_engine.campaigns.files import load_retry_policy, load_schedule
from campaign_engine.campaigns.overview import campaign_overview
from campaign_engine.campaigns.preflight import Preflight, preflight
from campaign_engine.campaigns.preset_warning import preset_warning
from campaign_engine.campaigns.replan import zone_groups
from campaign_engine.campaigns.schedule import Schedule
from campaign_engine.campaigns.windows import local_date
from campaign_engine.cli.campaign_priority import PRIORITY_HELP, priority_command
from campaign_engine.cli.campaign_views import (
    print_overview,
    print_preflight,
    print_status,
    say,
    warn,
)
from campaign_engine.cli.common import console, db_session, errors, print_json, run, settings_from
from campaign_engine.config import Settings
from campaign_engine.control import campaign_moves
from campaign_engine.db.models import Campaign, utcnow
from campaign_engine.keys import RedisKeys
from campaign_engine.ops.priority import checked_priority
from campaign_engine.runtime import partner_concurrency
from campaign_engine.states import CONTACT_FINAL, ContactState
from campaign_engine.vocobase.client import VocobaseClient

app = typer.Typer(no_args_is_help=True)

REASON = typer.Option(None, "--reason", help="Why (recorded with the state change).")
ACTOR = typer.Option(
    None, "--actor", help="Who acts (default: operator:<login>); recorded with the change."
)


_OPEN = [state.value for state in ContactState if state not in CONTACT_FINAL]


def warn_about(schedule: Schedule | None, callee_zones: Sequence[tuple[str, ...]] = ()) -> None:
    """Warn when a pinned zone meets a preset read on each callee's clock (worked out for
    ``callee_zones``, the campaign's zone groups, largest first, when it has contacts)."""
    if schedule is None:
        return
    on = local_date(schedule.home_zone, utcnow())
    warning = preset_warning(schedule, callee_zones, on=on)
    if warning:
        warn(warning)


async def _callee_zones(session: AsyncSession, campaign_id: str) -> list[tuple[str, ...]]:
    groups = await zone_groups(session, campaign_id, _OPEN)
    return [zones for _, zones, _ in sorted(groups, key=lambda group: -group[2])]


def operator(actor: str | None = None) -> str:
    """Who acts: the ``--actor`` given, else ``operator:<login>`` (recorded in the campaign's
    history and the audit log)."""
    if actor:
        return actor[:64]
    try:
        return f"operator:{getpass.getuser()}"[:64]
    except (KeyError, OSError):
        return service.OPERATOR


@app.command("create")
def create(
    ctx: typer.Context,
    name: str = typer.Option(..., "--name", help="A name operators will recognise."),
    agent_id: str = typer.Option(..., "--agent-id", help="The Vocobase agent (UUID)."),
    provider: str = typer.Option("mcube", "--provider", help="Telephony provider."),
    connection_id: str | None = typer.Option(None, help="Connection (UUID), if several."),
    max_concurrent: int | None = typer.Option(None, help="Campaign cap on calls at once."),
    calls_per_minute: int | None = typer.Option(None, help="Campaign pacing."),
    default_region: str | None = typer.Option(
        None, help="Region (e.g. IN) for numbers without a country code."
    ),
    schedule_file: Path | None = typer.Option(
        None, "--schedule", help="Schedule TOML: windows, days, zone, dates (none: any time)."
    ),
    retry_file: Path | None = typer.Option(
        None, "--retry", help="Retry policy TOML (none: the defaults `campaign show` prints)."
    ),
    priority: str | None = typer.Option(None, "--priority", help=PRIORITY_HELP),
) -> None:
    """Create a draft campaign and print its id."""
    settings = settings_from(ctx)

    async def create_it() -> str:
        weight = checked_priority(priority) if priority is not None else None
        schedule = load_schedule(schedule_file) if schedule_file else None
        policy = load_retry_policy(retry_file) if retry_file else None
        for note in schedule.notes if schedule else ():
            errors.print(f"note: {note}", highlight=False, soft_wrap=True)
        warn_about(schedule)
        async with db_session(settings) as session:
            campaign = await service.create_campaign(
                session,
                name=name,
                agent_id=agent_id,
                provider=provider,
                connection_id=connection_id,
                max_concurrent=max_concurrent,
                calls_per_minute=calls_per_minute,
                default_region=default_region,
                retry_policy=policy,
                schedule=schedule,
            )
            if weight is not None:
                campaign.priority = weight
            return campaign.id

    typer.echo(run(create_it))


@app.command("schedule")
def schedule(
    ctx: typer.Context,
    campaign_id: str,
    file: Path | None = typer.Argument(None, help="Schedule TOML (see `campaign create`)."),
    clear: bool = typer.Option(False, "--clear", help="Remove the schedule: call at any time."),
) -> None:
    """Change a campaign's schedule; waiting contacts move to their new allowed times."""
    settings = settings_from(ctx)
    if (file is None) == (not clear):
        raise typer.BadParameter("give a schedule FILE, or --clear", param_hint="FILE")

    async def change() -> int:
        new = load_schedule(file) if file is not None else None
        for note in new.notes if new else ():
            errors.print(f"note: {note}", highlight=False, soft_wrap=True)
        async with db_session(settings) as session:
            moved = await service.set_schedule(session, campaign_id, new)
            if new is not None and new.callee_preset is not None:
                warn_about(new, await _callee_zones(session, campaign_id))
            return moved

    moved = run(change)
    what = "schedule cleared" if clear else "schedule set"
    say(f"campaign {campaign_id}: {what}; {moved} waiting contacts placed again")


def _client(settings: Settings) -> VocobaseClient:
    return VocobaseClient.from_settings(settings)


async def _preflight(settings: Settings, campaign_id: str) -> Preflight:
    concurrency = await partner_concurrency(settings)
    async with db_session(settings) as session:
        return await preflight(
            session,
            campaign_id,
            settings.limits,
            utcnow(),
            partner_concurrency=concurrency,
            polling_share=settings.scheduler.reconcile_budget_share,
        )


@app.command("preflight")
def preflight_command(
    ctx: typer.Context,
    campaign_id: str,
    as_json: bool = typer.Option(False, "--json", help="Print one JSON object."),
) -> None:
    """Callable and blocked contacts (and why), and the estimated finish."""
    settings = settings_from(ctx)
    report = run(lambda: _preflight(settings, campaign_id))
    if as_json:
        print_json(report.to_dict())
        return
    print_preflight(report)


@app.command("start")
def start(
    ctx: typer.Context,
    campaign_id: str,
    check: bool = typer.Option(True, help="Check provider and agent with Vocobase first."),
    actor: str | None = ACTOR,
) -> None:
    """Start dialing (``scheduled`` if its schedule starts later); prints the preflight taken
    just before."""
    settings = settings_from(ctx)
    report = run(lambda: _preflight(settings, campaign_id))

    async def start_it() -> str:
        client = _client(settings) if check else None
        try:
            async with db_session(settings) as session:
                campaign = await service.start_campaign(
                    session,
                    campaign_id,
                    client,
                    actor=operator(actor),
                    uncapped_call_seconds=settings.limits.uncapped_call_seconds,
                )
                return campaign.state
        finally:
            if client is not None:
                await client.aclose()

    state = run(start_it)
    print_preflight(report)
    say(f"campaign {campaign_id} is {state}")


async def _withdraw(settings: Settings, job_ids: list[str]) -> None:
    """Take the jobs out of Redis; a failure only means they run and find nothing to do."""
    if not job_ids:
        return
    redis = Redis.from_url(settings.redis.url)
    try:
        await campaign_moves.withdraw(redis, RedisKeys(settings.redis.prefix), job_ids)
    except (RedisError, OSError) as exc:
        errors.print(
            f"warning: could not remove the queued jobs of {len(job_ids)} contacts from Redis "
            f"({exc}); they will find their contacts not queued and do nothing",
            highlight=False,
            soft_wrap=True,
        )
    finally:
        await redis.aclose()


@app.command("pause")
def pause(
    ctx: typer.Context, campaign_id: str, reason: str | None = REASON, actor: str | None = ACTOR
) -> None:
    """Pause now: queued jobs are withdrawn; calls already ringing finish and are recorded."""
    settings = settings_from(ctx)

    async def pause_it() -> None:
        keys = RedisKeys(settings.redis.prefix)
        async with db_session(settings) as session:
            moved = await campaign_moves.pause(
                session, campaign_id, keys=keys, actor=operator(actor), reason=reason
            )
        await _withdraw(settings, moved.jobs)

    run(pause_it)
    say(f"campaign {campaign_id} is paused")


@app.command("resume")
def resume(
    ctx: typer.Context, campaign_id: str, reason: str | None = REASON, actor: str | None = ACTOR
) -> None:
    """Resume a paused campaign."""
    settings = settings_from(ctx)

    async def resume_it() -> str:
        async with db_session(settings) as session:
            moved = await campaign_moves.resume(
                session, campaign_id, actor=operator(actor), reason=reason
            )
            return moved.state

    state = run(resume_it)
    again = {
        "running": "running again",
        "ongoing": "ongoing again (every contact so far is final; it waits for its next pull)",
    }.get(state, f"{state} again (its schedule starts later)")
    say(f"campaign {campaign_id} is {again}")


@app.command("cancel")
def cancel(
    ctx: typer.Context, campaign_id: str, reason: str | None = REASON, actor: str | None = ACTOR
) -> None:
    """Cancel: every contact not final is canceled (calls ringing finish and are recorded)."""
    settings = settings_from(ctx)

    async def cancel_it() -> None:
        keys = RedisKeys(settings.redis.prefix)
        async with db_session(settings) as session:
            moved = await campaign_moves.cancel(
                session, campaign_id, keys=keys, actor=operator(actor), reason=reason
            )
        await _withdraw(settings, moved.jobs)

    run(cancel_it)
    say(f"campaign {campaign_id} is canceled")


@app.command("end")
def end(
    ctx: typer.Context,
    campaign_id: str,
    reason: str | None = REASON,
    as_json: bool = typer.Option(False, "--json", help="Print one JSON object."),
    actor: str | None = ACTOR,
) -> None:
    """End a recurring campaign: its saved sources are forgotten (no more pulls) and it
    completes once its contacts are final — at once when they all are."""
    settings = settings_from(ctx)

    async def end_it() -> dict[str, Any]:
        async with db_session(settings) as session:
            moved = await campaign_moves.end(
                session, campaign_id, actor=operator(actor), reason=reason
            )
            campaign = await service.get_campaign(session, campaign_id)
            return {
                "id": campaign_id,
                "state": moved.state.value,
                "state_reason": campaign.state_reason,
                "sources_forgotten": moved.sources_forgotten,
                "contacts_closed": moved.contacts_closed,
            }

    data = run(end_it)
    if as_json:
        print_json(data)
        return
    if data["state"] == "completed":
        say(f"campaign {campaign_id} ended: no more pulls; it is completed")
    else:
        say(
            f"campaign {campaign_id} ended: no more pulls; it is {data['state']} and completes "
            "once its contacts are final"
        )


app.command("priority")(priority_command)


@app.command("show")
def show(
    ctx: typer.Context,
    campaign_id: str,
    as_json: bool = typer.Option(False, "--json", help="Print one JSON object."),
) -> None:
    """Everything about a campaign: progress, schedule, retry policy, limits, history."""
    settings = settings_from(ctx)

    async def read() -> dict[str, Any]:
        concurrency = await partner_concurrency(settings)
        async with db_session(settings) as session:
            return await campaign_overview(
                session,
                campaign_id,
                limits=settings.limits,
                partner_concurrency=concurrency,
                polling_share=settings.scheduler.reconcile_budget_share,
            )

    data = run(read)
    if as_json:
        print_json(data)
        return
    print_overview(data)


@app.command("status")
def status(
    ctx: typer.Context,
    campaign_id: str,
    as_json: bool = typer.Option(False, "--json", help="Print one JSON object."),
) -> None:
    """Progress of one campaign: contacts by state, attempts by outcome."""
    settings = settings_from(ctx)

    async def read() -> dict[str, Any]:
        async with db_session(settings) as session:
            return await service.campaign_status(session, campaign_id)

    data = run(read)
    if as_json:
        print_json(data)
        return
    print_status(data)


@app.command("list")
def list_campaigns(
    ctx: typer.Context, as_json: bool = typer.Option(False, "--json", help="Print JSON.")
) -> None:
    """Every campaign, newest first."""
    settings = settings_from(ctx)

    async def read() -> list[dict[str, Any]]:
        async with db_session(settings) as session:
            rows = (
                await session.scalars(select(Campaign).order_by(Campaign.created_at.desc()))
            ).all()
            return [
                {"id": c.id, "name": c.name, "state": c.state, "reason": c.state_reason}
                for c in rows
            ]

    rows = run(read)
    if as_json:
        print_json(rows)
        return
    table = Table("id", "name", "state", "reason")
    for row in rows:
        table.add_row(row["id"], row["name"], row["state"], row["reason"] or "")
    console.print(table)
