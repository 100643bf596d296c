"""Run the engine's parts — worker, scheduler, webhook server — alone or together.

``campaign-engine worker|scheduler|serve`` each run one part; ``run`` and the demo run all
three in one process around one :class:`~campaign_engine.runtime.Runtime`. Stopping is
graceful in every case: the scheduler finishes its tick, the worker lets in-flight starts
finish and hands waiting contacts back, the server answers what it has accepted.
"""

from __future__ import annotations

import asyncio
import contextlib
import gc
import logging
import signal
import socket
from collections.abc import Callable

import uvicorn
from arq.worker import Worker
from redis.exceptions import RedisError
from starlette.applications import Starlette

from campaign_engine.control.leadership import Leadership
from campaign_engine.dialer.scheduler import Scheduler
from campaign_engine.dialer.worker import build_worker, request_stop
from campaign_engine.embedded_server import EmbeddedServer
from campaign_engine.notifications import emit
from campaign_engine.notifications.delivery import Notifier
from campaign_engine.runtime import Runtime
from campaign_engine.server import create_app, create_metrics_app

log = logging.getLogger(__name__)

REDIS_RETRY_SECONDS = 1.0
# Allocations before a young collection (CPython's default is 700).
GC_YOUNG_THRESHOLD = 20_000


def settle_garbage_collector() -> None:
    """Keep the collector's full passes short in a long-running process (called once it
    has started).

    Everything made while starting (modules, ORM mappers, validators) lives as long as the
    process, yet every full collection walked it again: under webhook load that paused the
    event loop for ~100 ms about once a second, the whole p99 of the receiver. Frozen
    objects are never examined again; a larger first generation also means fewer
    short-lived request objects are promoted into the older generations at all.
    """
    gc.collect()
    gc.freeze()
    _, second, third = gc.get_threshold()
    gc.set_threshold(GC_YOUNG_THRESHOLD, second, third)


def _server_config(app: Starlette, host: str, port: int) -> uvicorn.Config:
    return uvicorn.Config(
        app,
        host=host,
        port=port,
        log_level="warning",
        # uvicorn's own logging set-up would print its errors (tracebacks holding request
        # data) through handlers of its own; without it they reach the engine's masking one.
        log_config=None,
        lifespan="on",
        http="httptools",  # a dependency: see pyproject.toml
    )


