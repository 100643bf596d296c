"""One settings object for the whole engine, read from a TOML file and the environment.

Where the file comes from: ``--config PATH``, else env ``CAMPAIGN_ENGINE_CONFIG``, else
``./campaign-engine.toml`` when present, else the built-in defaults. The environment wins
over the file: ``VOCOBASE_API_KEY``, ``VOCOBASE_WEBHOOK_SECRET`` and
``CAMPAIGN_ENGINE_OPS_TOKEN`` set the secrets, and any key can be set as
``CAMPAIGN_ENGINE_<SECTION>__<KEY>`` (e.g. ``CAMPAIGN_ENGINE_DATABASE__URL``). Secrets are
``SecretStr``, and the passwords in the database, Redis and notification URLs are masked, so
none of them shows in logs, ``repr()`` or ``str()``. A bad file is refused with an error that
names the file, the key and the problem.
"""

from __future__ import annotations

import os
import re
import tomllib
from collections.abc import Iterable
from pathlib import Path
from typing import Any, Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    SecretStr,
    ValidationError,
    field_validator,
    model_validator,
)
from pydantic_settings import BaseSettings, PydanticBaseSettingsSource, SettingsConfigDict

CONFIG_ENV = "CAMPAIGN_ENGINE_CONFIG"
DEFAULT_CONFIG_FILE = Path("campaign-engine.toml")
SECRET_ENV = {"api_key": "VOCOBASE_API_KEY", "webhook_secret": "VOCOBASE_WEBHOOK_SECRET"}
# The console's token has a documented single-underscore name of its own.
OPS_TOKEN_ENV = "CAMPAIGN_ENGINE_OPS_TOKEN"
PROVIDERS = ("mcube", "twilio", "exotel", "plivo", "vobiz", "sip", "voicelink")


class ConfigError(Exception):
    """The configuration cannot be used; the message says which file, key and why."""


class _Section(BaseModel):
    model_config = ConfigDict(extra="forbid")


_QUERY_PASSWORD = re.compile(r"(?i)([?&]password=)[^&#]*")


def masked_url(url: str) -> str:
    """``url`` with its password (``user:PASSWORD@`` or ``?password=``) shown as ``***``."""
    scheme, separator, rest = url.partition("://")
    if separator:
        authority, slash, tail = rest.partition("/")
        userinfo, at, host = authority.rpartition("@")
        if at and ":" in userinfo:
            user = userinfo.split(":", 1)[0]
            url = f"{scheme}://{user}:***@{host}{slash}{tail}"
    return _QUERY_PASSWORD.sub(r"\1***", url)


class _MasksUrl(_Section):
    """A section whose ``url`` may carry a password: ``repr()``/``str()`` mask it."""

    def __repr_args__(self) -> Iterable[tuple[str | None, Any]]:
        for name, value in super().__repr_args__():
            yield name, masked_url(value) if name == "url" and isinstance(value, str) else value


# The engine talks to its database through these async drivers only.
ASYNC_DRIVERS = {"postgresql": "postgresql+asyncpg", "sqlite": "sqlite+aiosqlite"}
_DRIVER_ALIASES = {"postgres": "postgresql", "postgresql+psycopg2": "postgresql"}


class DatabaseSettings(_MasksUrl):
    url: str = "sqlite+aiosqlite:///./campaign-engine.db"
    echo: bool = False

    @field_validator("url")
    @classmethod
    def _async_driver(cls, url: str) -> str:
        """A plain ``postgres://``/``postgresql://``/``sqlite://`` URL, as other tools write
        it, gets the async driver the engine uses; any other database is refused here, not
        at the first query."""
        scheme, separator, rest = url.partition("://")
        if not separator:
            raise ValueError(
                f"{url!r} is not a database URL; use postgresql+asyncpg://USER@HOST/DB "
                "or sqlite+aiosqlite:///FILE.db"
            )
        scheme = _DRIVER_ALIASES.get(scheme, scheme)
        if scheme in ASYNC_DRIVERS:
            scheme = ASYNC_DRIVERS[scheme]
        if scheme not in ASYNC_DRIVERS.values():
            raise ValueError(
                f"the engine runs on PostgreSQL (postgresql+asyncpg://) or SQLite "
                f"(sqlite+aiosqlite://), not {scheme}://"
            )
        return f"{scheme}://{rest}"


