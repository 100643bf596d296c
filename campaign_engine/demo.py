"""``make demo``: the whole path on embedded defaults, with nothing running beforehand.

It starts what it needs (a Redis if none answers, the Vocobase simulator with short calls
and raised limits, the webhook server, a worker and the scheduler, all in this process),
imports a generated CSV through the normal importer, runs the campaign to completion with
a live progress bar, prints a summary and stops everything it started.
"""

from __future__ import annotations

import asyncio
import csv
import random
import socket
import time
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

from campaign_engine.campaigns import service
from campaign_engine.campaigns.outcome_classes import Outcome
from campaign_engine.campaigns.retry_policy import RetryPolicy, RetryRule
from campaign_engine.config import Settings, with_overrides
from campaign_engine.contacts.importer import ImportOptions, ImportSummary, import_csv
from campaign_engine.db.migrate import upgrade
from campaign_engine.local_redis import reachable, start_local_redis
from campaign_engine.runner import Services
from campaign_engine.runtime import Runtime
from campaign_engine.simulator import SimulatorConfig
from campaign_engine.simulator.cli import serve_in_background
from campaign_engine.simulator.knobs import SimAgent

DEMO_AGENT = "00000000-0000-4000-8000-000000000001"
DEMO_KEY = "rg_live_demo_key"
DEMO_SECRET = "whsec_demo_secret"
FIRST_NAMES = ["Asha", "Ravi", "Meera", "Arjun", "Priya", "Kabir", "Nisha", "Vikram", "Anya"]


@dataclass(frozen=True)
class DemoOptions:
    contacts: int = 200
    workdir: Path = Path(".demo")
    timeout_seconds: float = 110.0
    seed: int = 7


def demo_retry_policy() -> RetryPolicy:
    """Retries seconds apart instead of hours, so the demo shows them within its run."""
    quick = {"delay_seconds": 1.0, "jitter": 0.2}
    return RetryPolicy(
        max_attempts=3,
        rules={
            Outcome.NO_ANSWER: RetryRule(max_retries=2, **quick),
            Outcome.BUSY: RetryRule(max_retries=2, **quick),
            Outcome.FAILED: RetryRule(max_retries=1, **quick),
            Outcome.VOICEMAIL: RetryRule(max_retries=1, **quick),
            Outcome.USER_HANGUP_NO_SPEECH: RetryRule(max_retries=1, **quick),
        },
    )


