"""Running the simulator: the command's flag handling and the background server."""

from __future__ import annotations

import asyncio
import contextlib
import socket
import tomllib
from collections.abc import AsyncIterator, Iterator
from typing import Any

import httpx
import pytest
import typer
import uvicorn
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route
from typer.testing import CliRunner

from campaign_engine.config import Settings
from campaign_engine.simulator.cli import (
    build_config,
    parse_outcome_mix,
    serve_in_background,
    simulator,
    startup_banner,
)
from campaign_engine.simulator.knobs import DEFAULT_AGENT_ID, SimulatorConfig
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


def _command() -> typer.Typer:
    app = typer.Typer()
    app.command()(simulator)
    return app


def _run_without_serving(
    monkeypatch: pytest.MonkeyPatch, args: list[str]
) -> tuple[str, dict[str, Any]]:
    served: dict[str, Any] = {}

    def fake_run(app: Starlette, **kwargs: Any) -> None:
        served.update(kwargs, config=app.state.simulator.config)

    monkeypatch.setattr(uvicorn, "run", fake_run)
    result = CliRunner().invoke(_command(), args)
    assert result.exit_code == 0, result.output
    return result.output, served


def _toml_part(output: str) -> str:
    start = output.index("[vocobase]")
    end = output.index("Then:")
    return output[start:end]


def test_command_prints_what_to_paste_into_the_engine_config(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    output, served = _run_without_serving(
        monkeypatch, ["--port", "8911", "--api-key", "rg_live_xyz", "--webhook-secret", "whsec_q"]
    )
    assert served["port"] == 8911
    assert "http://127.0.0.1:8911/api/v2" in output
    assert "rg_live_xyz" in output and "whsec_q" in output
    assert DEFAULT_AGENT_ID in output
    assert "--webhook-url http://127.0.0.1:8000/webhooks/vocobase" in output
    pasted = tomllib.loads(_toml_part(output))
    assert pasted["vocobase"] == {
        "base_url": "http://127.0.0.1:8911/api/v2",
        "api_key": "rg_live_xyz",
        "webhook_secret": "whsec_q",
    }
    # the lines are real engine settings, not look-alikes
    settings = Settings(**pasted)
    assert settings.vocobase.base_url == "http://127.0.0.1:8911/api/v2"
    assert settings.vocobase.api_key.get_secret_value() == "rg_live_xyz"
    assert settings.vocobase.webhook_secrets() == ["whsec_q"]
    assert settings.limits.vocobase.calls_per_minute == 10


def test_banner_names_every_agent_and_the_webhook_target() -> None:
    config = SimulatorConfig(webhook_url="http://127.0.0.1:9000/webhooks/vocobase")
    banner = startup_banner(config, "0.0.0.0", 8900)
    assert "http://127.0.0.1:8900/api/v2" in banner
    assert "POSTed to http://127.0.0.1:9000/webhooks/vocobase" in banner
    assert f"--agent-id {DEFAULT_AGENT_ID}" in banner


def test_command_passes_the_new_knobs(monkeypatch: pytest.MonkeyPatch) -> None:
    _, served = _run_without_serving(
        monkeypatch,
        [
            "--processing-seconds", "0", "0",
            "--expose-disposition",
            "--list-order", "newest",
            "--distinct-429s",
            "--no-config-lists-allowed-providers",
            "--clock-skew-seconds", "-30",
        ],
    )  # fmt: skip
    config: SimulatorConfig = served["config"]
    assert config.processing_seconds == (0, 0)
    assert config.expose_disposition and config.distinct_429s
    assert config.list_order == "newest"
    assert not config.config_lists_allowed_providers
    assert config.clock_skew_seconds == -30


def test_command_defaults_are_the_documented_ones(monkeypatch: pytest.MonkeyPatch) -> None:
    _, served = _run_without_serving(monkeypatch, [])
    config: SimulatorConfig = served["config"]
    defaults = SimulatorConfig()
    for knob in (
        "processing_seconds", "expose_disposition", "list_order", "distinct_429s",
        "config_lists_allowed_providers", "clock_skew_seconds", "outcome_mix",
    ):  # fmt: skip
        assert getattr(config, knob) == getattr(defaults, knob), knob


@pytest.mark.parametrize(
    ("args", "flag"),
    [
        (["--list-order", "random"], "--list-order"),
        (["--processing-seconds", "9", "1"], "--processing-seconds"),
    ],
)
def test_command_rejects_bad_new_knobs_naming_the_flag(args: list[str], flag: str) -> None:
    result = CliRunner().invoke(_command(), args)
    assert result.exit_code == 2
    assert flag in result.output