def _port_sharing_socket(host: str, port: int) -> socket.socket:
    """A listening socket other processes may bind too (``serve --workers N``: every server
    process opens the metrics listener, and the kernel spreads scrapes over them)."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    if hasattr(socket, "SO_REUSEPORT"):
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
    try:
        sock.bind((host, port))
    except OSError:
        sock.close()
        raise
    sock.listen(2048)
    return sock


def _port_of(server: uvicorn.Server) -> int:
    assert server.servers
    return int(server.servers[0].sockets[0].getsockname()[1])


class Services:
    """The chosen parts of the engine as asyncio tasks in this process."""

    def __init__(
        self,
        runtime: Runtime,
        *,
        worker: bool = True,
        scheduler: bool = True,
        server: bool = True,
        host: str | None = None,
        port: int | None = None,
        listen_fd: int | None = None,
    ) -> None:
        self.runtime = runtime
        settings = runtime.settings.server
        self.host = host or settings.host
        self.port = settings.port if port is None else port
        # A listening socket inherited from `serve --workers N`'s parent, shared by N servers.
        self.listen_fd = listen_fd
        self.worker: Worker | None = build_worker(runtime) if worker else None
        # Any number of schedulers may run: each takes part in the election, one leads.
        self.scheduler = (
            Scheduler(
                runtime,
                Leadership(
                    runtime.redis,
                    runtime.keys,
                    runtime.sessions,
                    lease_seconds=runtime.settings.scheduler.leader_lease_seconds,
                ),
            )
            if scheduler
            else None
        )
        # Every part that records outcomes writes their notifications; the scheduler's
        # process also delivers them.
        notifications = runtime.settings.notifications
        if notifications.enabled:
            emit.enable(runtime.sessions)
        self.notifier = (
            Notifier(runtime.sessions, notifications)
            if scheduler and notifications.enabled
            else None
        )
        self.server: uvicorn.Server | None = None
        # /metrics on a listener of its own, beside the server ([server] metrics_port).
        self.metrics_server: uvicorn.Server | None = None
        if server:
            self.server = EmbeddedServer(_server_config(create_app(runtime), self.host, self.port))
            if settings.metrics_port:
                self.metrics_server = EmbeddedServer(
                    _server_config(
                        create_metrics_app(runtime), settings.metrics_host, settings.metrics_port
                    )
                )
        self._tasks: list[asyncio.Task[None]] = []

    @property
    def bound_port(self) -> int:
        """The server's real port (useful when it was asked for port 0)."""
        assert self.server is not None
        return _port_of(self.server)

    async def start(self) -> None:
        if self.server is not None:
            shared = None if self.listen_fd is None else [socket.socket(fileno=self.listen_fd)]
            await self._start_server(self.server, "server", shared)
        if self.metrics_server is not None:
            metrics = self.runtime.settings.server
            await self._start_server(
                self.metrics_server,
                "metrics server",
                [_port_sharing_socket(metrics.metrics_host, metrics.metrics_port)],
            )
        if self.worker is not None:
            self._tasks.append(asyncio.create_task(self._run_worker(self.worker), name="worker"))
        if self.scheduler is not None:
            self._tasks.append(asyncio.create_task(self.scheduler.run(), name="scheduler"))
        if self.notifier is not None:
            self._tasks.append(asyncio.create_task(self._run_notifier(), name="notifier"))

    async def _start_server(
        self, server: uvicorn.Server, name: str, sockets: list[socket.socket] | None = None
    ) -> None:
        self._tasks.append(asyncio.create_task(server.serve(sockets), name=name))
        while not server.started:
            if self._tasks[-1].done():
                self._tasks[-1].result()
                raise RuntimeError(f"{name} stopped while starting")
            await asyncio.sleep(0.02)

    def ready_line(self) -> str:
        """One line saying what runs and where to reach it, printed once all has started."""
        settings = self.runtime.settings
        parts = [
            name
            for name, present in (
                ("worker", self.worker),
                ("scheduler", self.scheduler),
                ("server", self.server),
            )
            if present is not None
        ]
        said = [f"campaign-engine ready: {' + '.join(parts)}"]
        if self.server is not None:
            public = settings.server.public_url.rstrip("/")
            said.append(f"listening on http://{self.host}:{self.bound_port}")
            said.append(f"webhooks {public}/webhooks/vocobase")
            said.append(
                f"console {public}/ops/"
                if settings.ops.enabled
                else f"console {public}/ops/ (named tokens: campaign-engine tokens create)"
            )
            if self.metrics_server is not None:
                metrics_host = settings.server.metrics_host
                said.append(
                    f"metrics http://{metrics_host}:{_port_of(self.metrics_server)}/metrics"
                )
            else:
                said.append(f"metrics {public}/metrics (bearer token)")
        if self.worker is not None:
            said.append(f"dial jobs from Redis prefix {settings.redis.prefix!r}")
        if self.scheduler is not None:
            said.append(f"dispatching every {settings.scheduler.dispatch_seconds:g} s")
        return "; ".join(said)

    async def _run_notifier(self) -> None:
        assert self.notifier is not None
        try:
            await self.notifier.run(self.runtime.settings.scheduler.tick_seconds)
        finally:
            await self.notifier.aclose()

    async def _run_worker(self, worker: Worker) -> None:
        """Run the arq worker; when Redis goes away, wait and start a fresh one.

        Nothing is lost meanwhile: jobs in flight finish against the database, and the
        scheduler rebuilds the queue from the database once Redis is back.
        """
        while True:
            try:
                with contextlib.suppress(asyncio.CancelledError):
                    await worker.async_run()
                return
            except (RedisError, OSError) as exc:
                if self.runtime.stopping.is_set():
                    return
                log.error("worker lost Redis (%s); retrying in %.0fs", exc, REDIS_RETRY_SECONDS)
                await asyncio.sleep(REDIS_RETRY_SECONDS)
                worker = build_worker(self.runtime)
                self.worker = worker

    async def stop(self) -> None:
        """Stop gracefully, in the order that loses nothing."""
        self.runtime.stopping.set()
        if self.scheduler is not None:
            self.scheduler.stop()
        if self.notifier is not None:
            self.notifier.stop()
        if self.worker is not None:
            request_stop(self.runtime, self.worker)
        for server in (self.server, self.metrics_server):
            if server is not None:
                server.should_exit = True
        await asyncio.gather(*self._tasks, return_exceptions=True)
        self._tasks.clear()

    async def wait(self, *, ready: Callable[[], None] | None = None) -> None:
        """Until any part stops by itself (a crash) or a signal asks everything to stop.

        ``ready`` is called once SIGTERM/SIGINT stop gracefully (what announces readiness
        must not invite a signal that would still kill the process outright)."""
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for signum in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(signum, stop.set)
        if ready is not None:
            ready()
        waiter = asyncio.create_task(stop.wait())
        try:
            done, _ = await asyncio.wait(
                [waiter, *self._tasks], return_when=asyncio.FIRST_COMPLETED
            )
            for task in done:
                if task is not waiter and task.exception() is not None:
                    log.error("%s stopped: %r", task.get_name(), task.exception())
        finally:
            waiter.cancel()
            for signum in (signal.SIGTERM, signal.SIGINT):
                loop.remove_signal_handler(signum)
            await self.stop()
