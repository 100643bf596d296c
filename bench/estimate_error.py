"""Estimate error: the finish ``campaign preflight`` gives at start versus the real finish,
for a campaign bound by each of the rate, the concurrency and the calling windows.

Run against the bundled simulator time-scaled like the contract benchmarks
(:mod:`bench.contract_run`: ``SPEEDUP`` times faster, the engine's Vocobase-time settings
divided by it). Every call lasts the agent's maximum (60 s of Vocobase time, talk capped by
the agent), so the estimate's call length before any call ended — the agent's maximum,
divided by the speedup like every other Vocobase duration — is the calls' true length;
outcomes are all ``completed`` and post-call processing is instant (the estimate knows
nothing of Vocobase's processing time). The ETA is taken the way ``campaign preflight``
takes it: :func:`~campaign_engine.campaigns.preflight.preflight` with the partner
concurrency the running engine learned, just after ``campaign start``.

- ``rate``: Vocobase allows few starts a minute and many at once;
- ``concurrency``: 3 calls at once, a generous rate;
- ``windows``: the campaign's window (a zone pinned to UTC) opens at the next whole minute
  but one; the work itself is rate bound and short.

Error = |real finish - ETA| / (real finish - start). Target: within 15% for each.
"""

from __future__ import annotations

import itertools
import math
import tempfile
import time
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

from bench.contract_run import (
    PROVIDER,
    Scenario,
    _workers_ready,
    engine_settings,
    settings_note,
    simulator_config,
)
from bench.support import free_port, redis_prefix, throwaway_postgres, wait_completed
from campaign_engine.campaigns import service
from campaign_engine.campaigns.preflight import preflight
from campaign_engine.campaigns.schedule import parse_schedule
from campaign_engine.contacts.row_checks import Accepted
from campaign_engine.contacts.store import insert_batch
from campaign_engine.db.models import Campaign, utcnow
from campaign_engine.limits.adaptive import read_limit_state
from campaign_engine.runner import Services
from campaign_engine.runtime import Runtime
from campaign_engine.simulator import SimulatorConfig
from campaign_engine.simulator.cli import serve_in_background
from campaign_engine.simulator.knobs import DEFAULT_AGENT_ID, SimAgent
from campaign_engine.spawn import worker_processes

SPEEDUP = 10.0
CALL_SECONDS = 60  # unscaled: the agent's maximum, and every call's length
TARGET = 0.15
_BLOCKS = itertools.count()


def _faults(calls_per_minute: int, concurrency: int) -> dict[str, Any]:
    return {
        "calls_per_minute": calls_per_minute,
        "concurrency": concurrency,
        "ring_seconds": (0.5, 0.5),
        "talk_seconds": (CALL_SECONDS * 2, CALL_SECONDS * 2),  # capped by the agent
        "processing_seconds": (0.0, 0.0),
        "outcome_mix": {"completed": 100.0},
        "agents": [
            SimAgent(
                agent_id=DEFAULT_AGENT_ID,
                name="Bench agent",
                variables=["name"],
                max_call_duration_secs=CALL_SECONDS,
            )
        ],
    }


CASES: dict[str, dict[str, Any]] = {
    # 20 starts per (scaled) minute, 50 at once: the rate binds.
    "rate": {"faults": _faults(20, 50), "contacts": (30, 120), "window": False},
    # 3 at once, 600 starts a minute: concurrency x call length binds.
    "concurrency": {"faults": _faults(600, 3), "contacts": (12, 30), "window": False},
    # The window opens later than the work takes: the windows bind.
    "windows": {"faults": _faults(20, 50), "contacts": (20, 60), "window": True},
}


async def run(smoke: bool) -> dict[str, Any]:
    results: dict[str, Any] = {}
    async with throwaway_postgres() as database_url:
        for name, case in CASES.items():
            contacts = case["contacts"][0 if smoke else 1]
            results[name] = await _run(database_url, name, case, contacts)
    errors = [result["error"] for result in results.values()]
    completed = all(result["completed"] for result in results.values())
    return {
        "ok": completed,
        "target": TARGET,
        "max_error": max((e for e in errors if e is not None), default=None),
        "targets_met": completed and all(e is not None and e <= TARGET for e in errors),
        **results,
    }


