"""A private Redis for the chaos soak: flushed and restarted without touching the shared one.

Nothing is persisted (``--save '' --appendonly no``), as the engine must survive losing
everything Redis holds: a restart after FLUSHALL is the soak's Redis fault.
"""

from __future__ import annotations

import shutil
import subprocess
import tempfile
import time
from pathlib import Path

from redis import Redis
from redis.exceptions import RedisError

READY_SECONDS = 10.0


class PrivateRedis:
    def __init__(self, host: str, port: int) -> None:
        self.host = host
        self.port = port
        self.root = Path(tempfile.mkdtemp(prefix="ce-chaos-redis-"))
        self.process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"redis://{self.host}:{self.port}/0"

    def start(self) -> None:
        binary = shutil.which("redis-server")
        if binary is None:
            raise RuntimeError("redis-server is not on PATH (install the redis-server package)")
        with (self.root / "server.log").open("ab") as log:
            self.process = subprocess.Popen(
                [
                    binary,
                    "--port",
                    str(self.port),
                    "--bind",
                    self.host,
                    "--save",
                    "",
                    "--appendonly",
                    "no",
                    # Clients on the soak's other hosts are not on loopback.
                    "--protected-mode",
                    "no",
                    "--dir",
                    str(self.root),
                ],
                stdout=log,
                stderr=log,
            )
        self._wait_ready()

    def _wait_ready(self) -> None:
        give_up = time.monotonic() + READY_SECONDS
        while time.monotonic() < give_up:
            try:
                with Redis(host=self.host, port=self.port, socket_timeout=1) as client:
                    if client.ping():
                        return
            except (OSError, RedisError):
                pass
            time.sleep(0.05)
        raise RuntimeError(f"the private redis-server on {self.host}:{self.port} did not start")

    def flush(self) -> None:
        with Redis(host=self.host, port=self.port, socket_timeout=2) as client:
            client.flushall()

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.kill()
            self.process.wait()
        self.process = None

    def remove(self) -> None:
        self.stop()
        shutil.rmtree(self.root, ignore_errors=True)
