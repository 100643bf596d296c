"""The chaos soak: the same campaign without faults, then with them, and the proof.

Phase one (baseline) runs a campaign on the stack untouched, for the duration to compare
with. Phase two runs a campaign of the same size with fresh numbers while the fault
schedule plays; then every fault is undone, the campaign is let finish, and the checks of
:mod:`chaos.checks` run on the simulator's ledger and the database.
"""

from __future__ import annotations

import asyncio
import time
from datetime import timedelta
from typing import Any

from bench.contract_run import Scenario, retry_once, settings_note
from campaign_engine.db.models import utcnow
from campaign_engine.runtime import Runtime
from campaign_engine.states import ATTEMPT_OPEN
from chaos import campaign, checks, faults
from chaos import claims as claim_log
from chaos.inject import Injector
from chaos.leaders import LeaderWatch
from chaos.options import Options
from chaos.progress import ProgressWatch
from chaos.stack import (
    PREFIX,
    SIMULATOR_FAULTS,
    Stack,
    built,
    leadership_available,
    placements,
)

SETTLE_SECONDS = 30.0
OPEN_ATTEMPT_STATES = frozenset(state.value for state in ATTEMPT_OPEN)


async def run(opts: Options) -> dict[str, Any]:
    schedulers = 2 if leadership_available() else 1
    scenario = Scenario(
        contacts=opts.contacts,
        speedup=opts.speedup,
        faults=dict(SIMULATOR_FAULTS),
        retry=retry_once(30.0 / opts.speedup),
        workers=3,
        seed=opts.seed,
    )
    began = time.monotonic()
    stages: dict[str, float] = {}
    mark = began
    async with built(scenario, schedulers, opts.hosts) as stack:
        stages["setup"], mark = time.monotonic() - mark, time.monotonic()
        baseline = await _phase(stack, scenario, opts, "baseline", block=1, schedule=[])
        stages["baseline"], mark = time.monotonic() - mark, time.monotonic()
        placed = placements(schedulers, opts.hosts)
        plan = faults.Plan(
            duration=opts.fault_seconds,
            processes=[p.name for p in placed],
            kill_every=opts.kill_every,
            network_every=opts.network_every,
            link_hosts=[p.host for p in placed if p.role == "worker" and p.host]
            if opts.hosts
            else (),
            link_down_seconds=opts.link_down_seconds,
            host_processes={p.host: [p.name] for p in placed if p.host},
        )
        schedule = faults.schedule(plan, opts.seed)
        faulty = await _phase(stack, scenario, opts, "faults", block=2, schedule=schedule)
        stages["faults"], mark = time.monotonic() - mark, time.monotonic()
        processes = {name: p.report() for name, p in stack.processes.items()}
        proxies = {
            name: {"connections": proxy.connections, "refused": proxy.refused}
            for name, proxy in stack.proxies.items()
        }
        log_dir = str(stack.log_dir)
    stages["teardown"] = time.monotonic() - mark
    ratio = None
    if baseline["campaign_seconds"] and faulty["campaign_seconds"]:
        ratio = round(faulty["campaign_seconds"] / baseline["campaign_seconds"], 2)
    failed = [f"baseline: {name}" for name in baseline.pop("failed")]
    failed += [f"faults: {name}" for name in faulty.pop("failed")]
    return {
        "mode": "short" if opts.short else "full",
        "hosts": opts.hosts,
        "seed": opts.seed,
        "processes_run": {"workers": 3, "schedulers": schedulers, "servers": 2},
        "scheduler_leadership": schedulers > 1,
        "contacts_per_campaign": opts.contacts,
        "fault_phase_seconds": opts.fault_seconds,
        "simulator_faults": SIMULATOR_FAULTS,
        "scaling": settings_note(scenario),
        "baseline": baseline,
        "faults": faulty,
        "duration_ratio": ratio,
        "fault_counts": faults.counts(schedule),
        "processes": processes,
        "proxies": proxies,
        "logs": log_dir,
        "wall_seconds": round(time.monotonic() - began, 1),
        "stage_seconds": {name: round(seconds, 1) for name, seconds in stages.items()},
        "failed": failed,
        "ok": not failed,
    }


async def _phase(
    stack: Stack,
    scenario: Scenario,
    opts: Options,
    name: str,
    block: int,
    schedule: list[faults.Fault],
) -> dict[str, Any]:
    numbers = campaign.numbers_for(block, opts.contacts)
    runtime = await Runtime.open(stack.settings)
    try:
        campaign_id = await campaign.start_campaign(
            runtime, f"chaos-{name}", numbers, scenario.retry
        )
    finally:
        await runtime.close()
    began, began_at = time.monotonic(), utcnow()
    injector = Injector(stack)
    watch = LeaderWatch(stack.redis.url, PREFIX) if leadership_available() else None
    if watch is not None:
        watch.start()
    progress = ProgressWatch(stack.postgres.url, campaign_id)
    progress.start()
    if schedule:
        try:
            await injector.run(schedule, opts.fault_seconds)
        finally:
            await asyncio.to_thread(injector.restore)
    faults_over = time.monotonic() - began
    completed = await campaign.wait_completed(stack.postgres.url, campaign_id, opts.complete_within)
    wall, ended_at = time.monotonic() - began, utcnow()
    leaders = await watch.stop() if watch is not None else None
    await progress.stop()
    mark = time.monotonic()
    await _settle(stack)
    settled = time.monotonic()
    figures = await _figures(stack, campaign_id, numbers, completed, wall, faults_over, injector)
    figures["after_campaign_seconds"] = {
        "settle": round(settled - mark, 1),
        "read": round(time.monotonic() - settled, 1),
        "watchers": round(mark - began - wall, 1),
    }
    calls = campaign.placed_calls(stack.simulator.ledger, numbers)
    pace = checks.placement_pace(calls, began_at, ended_at)
    pause = pace["longest_pause"]
    if pause is not None:
        # What the contacts waited for in the middle of the longest stretch without a call.
        pause["contacts_then"] = progress.at(pause["from"] + pause["seconds"] / 2)
    return {**figures, "pace": pace, "leadership": leaders}


