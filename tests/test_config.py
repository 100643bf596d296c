"""Settings: defaults, the file, the environment over the file, secrets kept out of sight,
and errors that name the file, the key and the problem."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from campaign_engine.config import (
    ConfigError,
    Settings,
    load_settings,
    masked_url,
    resolve_config_path,
    with_overrides,
)


@pytest.fixture(autouse=True)
def clean_environment(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """No engine variable from the developer's shell, and no ./campaign-engine.toml."""
    for name in list(os.environ):
        if name.startswith("CAMPAIGN_ENGINE_") or name.startswith("VOCOBASE_"):
            monkeypatch.delenv(name)
    monkeypatch.chdir(tmp_path)


def write(path: Path, text: str) -> Path:
    path.write_text(text, encoding="utf-8")
    return path


def test_defaults_without_a_file() -> None:
    settings = load_settings(None)

    assert settings.database.url == "sqlite+aiosqlite:///./campaign-engine.db"
    assert settings.redis.url == "redis://127.0.0.1:6379/0"
    assert settings.redis.prefix == "ce"
    assert settings.vocobase.base_url == "https://api.vocobase.com/api/v2"
    assert settings.vocobase.api_key.get_secret_value() == ""
    assert settings.vocobase.webhook_secrets() == []
    assert settings.server.webhook_tolerance_seconds == 300.0
    assert settings.server.max_body_bytes == 1_048_576
    assert settings.limits.vocobase.calls_per_minute == 10
    assert settings.limits.vocobase.concurrency == "auto"
    assert settings.limits.providers["twilio"].calls_per_second == 1.0
    assert settings.dialer.correlation_variable == "ce_attempt_id"


def test_file_values_are_used_and_unset_keys_keep_their_defaults(tmp_path: Path) -> None:
    path = write(
        tmp_path / "engine.toml",
        """
[database]
url = "postgresql+asyncpg://ce@db/ce"

[vocobase]
api_key = "rg_live_file"
webhook_secret = "whsec_file"
previous_webhook_secrets = ["whsec_old"]

[server]
port = 9000

[limits.vocobase]
calls_per_minute = 30
concurrency = 7

[limits.providers.plivo]
calls_per_second = 5
""",
    )
    settings = load_settings(path)

    assert settings.database.url == "postgresql+asyncpg://ce@db/ce"
    assert settings.database.echo is False
    assert settings.vocobase.api_key.get_secret_value() == "rg_live_file"
    assert settings.vocobase.webhook_secrets() == ["whsec_file", "whsec_old"]
    assert settings.server.port == 9000
    assert settings.server.host == "127.0.0.1"
    assert settings.limits.vocobase.calls_per_minute == 30
    assert settings.limits.vocobase.concurrency == 7
    assert settings.limits.providers["plivo"].calls_per_second == 5
    # Naming one provider keeps the published limits of the others.
    assert settings.limits.providers["twilio"].calls_per_second == 1.0


