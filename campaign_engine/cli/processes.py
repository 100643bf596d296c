"""``campaign-engine worker|scheduler|serve|run``: the long-running parts. Each prints one
line on stdout when it is ready (what runs, where it listens, the console's URL)."""

from __future__ import annotations

import typer

from campaign_engine.cli.common import run, settings_from, setup_logging
from campaign_engine.db.migrate import upgrade
from campaign_engine.runner import Services, settle_garbage_collector
from campaign_engine.runtime import Runtime
from campaign_engine.spawn import listening_socket, supervise


async def _run_services(
    ctx: typer.Context,
    *,
    worker: bool,
    scheduler: bool,
    server: bool,
    listen_fd: int | None = None,
) -> None:
    settings = settings_from(ctx)
    runtime = await Runtime.open(settings)
    try:
        services = Services(
            runtime, worker=worker, scheduler=scheduler, server=server, listen_fd=listen_fd
        )
        await services.start()
        settle_garbage_collector()
        # One line on stdout once everything listens and runs: what, and where to reach it.
        await services.wait(ready=lambda: typer.echo(services.ready_line()))
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
        """Run the scheduler: enqueue due contacts, reconcile outcomes, complete campaigns.
        Start as many as you like: one leads, the others stand by to take over."""
        setup_logging()
        run(lambda: _run_services(ctx, worker=False, scheduler=True, server=False))

    @app.command("serve")
    def serve(
        ctx: typer.Context,
        workers: int = typer.Option(
            1,
            "--workers",
            min=1,
            help="Server processes sharing the port (each applies webhooks; one that dies "
            "is started again).",
        ),
        listen_fd: int | None = typer.Option(None, "--listen-fd", hidden=True),
    ) -> None:
        """Run the HTTP server: POST /webhooks/vocobase, /healthz, /readyz, /metrics, /ops.
        Start as many as you like, on any machines."""
        setup_logging()
        if workers > 1 and listen_fd is None:
            settings = settings_from(ctx)
            sock = listening_socket(settings.server.host, settings.server.port)
            host, port = sock.getsockname()[:2]
            typer.echo(f"campaign-engine serve: {workers} processes on http://{host}:{port}")
            with sock:
                supervise(settings, ["serve"], workers, sock)
            return
        run(
            lambda: _run_services(
                ctx, worker=False, scheduler=False, server=True, listen_fd=listen_fd
            )
        )

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
