"""The ``campaign-engine`` command line (typer): one sub-command group per area."""

from __future__ import annotations

from pathlib import Path

import typer

from campaign_engine.cli import campaign, contacts, database, processes
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


app.add_typer(campaign.app, name="campaign", help="Create, start and watch campaigns.")
app.add_typer(contacts.app, name="contacts", help="Import contact lists.")
app.add_typer(database.app, name="db", help="Database schema (alembic migrations).")
processes.register(app)
app.command("demo")(demo)
app.command("simulator", help="Run the Vocobase API simulator.")(simulator)


def main() -> None:
    app()
