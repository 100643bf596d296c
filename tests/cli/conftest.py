"""What every CLI test starts from: no engine settings inherited from the environment, the
test's own directory, and a config file on the test's SQLite database and Redis prefix."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from tests.cli.support import Cli, write_config
from tests.conftest import TEST_REDIS_URL


@pytest.fixture(autouse=True)
def clean_environment(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    for name in list(os.environ):
        if name.startswith(("CAMPAIGN_ENGINE_", "VOCOBASE_")):
            monkeypatch.delenv(name)
    monkeypatch.chdir(tmp_path)


@pytest.fixture
def config(tmp_path: Path, sqlite_url: str, redis_prefix: str) -> Path:
    redis = {"url": TEST_REDIS_URL, "prefix": redis_prefix}
    return write_config(tmp_path / "engine.toml", sqlite_url, redis=redis)


@pytest.fixture
def cli(config: Path) -> Cli:
    return Cli(config)
