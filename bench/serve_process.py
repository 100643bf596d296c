"""``campaign-engine serve`` as a real subprocess for the webhook benchmark."""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

from bench.http_load import connection
from bench.support import REDIS_URL, free_port


def write_config(path: Path, url: str, port: int, prefix: str, secret: str) -> None:
    dead_port = free_port()  # nothing listens: the serve process never delivers anyway
    path.write_text(
        f"""
[database]
url = "{url}"
[redis]
url = "{REDIS_URL}"
prefix = "{prefix}"
[vocobase]
base_url = "http://127.0.0.1:{dead_port}/api/v2"
api_key = "rg_live_bench"
webhook_secret = "{secret}"
[server]
host = "127.0.0.1"
port = {port}
[notifications]
url = "http://127.0.0.1:{dead_port}/results"
secret = "whsec_operator"
""",
        encoding="utf-8",
    )


@contextlib.contextmanager
def serve(config: Path, log: Path) -> Iterator[subprocess.Popen[bytes]]:
    env = {
        k: v for k, v in os.environ.items() if not k.startswith(("CAMPAIGN_ENGINE_", "VOCOBASE_"))
    }
    with log.open("wb") as out:
        proc = subprocess.Popen(
            [sys.executable, "-m", "campaign_engine.cli", "--config", str(config), "serve"],
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
        )
        try:
            yield proc
        finally:
            if proc.poll() is None:
                proc.send_signal(signal.SIGTERM)
                try:
                    proc.wait(timeout=30)
                except subprocess.TimeoutExpired:
                    proc.kill()
                    proc.wait()


async def wait_ready(port: int, proc: subprocess.Popen[bytes], log: Path) -> None:
    give_up = time.monotonic() + 60
    while time.monotonic() < give_up:
        if proc.poll() is not None:
            raise RuntimeError(f"serve exited with {proc.returncode}; see its log: {log}")
        with contextlib.suppress(OSError, asyncio.IncompleteReadError, ValueError):
            async with connection(port) as conn:
                status, _ = await conn.request("GET", "/readyz", b"", {})
                if status == 200:
                    return
        await asyncio.sleep(0.1)
    raise RuntimeError("serve did not become ready in 60 s")
