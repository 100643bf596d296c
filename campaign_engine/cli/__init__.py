"""The ``campaign-engine`` command line (typer): one sub-command group per area."""

from __future__ import annotations

from pathlib import Path

import typer

from campaign_engine.cli import (
    blackout,
    campaign,
    campaign_forecast,
    contacts,
    database,
    notifications,
    ops,
    processes,
    results,
    suppress,
    tokens,
)
from campaign_engine.cli.common import setup_command_logging
from campaign_engine.cli.demo import demo
from campaign_engine.simulator.cli import simulator

app = typer.Typer(
    name="campaign-engine",
    help="Bulk outbound phone campaigns through the Vocobase V2 voice-AI API.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
)


@app.callback()
def main_options(
    ctx: typer.Context,
    config: Path | None = typer.Option(
        None,
        "--config",
        help="Config file (default: $CAMPAIGN_ENGINE_CONFIG, else ./campaign-engine.toml, "
        "else built-in defaults).",
        dir_okay=False,
    ),
) -> None:
    ctx.obj = {"config_path": config}
    setup_command_logging()


app.add_typer(campaign.app, name="campaign", help="Create, start and watch campaigns.")
campaign_forecast.register(campaign.app)
app.add_typer(blackout.app, name="blackout", help="Blackout dates: days nobody is called.")
app.add_typer(contacts.app, name="contacts", help="Import contact lists.")
app.add_typer(suppress.app, name="suppress", help="The do-not-call list: numbers and prefixes.")
app.add_typer(database.app, name="db", help="Database schema (alembic migrations).")
app.add_typer(results.app, name="results", help="Export campaign results (CSV, JSON Lines).")
app.add_typer(notifications.app, name="notifications", help="The outbox of result notifications.")
app.add_typer(tokens.app, name="tokens", help="Named API tokens: create, list, revoke.")
app.add_typer(ops.app, name="ops", help="The operator's console: queues, limits, actions.")
processes.register(app)
app.command("demo")(demo)
app.command("simulator", help="Run the Vocobase API simulator.")(simulator)


def main() -> None:
    app()
