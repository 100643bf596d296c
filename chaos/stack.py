"""Everything one soak runs on: private PostgreSQL and Redis, the simulator behind a proxy,
the webhook servers behind another, and the engine's processes placed on their hosts.

:func:`built` sets it all up and tears it all down (namespaces included) however the
block ends; the soak's phases then only start campaigns and inject faults into it.
"""

from __future__ import annotations

import asyncio
import contextlib
import importlib.util
import os
import socket
import tempfile
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlsplit

import httpx
from redis.asyncio import Redis

from bench.contract_run import Scenario, engine_settings, simulator_config
from campaign_engine.config import Settings, with_overrides
from campaign_engine.db.migrate import upgrade
from campaign_engine.simulator import Simulator
from campaign_engine.simulator.cli import serve_in_background
from campaign_engine.simulator.knobs import SimulatorConfig
from campaign_engine.spawn import settings_env
from chaos import hosts as hostnet
from chaos.postgres import PrivatePostgres
from chaos.processes import EngineProcess
from chaos.proxy import Proxy
from chaos.redis_server import PrivateRedis

PREFIX = "ce"
WORKERS = 3
SERVERS = 2
# Webhook faults of the simulator (besides the proxy's delays and cuts).
SIMULATOR_FAULTS = {"p_drop_webhook": 0.1, "p_duplicate_webhook": 0.1}
# A contact queued this long without a claim is given back (its job was lost: a Redis
# flush, a dial job that failed on a connection PostgreSQL's restart broke). The default,
# 60 s, is as long as the short soak's whole fault phase; the soak's time runs faster.
REQUEUE_AFTER_SECONDS = 5.0
READY_SECONDS = 60.0
SUPERVISE_SECONDS = 0.2
STOP_GRACE_SECONDS = 20.0


def leadership_available() -> bool:
    """Whether schedulers elect a leader (control/leadership.py): only then run two."""
    return importlib.util.find_spec("campaign_engine.control.leadership") is not None


@dataclass(frozen=True)
class Placement:
    name: str
    role: str  # worker | scheduler | serve
    host: str | None  # a namespace host name, or None for the machine itself


def placements(schedulers: int, separate_hosts: bool) -> list[Placement]:
    """3 workers, the schedulers, 2 servers; with hosts, each worker, the first scheduler
    and the first server on a host of its own (w0-w2, s0, v0), the rest on the machine."""
    chosen = [Placement(f"worker-{i}", "worker", f"w{i}") for i in range(WORKERS)]
    chosen += [
        Placement(f"scheduler-{i}", "scheduler", "s0" if i == 0 else None)
        for i in range(schedulers)
    ]
    chosen += [Placement(f"server-{i}", "serve", "v0" if i == 0 else None) for i in range(SERVERS)]
    if separate_hosts:
        return chosen
    return [Placement(p.name, p.role, None) for p in chosen]


def host_names(chosen: list[Placement]) -> list[str]:
    return [p.host for p in chosen if p.host is not None]


def free_port(host: str) -> int:
    with socket.socket() as sock:
        sock.bind((host, 0))
        return int(sock.getsockname()[1])


@dataclass
class Stack:
    postgres: PrivatePostgres
    redis: PrivateRedis
    simulator: Simulator
    config: SimulatorConfig
    settings: Settings
    api_proxy: Proxy
    webhook_proxy: Proxy
    processes: dict[str, EngineProcess]
    network: hostnet.Network | None
    log_dir: Path
    servers: list[tuple[str, int]] = field(default_factory=list)

    @property
    def proxies(self) -> dict[str, Proxy]:
        return {"api": self.api_proxy, "webhooks": self.webhook_proxy}


async def _supervise(processes: list[EngineProcess]) -> None:
    while True:
        for process in processes:
            process.supervise()
        await asyncio.sleep(SUPERVISE_SECONDS)


