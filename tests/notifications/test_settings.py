"""The [notifications] settings: off by default, signed when on, secret from the environment."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from campaign_engine.config import ConfigError, load_settings


@pytest.fixture(autouse=True)
def clean_environment(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    for name in list(os.environ):
        if name.startswith("CAMPAIGN_ENGINE_") or name.startswith("VOCOBASE_"):
            monkeypatch.delenv(name)
    monkeypatch.chdir(tmp_path)


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "engine.toml"
    path.write_text(text, encoding="utf-8")
    return path


def test_notifications_are_off_by_default() -> None:
    settings = load_settings(None).notifications
    assert settings.enabled is False
    assert (settings.max_tries, settings.backoff_seconds, settings.timeout_seconds) == (8, 10, 10)


def test_a_url_without_a_secret_is_refused_naming_the_environment_variable(
    tmp_path: Path,
) -> None:
    path = write(tmp_path, '[notifications]\nurl = "https://ops.example/hook"\n')
    with pytest.raises(ConfigError, match="CAMPAIGN_ENGINE_NOTIFICATIONS__SECRET"):
        load_settings(path)


def test_the_secret_can_come_from_the_environment_alone(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("CAMPAIGN_ENGINE_NOTIFICATIONS__SECRET", "whsec_from_env")
    path = write(tmp_path, '[notifications]\nurl = "https://ops.example/hook"\nmax_tries = 3\n')

    settings = load_settings(path).notifications

    assert settings.enabled is True
    assert settings.secret.get_secret_value() == "whsec_from_env"
    assert settings.max_tries == 3
    assert "whsec_from_env" not in repr(settings)


def test_a_url_that_is_not_http_is_refused(tmp_path: Path) -> None:
    path = write(tmp_path, '[notifications]\nurl = "ftp://ops.example"\nsecret = "s"\n')
    with pytest.raises(ConfigError, match=r"notifications\.url"):
        load_settings(path)
