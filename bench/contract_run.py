"""One campaign against the simulator at its documented defaults, time-scaled: what the
contract benchmarks (outcome fidelity, makespan, slot refill) share.

Time runs ``speedup`` times faster than Vocobase's: the simulator's call times, processing
and webhook retries (``time_scale = 1 / speedup``) and its rate window (60 s / speedup).
The engine is told the same scaled window, and every setting of it that stands for real
seconds of Vocobase (or carrier) behaviour is divided by it (:data:`SCALED_SETTINGS`).
The engine runs in-process (scheduler and webhook server) plus ``workers`` worker
processes, as in limit_fidelity. "Unscaled seconds" are measured seconds x ``speedup``.
"""

from __future__ import annotations

import asyncio
import itertools
import tempfile
import time
from dataclasses import dataclass, field, fields
from datetime import datetime
from pathlib import Path
from typing import Any

from sqlalchemy import select

from bench.support import REDIS_URL, free_port, redis_prefix, wait_completed
from campaign_engine.campaigns import service
from campaign_engine.campaigns.outcome_classes import Outcome
from campaign_engine.campaigns.retry_policy import RetryPolicy, RetryRule
from campaign_engine.config import Settings, with_overrides
from campaign_engine.contacts.row_checks import Accepted
from campaign_engine.contacts.store import insert_batch
from campaign_engine.db.models import CallAttempt, Campaign, utcnow
from campaign_engine.runner import Services
from campaign_engine.runtime import Runtime
from campaign_engine.simulator import Simulator, SimulatorConfig
from campaign_engine.simulator.cli import serve_in_background
from campaign_engine.simulator.knobs import DEFAULT_AGENT_ID
from campaign_engine.simulator.ledger import Ledger
from campaign_engine.spawn import worker_processes

KEY = "rg_live_bench"
SECRET = "whsec_bench"
PROVIDER = "mcube"
# Engine settings in real seconds of Vocobase behaviour, unscaled (the engine's defaults).
SCALED_SETTINGS: dict[str, float] = {
    "scheduler.tick_seconds": 1.0,
    "scheduler.dispatch_ahead_seconds": 2.0,
    "scheduler.live_scan_seconds": 2.0,
    "scheduler.outcome_wait_seconds": 15.0,
    "scheduler.webhook_grace_seconds": 10.0,
    "scheduler.outcome_wait_max_seconds": 600.0,
    "scheduler.reconcile_after_seconds": 120.0,
    "scheduler.unknown_grace_seconds": 90.0,
    "scheduler.expire_after_seconds": 600.0,
    "limits.cooldown_seconds": 5.0,
}
# Short, yet not scaled (a busy machine must not time ordinary starts out); "slow" exceeds it.
REQUEST_TIMEOUT_SECONDS = 2.0
SLOW_SECONDS = REQUEST_TIMEOUT_SECONDS + 1.0
_BLOCKS = itertools.count()


def retry_once(delay_seconds: float) -> RetryPolicy:
    """Voicemail, no answer, busy: retried once after ``delay_seconds`` (real); others final."""
    retried = {Outcome.VOICEMAIL, Outcome.NO_ANSWER, Outcome.BUSY}
    rules = {
        outcome: RetryRule(retry=outcome in retried, max_retries=1, delay_seconds=delay_seconds)
        for outcome in (*retried, Outcome.FAILED, Outcome.USER_HANGUP_NO_SPEECH)
    }
    return RetryPolicy(max_attempts=2, rules=rules)


@dataclass(frozen=True)
class Scenario:
    contacts: int
    speedup: float
    # SimulatorConfig fields beyond its defaults, in unscaled (Vocobase) seconds.
    faults: dict[str, Any] = field(default_factory=dict)
    retry: RetryPolicy = field(default_factory=lambda: RetryPolicy(max_attempts=1))
    workers: int = 2
    seed: int = 11
    timeout_seconds: float = 240.0

    @property
    def time_scale(self) -> float:
        return 1 / self.speedup

    @property
    def window_seconds(self) -> float:
        return 60 / self.speedup


@dataclass(frozen=True)
class AttemptRow:
    call_id: str | None
    to_number: str
    attempt_number: int
    state: str
    call_status: str | None
    disposition: str | None
    answered_by: str | None
    outcome: str | None
    outcome_source: str | None
    failure_kind: str | None
    claimed_at: datetime
    started_at: datetime | None
    ended_at: datetime | None


@dataclass
class RunResult:
    scenario: Scenario
    config: SimulatorConfig
    ledger: Ledger
    attempts: list[AttemptRow]
    completed: bool
    started_at: datetime | None
    finished_at: datetime | None
    wall_seconds: float
    numbers: list[str]

    @property
    def makespan_seconds(self) -> float | None:
        if self.started_at and self.finished_at:
            return (self.finished_at - self.started_at).total_seconds()
        return None

    def limits(self) -> dict[str, Any]:
        """The simulator's high-water marks and fault counts (its ledger, without calls)."""
        return {key: value for key, value in self.ledger.to_dict().items() if key != "calls"}


def simulator_config(scenario: Scenario, webhook_url: str) -> SimulatorConfig:
    """Defaults (the documented behaviour) + the faults, time scaled (not slow_seconds)."""
    return SimulatorConfig(
        api_key=KEY,
        webhook_secret=SECRET,
        webhook_url=webhook_url,
        seed=scenario.seed,
        slow_seconds=SLOW_SECONDS,
        time_scale=scenario.time_scale,
        rate_window_seconds=scenario.window_seconds,
        **scenario.faults,
    )


