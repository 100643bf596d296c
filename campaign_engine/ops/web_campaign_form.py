"""The console's campaign form, to create a campaign or change its limits, schedule and
retry policy: the form's fields become the same dictionaries a schedule or retry TOML file
holds, read by the same functions (``parse_schedule``, ``parse_retry_policy``), so the
console accepts and refuses exactly what the files do, with the same messages.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from campaign_engine.campaigns.files import parse_retry_policy
from campaign_engine.campaigns.preset_warning import preset_warning
from campaign_engine.campaigns.presets import PRESETS
from campaign_engine.campaigns.retry_policy import RETRYABLE, RetryPolicy
from campaign_engine.campaigns.schedule import Schedule, from_json, parse_schedule
from campaign_engine.campaigns.schedule_values import CALLEE, WEEKDAYS
from campaign_engine.campaigns.service import CampaignError, get_campaign
from campaign_engine.campaigns.windows import local_date
from campaign_engine.db.models import Campaign, utcnow
from campaign_engine.journal.audit import record

OUTCOMES = tuple(outcome.value for outcome in RETRYABLE)
WORKDAYS = WEEKDAYS[:5]


def duration_text(seconds: float) -> str:
    """900 -> "15m", 86400 -> "1d": what the form shows and ``parse_duration`` reads back."""
    whole = int(seconds)
    if whole != seconds:
        return f"{seconds:g}s"
    for unit, size in (("d", 86400), ("h", 3600), ("m", 60)):
        if whole and whole % size == 0:
            return f"{whole // size}{unit}"
    return f"{whole}s"


@dataclass
class RuleFields:
    retry: bool
    max_retries: int | str
    delay: str
    backoff: str
    max_delay: str
    jitter: float | str


@dataclass
class CampaignFields:
    """The form's values, as shown (from a campaign, the defaults, or what was posted)."""

    name: str = ""
    agent_id: str = ""
    provider: str = "mcube"
    connection_id: str = ""
    default_region: str = ""
    max_concurrent: str = ""
    calls_per_minute: str = ""
    priority: str = "1"
    scheduled: bool = False
    preset: str = ""
    windows: str = ""
    timezone: str = ""
    days: tuple[str, ...] = WORKDAYS
    blackout_dates: str = ""
    start: str = ""
    end: str = ""
    max_attempts: str = "4"
    voicemail_once: bool = False
    rules: dict[str, RuleFields] = field(default_factory=dict)


def _rules_of(policy: RetryPolicy) -> dict[str, RuleFields]:
    return {
        outcome.value: RuleFields(
            rule.retry,
            rule.max_retries,
            duration_text(rule.delay_seconds),
            rule.backoff,
            duration_text(rule.max_delay_seconds),
            rule.jitter,
        )
        for outcome, rule in policy.rules.items()
        if outcome.value in OUTCOMES
    }


def fields_of(campaign: Campaign | None) -> CampaignFields:
    """What the form shows first: the campaign as it is, or a new campaign's defaults."""
    policy = RetryPolicy.model_validate(campaign.retry_policy) if campaign else RetryPolicy()
    shown = CampaignFields(
        max_attempts=str(policy.max_attempts),
        voicemail_once=policy.voicemail_once,
        rules=_rules_of(policy),
    )
    if campaign is None:
        return shown
    shown.name, shown.agent_id, shown.provider = campaign.name, campaign.agent_id, campaign.provider
    shown.max_concurrent = str(campaign.max_concurrent or "")
    shown.calls_per_minute = str(campaign.calls_per_minute or "")
    shown.priority = str(campaign.priority)
    schedule = from_json(campaign.schedule)
    if schedule is not None:
        data = schedule.to_json()
        shown.scheduled = True
        shown.preset = data["preset"] or ""
        shown.windows = ", ".join(data["windows"])
        shown.timezone = "" if data["timezone"] == CALLEE else data["timezone"] or ""
        shown.days = tuple(data["days"])
        shown.blackout_dates = ", ".join(data["blackout_dates"])
        shown.start, shown.end = data["start"] or "", data["end"] or ""
    return shown


POSTED_TEXT = (
    "name", "agent_id", "provider", "connection_id", "default_region", "max_concurrent",
    "calls_per_minute", "priority", "preset", "windows", "timezone", "blackout_dates",
    "start", "end", "max_attempts",
)  # fmt: skip


