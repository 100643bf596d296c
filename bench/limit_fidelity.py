"""Limit fidelity: do 4 worker processes together use the limits fully, and never exceed them?

The simulator runs at the documented limits — 10 ``/calls/*`` requests per minute,
concurrency 5 — with time scaled by ``TIME_SCALE`` (the rate window is 60 s / TIME_SCALE, and
the engine is configured with the same scaled rate), so minutes of dialing take seconds.
Two scenarios, each with a backlog of contacts and no retries:

- *rate-bound*: short calls, so the request rate is the binding limit. Result: achieved
  ``/calls/*`` request rate / allowed rate (target ≥ 0.98). The documented budget is shared:
  starts and the polls that free the slots of ended calls (``GET /calls``, ``GET
  /calls/{id}``, ``GET /calls/concurrency``) draw on the same 10 a minute, so every
  ``/calls/*`` request the simulator accepted between the second and the last start counts
  as used budget (``rate_ratio``); ``start_ratio`` is the starts' share alone (what this
  benchmark measured before, which no engine could bring to 0.98 while it must poll).
- *concurrency-bound*: calls long enough that all 5 slots stay busy. Result: mean busy slots
  / limit while a backlog exists (target ≥ 0.95), sampled from the simulator's own count of
  active calls, from the moment the slots first fill (before that, the rate limit is what
  keeps them empty).

Both report 429 responses (target 0).
"""

from __future__ import annotations

import asyncio
import tempfile
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

from bench.support import REDIS_URL, free_port, redis_prefix, throwaway_postgres, wait_completed
from campaign_engine.campaigns import service
from campaign_engine.campaigns.retry_policy import RetryPolicy
from campaign_engine.config import Settings, with_overrides
from campaign_engine.contacts.row_checks import Accepted
from campaign_engine.contacts.store import insert_batch
from campaign_engine.db.models import utcnow
from campaign_engine.runner import Services
from campaign_engine.runtime import Runtime
from campaign_engine.simulator import Simulator, SimulatorConfig
from campaign_engine.simulator.cli import serve_in_background
from campaign_engine.simulator.knobs import SimAgent
from campaign_engine.simulator.ledger import utc_now
from campaign_engine.spawn import worker_processes

TIME_SCALE = 4
REQUESTS_PER_WINDOW = 10  # documented: 10 per minute on /calls/*
WINDOW_SECONDS = 60 / TIME_SCALE
CONCURRENCY = 5
WORKERS = 4
AGENT_ID = "00000000-0000-4000-8000-0000000000bb"
KEY = "rg_live_bench"
SECRET = "whsec_bench"
SAMPLE_SECONDS = 0.02


async def run(smoke: bool) -> dict[str, Any]:
    rate_contacts, slot_contacts = (16, 12) if smoke else (80, 40)
    async with throwaway_postgres() as database_url:
        # Calls far shorter than 5 slots x the request spacing: the rate binds.
        rate = await _scenario(database_url, rate_contacts, talk=(0.4, 0.8))
        # Calls far longer: the 5 slots bind, and every gap in their use is the engine's.
        slots = await _scenario(database_url, slot_contacts, talk=(12.0, 14.0))
    rate_ratio = rate["requests_per_s"] / rate["allowed_per_s"]
    start_ratio = rate["achieved_per_s"] / rate["allowed_per_s"]
    utilisation = slots["busy_slots_mean"] / CONCURRENCY
    no_429 = rate["responses_429"] == 0 and slots["responses_429"] == 0
    return {
        "ok": bool(rate["completed"] and slots["completed"]),
        "time_scale": TIME_SCALE,
        "workers": WORKERS,
        "rate_ratio": round(rate_ratio, 4),
        "start_ratio": round(start_ratio, 4),
        "rate_target": 0.98,
        "slot_utilisation": round(utilisation, 4),
        "slot_target": 0.95,
        "responses_429": rate["responses_429"] + slots["responses_429"],
        "targets_met": rate_ratio >= 0.98 and utilisation >= 0.95 and no_429,
        "rate_bound": rate,
        "concurrency_bound": slots,
    }


def _simulator(talk: tuple[float, float]) -> SimulatorConfig:
    return SimulatorConfig(
        api_key=KEY,
        webhook_secret=SECRET,
        agents=[SimAgent(agent_id=AGENT_ID, name="bench", variables=["name"])],
        calls_per_minute=REQUESTS_PER_WINDOW,
        rate_window_seconds=WINDOW_SECONDS,
        general_per_minute=1000,
        concurrency=CONCURRENCY,
        time_scale=1.0,
        ring_seconds=(0.1, 0.2),
        talk_seconds=talk,
        outcome_mix={"completed": 1},
        seed=5,
    )