class RedisSettings(_MasksUrl):
    url: str = "redis://127.0.0.1:6379/0"
    # Every key the engine writes starts with this, so several engines (or test runs) can
    # share one Redis without seeing each other's queues and limits.
    prefix: str = "ce"


class VocobaseSettings(_Section):
    base_url: str = "https://api.vocobase.com/api/v2"
    api_key: SecretStr = SecretStr("")
    webhook_secret: SecretStr = SecretStr("")
    # Older secrets still accepted on incoming webhooks while a secret is being rotated.
    previous_webhook_secrets: list[SecretStr] = Field(default_factory=list)
    timeout_seconds: float = Field(default=10.0, gt=0)
    connect_timeout_seconds: float = Field(default=5.0, gt=0)
    # Connections one process keeps to Vocobase; more requests wait their turn. httpx checks
    # every pooled connection on every request, so a big pool costs CPU on each call start.
    max_connections: int = Field(default=4, gt=0, le=1000)

    @property
    def longest_request_seconds(self) -> float:
        """The longest one request may take: waiting for a free connection and connecting
        (up to the connect timeout each), then the answer."""
        return self.timeout_seconds + 2 * self.connect_timeout_seconds

    def webhook_secrets(self) -> list[str]:
        found = [self.webhook_secret, *self.previous_webhook_secrets]
        return [s.get_secret_value() for s in found if s.get_secret_value()]


class ServerSettings(_Section):
    host: str = "127.0.0.1"
    port: int = Field(default=8000, ge=0, le=65535)
    # The address Vocobase reaches the webhook receiver at (configured on Vocobase's side).
    public_url: str = "http://127.0.0.1:8000"
    webhook_tolerance_seconds: float = Field(default=300.0, gt=0)
    max_body_bytes: int = Field(default=1_048_576, gt=0)
    # /metrics on this server answers only `Authorization: Bearer <token>` with this token,
    # the [ops] token or a named token of read scope (none set: nobody).
    metrics_token: SecretStr = SecretStr("")
    # A listener of its own serving only /metrics (for a private interface), in the process
    # that runs the server; port 0: none. It asks for metrics_token when one is set.
    metrics_host: str = "127.0.0.1"
    metrics_port: int = Field(default=0, ge=0, le=65535)
    # The counts over whole tables (contacts by state, calls by outcome) are read at most
    # this often per process; scrapes in between are answered from the last reading.
    metrics_cache_seconds: float = Field(default=30.0, ge=0)


class VocobaseLimits(_Section):
    calls_per_minute: int = Field(default=10, gt=0)
    general_per_minute: int = Field(default=60, gt=0)
    concurrency: int | Literal["auto"] = "auto"
    # The window Vocobase counts requests over (documented: one minute).
    window_seconds: float = Field(default=60.0, gt=0)

    @field_validator("concurrency")
    @classmethod
    def _positive(cls, value: int | str) -> int | str:
        if isinstance(value, int) and value <= 0:
            raise ValueError('must be a positive number or "auto"')
        return value


class ProviderLimits(_Section):
    calls_per_second: float = Field(default=1.0, gt=0)
    max_concurrent: int | None = Field(default=None, gt=0)


def _default_providers() -> dict[str, ProviderLimits]:
    """The providers' published limits (see the API notes); Vobiz/MCube/SIP publish none."""
    return {
        "twilio": ProviderLimits(calls_per_second=1.0),
        "plivo": ProviderLimits(calls_per_second=2.0),
        "exotel": ProviderLimits(calls_per_second=200 / 60),
        "mcube": ProviderLimits(calls_per_second=10.0),
        "vobiz": ProviderLimits(calls_per_second=10.0),
        "sip": ProviderLimits(calls_per_second=10.0),
        "voicelink": ProviderLimits(calls_per_second=10.0),
    }