async def _wait_ready(stack: Stack) -> None:
    """Servers answer /healthz and a worker polls its queue (not while they import)."""
    give_up = time.monotonic() + READY_SECONDS
    redis = Redis.from_url(stack.redis.url)
    try:
        async with httpx.AsyncClient(timeout=1.0) as client:
            while time.monotonic() < give_up:
                healthy = 0
                for host, port in stack.servers:
                    with contextlib.suppress(httpx.HTTPError):
                        response = await client.get(f"http://{host}:{port}/healthz")
                        healthy += response.status_code == 200
                polling = await redis.exists(f"{PREFIX}:worker-health")
                if healthy == len(stack.servers) and polling:
                    return
                await asyncio.sleep(0.2)
    finally:
        await redis.aclose()
    raise RuntimeError(f"the engine's processes were not ready within {READY_SECONDS:.0f} s")


@contextlib.asynccontextmanager
async def built(scenario: Scenario, schedulers: int, separate_hosts: bool) -> AsyncIterator[Stack]:
    chosen = placements(schedulers, separate_hosts)
    async with contextlib.AsyncExitStack() as exits:
        network = None
        if separate_hosts:
            hostnet.remove_leftovers()
            network = hostnet.plan_network(os.getpid(), host_names(chosen))
            await asyncio.to_thread(hostnet.create, network)
            exits.callback(hostnet.remove, network)
        bind = network.gateway if network else "127.0.0.1"
        log_dir = Path(tempfile.mkdtemp(prefix="ce-chaos-logs-"))

        postgres = PrivatePostgres(bind, free_port(bind))
        exits.callback(postgres.remove)
        await asyncio.to_thread(postgres.init)
        await asyncio.to_thread(postgres.start)
        await upgrade(postgres.url)
        redis = PrivateRedis(bind, free_port(bind))
        exits.callback(redis.remove)
        await asyncio.to_thread(redis.start)

        def address(placement: Placement) -> str:
            return network.host(placement.host).address if network and placement.host else bind

        def server_port(placement: Placement) -> int:
            # A namespace has ports of its own: any port free here is free there.
            return free_port(bind if placement.host is None else "127.0.0.1")

        servers = [(address(p), server_port(p)) for p in chosen if p.role == "serve"]
        webhook_proxy = Proxy(bind, servers)
        await webhook_proxy.start()
        exits.push_async_callback(webhook_proxy.stop)
        config = simulator_config(scenario, f"http://{bind}:{webhook_proxy.port}/webhooks/vocobase")
        sim_url, simulator = await exits.enter_async_context(serve_in_background(config, host=bind))
        api_proxy = Proxy(bind, [(bind, int(urlsplit(sim_url).port or 0))])
        await api_proxy.start()
        exits.push_async_callback(api_proxy.stop)
        engine_url = f"http://{bind}:{api_proxy.port}/api/v2"
        settings = engine_settings(config, postgres.url, PREFIX, engine_url, 0)
        settings = with_overrides(
            settings,
            redis={"url": redis.url, "prefix": PREFIX},
            scheduler={"requeue_after_seconds": REQUEUE_AFTER_SECONDS},
        )

        processes: dict[str, EngineProcess] = {}
        serving = iter(servers)
        for placement in chosen:
            own = settings
            if placement.role == "serve":
                host, port = next(serving)
                own = with_overrides(settings, server={"host": host, "port": port})
            processes[placement.name] = EngineProcess(
                name=placement.name,
                role=placement.role,
                env=settings_env(own),
                log_dir=log_dir,
                host=network.host(placement.host) if network and placement.host else None,
            )
        stack = Stack(
            postgres,
            redis,
            simulator,
            config,
            settings,
            api_proxy,
            webhook_proxy,
            processes,
            network,
            log_dir,
            servers,
        )
        exits.push_async_callback(asyncio.to_thread, _stop_all, list(processes.values()))
        for process in processes.values():
            process.start()
        supervisor = asyncio.create_task(_supervise(list(processes.values())))
        exits.push_async_callback(_cancel, supervisor)
        await _wait_ready(stack)
        yield stack


def _stop_all(processes: list[EngineProcess]) -> None:
    for process in processes:
        if process.proc is not None and process.proc.poll() is None:
            process.proc.terminate()
    for process in processes:
        process.stop(STOP_GRACE_SECONDS)


async def _cancel(task: asyncio.Task[None]) -> None:
    task.cancel()
    with contextlib.suppress(asyncio.CancelledError):
        await task
