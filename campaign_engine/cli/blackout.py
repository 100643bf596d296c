"""``campaign-engine blackout add|list|remove DATE [--campaign ID]``: days nobody is called.
Adding and removing are audited under ``--actor`` (default: the login running the command)."""

from __future__ import annotations

from datetime import date
from typing import Any

import typer
from rich.markup import escape
from rich.table import Table

from campaign_engine.campaigns.blackouts import add_blackout, list_blackouts, remove_blackout
from campaign_engine.cli.common import (
    ACTOR_HELP,
    actor_name,
    console,
    db_session,
    fail,
    print_json,
    run,
    settings_from,
)

app = typer.Typer(no_args_is_help=True)

CAMPAIGN = typer.Option(None, "--campaign", help="Only this campaign (default: every one).")
ACTOR = typer.Option(None, "--actor", help=ACTOR_HELP)


def _day(text: str) -> date:
    try:
        return date.fromisoformat(text.strip())
    except ValueError:
        fail(f"DATE must be YYYY-MM-DD, got {text!r}")


def _where(campaign_id: str | None) -> str:
    return f"campaign {campaign_id}" if campaign_id else "every campaign"


@app.command("add")
def add(
    ctx: typer.Context,
    day: str = typer.Argument(..., metavar="DATE", help="YYYY-MM-DD, on the callee's clock."),
    campaign_id: str | None = CAMPAIGN,
    reason: str | None = typer.Option(None, "--reason", help="E.g. the holiday's name."),
    actor: str | None = ACTOR,
) -> None:
    """Nobody is called on DATE (in one campaign, or in all)."""
    settings = settings_from(ctx)
    when = _day(day)

    async def add_it() -> None:
        async with db_session(settings) as session:
            await add_blackout(
                session, when, campaign_id=campaign_id, reason=reason, actor=actor_name(actor)
            )

    run(add_it)
    console.print(f"{when.isoformat()} is a blackout date for {_where(campaign_id)}")


@app.command("list")
def list_days(
    ctx: typer.Context,
    campaign_id: str | None = typer.Option(
        None, "--campaign", help="The global dates and this campaign's (default: all of them)."
    ),
    as_json: bool = typer.Option(False, "--json", help="Print JSON."),
) -> None:
    """Blackout dates, by date."""
    settings = settings_from(ctx)

    async def read() -> list[dict[str, Any]]:
        async with db_session(settings) as session:
            found = await list_blackouts(session, campaign_id=campaign_id)
            return [
                {"date": e.day.isoformat(), "campaign_id": e.campaign_id, "reason": e.reason}
                for e in found
            ]

    rows = run(read)
    if as_json:
        print_json(rows)
        return
    table = Table("date", "campaign", "reason")
    for row in rows:
        table.add_row(row["date"], row["campaign_id"] or "(all)", escape(row["reason"] or ""))
    console.print(table)


@app.command("remove")
def remove(
    ctx: typer.Context,
    day: str = typer.Argument(..., metavar="DATE", help="YYYY-MM-DD."),
    campaign_id: str | None = CAMPAIGN,
    actor: str | None = ACTOR,
) -> None:
    """DATE is a calling day again."""
    settings = settings_from(ctx)
    when = _day(day)

    async def remove_it() -> None:
        async with db_session(settings) as session:
            await remove_blackout(session, when, campaign_id=campaign_id, actor=actor_name(actor))

    run(remove_it)
    console.print(f"{when.isoformat()} is no longer a blackout date for {_where(campaign_id)}")
