"""Running the simulator: as a command for people, in the background for code.

``serve_in_background`` exists because the engine's demo and end-to-end tests need a real
HTTP server (real sockets, real timeouts) without spawning and babysitting a subprocess.
"""

from __future__ import annotations

import asyncio
import contextlib
import socket
from collections.abc import AsyncIterator
from typing import Annotated, Any

import typer
import uvicorn
from pydantic import ValidationError

from campaign_engine.embedded_server import EmbeddedServer
from campaign_engine.simulator.app import Simulator, create_app
from campaign_engine.simulator.knobs import SimulatorConfig

_DEFAULTS = SimulatorConfig()


def parse_outcome_mix(text: str) -> dict[str, float]:
    """``"completed=60,no_answer=20"`` → ``{"completed": 60.0, "no_answer": 20.0}``."""
    mix: dict[str, float] = {}
    for part in filter(None, (piece.strip() for piece in text.split(","))):
        name, sep, weight = part.partition("=")
        if not sep:
            raise typer.BadParameter(
                f"expected outcome=weight, got {part!r}", param_hint="--outcome-mix"
            )
        try:
            mix[name.strip()] = float(weight)
        except ValueError:
            raise typer.BadParameter(
                f"weight for {name.strip()!r} must be a number, got {weight!r}",
                param_hint="--outcome-mix",
            ) from None
    return mix


def build_config(**fields: Any) -> SimulatorConfig:
    """A validated config; a bad value becomes ``BadParameter`` naming its flag."""
    try:
        return SimulatorConfig(**fields)
    except ValidationError as exc:
        error = exc.errors()[0]
        field = str(error["loc"][0]) if error["loc"] else ""
        flag = "--" + field.replace("_", "-") if field else None
        raise typer.BadParameter(error["msg"], param_hint=flag) from None


def simulator(
    host: Annotated[str, typer.Option(help="Interface to listen on.")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="Port to listen on.")] = 8900,
    api_key: Annotated[str, typer.Option(help="The Bearer key clients must send.")] = (
        _DEFAULTS.api_key
    ),
    calls_per_minute: Annotated[
        int, typer.Option(help="Shared request limit of /calls/* per window.")
    ] = _DEFAULTS.calls_per_minute,
    general_per_minute: Annotated[
        int, typer.Option(help="Request limit of other endpoints per window.")
    ] = _DEFAULTS.general_per_minute,
    concurrency: Annotated[int, typer.Option(help="Active calls allowed at once.")] = (
        _DEFAULTS.concurrency
    ),
    time_scale: Annotated[
        float, typer.Option(help="Multiplies simulated durations (0.01 = 100x faster).")
    ] = _DEFAULTS.time_scale,
    outcome_mix: Annotated[
        str, typer.Option(help="Weights, e.g. completed=60,no_answer=20,busy=10.")
    ] = "completed=60,no_answer=20,busy=10,voicemail=5,failed=5",
    p_5xx: Annotated[float, typer.Option(help="Chance a /calls/* request answers 500.")] = (
        _DEFAULTS.p_5xx
    ),
    p_5xx_places_call: Annotated[
        float, typer.Option(help="Share of 500s on /calls/start that still placed the call.")
    ] = _DEFAULTS.p_5xx_places_call,
    p_slow: Annotated[float, typer.Option(help="Chance /calls/start answers late.")] = (
        _DEFAULTS.p_slow
    ),
    slow_seconds: Annotated[
        float, typer.Option(help="How late a slow start answers (not scaled).")
    ] = _DEFAULTS.slow_seconds,
    p_drop_webhook: Annotated[
        float, typer.Option(help="Chance a call's webhook is never sent.")
    ] = _DEFAULTS.p_drop_webhook,
    p_duplicate_webhook: Annotated[
        float, typer.Option(help="Chance a call's webhook is sent twice.")
    ] = _DEFAULTS.p_duplicate_webhook,
    webhook_url: Annotated[
        str | None, typer.Option(help="Where session.completed is POSTed.")
    ] = None,
    webhook_secret: Annotated[str, typer.Option(help="Endpoint secret for signing.")] = (
        _DEFAULTS.webhook_secret
    ),
    seed: Annotated[int | None, typer.Option(help="Seed for reproducible runs.")] = None,
    rate_window_seconds: Annotated[
        float, typer.Option(help="Window the rate limits count over.")
    ] = _DEFAULTS.rate_window_seconds,
    early_webhook: Annotated[
        bool, typer.Option(help="Let busy/failed webhooks beat the start response.")
    ] = False,
    send_retry_after: Annotated[
        bool, typer.Option(help="Send Retry-After on 429 answers.")
    ] = False,
) -> None:
    """Run a simulated Vocobase V2 API (base URL http://HOST:PORT/api/v2)."""
    config = build_config(
        api_key=api_key,
        calls_per_minute=calls_per_minute,
        general_per_minute=general_per_minute,
        concurrency=concurrency,
        time_scale=time_scale,
        outcome_mix=parse_outcome_mix(outcome_mix),
        p_5xx=p_5xx,
        p_5xx_places_call=p_5xx_places_call,
        p_slow=p_slow,
        slow_seconds=slow_seconds,
        p_drop_webhook=p_drop_webhook,
        p_duplicate_webhook=p_duplicate_webhook,
        webhook_url=webhook_url,
        webhook_secret=webhook_secret,
        seed=seed,
        rate_window_seconds=rate_window_seconds,
        early_webhook=early_webhook,
        send_retry_after=send_retry_after,
    )
    uvicorn.run(create_app(config), host=host, port=port, log_level="warning")


@contextlib.asynccontextmanager
async def serve_in_background(
    config: SimulatorConfig,
    host: str = "127.0.0.1",
    port: int = 0,
    *,
    simulator: Simulator | None = None,
) -> AsyncIterator[tuple[str, Simulator]]:
    """Serve the simulator on a real socket; yields ``(base_url, simulator)``.

    ``port=0`` picks a free port. The server stops, and the simulator with it, on exit.
    """
    app = create_app(config, simulator=simulator)
    sim: Simulator = app.state.simulator
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind((host, port))
    except OSError:
        sock.close()
        raise
    bound_port = sock.getsockname()[1]
    server = EmbeddedServer(
        uvicorn.Config(app, log_level="warning", access_log=False, timeout_graceful_shutdown=2)
    )
    task = asyncio.create_task(server.serve(sockets=[sock]), name="sim-uvicorn")
    try:
        while not server.started:
            if task.done():
                task.result()
                raise RuntimeError("the simulator server stopped during startup")
            await asyncio.sleep(0.01)
        yield f"http://{host}:{bound_port}/api/v2", sim
    finally:
        server.should_exit = True
        await task
        sock.close()
