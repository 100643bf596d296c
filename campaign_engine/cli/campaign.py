"""``campaign-engine campaign create|start|pause|resume|cancel|status|list``."""

from __future__ import annotations

from typing import Any

import typer
from rich.table import Table
from sqlalchemy import select

from campaign_engine.campaigns import service
from campaign_engine.cli.common import console, db_session, print_json, run, settings_from
from campaign_engine.config import Settings
from campaign_engine.db.models import Campaign
from campaign_engine.vocobase.client import VocobaseClient

app = typer.Typer(no_args_is_help=True)


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
) -> None:
    """Create a draft campaign and print its id."""
    settings = settings_from(ctx)

    async def create_it() -> str:
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
            )
            return campaign.id

    typer.echo(run(create_it))


def _client(settings: Settings) -> VocobaseClient:
    return VocobaseClient(
        settings.vocobase.base_url,
        settings.vocobase.api_key.get_secret_value(),
        timeout=settings.vocobase.timeout_seconds,
    )


@app.command("start")
def start(
    ctx: typer.Context,
    campaign_id: str,
    check: bool = typer.Option(True, help="Check provider and agent with Vocobase first."),
) -> None:
    """Start dialing (after checking the provider and agent with Vocobase)."""
    settings = settings_from(ctx)

    async def start_it() -> None:
        client = _client(settings) if check else None
        try:
            async with db_session(settings) as session:
                await service.start_campaign(session, campaign_id, client)
        finally:
            if client is not None:
                await client.aclose()

    run(start_it)
    console.print(f"campaign {campaign_id} is running")


def _simple_action(name: str, action: Any, done: str) -> None:
    @app.command(name)
    def command(ctx: typer.Context, campaign_id: str) -> None:
        settings = settings_from(ctx)

        async def act() -> None:
            async with db_session(settings) as session:
                await action(session, campaign_id)

        run(act)
        console.print(f"campaign {campaign_id} {done}")

    command.__doc__ = f"{name.capitalize()} the campaign."


_simple_action("pause", service.pause_campaign, "is paused")
_simple_action("resume", service.resume_campaign, "is running again")
_simple_action("cancel", service.cancel_campaign, "is canceled")


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
    contacts = data["contacts"]
    console.print(
        f"[bold]{data['name']}[/] ({data['id']}) — [bold]{data['state']}[/]"
        + (f": {data['state_reason']}" if data["state_reason"] else "")
    )
    console.print(f"contacts: {contacts['final']} final of {contacts['total']}")
    table = Table("contact state", "count")
    for state, count in sorted(contacts["by_state"].items()):
        table.add_row(state, str(count))
    console.print(table)
    outcomes = Table("attempt outcome", "count")
    for outcome, count in sorted(data["attempts"]["by_outcome"].items()):
        outcomes.add_row(outcome, str(count))
    console.print(outcomes)


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
