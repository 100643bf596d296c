"""Running the simulator: as a command for people, in the background for code.

``campaign-engine simulator`` prints, before it serves, everything a newcomer needs to point
the engine at it: the base URL, API key, webhook secret, agent id(s) and the TOML lines to
paste into ``campaign-engine.toml`` (see :func:`startup_banner`).

``serve_in_background`` exists because the engine's demo and end-to-end tests need a real
HTTP server (real sockets, real timeouts) without spawning and babysitting a subprocess.
"""

from __future__ import annotations

import asyncio
import contextlib
import socket
from collections.abc import AsyncIterator
from typing import Annotated, Any, Literal

import typer
import uvicorn
from pydantic import ValidationError

from campaign_engine.embedded_server import EmbeddedServer
from campaign_engine.simulator.app import Simulator, create_app
from campaign_engine.simulator.knobs import SimulatorConfig

_DEFAULTS = SimulatorConfig()
_DEFAULT_MIX = ",".join(f"{name}={weight:g}" for name, weight in _DEFAULTS.outcome_mix.items())
DEFAULT_ENGINE_WEBHOOK_URL = "http://127.0.0.1:8000/webhooks/vocobase"
"""Where ``campaign-engine serve``/``run`` receives webhooks with its default settings."""


def _toml_string(value: str) -> str:
    escaped = value.replace("\\", "\\\\").replace('"', '\\"')
    return f'"{escaped}"'


def startup_banner(config: SimulatorConfig, host: str, port: int) -> str:
    """What the command prints when it starts: how to point the engine at this simulator."""
    shown_host = "127.0.0.1" if host in ("0.0.0.0", "::", "") else host
    base_url = f"http://{shown_host}:{port}/api/v2"
    agents = ", ".join(f"{a.agent_id} ({a.name})" for a in config.agents) or "none"
    webhooks = (
        f"POSTed to {config.webhook_url}"
        if config.webhook_url
        else f"not sent (pass --webhook-url {DEFAULT_ENGINE_WEBHOOK_URL} to deliver them "
        "to `campaign-engine run`)"
    )
    first_agent = config.agents[0].agent_id if config.agents else "<agent uuid>"
    lines = [
        "Vocobase simulator",
        f"  base URL:       {base_url}",
        f"  API key:        {config.api_key}",
        f"  webhook secret: {config.webhook_secret}",
        f"  agent id(s):    {agents}",
        f"  webhooks:       {webhooks}",
        f"  limits:         {config.calls_per_minute} /calls/* and {config.general_per_minute} "
        f"other requests per {config.rate_window_seconds:g}s, {config.concurrency} "
        "concurrent calls",
        "",
        "Paste into campaign-engine.toml:",
        "",
        "[vocobase]",
        f"base_url = {_toml_string(base_url)}",
        f"api_key = {_toml_string(config.api_key)}",
        f"webhook_secret = {_toml_string(config.webhook_secret)}",
        "",
        "[limits.vocobase]",
        f"calls_per_minute = {config.calls_per_minute}",
        f"general_per_minute = {config.general_per_minute}",
        f"window_seconds = {float(config.rate_window_seconds)}",
        "",
        f"Then: campaign-engine campaign create --name Test --agent-id {first_agent} "
        "--provider mcube",
    ]
    return "\n".join(lines)


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
    ] = _DEFAULT_MIX,
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
    processing_seconds: Annotated[
        tuple[float, float],
        typer.Option(help="Post-call processing time LOW HIGH before the webhook (scaled)."),
    ] = _DEFAULTS.processing_seconds,
    expose_disposition: Annotated[
        bool, typer.Option(help="Show disposition/answered_by on GET /calls/{id}.")
    ] = _DEFAULTS.expose_disposition,
    list_order: Annotated[
        str, typer.Option(help="Order of GET /calls: newest, oldest or unordered.")
    ] = _DEFAULTS.list_order,
    distinct_429s: Annotated[
        bool, typer.Option(help="Word the rate and concurrency 429s apart.")
    ] = _DEFAULTS.distinct_429s,
    config_lists_allowed_providers: Annotated[
        bool, typer.Option(help="List allowed_telephony_providers in GET /config.")
    ] = _DEFAULTS.config_lists_allowed_providers,
    clock_skew_seconds: Annotated[
        float, typer.Option(help="The simulator's clock minus true time, in seconds.")
    ] = _DEFAULTS.clock_skew_seconds,
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
        processing_seconds=processing_seconds,
        expose_disposition=expose_disposition,
        list_order=_list_order(list_order),
        distinct_429s=distinct_429s,
        config_lists_allowed_providers=config_lists_allowed_providers,
        clock_skew_seconds=clock_skew_seconds,
    )
    typer.echo(startup_banner(config, host, port))
    uvicorn.run(create_app(config), host=host, port=port, log_level="warning")


_LIST_ORDERS: dict[str, Literal["newest", "oldest", "unordered"]] = {
    "newest": "newest",
    "oldest": "oldest",
    "unordered": "unordered",
}


def _list_order(text: str) -> Literal["newest", "oldest", "unordered"]:
    if text in _LIST_ORDERS:
        return _LIST_ORDERS[text]
    raise typer.BadParameter(
        f"must be newest, oldest or unordered, got {text!r}", param_hint="--list-order"
    )


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