def fields_posted(form: dict[str, str]) -> CampaignFields:
    """The form as posted, to show again with its error."""
    shown = CampaignFields(
        scheduled=form.get("scheduled") == "yes",
        days=tuple(day for day in WEEKDAYS if form.get(f"day:{day}")),
        voicemail_once=form.get("voicemail_once") == "yes",
    )
    for key in POSTED_TEXT:
        setattr(shown, key, form.get(key, ""))
    shown.rules = {
        o: RuleFields(
            form.get(f"{o}.retry") == "yes",
            form.get(f"{o}.max_retries", ""),
            form.get(f"{o}.delay", ""),
            form.get(f"{o}.backoff", "fixed"),
            form.get(f"{o}.max_delay", ""),
            form.get(f"{o}.jitter", ""),
        )
        for o in OUTCOMES
    }
    return shown


def _listed(text: str) -> list[str]:
    return [item.strip() for item in text.split(",") if item.strip()]


def _number(form: dict[str, str], key: str, what: str) -> int | None:
    text = form.get(key, "").strip()
    if not text:
        return None
    try:
        return int(text)
    except ValueError:
        raise CampaignError(f"{what}: expected a whole number, got {text!r}") from None


def schedule_from(form: dict[str, str]) -> Schedule | None:
    """The schedule the form describes (None: call at any time); ScheduleError names the
    field like a schedule file's key."""
    if form.get("scheduled") != "yes":
        return None
    data: dict[str, Any] = {"days": [day for day in WEEKDAYS if form.get(f"day:{day}")]}
    for key in ("preset", "timezone", "start", "end"):
        if form.get(key, "").strip():
            data[key] = form[key].strip()
    for key in ("windows", "blackout_dates"):
        if _listed(form.get(key, "")):
            data[key] = _listed(form[key])
    return parse_schedule(data)


def policy_from(form: dict[str, str]) -> RetryPolicy:
    """The retry policy the form describes, read as a retry file is (ValueError names the
    outcome and key)."""
    data: dict[str, Any] = {"voicemail_once": form.get("voicemail_once") == "yes"}
    attempts = _number(form, "max_attempts", "max_attempts")
    if attempts is not None:
        data["max_attempts"] = attempts
    for outcome in OUTCOMES:
        rule: dict[str, Any] = {"retry": form.get(f"{outcome}.retry") == "yes"}
        for key in ("max_retries", "delay", "backoff", "max_delay", "jitter"):
            value = form.get(f"{outcome}.{key}", "").strip()
            if value:
                rule[key] = value
        data[outcome] = rule
    return parse_retry_policy(data)


def limits_from(form: dict[str, str]) -> tuple[int | None, int | None]:
    return (
        _number(form, "max_concurrent", "calls at once"),
        _number(form, "calls_per_minute", "calls per minute"),
    )


def warning_for(schedule: Schedule | None) -> str | None:
    """The callee-time explanation for a pinned zone under a callee-clock preset."""
    if schedule is None:
        return None
    return preset_warning(schedule, on=local_date(schedule.home_zone, utcnow()))


def schedule_summary(schedule: Schedule | None) -> str:
    if schedule is None:
        return "any time (no schedule)"
    data = schedule.to_json()
    pinned = data["timezone"] not in (None, "", CALLEE)
    clock = f"{data['timezone']} time" if pinned else "each callee's own time"
    text = f"{', '.join(data['windows']) or 'all day'} on {', '.join(data['days'])}, {clock}"
    if data["preset"]:
        text += f", within preset {data['preset']}"
    return text


async def apply_edit(
    session: AsyncSession,
    campaign_id: str,
    *,
    max_concurrent: int | None,
    calls_per_minute: int | None,
    policy: RetryPolicy,
    actor: str,
) -> Campaign:
    """Change the campaign's limits and retry policy (audited as ``campaign.edit``); the
    schedule goes through ``service.set_schedule``, which moves waiting contacts."""
    for value, what in ((max_concurrent, "calls at once"), (calls_per_minute, "calls per minute")):
        if value is not None and value <= 0:
            raise CampaignError(f"{what} must be a positive number, got {value}")
    campaign = await get_campaign(session, campaign_id)
    before = {
        "max_concurrent": campaign.max_concurrent,
        "calls_per_minute": campaign.calls_per_minute,
        "retry_policy": campaign.retry_policy,
    }
    campaign.max_concurrent = max_concurrent
    campaign.calls_per_minute = calls_per_minute
    campaign.retry_policy = policy.model_dump(mode="json")
    after = {
        "max_concurrent": max_concurrent,
        "calls_per_minute": calls_per_minute,
        "retry_policy": campaign.retry_policy,
    }
    changed = sorted(key for key in after if after[key] != before[key])
    await record(
        session,
        actor=actor,
        action="campaign.edit",
        target_type="campaign",
        target_id=campaign_id,
        details={"changed": changed},
    )
    await session.flush()
    return campaign


PRESET_CHOICES = tuple(PRESETS.values())
FIXED_ZONE_PRESETS = ", ".join(p.name for p in PRESET_CHOICES if p.timezone)