def test_secret_environment_variables_win_over_the_file(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = write(
        tmp_path / "engine.toml",
        '[vocobase]\napi_key = "rg_live_file"\nwebhook_secret = "whsec_file"\n',
    )
    monkeypatch.setenv("VOCOBASE_API_KEY", "rg_live_env")
    monkeypatch.setenv("VOCOBASE_WEBHOOK_SECRET", "whsec_env")

    settings = load_settings(path)

    assert settings.vocobase.api_key.get_secret_value() == "rg_live_env"
    assert settings.vocobase.webhook_secret.get_secret_value() == "whsec_env"


def test_secret_environment_variables_apply_without_a_file(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("VOCOBASE_API_KEY", "rg_live_env")

    assert load_settings(None).vocobase.api_key.get_secret_value() == "rg_live_env"


def test_empty_secret_environment_variable_does_not_erase_the_files_secret(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = write(tmp_path / "engine.toml", '[vocobase]\napi_key = "rg_live_file"\n')
    monkeypatch.setenv("VOCOBASE_API_KEY", "")

    assert load_settings(path).vocobase.api_key.get_secret_value() == "rg_live_file"


def test_nested_environment_variable_wins_over_the_file_for_that_key_only(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = write(
        tmp_path / "engine.toml", '[database]\nurl = "sqlite+aiosqlite:///file.db"\necho = true\n'
    )
    monkeypatch.setenv("CAMPAIGN_ENGINE_DATABASE__URL", "postgresql+asyncpg://env/ce")

    settings = load_settings(path)

    assert settings.database.url == "postgresql+asyncpg://env/ce"
    assert settings.database.echo is True


def test_nested_environment_variable_applies_without_a_file(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("CAMPAIGN_ENGINE_DATABASE__URL", "postgresql+asyncpg://env/ce")

    assert load_settings(None).database.url == "postgresql+asyncpg://env/ce"


def test_secrets_never_appear_in_repr_or_str(tmp_path: Path) -> None:
    path = write(
        tmp_path / "engine.toml",
        """
[vocobase]
api_key = "rg_live_SUPERSECRET"
webhook_secret = "whsec_SUPERSECRET"
previous_webhook_secrets = ["whsec_OLDSECRET"]
""",
    )
    settings = load_settings(path)

    for text in (repr(settings), str(settings), repr(settings.vocobase), str(settings.vocobase)):
        assert "SUPERSECRET" not in text
        assert "OLDSECRET" not in text
    assert "**********" in repr(settings.vocobase)


def test_repr_and_str_mask_the_database_redis_and_notification_passwords_and_every_token(
    tmp_path: Path,
) -> None:
    path = write(
        tmp_path / "engine.toml",
        """
[database]
url = "postgresql+asyncpg://engine:DBPASSWORD@db.internal:5432/campaigns"
[redis]
url = "redis://:REDISPASSWORD@cache.internal:6379/0"
[vocobase]
api_key = "rg_live_APIKEY"
webhook_secret = "whsec_WEBHOOKSECRET"
[server]
metrics_token = "METRICSTOKEN"
[ops]
token = "OPSTOKEN"
[notifications]
url = "https://hook:NOTIFYPASSWORD@crm.example/hook"
secret = "NOTIFYSECRET"
""",
    )
    settings = load_settings(path)

    texts = [repr(settings), str(settings)]
    texts += [f(getattr(settings, name)) for name in Settings.model_fields for f in (repr, str)]
    for text in texts:
        for secret in ("PASSWORD", "APIKEY", "WEBHOOKSECRET", "METRICSTOKEN", "OPSTOKEN",
                       "NOTIFYSECRET"):  # fmt: skip
            assert secret not in text, (secret, text)
    assert "postgresql+asyncpg://engine:***@db.internal:5432/campaigns" in repr(settings)
    assert "redis://:***@cache.internal:6379/0" in str(settings.redis)
    # The values themselves are intact for the engine to use.
    assert settings.database.url.endswith("engine:DBPASSWORD@db.internal:5432/campaigns")
    assert settings.redis.url == "redis://:REDISPASSWORD@cache.internal:6379/0"


@pytest.mark.parametrize(
    ("url", "shown"),
    [
        ("redis://127.0.0.1:6379/0", "redis://127.0.0.1:6379/0"),
        ("redis://user:p%40ss@host/0", "redis://user:***@host/0"),
        ("rediss://host:6380/0?password=secret&ssl=1", "rediss://host:6380/0?password=***&ssl=1"),
        ("sqlite+aiosqlite:///./campaign-engine.db", "sqlite+aiosqlite:///./campaign-engine.db"),
        ("postgresql+asyncpg://engine@db/campaigns", "postgresql+asyncpg://engine@db/campaigns"),
    ],
)
def test_masked_url_hides_only_the_password(url: str, shown: str) -> None:
    assert masked_url(url) == shown


def test_with_overrides_replaces_only_the_given_keys_and_validates_them() -> None:
    base = Settings()
    changed = with_overrides(base, server={"max_body_bytes": 64})

    assert changed.server.max_body_bytes == 64
    assert changed.server.port == base.server.port
    with pytest.raises(ConfigError, match=r"server\.max_body_bytes"):
        with_overrides(base, server={"max_body_bytes": 0})


@pytest.mark.parametrize(
    ("given", "used"),
    [
        ("postgres://app:pw@db:5432/calls", "postgresql+asyncpg://app:pw@db:5432/calls"),
        ("postgresql://app@db/calls", "postgresql+asyncpg://app@db/calls"),
        ("postgresql+psycopg2://app@db/calls", "postgresql+asyncpg://app@db/calls"),
        ("sqlite:///engine.db", "sqlite+aiosqlite:///engine.db"),
        ("postgresql+asyncpg://app@db/calls", "postgresql+asyncpg://app@db/calls"),
    ],
)
def test_a_database_url_without_the_async_driver_gets_it(given: str, used: str) -> None:
    assert Settings(database={"url": given}).database.url == used


@pytest.mark.parametrize(
    ("given", "problem"),
    [
        ("mysql://app@db/calls", "not mysql://"),
        ("/var/lib/engine.db", "not a database URL"),
    ],
)
def test_a_database_url_the_engine_cannot_use_is_refused_naming_the_key(
    tmp_path: Path, given: str, problem: str
) -> None:
    path = write(tmp_path / "engine.toml", f"[database]\nurl = {given!r}\n")
    with pytest.raises(ConfigError, match=rf"database\.url: .*{problem}"):
        load_settings(path)


def test_with_overrides_wins_over_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    """The demo starts its own Redis when none answers at the configured URL, and must then
    use it even when that URL came from the environment."""
    monkeypatch.setenv("CAMPAIGN_ENGINE_REDIS__URL", "redis://127.0.0.1:6390/0")
    monkeypatch.setenv("CAMPAIGN_ENGINE_SERVER__PORT", "9001")
    base = load_settings()
    assert base.redis.url == "redis://127.0.0.1:6390/0"

    changed = with_overrides(base, redis={"url": "redis://127.0.0.1:46609/0"})

    assert type(changed) is Settings
    assert changed.redis.url == "redis://127.0.0.1:46609/0"
    assert changed.server.port == 9001  # from the environment, through ``base``


@pytest.mark.parametrize(
    ("text", "key", "problem"),
    [
        ("[database\nurl = 'x'\n", None, "not valid TOML"),
        ("[database]\nurll = 'x'\n", "database.urll", "Extra inputs are not permitted"),
        ("[databse]\nurl = 'x'\n", "databse", "Extra inputs are not permitted"),
        ("[server]\nport = 'eighty'\n", "server.port", "valid integer"),
        (
            "[limits.vocobase]\ncalls_per_minute = -1\n",
            "limits.vocobase.calls_per_minute",
            "greater than 0",
        ),
        (
            "[limits.providers.twilio]\ncalls_per_second = -2\n",
            "limits.providers.twilio.calls_per_second",
            "greater than 0",
        ),
        (
            "[limits.vocobase]\nconcurrency = 0\n",
            "limits.vocobase.concurrency",
            'must be a positive number or "auto"',
        ),
        (
            "[limits.providers.acme]\ncalls_per_second = 1\n",
            "limits.providers",
            "unknown provider 'acme'",
        ),
        ("[server]\nmax_body_bytes = -5\n", "server.max_body_bytes", "greater than 0"),
    ],
)
def test_bad_file_is_refused_naming_the_file_the_key_and_the_problem(
    tmp_path: Path, text: str, key: str | None, problem: str
) -> None:
    path = write(tmp_path / "bad.toml", text)

    with pytest.raises(ConfigError) as caught:
        load_settings(path)

    message = str(caught.value)
    assert message.startswith(f"{path}: ")
    assert problem in message
    if key is not None:
        assert f"  {key}: " in message


def test_missing_config_file_is_refused_naming_it(tmp_path: Path) -> None:
    path = tmp_path / "nowhere.toml"
    with pytest.raises(ConfigError, match=f"{path}: config file not found"):
        load_settings(path)


def test_error_about_a_secret_does_not_echo_its_value(tmp_path: Path) -> None:
    path = write(tmp_path / "bad.toml", '[vocobase]\napi_key = "rg_live_SECRET"\nextra = 1\n')

    with pytest.raises(ConfigError) as caught:
        load_settings(path)

    assert "vocobase.extra" in str(caught.value)
    assert "rg_live_SECRET" not in str(caught.value)


def test_resolve_config_path_prefers_the_argument_over_everything(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    write(tmp_path / "campaign-engine.toml", "")
    monkeypatch.setenv("CAMPAIGN_ENGINE_CONFIG", str(tmp_path / "from-env.toml"))

    assert resolve_config_path(Path("given.toml")) == Path("given.toml")


def test_resolve_config_path_uses_the_environment_variable_over_the_local_file(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    write(tmp_path / "campaign-engine.toml", "")
    monkeypatch.setenv("CAMPAIGN_ENGINE_CONFIG", str(tmp_path / "from-env.toml"))

    assert resolve_config_path(None) == tmp_path / "from-env.toml"


def test_resolve_config_path_finds_campaign_engine_toml_in_the_working_directory(
    tmp_path: Path,
) -> None:
    write(tmp_path / "campaign-engine.toml", "")

    assert resolve_config_path(None) == Path("campaign-engine.toml")


def test_resolve_config_path_is_none_when_nothing_is_there() -> None:
    assert resolve_config_path(None) is None


def test_load_settings_reads_the_file_named_by_the_environment_variable(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = write(tmp_path / "elsewhere.toml", '[redis]\nprefix = "from-env-file"\n')
    monkeypatch.setenv("CAMPAIGN_ENGINE_CONFIG", str(path))

    assert load_settings(None).redis.prefix == "from-env-file"


def test_load_settings_reads_campaign_engine_toml_in_the_working_directory(
    tmp_path: Path,
) -> None:
    write(tmp_path / "campaign-engine.toml", '[redis]\nprefix = "local"\n')

    assert load_settings(None).redis.prefix == "local"


def test_a_directory_named_campaign_engine_toml_is_not_taken_for_the_config(
    tmp_path: Path,
) -> None:
    (tmp_path / "campaign-engine.toml").mkdir()

    assert resolve_config_path(None) is None


def test_an_unknown_console_display_zone_is_refused_naming_it() -> None:
    import pytest
    from pydantic import ValidationError

    from campaign_engine.config import OpsSettings

    assert OpsSettings(display_timezone="Asia/Kolkata").display_timezone == "Asia/Kolkata"
    with pytest.raises(ValidationError, match="unknown time zone 'Mars/Olympus'"):
        OpsSettings(display_timezone="Mars/Olympus")


def test_the_ops_upload_keys_are_aliases_of_the_one_api_pair(tmp_path: Path) -> None:
    path = write(tmp_path / "e.toml", '[ops]\nmax_upload_bytes = 1000\nupload_dir = "/up"\n')

    settings = load_settings(path)

    assert (settings.api.upload_max_bytes, settings.api.upload_dir) == (1000, "/up")
    assert (settings.ops.max_upload_bytes, settings.ops.upload_dir) == (1000, "/up")


def test_an_upload_key_given_in_both_spellings_must_agree(tmp_path: Path) -> None:
    same = write(tmp_path / "same.toml", '[ops]\nupload_dir = "/up"\n[api]\nupload_dir = "/up"\n')
    differ = write(tmp_path / "differ.toml", '[ops]\nupload_dir = "/a"\n[api]\nupload_dir = "/b"\n')

    assert load_settings(same).api.upload_dir == "/up"
    with pytest.raises(ConfigError, match=r"ops\.upload_dir is an alias of api\.upload_dir"):
        load_settings(differ)


def test_the_upload_alias_works_from_the_environment_and_in_overrides(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("CAMPAIGN_ENGINE_OPS__MAX_UPLOAD_BYTES", "4096")

    from_env = load_settings(None)
    overridden = with_overrides(from_env, ops={"upload_dir": "/over"})

    assert from_env.api.upload_max_bytes == 4096
    assert (overridden.api.upload_dir, overridden.api.upload_max_bytes) == ("/over", 4096)
    assert overridden.ops.upload_dir == "/over"
