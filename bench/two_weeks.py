"""Two simulated weeks of a recurring campaign, driven by the engine's one clock.

Issue 15's proof. A recurring campaign (a saved SQL source that gains rows every day) with
numbers in five zones (US East and Pacific, India, UK, Australia), calling from 8 March
2027, so the US clocks go forward in the middle of it; the ``us_tcpa`` preset plus windows
pinned to New York; Monday to Saturday; two blackout dates; the per-number daily cap shared
with a second, one-off campaign that holds some of the same numbers; numbers put on the
do-not-call list mid-run; the simulator's documented outcome mix with retries three hours
later, which often fall outside the callee's window.

Nothing here sleeps through the calendar: the engine and the simulator read one
:class:`~campaign_engine.clock.FrozenClock`, the scheduler's tick is called by the driver,
and the clock jumps from one moment that matters (a contact due, a pull due, a new day's
rows) to the next once the engine is idle. The real worker, webhook server and simulator
run as usual, over loopback, on the real database and Redis.

What is asserted comes from the simulator's ledger (where and when calls were placed) and
the database, judged with :mod:`zoneinfo`, not with the engine's own window code.
"""

from __future__ import annotations

import sqlite3
import tempfile
import time
from collections import Counter, defaultdict
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from itertools import pairwise
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import func, select

from bench.support import REDIS_URL, free_port, redis_prefix, throwaway_postgres
from campaign_engine import clock
from campaign_engine.campaigns import service
from campaign_engine.campaigns.daily import import_due_at
from campaign_engine.campaigns.outcome_classes import Outcome
from campaign_engine.campaigns.retry_policy import RetryPolicy, RetryRule
from campaign_engine.campaigns.schedule import from_json, parse_schedule
from campaign_engine.config import Settings, with_overrides
from campaign_engine.contacts.row_checks import Accepted
from campaign_engine.contacts.saved_sources import save_source
from campaign_engine.contacts.store import insert_batch
from campaign_engine.contacts.summary import ImportOptions
from campaign_engine.db.models import CallAttempt, Campaign, CampaignEvent, Contact
from campaign_engine.dialer.scheduler import Scheduler
from campaign_engine.ops import suppression_actions
from campaign_engine.runner import Services
from campaign_engine.runtime import Runtime
from campaign_engine.simulator import SimulatorConfig
from campaign_engine.simulator.cli import serve_in_background
from campaign_engine.simulator.knobs import DEFAULT_AGENT_ID
from campaign_engine.states import CONTACT_ACTIVE, CONTACT_WAITING, CampaignState

START = datetime(2027, 3, 8, 5, 0, tzinfo=UTC)  # Monday 00:00 in New York
HOME = ZoneInfo("America/New_York")
BLACKOUTS = (date(2027, 3, 12), date(2027, 3, 17))
CAP = 2  # calls per number per callee-local day, both campaigns together
PRESET_HOURS = (8, 21)  # us_tcpa, callee local time
HOME_HOURS = (9, 20)  # the campaign's own window, New York time
IDLE_STEP = timedelta(hours=1)
BUSY_STEP = timedelta(minutes=1)
KEY, SECRET = "rg_live_two_weeks", "whsec_two_weeks"

# One number per zone and row index for day ``d``: valid numbers whose zone phonenumbers knows.
ZONES: dict[str, tuple[str, str, str]] = {
    "us_east": ("America/New_York", "US", "+1212736{d:02d}{i:02d}"),
    "us_pacific": ("America/Los_Angeles", "US", "+1415555{d:02d}{i:02d}"),
    "india": ("Asia/Kolkata", "IN", "+9198765{d:02d}{i:03d}"),
    "uk": ("Europe/London", "GB", "+4420794{d:02d}{i:03d}"),
    "australia": ("Australia/Sydney", "AU", "+61291{d:02d}{i:04d}"),
}


def number(zone_key: str, day: int, index: int) -> str:
    return ZONES[zone_key][2].format(d=day, i=index)


def _zone_entry(phone: str) -> tuple[str, str, str]:
    for entry in ZONES.values():
        if phone.startswith(entry[2].split("{")[0]):
            return entry
    raise ValueError(f"no zone for {phone}")


def zone_of(phone: str) -> ZoneInfo:
    return ZoneInfo(_zone_entry(phone)[0])


@dataclass
class Run:
    days: int
    rows_per_zone: int
    fed: dict[str, date] = field(default_factory=dict)  # number -> New York day it was added
    suppressed_at: dict[str, datetime] = field(default_factory=dict)
    steps: int = 0

    @property
    def last_day(self) -> date:
        return _last_day(self.days)


