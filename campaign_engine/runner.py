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

import uvicorn
from arq.worker import Worker
from redis.exceptions import RedisError

from campaign_engine.dialer.scheduler import Scheduler
from campaign_engine.dialer.worker import build_worker, request_stop
from campaign_engine.embedded_server import EmbeddedServer
from campaign_engine.notifications import emit
from campaign_engine.notifications.delivery import Notifier
from campaign_engine.runtime import Runtime
from campaign_engine.server import create_app

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
    ) -> None:
        self.runtime = runtime
        settings = runtime.settings.server
        self.host = host or settings.host
        self.port = settings.port if port is None else port
        self.worker: Worker | None = build_worker(runtime) if worker else None
        self.scheduler = Scheduler(runtime) if scheduler else None
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
        if server:
            config = uvicorn.Config(
                create_app(runtime),
                host=self.host,
                port=self.port,
                log_level="warning",
                lifespan="on",
                http="httptools",  # a dependency: see pyproject.toml
            )
            self.server = EmbeddedServer(config)
        self._tasks: list[asyncio.Task[None]] = []

    @property
    def bound_port(self) -> int:
        """The server's real port (useful when it was asked for port 0)."""
        assert self.server is not None and self.server.servers
        sockets = self.server.servers[0].sockets
        return int(sockets[0].getsockname()[1])

    async def start(self) -> None:
        if self.server is not None:
            self._tasks.append(asyncio.create_task(self.server.serve(), name="server"))
            while not self.server.started:
                if self._tasks[-1].done():
                    self._tasks[-1].result()
                    raise RuntimeError("webhook server stopped while starting")
                await asyncio.sleep(0.02)
        if self.worker is not None:
            self._tasks.append(asyncio.create_task(self._run_worker(self.worker), name="worker"))
        if self.scheduler is not None:
            self._tasks.append(asyncio.create_task(self.scheduler.run(), name="scheduler"))
        if self.notifier is not None:
            self._tasks.append(asyncio.create_task(self._run_notifier(), name="notifier"))

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
        if self.server is not None:
            self.server.should_exit = True
        await asyncio.gather(*self._tasks, return_exceptions=True)
        self._tasks.clear()

    async def wait(self) -> None:
        """Until any part stops by itself (a crash) or a signal asks everything to stop."""
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for signum in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(signum, stop.set)
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
