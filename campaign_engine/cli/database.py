"""``campaign-engine db upgrade|current``."""

from __future__ import annotations

import typer

from campaign_engine.cli.common import console, run, settings_from
from campaign_engine.db.migrate import current_revision, upgrade

app = typer.Typer(no_args_is_help=True)


@app.command("upgrade")
def upgrade_command(ctx: typer.Context, revision: str = typer.Argument("head")) -> None:
    """Create or migrate the schema to REVISION (default: the newest)."""
    settings = settings_from(ctx)
    run(lambda: upgrade(settings.database.url, revision))
    console.print(f"database at revision {run(lambda: current_revision(settings.database.url))}")


@app.command("current")
def current_command(ctx: typer.Context) -> None:
    """Print the schema revision the database is at."""
    settings = settings_from(ctx)
    console.print(run(lambda: current_revision(settings.database.url)) or "(empty database)")