def _policy() -> RetryPolicy:
    later = RetryRule(delay_seconds=3 * 3600, max_retries=2)
    return RetryPolicy(
        max_attempts=3,
        rules={o: later for o in (Outcome.NO_ANSWER, Outcome.BUSY, Outcome.VOICEMAIL)},
    )


def _settings(database_url: str, prefix: str, sim_url: str, port: int) -> Settings:
    return with_overrides(
        Settings(),
        database={"url": database_url},
        redis={"url": REDIS_URL, "prefix": prefix},
        vocobase={"base_url": sim_url, "api_key": KEY, "webhook_secret": SECRET},
        server={"port": port},
        limits={"vocobase": {"calls_per_minute": 6000, "concurrency": "auto"}},
        compliance={"max_attempts_per_number_per_day": CAP},
        dialer={"max_wait_seconds": 2.0},
    )


def _simulator(port: int) -> SimulatorConfig:
    return SimulatorConfig(
        api_key=KEY,
        webhook_secret=SECRET,
        webhook_url=f"http://127.0.0.1:{port}/webhooks/vocobase",
        time_scale=0.002,
        calls_per_minute=6000,
        general_per_minute=6000,
        concurrency=10,
        seed=15,
    )


async def run_two_weeks(database_url: str, *, days: int = 14, rows_per_zone: int = 2) -> dict:
    """Run the scenario; returns what happened and every violation found (empty: none)."""
    run = Run(days=days, rows_per_zone=rows_per_zone)
    frozen = clock.FrozenClock(START)
    with tempfile.TemporaryDirectory(prefix="ce-two-weeks-") as tmp, clock.use(frozen):
        leads = Path(tmp) / "leads.db"
        with sqlite3.connect(leads) as db:
            db.execute("CREATE TABLE leads (phone TEXT, name TEXT, due_amount TEXT)")
        async with redis_prefix() as prefix:
            port = free_port()
            async with serve_in_background(_simulator(port)) as (sim_url, simulator):
                runtime = await Runtime.open(_settings(database_url, prefix, sim_url, port))
                services = Services(runtime, scheduler=False, port=port)
                await services.start()
                began = time.monotonic()
                try:
                    recurring, one_off = await _campaigns(runtime, leads, days)
                    await _drive(runtime, frozen, run, leads, recurring)
                    wall = time.monotonic() - began
                    facts = await _facts(runtime, recurring, one_off)
                finally:
                    await services.stop()
                    await runtime.close()
    violations = check(run, simulator.ledger.calls, facts)
    return {
        "simulated_days": days,
        "wall_seconds": round(wall, 1),
        "clock_steps": run.steps,
        "contacts": facts["contacts"],
        "calls": len(simulator.ledger.calls),
        "calls_by_zone": dict(Counter(zone_of(c.to_number).key for c in simulator.ledger.calls)),
        "recurring_states": facts["recurring_states"],
        "violations": violations,
    }


def _last_day(days: int) -> date:
    return (START + timedelta(days=days - 1)).astimezone(HOME).date()


async def _campaigns(runtime: Runtime, leads: Path, days: int) -> tuple[str, str]:
    """The recurring campaign (started empty, fed by its saved source) and the one-off one
    that shares day 0's New York and India numbers (and so their daily caps)."""
    async with runtime.sessions() as session, session.begin():
        recurring = await service.create_campaign(
            session,
            name="daily feed",
            agent_id=DEFAULT_AGENT_ID,
            retry_policy=_policy(),
            schedule=parse_schedule(
                {
                    "timezone": "America/New_York",
                    "preset": "us_tcpa",
                    "days": ["mon", "tue", "wed", "thu", "fri", "sat"],
                    "windows": ["09:00-20:00"],
                    "blackout_dates": [day.isoformat() for day in BLACKOUTS],
                    "end": _last_day(days).isoformat(),
                }
            ),
        )
        one_off = await service.create_campaign(
            session,
            name="one-off",
            agent_id=DEFAULT_AGENT_ID,
            retry_policy=_policy(),
            schedule=parse_schedule({"preset": "us_tcpa"}),
        )
        shared = [number("us_east", 0, 0), number("india", 0, 0), number("india", 0, 1)]
        rows = [
            Accepted(
                i + 2,
                phone,
                _zone_entry(phone)[1],
                (zone_of(phone).key,),
                {"name": f"S{i}", "due_amount": "5"},
            )
            for i, phone in enumerate(shared)
        ]
        await insert_batch(session, one_off.id, rows, due_at=clock.now())
        for campaign in (recurring, one_off):
            await service.check_with_vocobase(campaign, runtime.vocobase)
    await save_source(
        runtime.sessions,
        recurring.id,
        f"sqlite:///{leads}",
        "SELECT phone, name, due_amount FROM leads",
        ImportOptions(phone_column="phone", engine_variables=("ce_attempt_id",)),
    )
    for campaign_id in (recurring.id, one_off.id):
        async with runtime.sessions() as session, session.begin():
            await service.start_campaign(session, campaign_id, None)
    return recurring.id, one_off.id