async def _run(database_url: str, name: str, case: dict[str, Any], contacts: int) -> dict[str, Any]:
    scenario = Scenario(contacts=contacts, speedup=SPEEDUP, faults=case["faults"])
    async with redis_prefix() as prefix:
        port = free_port()
        config = simulator_config(scenario, f"http://127.0.0.1:{port}/webhooks/vocobase")
        async with serve_in_background(config) as (sim_url, _simulator):
            settings = engine_settings(config, database_url, prefix, sim_url, port)
            runtime = await Runtime.open(settings)
            services = Services(runtime, worker=False, port=port)
            await services.start()
            try:
                with tempfile.TemporaryDirectory(prefix="ce-bench-") as logs:
                    async with worker_processes(settings, scenario.workers, Path(logs)):
                        await _workers_ready(runtime)
                        began = time.monotonic()
                        campaign_id, eta, binding = await _start(
                            runtime, scenario, config, window=case["window"]
                        )
                        completed = await wait_completed(runtime, campaign_id, 300, poll=0.05)
                        wall = time.monotonic() - began
                async with runtime.sessions() as session:
                    campaign = await session.get_one(Campaign, campaign_id)
            finally:
                await services.stop()
                await runtime.close()
    return _figures(campaign, eta, binding, completed, wall, scenario)


async def _start(
    runtime: Runtime, scenario: Scenario, config: SimulatorConfig, *, window: bool
) -> tuple[str, datetime | None, dict[str, Any]]:
    """Create, start, and take preflight's estimate at once (as ``campaign start`` prints)."""
    block = next(_BLOCKS)
    numbers = [f"+918{block:03d}{i:06d}" for i in range(scenario.contacts)]
    async with runtime.sessions() as session, session.begin():
        campaign = await service.create_campaign(
            session,
            name=f"bench-estimate-{block}",
            agent_id=DEFAULT_AGENT_ID,
            provider=PROVIDER,
            schedule=_window_schedule(utcnow()) if window else None,
        )
        rows = [
            Accepted(i + 2, number, "IN", ("Asia/Calcutta",), {"name": f"N{i}"})
            for i, number in enumerate(numbers)
        ]
        await insert_batch(session, campaign.id, rows, due_at=utcnow())
        await service.check_with_vocobase(campaign, runtime.vocobase)
        # The agent's maximum in the engine's (scaled) seconds, like its other settings.
        campaign.max_call_seconds = math.ceil(CALL_SECONDS / scenario.speedup)
    async with runtime.sessions() as session, session.begin():
        await service.start_campaign(session, campaign.id, None)
    state = await read_limit_state(runtime.redis, runtime.keys)
    async with runtime.sessions() as session:
        report = await preflight(
            session,
            campaign.id,
            runtime.settings.limits,
            utcnow(),
            partner_concurrency=state.concurrency(runtime.settings.limits),
            polling_share=runtime.settings.scheduler.reconcile_budget_share,
        )
    binding = {"binding": report.binding, "description": report.binding_description}
    return campaign.id, report.estimated_finish, binding


def _window_schedule(now: datetime) -> Any:
    """A UTC window opening at the next whole minute but one (at least 60 s away)."""
    opens = (now + timedelta(minutes=2)).replace(second=0, microsecond=0)
    closes = opens + timedelta(minutes=30)
    return parse_schedule({"timezone": "UTC", "windows": [f"{opens:%H:%M}-{closes:%H:%M}"]})


def _figures(
    campaign: Campaign,
    eta: datetime | None,
    binding: dict[str, Any],
    completed: bool,
    wall: float,
    scenario: Scenario,
) -> dict[str, Any]:
    started, finished = campaign.started_at, campaign.finished_at
    error = None
    if completed and started and finished and eta:
        span = (finished - started).total_seconds()
        error = round(abs((finished - eta).total_seconds()) / span, 4) if span > 0 else None

    def unscaled(at: datetime | None) -> float | None:
        if at is None or started is None:
            return None
        return round((at - started).total_seconds() * scenario.speedup, 1)

    return {
        "completed": completed,
        "contacts": scenario.contacts,
        "error": error,
        **binding,
        "eta_after_start_unscaled_s": unscaled(eta),
        "finish_after_start_unscaled_s": unscaled(finished),
        "wall_seconds": round(wall, 2),
        "scaling": settings_note(scenario),
    }