class LimitSettings(_Section):
    vocobase: VocobaseLimits = Field(default_factory=VocobaseLimits)
    providers: dict[str, ProviderLimits] = Field(default_factory=_default_providers)
    # Back off this long after a 429 when Vocobase sends no Retry-After.
    cooldown_seconds: float = Field(default=5.0, ge=0)
    # Requests reach Vocobase a little later than the limiter grants them, and not all by
    # the same delay; each rate window is widened by this much so that such jitter can
    # never squeeze one request too many into Vocobase's window.
    rate_jitter_seconds: float = Field(default=0.25, ge=0)
    # A concurrency slot whose call never reports an end expires after the agent's maximum
    # call duration plus this margin, so a lost webhook can never leak a slot for good.
    slot_margin_seconds: float = Field(default=120.0, ge=0)
    # An agent whose max_call_duration_secs is null has no cap (documented); its calls hold
    # their slots for at most this long (plus the margin) when no end is ever reported.
    uncapped_call_seconds: int = Field(default=3600, ge=60)

    @field_validator("providers")
    @classmethod
    def _known_providers(cls, value: dict[str, ProviderLimits]) -> dict[str, ProviderLimits]:
        merged = _default_providers()
        for name, limits in value.items():
            if name.lower() not in PROVIDERS:
                raise ValueError(f"unknown provider {name!r}; expected one of {PROVIDERS}")
            merged[name.lower()] = limits
        return merged


class DialerSettings(_Section):
    # Dial jobs one worker runs at once, each with up to contacts_per_job contacts. (arq
    # re-checks every queued job id at each poll, so more jobs than needed cost CPU.)
    max_jobs: int = Field(default=10, gt=0)
    # Contacts one dial job carries (one campaign's): their reads, claims and records are a
    # few statements for all of them, and their start requests go out together.
    contacts_per_job: int = Field(default=50, gt=0, le=1000)
    # How long a job waits in-process for a free slot before handing the contact back.
    max_wait_seconds: float = Field(default=30.0, gt=0)
    # Variable carrying the engine's attempt id to the agent, when the agent declares it:
    # it lets a webhook that beats the start response find its attempt.
    correlation_variable: str = "ce_attempt_id"


