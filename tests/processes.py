"""Engine parts as real OS processes (``campaign-engine worker``), for fault tests.

The child gets its settings through the environment (one JSON value per section), the way
an operator would configure a container.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from pydantic import SecretStr

from campaign_engine.config import Settings

CLI = [sys.executable, "-m", "campaign_engine.cli"]


def _plain(value: Any) -> Any:
    if isinstance(value, SecretStr):
        return value.get_secret_value()
    if isinstance(value, dict):
        return {key: _plain(item) for key, item in value.items()}
    if isinstance(value, list):
        return [_plain(item) for item in value]
    return value


def settings_env(settings: Settings) -> dict[str, str]:
    """Environment variables that make a child process load exactly ``settings``."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("CAMPAIGN_ENGINE_")}
    env.pop("VOCOBASE_API_KEY", None)
    env.pop("VOCOBASE_WEBHOOK_SECRET", None)
    for section, values in _plain(settings.model_dump()).items():
        env[f"CAMPAIGN_ENGINE_{section.upper()}"] = json.dumps(values)
    env["CAMPAIGN_ENGINE_CONFIG"] = os.devnull
    return env


@contextmanager
def worker_processes(
    settings: Settings, count: int, log_dir: Path
) -> Iterator[list[subprocess.Popen[bytes]]]:
    """Start ``count`` worker processes; SIGTERM (then SIGKILL) whatever is left at the end."""
    env = settings_env(settings)
    procs = []
    for index in range(count):
        log = (log_dir / f"worker-{index}.log").open("wb")
        procs.append(
            subprocess.Popen([*CLI, "worker"], env=env, stdout=log, stderr=subprocess.STDOUT)
        )
    try:
        yield procs
    finally:
        for proc in procs:
            if proc.poll() is None:
                proc.send_signal(signal.SIGTERM)
        for proc in procs:
            try:
                proc.wait(timeout=40)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