async def _settle(stack: Stack) -> None:
    """Let webhooks still on their way (retries, duplicates) land and be applied."""
    for _ in range(int(SETTLE_SECONDS / 0.1)):
        if not stack.simulator.webhooks.in_flight:
            break
        await asyncio.sleep(0.1)
    await asyncio.sleep(1.0)


async def _figures(
    stack: Stack,
    campaign_id: str,
    numbers: list[str],
    completed: bool,
    wall: float,
    faults_over: float,
    injector: Injector,
) -> dict[str, Any]:
    calls = campaign.placed_calls(stack.simulator.ledger, numbers)
    runtime = await Runtime.open(stack.settings)
    try:
        contacts, attempts, inbox, settled = await campaign.read_records(
            runtime, campaign_id, [call.session_id for call in calls]
        )
    finally:
        await runtime.close()
    times = await campaign.campaign_times(stack.postgres.url, campaign_id)
    seconds = None
    if times and times[1] and times[2]:
        seconds = round((times[2] - times[1]).total_seconds(), 2)
    ledger, wanted = stack.simulator.ledger, set(numbers)
    figures: dict[str, Any] = {
        "completed": completed,
        "campaign_seconds": seconds,
        "wall_seconds": round(wall, 2),
        "faults_over_at_seconds": round(faults_over, 2),
        "calls_placed": len(calls),
        "double_dials": checks.double_dials(calls, attempts),
        "calls_unknown_to_engine": checks.unknown_calls(calls, attempts),
        "contacts": checks.stuck_contacts(numbers, contacts),
        "contact_states": _tally(row.state for row in contacts),
        "attempts_by_state_and_source": settled,
        "peak_concurrency": ledger.peak_concurrency,
        "concurrency_limit": stack.config.concurrency,
        "responses_429": dict(ledger.responses_429),
        "webhooks": checks.webhook_application(calls, inbox, attempts),
        "webhooks_dropped_by_simulator": sum(
            1 for call in ledger.calls if call.dropped and call.to_number in wanted
        ),
        "faults_applied": injector.applied,
    }
    if injector.link_windows:
        figures["link_down"] = await _cut_off_hosts(stack, injector)
    figures["failed"] = checks.verdict(figures)
    for window in figures.get("link_down", []):
        if not window["rejoined"] or window["restarted_while_cut"]:
            figures["failed"].append(f"cut-off host {window['host']} did not rejoin by itself")
        if window["left_open"]:
            figures["failed"].append(f"claims of cut-off host {window['host']} left open")
    return figures


CLAIM_LOOKBACK = timedelta(seconds=5)  # a claim this long before the cut may be in flight


async def _cut_off_hosts(stack: Stack, injector: Injector) -> list[dict[str, Any]]:
    """For each worker host that was cut off: whether it talked to Vocobase again after its
    link came back (without being restarted meanwhile), and how the claims it made just
    before or during the cut ended — none may be left open."""
    windows = []
    for window in injector.link_windows:
        seen = stack.api_proxy.last_seen.get(window["address"])
        process = next(
            p for p in stack.processes.values() if p.host and p.host.name == window["host"]
        )
        log = (stack.log_dir / f"{process.name}.log").read_text(errors="replace")
        claims = claim_log.claims_between(
            log.splitlines(), window["down_wall"] - CLAIM_LOOKBACK, window["up_wall"]
        )
        runtime = await Runtime.open(stack.settings)
        try:
            states = await campaign.attempt_states(runtime, claims)
        finally:
            await runtime.close()
        windows.append(
            {
                "host": window["host"],
                "process": process.name,
                "down_seconds": round(window["up_at"] - window["down_at"], 1),
                "polling_redis_after": window["polling_redis_after"],
                "dialed_after": seen is not None and seen > window["up_at"],
                "rejoined": window["polling_redis_after"]
                or (seen is not None and seen > window["up_at"]),
                "restarted_while_cut": window["restarted"],
                "process_unplanned_exits": list(process.unplanned_exits),
                "claims_around_cut": len(claims),
                "their_end": _tally(states.values()),
                "left_open": sorted(
                    attempt
                    for attempt, state in states.items()
                    if state.split("/")[0] in OPEN_ATTEMPT_STATES
                ),
            }
        )
    return windows


def _tally(values: Any) -> dict[str, int]:
    counted: dict[str, int] = {}
    for value in values:
        counted[value] = counted.get(value, 0) + 1
    return dict(sorted(counted.items()))