def write_contacts(path: Path, count: int, rng: random.Random) -> None:
    """A CSV like an operator's export: mixed number formats and two bad rows."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle)
        writer.writerow(["Phone Number", "Name", "Due Amount"])
        for index in range(count):
            digits = f"98{index:08d}"
            number = rng.choice([f"+91{digits}", f"0{digits}", f"+91 {digits[:5]} {digits[5:]}"])
            name = f"{rng.choice(FIRST_NAMES)} {index}"
            writer.writerow([number, name, f"{rng.randint(500, 50000)}"])
        writer.writerow(["12345", "Too Short", "100"])
        writer.writerow(["", "No Number", "100"])


def simulator_config(webhook_url: str, seed: int) -> SimulatorConfig:
    return SimulatorConfig(
        api_key=DEMO_KEY,
        agents=[
            SimAgent(
                agent_id=DEMO_AGENT,
                name="Collections reminder",
                variables=["name", "due_amount", "ce_attempt_id"],
                max_call_duration_secs=120,
            )
        ],
        calls_per_minute=1200,
        general_per_minute=1200,
        concurrency=25,
        time_scale=0.05,
        webhook_url=webhook_url,
        webhook_secret=DEMO_SECRET,
        p_drop_webhook=0.03,
        p_duplicate_webhook=0.05,
        seed=seed,
    )


def engine_settings(base: Settings, *, db_url: str, redis_url: str, sim_url: str) -> Settings:
    return with_overrides(
        base,
        database={"url": db_url},
        redis={"url": redis_url, "prefix": f"ce-demo-{uuid.uuid4().hex[:8]}"},
        vocobase={"base_url": sim_url, "api_key": DEMO_KEY, "webhook_secret": DEMO_SECRET},
        limits={
            "vocobase": {
                "calls_per_minute": 1200,
                "general_per_minute": 1200,
                "concurrency": "auto",
            },
            "cooldown_seconds": 1.0,
            "slot_margin_seconds": 10.0,
        },
        scheduler={
            "tick_seconds": 0.2,
            "reconcile_after_seconds": 3.0,
            "unknown_grace_seconds": 10.0,
        },
    )


@asynccontextmanager
async def redis_for(url: str, console: Console) -> AsyncIterator[str]:
    if await asyncio.to_thread(reachable, url):
        yield url
        return
    local = await asyncio.to_thread(start_local_redis)
    console.print(f"no Redis at {url}; started a throwaway one at {local.url}")
    try:
        yield local.url
    finally:
        await asyncio.to_thread(local.stop)


@dataclass(frozen=True)
class DemoResult:
    completed: bool
    elapsed_seconds: float
    status: dict[str, Any]
    ledger: dict[str, Any]


async def run_demo(base: Settings, options: DemoOptions, console: Console) -> DemoResult:
    """Run the demo; ``completed`` is True when the campaign finished in time."""
    rng = random.Random(options.seed)
    options.workdir.mkdir(parents=True, exist_ok=True)
    db_path = options.workdir / "demo.db"
    for stale in options.workdir.glob("demo.db*"):
        stale.unlink()
    db_url = f"sqlite+aiosqlite:///{db_path}"
    await upgrade(db_url)
    csv_path = options.workdir / "contacts.csv"
    write_contacts(csv_path, options.contacts, rng)

    server_port = _free_port()
    webhook_url = f"http://127.0.0.1:{server_port}/webhooks/vocobase"
    async with (
        redis_for(base.redis.url, console) as redis_url,
        serve_in_background(simulator_config(webhook_url, options.seed)) as (sim_url, sim),
    ):
        settings = engine_settings(base, db_url=db_url, redis_url=redis_url, sim_url=sim_url)
        runtime = await Runtime.open(settings)
        services = Services(runtime, port=server_port)
        try:
            await services.start()
            campaign_id, summary = await _prepare(runtime, csv_path, options)
            _print_import(console, summary, options.workdir / "rejects.csv")
            started = time.monotonic()
            completed = await _watch(runtime, campaign_id, options, console)
            elapsed = time.monotonic() - started
        finally:
            await services.stop()
            await runtime.close()
        async with runtime.sessions() as session:
            status = await service.campaign_status(session, campaign_id)
        ledger = sim.ledger.to_dict()
        _print_summary(console, status, ledger, elapsed)
    return DemoResult(completed, elapsed, status, ledger)


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


async def _prepare(
    runtime: Runtime, csv_path: Path, options: DemoOptions
) -> tuple[str, ImportSummary]:
    async with runtime.sessions() as session, session.begin():
        campaign = await service.create_campaign(
            session,
            name="Demo: payment reminders",
            agent_id=DEMO_AGENT,
            provider="mcube",
            default_region="IN",
            retry_policy=demo_retry_policy(),
        )
        await service.check_with_vocobase(campaign, runtime.vocobase)
    summary = await import_csv(
        runtime.sessions,
        campaign.id,
        csv_path,
        ImportOptions(engine_variables=(runtime.settings.dialer.correlation_variable,)),
        rejects_path=options.workdir / "rejects.csv",
    )
    async with runtime.sessions() as session, session.begin():
        await service.start_campaign(session, campaign.id, None, actor="demo")
    return campaign.id, summary


async def _watch(
    runtime: Runtime, campaign_id: str, options: DemoOptions, console: Console
) -> bool:
    deadline = time.monotonic() + options.timeout_seconds
    with Progress(
        TextColumn("[bold]calling[/]"),
        BarColumn(),
        MofNCompleteColumn(),
        TextColumn("{task.fields[detail]}"),
        TimeElapsedColumn(),
        console=console,
    ) as bar:
        task = bar.add_task("campaign", total=None, detail="")
        while time.monotonic() < deadline:
            async with runtime.sessions() as session:
                status = await service.campaign_status(session, campaign_id)
            contacts = status["contacts"]
            by_state = contacts["by_state"]
            detail = " ".join(
                f"{state}={by_state[state]}"
                for state in ("queued", "dialing", "calling", "retrying")
                if by_state.get(state)
            )
            bar.update(task, total=contacts["total"], completed=contacts["final"], detail=detail)
            if status["state"] == "completed":
                return True
            await asyncio.sleep(0.25)
    console.print("[bold red]the demo campaign did not complete in time[/]")
    return False


def _print_import(console: Console, summary: ImportSummary, rejects: Path) -> None:
    data = summary.to_dict()
    console.print(
        f"imported {data['imported']} contacts from {summary.file}; "
        f"rejected {data['rejected']} {data['rejected_by_reason']} (see {rejects})"
    )


def _print_summary(
    console: Console,
    status: dict[str, Any],
    ledger: dict[str, Any],
    elapsed: float,
) -> None:
    contacts = Table("contact final state", "contacts", title=f"Campaign {status['state']}")
    for state, count in sorted(status["contacts"]["by_state"].items()):
        contacts.add_row(state, str(count))
    console.print(contacts)
    outcomes = Table("attempt outcome", "attempts")
    for outcome, count in sorted(status["attempts"]["by_outcome"].items()):
        outcomes.add_row(outcome, str(count))
    console.print(outcomes)
    calls = ledger.get("calls", [])
    durations = [c["duration_seconds"] or 0 for c in calls if c.get("duration_seconds")]
    facts = Table("measure", "value")
    facts.add_row("wall time", f"{elapsed:.1f} s")
    facts.add_row("calls placed (simulator ledger)", str(len(calls)))
    facts.add_row("attempts recorded (engine)", str(status["attempts"]["total"]))
    if durations:
        facts.add_row("mean talk time (simulated s)", f"{sum(durations) / len(durations):.1f}")
    facts.add_row("peak concurrent calls", f"{ledger.get('peak_concurrency')}")
    facts.add_row("429 responses", str(ledger.get("responses_429")))
    facts.add_row(
        "webhooks dropped (reconciled by polling)", str(sum(1 for c in calls if c.get("dropped")))
    )
    console.print(facts)
