"""Applying a fault schedule to a running stack, and putting everything back afterwards."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Sequence
from typing import Any

from redis.asyncio import Redis
from redis.exceptions import RedisError

from campaign_engine.db.models import utcnow
from chaos import hosts as hostnet
from chaos.faults import KILL_SIGNALS, Fault
from chaos.stack import Stack

REJOIN_SECONDS = 3  # a host back on the network must be polling Redis again by then


class Injector:
    def __init__(self, stack: Stack) -> None:
        self.stack = stack
        self.applied: list[dict[str, Any]] = []
        self.link_windows: list[dict[str, Any]] = []  # host, down_at, up_at (monotonic)
        self._began = 0.0
        self._tasks: set[asyncio.Task[None]] = set()

    async def run(self, faults: Sequence[Fault], duration: float) -> None:
        """Apply each fault at its time; return once the phase (``duration`` seconds) and
        the last fault are over."""
        self._began = time.monotonic()
        for fault in faults:
            await asyncio.sleep(max(0.0, self._began + fault.at - time.monotonic()))
            self._apply(fault)
        await asyncio.sleep(max(0.0, self._began + duration - time.monotonic()))
        if self._tasks:
            await asyncio.gather(*self._tasks)

    def _note(self, fault: Fault, **extra: Any) -> None:
        self.applied.append(
            {**fault.to_dict(), "applied_at": round(time.monotonic() - self._began, 3), **extra}
        )

    def _later(self, coroutine: Any) -> None:
        task = asyncio.create_task(coroutine)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    def _apply(self, fault: Fault) -> None:
        stack = self.stack
        if fault.kind in KILL_SIGNALS:
            stack.processes[fault.target].kill(fault.kind, fault.seconds)
            self._note(fault)
        elif fault.kind == "delay":
            self._later(self._delay(fault))
        elif fault.kind == "cut":
            stack.proxies[fault.target].cut(fault.seconds)
            self._note(fault)
        elif fault.kind == "redis_flush_restart":
            self._later(self._restart_redis(fault))
        elif fault.kind == "postgres_restart":
            self._later(self._restart_postgres(fault))
        elif fault.kind == "link_down":
            self._later(self._link_down(fault))
        else:
            raise ValueError(f"unknown fault kind {fault.kind!r}")

    async def _delay(self, fault: Fault) -> None:
        proxy = self.stack.proxies[fault.target]
        proxy.delay(fault.amount)
        self._note(fault)
        await asyncio.sleep(fault.seconds)
        proxy.delay(0.0)

    async def _restart_redis(self, fault: Fault) -> None:
        redis = self.stack.redis
        await asyncio.to_thread(redis.flush)
        await asyncio.to_thread(redis.stop)
        self._note(fault)
        await asyncio.sleep(fault.seconds)
        await asyncio.to_thread(redis.start)

    async def _restart_postgres(self, fault: Fault) -> None:
        postgres = self.stack.postgres
        await asyncio.to_thread(postgres.stop, "immediate")
        self._note(fault)
        await asyncio.sleep(fault.seconds)
        await asyncio.to_thread(postgres.start)

    async def _link_down(self, fault: Fault) -> None:
        network = self.stack.network
        if network is None:
            raise ValueError("a link_down fault needs --hosts")
        host = network.host(fault.target)
        starts = {name: p.starts for name, p in self.stack.processes.items()}
        await asyncio.to_thread(hostnet.set_link, host, False)
        down_at, down_wall = time.monotonic(), utcnow()
        self._note(fault)
        try:
            await asyncio.sleep(fault.seconds)
        finally:
            await asyncio.to_thread(hostnet.set_link, host, True)
        up_at, up_wall = time.monotonic(), utcnow()
        await asyncio.sleep(REJOIN_SECONDS)
        polling = await self._redis_clients_active(host.address)
        self.link_windows.append(
            {
                "host": host.name,
                "address": host.address,
                "down_at": down_at,
                "up_at": up_at,
                "down_wall": down_wall,
                "up_wall": up_wall,
                "polling_redis_after": polling,
                "restarted": sorted(
                    name
                    for name, p in self.stack.processes.items()
                    if p.host is host and p.starts != starts[name]
                ),
            }
        )

    async def _redis_clients_active(self, address: str) -> bool:
        """Whether a Redis client at ``address`` sent a command within the last
        :data:`REJOIN_SECONDS` (a worker polls its queue many times a second)."""
        client = Redis.from_url(self.stack.redis.url, socket_timeout=2)
        try:
            clients = await client.client_list()
        except (RedisError, OSError):
            return False
        finally:
            await client.aclose()
        return any(
            str(entry.get("addr", "")).startswith(f"{address}:")
            and int(entry.get("idle", 1 << 30)) < REJOIN_SECONDS
            for entry in clients
        )

    def restore(self) -> None:
        """No delay, no cut, every link up (processes come back through the supervisor)."""
        for proxy in self.stack.proxies.values():
            proxy.delay(0.0)
            proxy.cut(0.0)
        if self.stack.network is not None:
            for host in self.stack.network.hosts:
                hostnet.set_link(host, True)