class SchedulerSettings(_Section):
    tick_seconds: float = Field(default=1.0, gt=0)
    # Most contacts one campaign may have queued at once (and due rows read per dispatch).
    batch_size: int = Field(default=500, gt=0)
    # A contact queued this long without being claimed goes back to waiting, and is
    # dispatched again within the limits (Redis lost its job, or no worker took it).
    requeue_after_seconds: float = Field(default=60.0, gt=0)
    # How often due contacts are dispatched (between ticks too): a "call now" waits at most
    # about this long for its job; a freed slot wakes a round at once.
    dispatch_seconds: float = Field(default=0.1, gt=0)
    # What is queued for a campaign is what its limits (and those it shares) can start
    # within this many seconds: the rest stays in the database, never in Redis.
    dispatch_ahead_seconds: float = Field(default=2.0, gt=0)
    # The queue never holds more contacts than this many times the partner concurrency.
    queue_bound_factor: float = Field(default=4.0, gt=0)
    # Look up a started call one by one (GET /calls/{id}) when its webhook has not come this
    # long after its claim and the listings of live calls could not tell whether it ended.
    reconcile_after_seconds: float = Field(default=120.0, ge=0)
    # An ambiguous start is declared lost (its contact dialed afresh) only from a complete
    # GET /calls listing without its call, and not before this long after its claim.
    unknown_grace_seconds: float = Field(default=90.0, ge=0)
    # The most GET /calls pages read to prove that an ambiguous start placed no call; with
    # more calls on the account the attempt waits (shown as such) instead.
    unknown_listing_pages: int = Field(default=10, gt=0)
    # Read the listings of live calls (pending, ringing, in_progress) at most this often to
    # free the slots of calls that ended without a webhook yet.
    live_scan_seconds: float = Field(default=2.0, gt=0)
    # A call seen to end by polling waits this long for its webhook before GET /calls/{id}
    # is asked; its outcome is decided from it once post-call processing is complete and
    # the webhook (sent then, retried for ~7 s) has had 10 s more ...
    outcome_wait_seconds: float = Field(default=15.0, ge=0)
    # ... and at most this long while GET /calls/{id} says processing is not complete.
    outcome_wait_max_seconds: float = Field(default=600.0, ge=0)
    # The webhook leaves when post-call processing completes and is retried for ~7 s: it
    # is given this long after that before an outcome is decided without it.
    webhook_grace_seconds: float = Field(default=10.0, ge=0)
    # Share of the /calls/* request budget the reconciler may use, so it never starves dialing.
    reconcile_budget_share: float = Field(default=0.2, gt=0, le=1)
    # An attempt still without an outcome this long after its deadline (the agent's maximum
    # call duration plus the slot margin) is closed as "expired", whatever its state: no
    # attempt stays open forever. Until then the reconciler keeps asking GET /calls.
    expire_after_seconds: float = Field(default=600.0, ge=0)
    # Any number of schedulers may run; one leads, under a lease this long, renewed every
    # third of it. A standby takes over within about this long of the leader's death (at
    # once when it stops gracefully); a leader that cannot renew stops leading at once.
    leader_lease_seconds: float = Field(default=8.0, gt=0)


class NotificationSettings(_MasksUrl):
    """Results pushed to the operator's own URL, signed like Vocobase signs its webhooks."""

    # Empty: no notifications are recorded or sent.
    url: str = ""
    # HMAC key for X-Webhook-Signature; better in CAMPAIGN_ENGINE_NOTIFICATIONS__SECRET.
    secret: SecretStr = SecretStr("")
    timeout_seconds: float = Field(default=10.0, gt=0)
    # Tries per notification before it goes to the dead-letter list.
    max_tries: int = Field(default=8, gt=0)
    # The wait after the first failed try; doubled after each further one, up to the cap.
    backoff_seconds: float = Field(default=10.0, ge=0)
    max_backoff_seconds: float = Field(default=3600.0, ge=0)
    # Notifications one delivery round claims (and sends concurrently) at most.
    batch_size: int = Field(default=50, gt=0)

    @field_validator("url")
    @classmethod
    def _http_url(cls, value: str) -> str:
        value = value.strip()
        if value and not value.startswith(("http://", "https://")):
            raise ValueError("must be an http:// or https:// URL (or empty to turn off)")
        return value

    @model_validator(mode="after")
    def _signed_when_on(self) -> NotificationSettings:
        if self.url and not self.secret.get_secret_value():
            raise ValueError(
                "notifications.url is set but notifications.secret is empty: every "
                "notification is signed (set CAMPAIGN_ENGINE_NOTIFICATIONS__SECRET)"
            )
        return self

    @property
    def enabled(self) -> bool:
        return bool(self.url)


class ComplianceSettings(_Section):
    # Calls to one number per day (its local day), all campaigns together; a number that
    # reached it waits for the next day's window. Attempts that never rang do not count.
    max_attempts_per_number_per_day: int = Field(default=3, gt=0)