def engine_settings(
    config: SimulatorConfig, database_url: str, prefix: str, sim_url: str, port: int
) -> Settings:
    """The engine against this simulator: its limits, and its timing scaled like it."""
    speedup, window = 1 / config.time_scale, config.rate_window_seconds
    scaled: dict[str, dict[str, Any]] = {"scheduler": {}, "limits": {}}
    for name, seconds in SCALED_SETTINGS.items():
        section, key = name.split(".")
        scaled[section][key] = seconds / speedup
    # The carrier's own rate (real seconds) would bind artificially in scaled time.
    carrier = Settings().limits.providers[PROVIDER].calls_per_second * speedup
    return with_overrides(
        Settings(),
        database={"url": database_url},
        redis={"url": REDIS_URL, "prefix": prefix},
        vocobase={
            "base_url": sim_url,
            "api_key": KEY,
            "webhook_secret": SECRET,
            "timeout_seconds": REQUEST_TIMEOUT_SECONDS,
        },
        server={"port": port},
        limits={
            "vocobase": {
                "calls_per_minute": round(config.calls_per_minute * 60 / window),
                "general_per_minute": config.general_per_minute,
                "window_seconds": window,
                "concurrency": "auto",
            },
            "providers": {PROVIDER: {"calls_per_second": carrier}},
            **scaled["limits"],
        },
        scheduler=scaled["scheduler"],
    )


def settings_note(scenario: Scenario) -> dict[str, Any]:
    return {
        "speedup": scenario.speedup,
        "time_scale": round(scenario.time_scale, 6),
        "rate_window_seconds": round(scenario.window_seconds, 4),
        "engine_settings_divided_by_speedup": [
            *sorted(SCALED_SETTINGS),
            f"limits.providers.{PROVIDER}.calls_per_second (multiplied)",
        ],
        "engine_request_timeout_seconds": REQUEST_TIMEOUT_SECONDS,
        "slow_seconds_real": SLOW_SECONDS,
        "workers": scenario.workers,
    }


async def run_scenario(scenario: Scenario, database_url: str) -> RunResult:
    async with redis_prefix() as prefix:
        port = free_port()
        config = simulator_config(scenario, f"http://127.0.0.1:{port}/webhooks/vocobase")
        async with serve_in_background(config) as (sim_url, simulator):
            settings = engine_settings(config, database_url, prefix, sim_url, port)
            runtime = await Runtime.open(settings)
            services = Services(runtime, worker=False, port=port)
            await services.start()
            try:
                with tempfile.TemporaryDirectory(prefix="ce-bench-") as logs:
                    async with worker_processes(settings, scenario.workers, Path(logs)):
                        await _workers_ready(runtime)
                        began = time.monotonic()
                        campaign_id, numbers = await _campaign(runtime, scenario)
                        completed = await wait_completed(
                            runtime, campaign_id, scenario.timeout_seconds, poll=0.05
                        )
                        wall = time.monotonic() - began
                        await _settle(simulator, scenario)
                        attempts, campaign = await _read(runtime, campaign_id)
            finally:
                await services.stop()
                await runtime.close()
    return RunResult(
        scenario=scenario,
        config=config,
        ledger=simulator.ledger,
        attempts=attempts,
        completed=completed,
        started_at=campaign.started_at,
        finished_at=campaign.finished_at,
        wall_seconds=wall,
        numbers=numbers,
    )


async def _campaign(runtime: Runtime, scenario: Scenario) -> tuple[str, list[str]]:
    # Fresh numbers for every run: runs sharing a database share the daily cap per number.
    block = next(_BLOCKS)
    numbers = [f"+918{block:03d}{i:06d}" for i in range(scenario.contacts)]
    async with runtime.sessions() as session, session.begin():
        campaign = await service.create_campaign(
            session,
            name="bench-contract",
            agent_id=DEFAULT_AGENT_ID,
            provider=PROVIDER,
            retry_policy=scenario.retry,
        )
        rows = [
            Accepted(i + 2, number, "IN", ("Asia/Calcutta",), {"name": f"N{i}"})
            for i, number in enumerate(numbers)
        ]
        await insert_batch(session, campaign.id, rows, due_at=utcnow())
        await service.check_with_vocobase(campaign, runtime.vocobase)
    async with runtime.sessions() as session, session.begin():
        await service.start_campaign(session, campaign.id, None)
    return campaign.id, numbers


async def _workers_ready(runtime: Runtime) -> None:
    """Start the campaign once the workers poll their queue (not while they import)."""
    for _ in range(600):
        if await runtime.redis.exists(f"{runtime.keys.prefix}:worker-health"):
            break
        await asyncio.sleep(0.05)
    await asyncio.sleep(0.5)


async def _settle(simulator: Simulator, scenario: Scenario) -> None:
    """Let webhooks still on their way (duplicates, late ones) land and be applied."""
    for _ in range(600):
        if not simulator.webhooks.in_flight:
            break
        await asyncio.sleep(0.05)
    await asyncio.sleep(max(0.5, 5 / scenario.speedup))


async def _read(runtime: Runtime, campaign_id: str) -> tuple[list[AttemptRow], Campaign]:
    async with runtime.sessions() as session:
        rows = (
            await session.scalars(
                select(CallAttempt)
                .where(CallAttempt.campaign_id == campaign_id)
                .order_by(CallAttempt.id)
            )
        ).all()
        campaign = await session.get_one(Campaign, campaign_id)
        names = [f.name for f in fields(AttemptRow)]
        attempts = [AttemptRow(**{name: getattr(row, name) for name in names}) for row in rows]
    return attempts, campaign
