"""Running the simulator: the command's flag handling and the background server."""

from __future__ import annotations

import asyncio
import contextlib
import socket
from collections.abc import AsyncIterator, Iterator

import httpx
import pytest
import typer
import uvicorn
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route
from typer.testing import CliRunner

from campaign_engine.simulator.cli import (
    build_config,
    parse_outcome_mix,
    serve_in_background,
    simulator,
)
from campaign_engine.vocobase.signing import signature_matches

from .conftest import API_KEY, AUTH, fast_config, start_body


class _QuietServer(uvicorn.Server):
    @contextlib.contextmanager
    def capture_signals(self) -> Iterator[None]:
        yield


@contextlib.asynccontextmanager
async def webhook_receiver(received: list[tuple[dict[str, str], bytes]]) -> AsyncIterator[str]:
    """A real HTTP endpoint on loopback that records what it is sent."""

    async def hook(request: Request) -> Response:
        received.append((dict(request.headers), await request.body()))
        return Response(status_code=204)

    app = Starlette(routes=[Route("/hook", hook, methods=["POST"])])
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    server = _QuietServer(uvicorn.Config(app, log_level="warning", lifespan="off"))
    task = asyncio.create_task(server.serve(sockets=[sock]))
    while not server.started:
        assert not task.done(), "the receiver failed to start"
        await asyncio.sleep(0.01)
    try:
        yield f"http://127.0.0.1:{sock.getsockname()[1]}/hook"
    finally:
        server.should_exit = True
        await task
        sock.close()


async def test_serve_in_background_answers_over_real_loopback() -> None:
    received: list[tuple[dict[str, str], bytes]] = []
    async with webhook_receiver(received) as hook_url:
        config = fast_config(webhook_url=hook_url, outcome_mix={"completed": 1})
        async with serve_in_background(config) as (base_url, sim):
            assert base_url.startswith("http://127.0.0.1:") and base_url.endswith("/api/v2")
            async with httpx.AsyncClient(base_url=base_url, headers=AUTH) as client:
                started = await client.post("/calls/start", json=start_body())
                assert started.status_code == 200
                await sim.drain()
                detail = await client.get(f"/calls/{started.json()['data']['call_id']}")
                assert detail.json()["data"]["status"] == "completed"
                unauthorised = await client.get("/config", headers={"Authorization": "Bearer x"})
                assert unauthorised.status_code == 401
    [(headers, body)] = received
    assert signature_matches(
        [config.webhook_secret],
        headers["x-webhook-timestamp"],
        body,
        headers["x-webhook-signature"],
    )


def test_build_config_names_the_bad_flag() -> None:
    with pytest.raises(typer.BadParameter) as caught:
        build_config(api_key=API_KEY, p_drop_webhook=2.0)
    assert caught.value.param_hint == "--p-drop-webhook"
    assert "probability" in str(caught.value)


def test_parse_outcome_mix_reads_weights() -> None:
    assert parse_outcome_mix("completed=60, busy=2.5") == {"completed": 60.0, "busy": 2.5}


@pytest.mark.parametrize("text", ["completed", "completed=lots"])
def test_parse_outcome_mix_rejects_garbage(text: str) -> None:
    with pytest.raises(typer.BadParameter):
        parse_outcome_mix(text)


@pytest.mark.parametrize(
    ("args", "flag"),
    [
        (["--p-5xx", "1.5"], "--p-5xx"),
        (["--outcome-mix", "completed=1,hangup=1"], "--outcome-mix"),
        (["--concurrency", "0"], "--concurrency"),
    ],
)
def test_command_rejects_bad_values_naming_the_flag(args: list[str], flag: str) -> None:
    app = typer.Typer()
    app.command()(simulator)
    result = CliRunner().invoke(app, args)
    assert result.exit_code == 2
    assert flag in result.output