class OpsSettings(_Section):
    """The operator's console. ``token`` logs in as the admin ``config`` (better in
    CAMPAIGN_ENGINE_OPS_TOKEN); named tokens log in too, so the console is off only while
    neither exists. ``enabled``: whether this token is set."""

    token: SecretStr = SecretStr("")
    # How often the console's overview, campaign and audit pages reload themselves.
    refresh_seconds: int = Field(default=10, ge=1)
    # A console login lasts this long; then the browser is asked to log in again.
    session_minutes: int = Field(default=480, ge=1)
    # Failed console logins one client address may make per minute; then 429 with
    # Retry-After until the minute has passed.
    login_attempts_per_minute: int = Field(default=5, ge=1)
    # Largest console form body read (a login, an action): larger ones get 413 unread.
    max_form_bytes: int = Field(default=65_536, gt=0)
    # Aliases of [api] upload_max_bytes and [api] upload_dir: the console and the API keep
    # uploads in one store under one pair of settings. Either spelling sets the one setting
    # (both at once must agree); once loaded, these read the same values as [api]'s.
    max_upload_bytes: int | None = Field(default=None, gt=0, exclude=True)
    upload_dir: str | None = Field(default=None, exclude=True)
    # The zone the console shows times in (an IANA name: "Asia/Kolkata"); a contact's own
    # times are also shown in the callee's zone.
    display_timezone: str = "UTC"

    @field_validator("display_timezone")
    @classmethod
    def _known_zone(cls, value: str) -> str:
        try:
            ZoneInfo(value)
        except (ZoneInfoNotFoundError, ValueError):
            raise ValueError(
                f"unknown time zone {value!r} (an IANA name, e.g. Asia/Kolkata)"
            ) from None
        return value

    @property
    def enabled(self) -> bool:
        return bool(self.token.get_secret_value())


class ApiSettings(_Section):
    """The REST API under ``/api/v1`` (it takes the named tokens of ``campaign-engine tokens``;
    its JSON bodies are limited by ``server.max_body_bytes``)."""

    # Largest contact list uploaded through the API or the console (streamed to disk, never
    # held in memory); alias [ops] max_upload_bytes.
    upload_max_bytes: int = Field(default=2 * 1024**3, gt=0)
    # Where uploads (API and console alike), their progress and reject reports are kept
    # ("": a folder in the system's temp dir); alias [ops] upload_dir. Every serve process
    # must see the same folder (several hosts: a shared one).
    upload_dir: str = ""


# [ops] key → the [api] setting it is another spelling of.
UPLOAD_ALIASES = {"max_upload_bytes": "upload_max_bytes", "upload_dir": "upload_dir"}


def _move_upload_aliases(data: dict[str, Any]) -> dict[str, Any]:
    """``data`` with ``[ops]``'s upload aliases moved to the ``[api]`` keys they spell
    (refused when both spellings are given with different values)."""
    ops, api = data.get("ops"), data.get("api")
    if not isinstance(ops, dict) or not any(alias in ops for alias in UPLOAD_ALIASES):
        return data
    ops = dict(ops)
    api = dict(api) if isinstance(api, dict) else {}
    for alias, name in UPLOAD_ALIASES.items():
        if alias not in ops:
            continue
        given = ops.pop(alias)
        if given is None:
            continue
        if name in api and str(api[name]) != str(given):
            raise ValueError(
                f"ops.{alias} is an alias of api.{name} and they differ "
                f"({given!r} and {api[name]!r}): set one of them"
            )
        api[name] = given
    return {**data, "ops": ops, "api": api}


