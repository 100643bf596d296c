"""``campaign-engine worker|scheduler|serve|run``: the long-running parts."""

from __future__ import annotations

import typer

from campaign_engine.cli.common import run, settings_from, setup_logging
from campaign_engine.db.migrate import upgrade
from campaign_engine.runner import Services, settle_garbage_collector
from campaign_engine.runtime import Runtime


async def _run_services(ctx: typer.Context, *, worker: bool, scheduler: bool, server: bool) -> None:
    settings = settings_from(ctx)
    runtime = await Runtime.open(settings)
    try:
        services = Services(runtime, worker=worker, scheduler=scheduler, server=server)
        await services.start()
        settle_garbage_collector()
        await services.wait()
    finally:
        await runtime.close()


def register(app: typer.Typer) -> None:
    @app.command("worker")
    def worker(ctx: typer.Context) -> None:
        """Run a dial worker (start as many as you like, on any machines)."""
        setup_logging()
        run(lambda: _run_services(ctx, worker=True, scheduler=False, server=False))

    @app.command("scheduler")
    def scheduler(ctx: typer.Context) -> None:
        """Run the scheduler: enqueue due contacts, reconcile outcomes, complete campaigns."""
        setup_logging()
        run(lambda: _run_services(ctx, worker=False, scheduler=True, server=False))

    @app.command("serve")
    def serve(ctx: typer.Context) -> None:
        """Run the HTTP server: POST /webhooks/vocobase, /healthz, /readyz."""
        setup_logging()
        run(lambda: _run_services(ctx, worker=False, scheduler=False, server=True))

    @app.command("run")
    def run_all(
        ctx: typer.Context,
        migrate: bool = typer.Option(True, help="Apply database migrations first."),
    ) -> None:
        """Worker, scheduler and server in one process (for small setups)."""
        setup_logging()
        settings = settings_from(ctx)
        if migrate:
            run(lambda: upgrade(settings.database.url))
        run(lambda: _run_services(ctx, worker=True, scheduler=True, server=True))
