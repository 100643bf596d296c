"""The operator's TOML files for a campaign: its schedule and its retry policy.

Every problem is reported as ``FILE: key: problem`` so the operator knows what to fix
without reading code. The retry file::

    max_attempts = 4          # hard cap on attempts per contact, every class together
    voicemail_once = false    # true: the first voicemail is the contact's last call

    [no_answer]               # also: busy, voicemail, failed, user_hangup_no_speech
    retry = true
    max_retries = 2           # this class's own budget
    delay = "2h"              # seconds, or "90s", "15m", "2h", "1d"
    backoff = "exponential"   # or "fixed"
    multiplier = 2.0
    max_delay = "1d"
    jitter = 0.1              # +/- this share of the delay

A class left out keeps its default rule; keys left out of a class keep its default values.
"""

from __future__ import annotations

import re
import tomllib
from pathlib import Path
from typing import Any

from pydantic import ValidationError

from campaign_engine.campaigns.outcome_classes import Outcome
from campaign_engine.campaigns.retry_policy import RETRYABLE, RetryPolicy, RetryRule
from campaign_engine.campaigns.schedule import Schedule, parse_schedule
from campaign_engine.campaigns.schedule_values import ScheduleError

_DURATION = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*([smhd]?)\s*$")
_UNIT_SECONDS = {"": 1, "s": 1, "m": 60, "h": 3600, "d": 86400}
_RULE_KEYS = {
    "retry": "retry",
    "max_retries": "max_retries",
    "delay": "delay_seconds",
    "backoff": "backoff",
    "multiplier": "multiplier",
    "max_delay": "max_delay_seconds",
    "jitter": "jitter",
}


class CampaignFileError(ValueError):
    """A schedule or retry file that cannot be used; the message names file, key, problem."""


def read_toml(path: Path) -> dict[str, Any]:
    try:
        with path.open("rb") as handle:
            return tomllib.load(handle)
    except FileNotFoundError:
        raise CampaignFileError(f"{path}: file not found") from None
    except tomllib.TOMLDecodeError as exc:
        raise CampaignFileError(f"{path}: not valid TOML: {exc}") from None
    except OSError as exc:
        raise CampaignFileError(f"{path}: cannot read: {exc.strerror}") from None


def load_schedule(path: Path) -> Schedule:
    try:
        return parse_schedule(read_toml(path))
    except ScheduleError as exc:
        raise CampaignFileError(f"{path}: {exc}") from None


def load_retry_policy(path: Path) -> RetryPolicy:
    try:
        return parse_retry_policy(read_toml(path))
    except ValueError as exc:
        if isinstance(exc, CampaignFileError):
            raise
        raise CampaignFileError(f"{path}: {exc}") from None


def parse_duration(value: Any) -> float:
    """Seconds from a number or a text such as ``"90s"``, ``"15m"``, ``"2h"``, ``"1d"``."""
    if isinstance(value, bool):
        raise ValueError(f'expected a duration such as 900 or "15m", got {value!r}')
    if isinstance(value, int | float):
        return float(value)
    match = _DURATION.match(value) if isinstance(value, str) else None
    if match is None:
        raise ValueError(f'expected a duration such as 900 or "15m", got {value!r}')
    return float(match.group(1)) * _UNIT_SECONDS[match.group(2)]


def parse_retry_policy(data: dict[str, Any]) -> RetryPolicy:
    """The policy a retry file describes, on top of the defaults."""
    defaults = RetryPolicy()
    classes = {outcome.value: outcome for outcome in RETRYABLE}
    top: dict[str, Any] = {}
    rules = dict(defaults.rules)
    for key, value in data.items():
        if key in ("max_attempts", "voicemail_once"):
            top[key] = value
        elif key == Outcome.COMPLETED.value:
            raise ValueError(f"{key}: a completed conversation is never retried")
        elif key in classes:
            if not isinstance(value, dict):
                raise ValueError(f"{key}: expected a table ([{key}]) of rule keys")
            rules[classes[key]] = _rule(key, value, rules[classes[key]])
        else:
            expected = ", ".join(["max_attempts", "voicemail_once", *classes])
            raise ValueError(f"{key}: unknown key (expected one of {expected})")
    try:
        return RetryPolicy(**top, rules=rules)
    except ValidationError as exc:
        raise ValueError(_first_problem(exc, "")) from None


def _rule(name: str, data: dict[str, Any], base: RetryRule) -> RetryRule:
    values = base.model_dump()
    for key, value in data.items():
        field = _RULE_KEYS.get(key)
        if field is None:
            raise ValueError(f"{name}.{key}: unknown key (expected one of {', '.join(_RULE_KEYS)})")
        if field.endswith("_seconds"):
            try:
                value = parse_duration(value)
            except ValueError as exc:
                raise ValueError(f"{name}.{key}: {exc}") from None
        values[field] = value
    try:
        return RetryRule.model_validate(values)
    except ValidationError as exc:
        raise ValueError(_first_problem(exc, f"{name}.")) from None


def _first_problem(exc: ValidationError, prefix: str) -> str:
    error = exc.errors()[0]
    field = str(error["loc"][0]) if error["loc"] else "(top level)"
    reverse = {model: key for key, model in _RULE_KEYS.items()}
    return f"{prefix}{reverse.get(field, field)}: {error['msg']}"