class Settings(BaseSettings):
    """Everything configurable. Loaded by :func:`load_settings`; see ``config.example.toml``."""

    model_config = SettingsConfigDict(
        env_prefix="CAMPAIGN_ENGINE_", env_nested_delimiter="__", extra="forbid"
    )

    database: DatabaseSettings = Field(default_factory=DatabaseSettings)
    redis: RedisSettings = Field(default_factory=RedisSettings)
    vocobase: VocobaseSettings = Field(default_factory=VocobaseSettings)
    server: ServerSettings = Field(default_factory=ServerSettings)
    limits: LimitSettings = Field(default_factory=LimitSettings)
    dialer: DialerSettings = Field(default_factory=DialerSettings)
    scheduler: SchedulerSettings = Field(default_factory=SchedulerSettings)
    compliance: ComplianceSettings = Field(default_factory=ComplianceSettings)
    notifications: NotificationSettings = Field(default_factory=NotificationSettings)
    ops: OpsSettings = Field(default_factory=OpsSettings)
    api: ApiSettings = Field(default_factory=ApiSettings)

    @model_validator(mode="before")
    @classmethod
    def _one_upload_setting(cls, data: Any) -> Any:
        return _move_upload_aliases(data) if isinstance(data, dict) else data

    @model_validator(mode="after")
    def _aliases_read_the_setting(self) -> Settings:
        for alias, name in UPLOAD_ALIASES.items():
            object.__setattr__(self.ops, alias, getattr(self.api, name))
        return self

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        # The file's contents arrive as init kwargs; the environment must win over them.
        return (env_settings, init_settings)


def resolve_config_path(path: Path | None) -> Path | None:
    """Which file to read: the argument, the env variable, or ./campaign-engine.toml."""
    if path is not None:
        return path
    from_env = os.environ.get(CONFIG_ENV)
    if from_env:
        return Path(from_env)
    return DEFAULT_CONFIG_FILE if DEFAULT_CONFIG_FILE.is_file() else None


def _read_toml(path: Path) -> dict[str, Any]:
    try:
        with path.open("rb") as handle:
            return tomllib.load(handle)
    except FileNotFoundError:
        raise ConfigError(f"{path}: config file not found") from None
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"{path}: not valid TOML: {exc}") from None
    except OSError as exc:
        raise ConfigError(f"{path}: cannot read: {exc.strerror}") from None


def _apply_secret_env(data: dict[str, Any]) -> None:
    for key, env_name in SECRET_ENV.items():
        value = os.environ.get(env_name)
        if value:
            data.setdefault("vocobase", {})[key] = value
    ops_token = os.environ.get(OPS_TOKEN_ENV)
    if ops_token:
        data.setdefault("ops", {})["token"] = ops_token


def _describe(exc: ValidationError, source: str) -> str:
    lines = [f"{source}: invalid configuration"]
    for error in exc.errors():
        key = ".".join(str(part) for part in error["loc"]) or "(top level)"
        lines.append(f"  {key}: {error['msg']}")
    return "\n".join(lines)


def load_settings(path: Path | None = None) -> Settings:
    """Read the settings from the file (see :func:`resolve_config_path`) and the environment."""
    resolved = resolve_config_path(path)
    data: dict[str, Any] = _read_toml(resolved) if resolved is not None else {}
    _apply_secret_env(data)
    source = str(resolved) if resolved is not None else "built-in defaults"
    try:
        return Settings(**data)
    except ValidationError as exc:
        raise ConfigError(_describe(exc, source)) from None


def with_overrides(settings: Settings, **sections: dict[str, Any]) -> Settings:
    """A copy of ``settings`` with some keys replaced, validated again (demo and tests).

    Re-validation goes around the environment on purpose: what the caller sets here is final
    (the environment already had its say in ``settings``).
    """
    data = settings.model_dump()
    moved = _move_upload_aliases({"ops": sections.get("ops", {}), "api": sections.get("api", {})})
    sections = {**sections, **{key: moved[key] for key in ("ops", "api") if moved[key]}}
    for section, values in sections.items():
        data[section] = {**data[section], **values}
    try:
        checked = _GivenValuesOnly(**data)
    except ValidationError as exc:
        raise ConfigError(_describe(exc, "overrides")) from None
    return Settings.model_construct(
        _fields_set=checked.model_fields_set, **{name: getattr(checked, name) for name in data}
    )


class _GivenValuesOnly(Settings):
    """Validates like :class:`Settings` but reads no environment. (``Settings`` itself reads
    it on every validation, ``model_validate`` included, and would let a variable undo an
    override: the demo's own Redis replaced by the unreachable one it stands in for.)"""

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        return (init_settings,)
