"""``campaign-engine demo``: run a whole campaign against the simulator, start to finish."""

from __future__ import annotations

import logging
from pathlib import Path

import typer

from campaign_engine.cli.common import console, run, settings_from
from campaign_engine.demo import DemoOptions, run_demo
from campaign_engine.journal import state_log


def demo(
    ctx: typer.Context,
    contacts: int = typer.Option(200, min=1, max=100_000, help="How many contacts to call."),
    workdir: Path = typer.Option(Path(".demo"), help="Where the demo keeps its files."),
) -> None:
    """Run the whole path (import, schedule, dial, webhooks, outcomes) on embedded defaults."""
    settings = settings_from(ctx)
    # The demo draws its own progress and summary; a line per state change would bury them.
    state_log.log.setLevel(logging.WARNING)
    completed = run(
        lambda: run_demo(settings, DemoOptions(contacts=contacts, workdir=workdir), console)
    )
    raise typer.Exit(0 if completed else 1)