def _feed(run: Run, leads: Path, day: int) -> None:
    """Day ``day``'s new rows, added to the source database at New York midnight."""
    today = (START + timedelta(days=day)).astimezone(HOME).date()
    with sqlite3.connect(leads) as db:
        for zone_key in ZONES:
            for index in range(run.rows_per_zone):
                phone = number(zone_key, day, index)
                run.fed[phone] = today
                db.execute(
                    "INSERT INTO leads VALUES (?, ?, ?)", (phone, f"{zone_key} {day}", "100")
                )


async def _drive(
    runtime: Runtime, frozen: clock.FrozenClock, run: Run, leads: Path, recurring: str
) -> None:
    scheduler = Scheduler(runtime)
    # A day past the last one: a date ends at the last callee's midnight after it.
    end = START + timedelta(days=run.days + 1)
    fed_days = 0
    # Mid-run, Wednesday 10 March 11:00 New York: three numbers go on the do-not-call list —
    # one already called (its retries must stop), one not yet fed, one the one-off campaign has.
    dnc_at = datetime(2027, 3, 10, 16, 0, tzinfo=UTC)
    dnc = [number("us_east", 1, 0), number("uk", 4, 1), number("india", 0, 1)]
    while frozen.now() < end:
        while fed_days <= run.days - 1 and _midnight(fed_days) <= frozen.now():
            _feed(run, leads, fed_days)
            fed_days += 1
        if not run.suppressed_at and frozen.now() >= dnc_at:
            async with runtime.sessions() as session, session.begin():
                await suppression_actions.add(
                    session, [("number", phone) for phone in dnc], actor="two-weeks"
                )
            run.suppressed_at = {phone: frozen.now() for phone in dnc}
        await scheduler.tick()
        if await _settle(runtime, scheduler):
            step = await _next_moment(runtime, frozen.now(), recurring, fed_days, dnc_at)
        else:  # calls still open in the engine: let the clock move a little for them
            step = frozen.now() + BUSY_STEP
        frozen.set(min(step, end))
        run.steps += 1
    await scheduler.tick()


def _midnight(day: int) -> datetime:
    local = (START + timedelta(days=day)).astimezone(HOME).date()
    return datetime(local.year, local.month, local.day, tzinfo=HOME).astimezone(UTC)


async def _settle(runtime: Runtime, scheduler: Scheduler, limit_seconds: float = 5.0) -> bool:
    """Wait (real time) until no contact is queued, dialing or calling; False if some still
    are after ``limit_seconds`` (a call whose outcome waits on the clock)."""
    give_up = time.monotonic() + limit_seconds
    active = [state.value for state in CONTACT_ACTIVE]
    while True:
        async with runtime.sessions() as session:
            busy = await session.scalar(
                select(func.count()).select_from(Contact).where(Contact.state.in_(active))
            )
        if not busy:
            return True
        if time.monotonic() > give_up:
            await scheduler.reconciler.run_once()
            return False
        await scheduler.tick()


async def _next_moment(
    runtime: Runtime, now: datetime, recurring: str, fed_days: int, dnc_at: datetime
) -> datetime:
    """The next moment anything can happen: a contact due, the recurring campaign's pull,
    a new day's rows, the do-not-call change; at most an hour away."""
    waiting = [state.value for state in CONTACT_WAITING]
    open_states = [CampaignState.RUNNING.value, CampaignState.ONGOING.value]
    async with runtime.sessions() as session:
        due = await session.scalar(
            select(func.min(Contact.next_attempt_at))
            .join(Campaign, Campaign.id == Contact.campaign_id)
            .where(
                Contact.state.in_(waiting),
                Contact.next_attempt_at > now,
                Campaign.state.in_(open_states),
            )
        )
        campaign = await session.get(Campaign, recurring)
    candidates = [now + IDLE_STEP]
    candidates += [at for at in (_midnight(fed_days), dnc_at) if at > now]
    if due is not None:
        candidates.append(due if due.tzinfo else due.replace(tzinfo=UTC))
    if campaign is not None and campaign.schedule:
        pull = import_due_at(from_json(campaign.schedule), frozenset(), now)
        if pull is not None and pull > now:
            candidates.append(pull)
    return max(min(candidates), now + timedelta(seconds=1))


