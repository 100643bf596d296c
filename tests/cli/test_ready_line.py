"""``serve``, ``worker``, ``scheduler`` and ``run`` (cli/processes.py) say in one line when
they are ready: what runs, where it listens, the console's URL. Run as an operator runs them
(a subprocess)."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx

from tests.cli.support import write_config
from tests.conftest import TEST_REDIS_URL
from tests.harness import free_port

OPS_TOKEN = "console-token-for-the-ready-line"


@contextmanager
def _started(config: Path, command: str) -> Iterator[tuple[str, subprocess.Popen[str]]]:
    """The process running ``command`` and the first line it printed on stdout."""
    env = {
        name: value
        for name, value in os.environ.items()
        if not name.startswith(("CAMPAIGN_ENGINE_", "VOCOBASE_"))
    }
    process = subprocess.Popen(
        [sys.executable, "-m", "campaign_engine.cli", "--config", str(config), command],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=env,
    )
    try:
        assert process.stdout is not None
        line = process.stdout.readline()
        assert line, process.communicate(timeout=30)[1]
        yield line, process
    finally:
        if process.poll() is None:
            process.send_signal(signal.SIGTERM)
        _, err = process.communicate(timeout=60)
        assert process.returncode == 0, err


def _config(tmp_path: Path, sqlite_url: str, redis_prefix: str, port: int) -> Path:
    return write_config(
        tmp_path / "engine.toml",
        sqlite_url,
        redis={"url": TEST_REDIS_URL, "prefix": redis_prefix},
        vocobase={"api_key": "rg_live_test", "webhook_secret": "whsec_test"},
        server={"port": port, "public_url": "https://calls.example.com"},
        ops={"token": OPS_TOKEN},
    )


def test_serve_prints_where_it_listens_and_the_consoles_url_once_ready(
    tmp_path: Path, sqlite_url: str, redis_prefix: str
) -> None:
    port = free_port()
    config = _config(tmp_path, sqlite_url, redis_prefix, port)

    with _started(config, "serve") as (line, _):
        # Ready means ready: the server answers at once.
        health = httpx.get(f"http://127.0.0.1:{port}/healthz")
        bare = httpx.get(f"http://127.0.0.1:{port}/metrics")
        bearer = {"Authorization": f"Bearer {OPS_TOKEN}"}
        scraped = httpx.get(f"http://127.0.0.1:{port}/metrics", headers=bearer)

    assert line.startswith("campaign-engine ready: server;")
    assert f"listening on http://127.0.0.1:{port}" in line
    assert "console https://calls.example.com/ops/" in line
    assert "webhooks https://calls.example.com/webhooks/vocobase" in line
    assert json.loads(health.text) == {"ok": True}
    # /metrics on the public server asks for a token (here the [ops] one).
    assert (bare.status_code, scraped.status_code) == (401, 200)


def test_worker_prints_one_line_once_ready_and_stops_cleanly(
    tmp_path: Path, sqlite_url: str, redis_prefix: str
) -> None:
    config = _config(tmp_path, sqlite_url, redis_prefix, free_port())

    with _started(config, "worker") as (line, process):
        assert process.poll() is None  # still running after saying so

    assert line.startswith("campaign-engine ready: worker;")
    assert f"dial jobs from Redis prefix '{redis_prefix}'" in line
    assert "listening" not in line  # a worker listens on nothing
