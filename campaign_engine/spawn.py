"""Start engine parts as child processes, configured exactly like this one.

The configuration travels in the environment, as it would into a container: each settings
section becomes one ``CAMPAIGN_ENGINE_<SECTION>`` variable holding JSON (secrets included,
as the child needs them), and ``CAMPAIGN_ENGINE_CONFIG`` points at an empty file so that
nothing else is read. The benchmarks and the fault tests run real worker processes this way.
"""

from __future__ import annotations

import asyncio
import json
import os
import signal
import subprocess
import sys
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import IO, Any

from pydantic import SecretStr

from campaign_engine.config import CONFIG_ENV, SECRET_ENV, Settings

_PREFIX = "CAMPAIGN_ENGINE_"
CLI = [sys.executable, "-m", "campaign_engine.cli"]
STOP_GRACE_SECONDS = 40


def _plain(value: Any) -> Any:
    if isinstance(value, SecretStr):
        return value.get_secret_value()
    if isinstance(value, dict):
        return {key: _plain(item) for key, item in value.items()}
    if isinstance(value, list):
        return [_plain(item) for item in value]
    return value


def settings_env(settings: Settings, base: dict[str, str] | None = None) -> dict[str, str]:
    """``base`` (default: this process's environment) with ``settings`` in it, and nothing
    of any other engine configuration."""
    source = dict(os.environ if base is None else base)
    env = {key: value for key, value in source.items() if not key.startswith(_PREFIX)}
    for name in SECRET_ENV.values():
        env.pop(name, None)
    for section, values in _plain(settings.model_dump()).items():
        env[f"{_PREFIX}{section.upper()}"] = json.dumps(values)
    env[CONFIG_ENV] = os.devnull
    return env


@asynccontextmanager
async def worker_processes(
    settings: Settings, count: int, log_dir: Path
) -> AsyncIterator[list[subprocess.Popen[bytes]]]:
    """``count`` worker processes, logging to ``log_dir``; stopped gracefully (SIGTERM,
    then SIGKILL after the grace period) when the block ends. Waiting for them happens off
    the event loop, which may be serving what they still talk to (a simulator, a server)."""
    env = settings_env(settings)
    procs: list[subprocess.Popen[bytes]] = []
    try:
        for index in range(count):
            with (log_dir / f"worker-{index}.log").open("wb") as log:
                procs.append(_spawn([*CLI, "worker"], env, log))
        yield procs
    finally:
        await asyncio.to_thread(_stop, procs)


def _spawn(command: list[str], env: dict[str, str], log: IO[bytes]) -> subprocess.Popen[bytes]:
    return subprocess.Popen(command, env=env, stdout=log, stderr=log)


def _stop(procs: list[subprocess.Popen[bytes]]) -> None:
    for proc in procs:
        if proc.poll() is None:
            proc.send_signal(signal.SIGTERM)
    for proc in procs:
        try:
            proc.wait(timeout=STOP_GRACE_SECONDS)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
