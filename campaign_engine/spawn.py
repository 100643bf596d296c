"""Start engine parts as child processes, configured exactly like this one.

The configuration travels in the environment, as it would into a container: each settings
section becomes one ``CAMPAIGN_ENGINE_<SECTION>`` variable holding JSON (secrets included,
as the child needs them), and ``CAMPAIGN_ENGINE_CONFIG`` points at an empty file so that
nothing else is read. The benchmarks and the fault tests run real worker processes this way,
and ``serve --workers N`` its N servers (:func:`supervise`), which share one listening socket.
"""

from __future__ import annotations

import asyncio
import json
import logging
import os
import signal
import socket
import subprocess
import sys
import threading
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import IO, Any

from pydantic import SecretStr

from campaign_engine.config import CONFIG_ENV, SECRET_ENV, Settings

log = logging.getLogger(__name__)

_PREFIX = "CAMPAIGN_ENGINE_"
CLI = [sys.executable, "-m", "campaign_engine.cli"]
STOP_GRACE_SECONDS = 40
# A supervised child that died is started again after at most this long.
RESTART_PAUSE_SECONDS = 1.0


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
    async with engine_processes(settings, ["worker"], count, log_dir) as procs:
        yield procs


@asynccontextmanager
async def engine_processes(
    settings: Settings, command: list[str], count: int, log_dir: Path
) -> AsyncIterator[list[subprocess.Popen[bytes]]]:
    """``count`` processes of ``campaign-engine <command>`` (``["scheduler"]``,
    ``["serve"]``…), logging to ``log_dir/<command>-<n>.log``; stopped like
    :func:`worker_processes`."""
    env = settings_env(settings)
    procs: list[subprocess.Popen[bytes]] = []
    try:
        for index in range(count):
            with (log_dir / f"{command[0]}-{index}.log").open("wb") as out:
                procs.append(_spawn([*CLI, *command], env, out))
        yield procs
    finally:
        await asyncio.to_thread(_stop, procs)


def _spawn(command: list[str], env: dict[str, str], out: IO[bytes]) -> subprocess.Popen[bytes]:
    return subprocess.Popen(command, env=env, stdout=out, stderr=out)


def listening_socket(host: str, port: int) -> socket.socket:
    """A TCP listener its child processes inherit (``serve --workers N``)."""
    sock = socket.create_server((host, port), backlog=2048)
    sock.set_inheritable(True)
    return sock


def supervise(settings: Settings, command: list[str], count: int, sock: socket.socket) -> None:
    """Run ``count`` children ``campaign-engine <command> --listen-fd <fd>`` that all serve
    ``sock``, until SIGTERM or SIGINT; a child that dies meanwhile is started again (what it
    had accepted is in the inbox, and its siblings apply it). Stopping forwards SIGTERM and
    waits for each child's graceful stop."""
    fd = sock.fileno()
    env = settings_env(settings)
    argv = [*CLI, *command, "--listen-fd", str(fd)]
    stopping = threading.Event()
    previous = {
        signum: signal.signal(signum, lambda *_: stopping.set())
        for signum in (signal.SIGTERM, signal.SIGINT)
    }
    children: list[subprocess.Popen[bytes]] = []
    try:
        children = [subprocess.Popen(argv, env=env, pass_fds=(fd,)) for _ in range(count)]
        while not stopping.wait(RESTART_PAUSE_SECONDS):
            for index, child in enumerate(children):
                if child.poll() is not None:
                    log.error(
                        "server process %d exited (%s); starting another",
                        child.pid,
                        child.returncode,
                    )
                    children[index] = subprocess.Popen(argv, env=env, pass_fds=(fd,))
    finally:
        _stop(children)
        for signum, handler in previous.items():
            signal.signal(signum, handler)


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