async def _facts(runtime: Runtime, recurring: str, one_off: str) -> dict[str, Any]:
    async with runtime.sessions() as session:
        attempts = (await session.execute(select(CallAttempt))).scalars().all()
        contacts = (await session.execute(select(Contact))).scalars().all()
        events = (
            await session.scalars(
                select(CampaignEvent.to_state)
                .where(CampaignEvent.campaign_id == recurring)
                .order_by(CampaignEvent.id)
            )
        ).all()
    return {
        "campaign_of_call": {a.call_id: a.campaign_id for a in attempts if a.call_id},
        "recurring": recurring,
        "one_off": one_off,
        "contacts": len(contacts),
        "open_without_reason": [
            c.phone_e164
            for c in contacts
            if c.state in {s.value for s in CONTACT_WAITING}
            and c.next_attempt_at is None
            and not c.last_error
        ],
        "suppressed_without_reason": [
            c.phone_e164 for c in contacts if c.state == "suppressed" and not c.last_error
        ],
        "recurring_states": list(events),
    }


def check(run: Run, calls: list[Any], facts: dict[str, Any]) -> list[str]:
    """Every broken promise, in words (empty: none). Judged from the ledger with zoneinfo."""
    found: list[str] = []
    per_local_day: Counter[tuple[str, date]] = Counter()
    first_call: dict[str, datetime] = {}
    by_number: dict[str, list[Any]] = defaultdict(list)
    for call in sorted(calls, key=lambda c: c.created_at):
        at, phone = call.created_at, call.to_number
        local = at.astimezone(zone_of(phone))
        home = at.astimezone(HOME)
        by_number[phone].append(call)
        first_call.setdefault(phone, at)
        per_local_day[(phone, local.date())] += 1
        if not PRESET_HOURS[0] <= local.hour < PRESET_HOURS[1]:
            found.append(f"{phone} called at {local:%a %H:%M} its time (outside us_tcpa)")
        if facts["campaign_of_call"].get(call.call_id) == facts["recurring"]:
            if not HOME_HOURS[0] <= home.hour < HOME_HOURS[1]:
                found.append(f"{phone} called at {home:%H:%M} New York (outside 09-20)")
            if home.weekday() == 6 or home.date() in BLACKOUTS or home.date() > run.last_day:
                found.append(f"{phone} called on {home:%a %Y-%m-%d} (not a calling day)")
        if phone in run.suppressed_at and at >= run.suppressed_at[phone]:
            found.append(f"{phone} called at {at:%Y-%m-%d %H:%M} after being suppressed")
    for (phone, day), count in per_local_day.items():
        if count > CAP:
            found.append(f"{phone} called {count} times on its {day} (cap {CAP})")
    for phone, placed in by_number.items():
        for before, after in pairwise(placed):
            if before.ended_at is None or after.created_at < before.ended_at:
                found.append(f"{phone} dialed again while its call {before.call_id} was live")
    for phone, fed_on in run.fed.items():
        if phone in run.suppressed_at or fed_on.weekday() == 6 or fed_on in BLACKOUTS:
            continue
        if phone not in first_call:
            found.append(f"{phone} (added {fed_on}) was never called")
        elif first_call[phone].astimezone(HOME).date() != fed_on:
            found.append(f"{phone} added {fed_on} first called {first_call[phone]:%Y-%m-%d}")
    found += [f"{p} waits with no time and no reason" for p in facts["open_without_reason"]]
    found += [f"{p} suppressed without a reason" for p in facts["suppressed_without_reason"]]
    states = facts["recurring_states"]
    if CampaignState.ONGOING.value not in states or states[-1] != CampaignState.COMPLETED.value:
        found.append(f"the recurring campaign went {states}, not ongoing and then completed")
    return found


async def run(smoke: bool) -> dict[str, Any]:
    async with throwaway_postgres() as database_url:
        result = await run_two_weeks(database_url, days=14, rows_per_zone=2 if smoke else 6)
    return {"ok": not result["violations"], **result}