def _settings(database_url: str, prefix: str, sim_url: str, port: int) -> Settings:
    return with_overrides(
        Settings(),
        database={"url": database_url},
        redis={"url": REDIS_URL, "prefix": prefix},
        vocobase={"base_url": sim_url, "api_key": KEY, "webhook_secret": SECRET},
        server={"port": port},
        limits={
            "vocobase": {
                "calls_per_minute": REQUESTS_PER_WINDOW * TIME_SCALE,
                "window_seconds": WINDOW_SECONDS,
                "concurrency": "auto",
            },
        },
        scheduler={"tick_seconds": 0.2},
    )


async def _scenario(database_url: str, contacts: int, talk: tuple[float, float]) -> dict[str, Any]:
    port = free_port()
    config = _simulator(talk)
    config.webhook_url = f"http://127.0.0.1:{port}/webhooks/vocobase"
    async with (
        redis_prefix() as prefix,
        serve_in_background(config) as (sim_url, simulator),
    ):
        settings = _settings(database_url, prefix, sim_url, port)
        runtime = await Runtime.open(settings)
        services = Services(runtime, worker=False, port=port)
        await services.start()
        try:
            with tempfile.TemporaryDirectory(prefix="ce-bench-") as logs:
                async with worker_processes(settings, WORKERS, Path(logs)):
                    campaign_id = await _campaign(runtime, contacts)
                    samples = await _sample_until_dialed(simulator, contacts)
                    completed = await wait_completed(runtime, campaign_id, 120)
        finally:
            await services.stop()
            await runtime.close()
    return _measures(simulator, samples, contacts, completed)


async def _campaign(runtime: Runtime, contacts: int) -> str:
    async with runtime.sessions() as session, session.begin():
        campaign = await service.create_campaign(
            session, name="bench", agent_id=AGENT_ID, retry_policy=RetryPolicy(max_attempts=1)
        )
        rows = [
            Accepted(i + 2, f"+9196{i:08d}", "IN", ("Asia/Calcutta",), {"name": f"N{i}"})
            for i in range(contacts)
        ]
        await insert_batch(session, campaign.id, rows, due_at=utcnow())
        await service.check_with_vocobase(campaign, runtime.vocobase)
    async with runtime.sessions() as session, session.begin():
        await service.start_campaign(session, campaign.id, None)
    return campaign.id


@dataclass
class Samples:
    """Taken every ``SAMPLE_SECONDS`` while a backlog exists: busy slots, and the count of
    ``/calls/*`` requests the simulator accepted so far (with the moment it was read)."""

    busy: list[int] = field(default_factory=list)
    requests: list[tuple[datetime, int]] = field(default_factory=list)

    def requests_by(self, moment: datetime) -> int:
        """Requests accepted by the first sample at or after ``moment``."""
        return next((n for at, n in self.requests if at >= moment), self.requests[-1][1])


async def _sample_until_dialed(simulator: Simulator, contacts: int) -> Samples:
    """Sampled while some contact has not been dialed yet (the backlog), and once after."""
    samples = Samples()
    while True:
        dialed = len(simulator.ledger.calls) >= contacts
        samples.busy.append(simulator.calls.active_count())
        samples.requests.append((utc_now(), simulator.ledger.calls_requests_accepted))
        if dialed:
            return samples
        await asyncio.sleep(SAMPLE_SECONDS)


def _measures(
    simulator: Simulator, sampled: Samples, contacts: int, completed: bool
) -> dict[str, Any]:
    ledger = simulator.ledger
    starts = sorted(call.created_at for call in ledger.calls)
    # Steady state: after the first request (GCRA starts with a full token).
    span = (starts[-1] - starts[1]).total_seconds() if len(starts) > 2 else 0.0
    achieved = (len(starts) - 2) / span if span else 0.0
    requests = sampled.requests_by(starts[-1]) - sampled.requests_by(starts[1]) if span else 0
    samples = sampled.busy[:-1]  # the last one is taken once every contact was dialed
    filled = next((i for i, busy in enumerate(samples) if busy >= CONCURRENCY), len(samples))
    steady = samples[filled:]
    return {
        "completed": completed,
        "contacts": contacts,
        "calls_placed": len(starts),
        "allowed_per_s": round(REQUESTS_PER_WINDOW / WINDOW_SECONDS, 4),
        "achieved_per_s": round(achieved, 4),
        "requests_in_span": requests,
        "requests_per_s": round(requests / span, 4) if span else 0.0,
        "busy_slots_mean": round(sum(steady) / len(steady), 3) if steady else 0.0,
        "busy_slots_mean_with_rampup": round(sum(samples) / len(samples), 3) if samples else 0,
        "peak_concurrency": ledger.peak_concurrency,
        "max_requests_in_window": ledger.max_calls_requests_in_window,
        "responses_429": sum(ledger.responses_429.values()),
    }
