"""The reconciler settles what the dial job could not: unknown starts and lost outcomes."""

from __future__ import annotations

import time
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import update

from campaign_engine.db.models import CallAttempt
from campaign_engine.dialer.attempts import mark_started, mark_unknown
from campaign_engine.dialer.call_listing import match_unknown
from campaign_engine.dialer.clock_offset import OffsetBounds
from campaign_engine.dialer.reconciler import Reconciler, _decide_at
from campaign_engine.limits.plan import slot_names_for
from campaign_engine.runtime import Runtime
from campaign_engine.simulator.cli import serve_in_background
from campaign_engine.states import AttemptState, ContactState
from campaign_engine.vocobase.schemas import Call, CallDetail, StartCallRequest
from tests.conftest import engine_settings
from tests.dialer.support import (
    NUMBERS,
    ago,
    attempts_of,
    claimed_attempt,
    contacts_of,
    open_runtime,
)
from tests.harness import AGENT_ID, SECRET, Harness, running_engine, sim_config, wait_until
from tests.webhooks.conftest import client_for, deliver, event_body, inbox_rows

QUICK_RECONCILE = {
    "tick_seconds": 0.1,
    "reconcile_after_seconds": 0.5,
    "unknown_grace_seconds": 5,
    "outcome_wait_seconds": 0.5,
    "webhook_grace_seconds": 0.2,
    "live_scan_seconds": 0.2,
}


async def all_attempts_unknown(engine: Harness, campaign_id: str, count: int) -> None:
    async def unknown() -> bool:
        found = await attempts_of(engine.runtime, campaign_id)
        return len(found) == count and all(a.state == AttemptState.UNKNOWN for a in found)

    await wait_until(unknown, 15, f"{count} attempts to become unknown")


async def test_a_timed_out_start_goes_unknown_and_the_reconciler_records_its_real_outcome(
    sqlite_url: str, redis_prefix: str
) -> None:
    # Every start answers after the client gave up; no webhook ever comes.
    simulator = sim_config(
        p_slow=1.0, slow_seconds=3, p_drop_webhook=1.0, outcome_mix={"completed": 1}
    )
    async with running_engine(
        sqlite_url, redis_prefix, simulator=simulator, scheduler=QUICK_RECONCILE
    ) as engine:
        campaign_id = await engine.add_campaign(NUMBERS[:2])
        await engine.run_to_completion(campaign_id, limit_seconds=30)
        contacts = await contacts_of(engine.runtime, campaign_id)
        attempts = await attempts_of(engine.runtime, campaign_id)
        ledger = engine.simulator.ledger

    assert ledger.slow_responses == 2
    assert len(attempts) == 2
    for contact in contacts:
        (call,) = ledger.calls_to(contact.phone_e164)  # never dialed twice
        (attempt,) = [a for a in attempts if a.contact_id == contact.id]
        assert "ReadTimeout" in (attempt.error or "")  # it went through "unknown"
        assert attempt.state == AttemptState.ENDED
        assert (attempt.call_id, attempt.session_id) == (call.call_id, call.session_id)
        assert attempt.outcome == "completed"
        assert (contact.state, contact.attempts_count) == (ContactState.COMPLETED, 1)


async def test_a_5xx_that_placed_no_call_is_lost_after_the_grace_and_the_contact_redialed(
    database_url: str, redis_prefix: str
) -> None:
    grace = 1.0
    simulator = sim_config(p_5xx=1.0, p_5xx_places_call=0.0, outcome_mix={"completed": 1})
    async with running_engine(
        database_url,
        redis_prefix,
        simulator=simulator,
        scheduler={**QUICK_RECONCILE, "unknown_grace_seconds": grace},
    ) as engine:
        sim = engine.simulator
        campaign_id = await engine.add_campaign(NUMBERS[:2])
        await all_attempts_unknown(engine, campaign_id, 2)

        # While GET /calls fails too, nothing proves the call was never placed: no verdict.
        past_grace = time.monotonic() + grace
        failures = sim.ledger.responses_5xx

        async def reconciler_tried_after_the_grace() -> bool:
            return time.monotonic() > past_grace and sim.ledger.responses_5xx >= failures + 3

        await wait_until(reconciler_tried_after_the_grace, 15, "failed polls past the grace")
        await all_attempts_unknown(engine, campaign_id, 2)

        sim.config.p_5xx = 0
        await engine.run_to_completion(campaign_id, limit_seconds=30)
        contacts = await contacts_of(engine.runtime, campaign_id)
        attempts = await attempts_of(engine.runtime, campaign_id)
        ledger = sim.ledger

    for contact in contacts:
        (call,) = ledger.calls_to(contact.phone_e164)
        lost, ended = [a for a in attempts if a.contact_id == contact.id]
        assert lost.state == AttemptState.LOST
        assert "500" in (lost.error or "")
        assert lost.call_id is None
        # The lost attempt never reached anyone, so the fresh one reuses its number.
        assert (ended.state, ended.attempt_number) == (AttemptState.ENDED, lost.attempt_number)
        assert ended.call_id == call.call_id
        assert (contact.state, contact.attempts_count) == (ContactState.COMPLETED, 1)


async def test_a_5xx_that_placed_the_call_is_found_by_the_reconciler_not_redialed(
    sqlite_url: str, redis_prefix: str
) -> None:
    simulator = sim_config(
        p_5xx=1.0, p_5xx_places_call=1.0, p_drop_webhook=1.0, outcome_mix={"completed": 1}
    )
    async with running_engine(
        sqlite_url,
        redis_prefix,
        simulator=simulator,
        scheduler={**QUICK_RECONCILE, "unknown_grace_seconds": 1.0},
    ) as engine:
        campaign_id = await engine.add_campaign(NUMBERS[:2])
        await all_attempts_unknown(engine, campaign_id, 2)
        engine.simulator.config.p_5xx = 0
        await engine.run_to_completion(campaign_id, limit_seconds=30)
        contacts = await contacts_of(engine.runtime, campaign_id)
        attempts = await attempts_of(engine.runtime, campaign_id)
        ledger = engine.simulator.ledger

    assert len(attempts) == 2
    for contact in contacts:
        (call,) = ledger.calls_to(contact.phone_e164)
        (attempt,) = [a for a in attempts if a.contact_id == contact.id]
        assert "500" in (attempt.error or "")
        assert attempt.state == AttemptState.ENDED
        assert attempt.call_id == call.call_id
        assert attempt.outcome == "completed"
        assert (contact.state, contact.attempts_count) == (ContactState.COMPLETED, 1)


@pytest.fixture
async def runtime(sqlite_url: str, redis_prefix: str) -> AsyncIterator[Runtime]:
    sections = {
        "scheduler": {
            "reconcile_after_seconds": 0,
            "unknown_grace_seconds": 0,
            "expire_after_seconds": 0,
        }
    }
    async with open_runtime(sqlite_url, redis_prefix, **sections) as opened:
        yield opened


async def test_a_started_call_with_no_outcome_by_its_deadline_expires_and_is_not_redialed(
    runtime: Runtime,
) -> None:
    campaign_id, attempt_id = await claimed_attempt(runtime)
    async with runtime.sessions() as session, session.begin():
        await mark_started(session, attempt_id, call_id="call-x", session_id="session-x")
        await session.execute(
            update(CallAttempt).where(CallAttempt.id == attempt_id).values(deadline_at=ago(1))
        )

    stats = await Reconciler(runtime).run_once()

    assert stats.expired == 1
    (attempt,) = await attempts_of(runtime, campaign_id)
    assert (attempt.state, attempt.outcome) == (AttemptState.EXPIRED, "unknown")
    (contact,) = await contacts_of(runtime, campaign_id)
    assert contact.state == ContactState.EXHAUSTED
    for name in slot_names_for("mcube", campaign_id):
        assert await runtime.limiter.in_use(name) == 0


async def test_a_dialing_attempt_whose_worker_died_becomes_unknown_never_redialed_blindly(
    runtime: Runtime,
) -> None:
    campaign_id, attempt_id = await claimed_attempt(runtime)
    async with runtime.sessions() as session, session.begin():
        await session.execute(
            update(CallAttempt).where(CallAttempt.id == attempt_id).values(claimed_at=ago(60))
        )

    reconciler = Reconciler(runtime)
    stats = await reconciler.run_once()

    assert stats.orphaned == 1
    (attempt,) = await attempts_of(runtime, campaign_id)
    assert attempt.state == AttemptState.UNKNOWN
    assert attempt.error == "worker stopped during the start request"
    # Vocobase cannot be asked (nothing listens): even past the grace it stays unknown.
    assert (await reconciler.run_once()).lost == 0
    (attempt,) = await attempts_of(runtime, campaign_id)
    assert attempt.state == AttemptState.UNKNOWN
    (contact,) = await contacts_of(runtime, campaign_id)
    assert (contact.state, contact.attempts_count) == (ContactState.DIALING, 1)
    assert await runtime.limiter.in_use("vocobase:active") == 1


async def test_a_killed_workers_attempt_holds_its_slots_again_until_its_deadline(
    runtime: Runtime,
) -> None:
    # The short lease taken for the start request ran out while the worker was dead; the
    # call may be live, so its slots must count again until the reconciler knows.
    campaign_id, attempt_id = await claimed_attempt(runtime)
    names = slot_names_for("mcube", campaign_id)
    (contact,) = await contacts_of(runtime, campaign_id)
    await runtime.limiter.release_many([(names, f"{contact.id}:1")])
    async with runtime.sessions() as session, session.begin():
        await session.execute(
            update(CallAttempt).where(CallAttempt.id == attempt_id).values(claimed_at=ago(60))
        )

    assert (await Reconciler(runtime).run_once()).orphaned == 1

    for name in names:
        assert await runtime.limiter.in_use(name) == 1
    expiry = await runtime.redis.zscore(runtime.keys.slots("vocobase:active"), f"{contact.id}:1")
    (attempt,) = await attempts_of(runtime, campaign_id)
    assert expiry is not None
    assert abs(expiry / 1000 - attempt.deadline_at.timestamp()) < 5


async def test_a_429_on_a_poll_cools_the_whole_fleet_down_as_vocobase_asks(
    sqlite_url: str, redis_prefix: str
) -> None:
    config = sim_config(calls_per_minute=1, send_retry_after=True)
    async with serve_in_background(config) as (sim_url, _):
        settings = engine_settings(
            sqlite_url,
            redis_prefix,
            base_url=sim_url,
            api_key=config.api_key,
            scheduler={"unknown_grace_seconds": 60},
            limits={"vocobase": {"calls_per_minute": 6000}},
        )
        runtime = await Runtime.open(settings)
        try:
            campaign_id, attempt_id = await claimed_attempt(runtime)
            async with runtime.sessions() as session, session.begin():
                await mark_unknown(session, [attempt_id], error="ReadTimeout")
            await runtime.vocobase.list_calls()  # the simulator's one request a minute

            stats = await Reconciler(runtime).run_once()

            cooldown_ms = await runtime.redis.pttl(runtime.keys.cooldown)
            state = await runtime.limit_state.get(runtime.redis, runtime.keys)
        finally:
            await runtime.close()

    assert stats.polled == 1
    assert 30_000 < cooldown_ms <= 60_000  # Retry-After: the rest of the simulator's minute
    assert state.rate_factor < 1.0  # and the request rate is lowered a step
    (attempt,) = await attempts_of(runtime, campaign_id)
    assert attempt.state == AttemptState.UNKNOWN  # nothing settled by a refusal


async def test_dropped_webhooks_are_resolved_by_polling_within_the_budget(
    sqlite_url: str, redis_prefix: str
) -> None:
    per_minute = 120
    numbers = NUMBERS[:12]
    simulator = sim_config(
        calls_per_minute=per_minute, p_drop_webhook=1.0, outcome_mix={"completed": 1}
    )
    async with running_engine(
        sqlite_url,
        redis_prefix,
        simulator=simulator,
        limits={"vocobase": {"calls_per_minute": per_minute}},
        scheduler=QUICK_RECONCILE,
    ) as engine:
        campaign_id = await engine.add_campaign(numbers)
        await engine.run_to_completion(campaign_id, limit_seconds=60)
        contacts = await contacts_of(engine.runtime, campaign_id)
        attempts = await attempts_of(engine.runtime, campaign_id)
        ledger = engine.simulator.ledger

    assert all(call.dropped for call in ledger.calls)  # not one webhook arrived
    assert ledger.max_calls_requests_in_window <= per_minute
    assert ledger.responses_429["rate"] == 0
    for contact in contacts:
        (call,) = ledger.calls_to(contact.phone_e164)
        (attempt,) = [a for a in attempts if a.contact_id == contact.id]
        assert (attempt.state, attempt.outcome, attempt.call_id) == (
            AttemptState.ENDED,
            "completed",
            call.call_id,
        )
        assert attempt.outcome_source == "poll"  # decided without the webhook, and says so
        assert (contact.state, contact.attempts_count) == (ContactState.COMPLETED, 1)


@pytest.mark.parametrize("state", [AttemptState.UNKNOWN, AttemptState.DIALING])
async def test_an_attempt_never_settled_expires_after_its_deadline_whatever_its_state(
    runtime: Runtime, state: AttemptState
) -> None:
    campaign_id, attempt_id = await claimed_attempt(runtime)
    async with runtime.sessions() as session, session.begin():
        await session.execute(
            update(CallAttempt)
            .where(CallAttempt.id == attempt_id)
            .values(state=state.value, claimed_at=ago(1), deadline_at=ago(1))
        )

    stats = await Reconciler(runtime).run_once()

    assert stats.expired == 1
    (attempt,) = await attempts_of(runtime, campaign_id)
    assert (attempt.state, attempt.outcome) == (AttemptState.EXPIRED, "unknown")
    assert attempt.error is not None and "no outcome by the deadline" in attempt.error
    (contact,) = await contacts_of(runtime, campaign_id)
    assert contact.state == ContactState.EXHAUSTED  # never redialed: it may have been called
    for name in slot_names_for("mcube", campaign_id):
        assert await runtime.limiter.in_use(name) == 0


async def test_an_attempt_past_its_deadline_stays_open_while_the_reconciler_may_still_look(
    sqlite_url: str, redis_prefix: str
) -> None:
    sections = {"scheduler": {"reconcile_after_seconds": 0, "expire_after_seconds": 600}}
    async with open_runtime(sqlite_url, redis_prefix, **sections) as opened:
        campaign_id, attempt_id = await claimed_attempt(opened)
        async with opened.sessions() as session, session.begin():
            await mark_started(session, attempt_id, call_id="call-x", session_id="session-x")
            await session.execute(
                update(CallAttempt).where(CallAttempt.id == attempt_id).values(deadline_at=ago(1))
            )

        stats = await Reconciler(opened).run_once()

        assert stats.expired == 0
        (attempt,) = await attempts_of(opened, campaign_id)
        assert attempt.state == AttemptState.STARTED


async def test_a_found_unknown_start_takes_its_outcome_from_the_webhook_that_waited_for_it(
    sqlite_url: str, redis_prefix: str
) -> None:
    """The webhook beat the (failed) start response and waited unmatched; once GET /calls
    shows the call, the webhook's fuller report (transcript, recording) is what is kept."""
    simulator = sim_config(p_drop_webhook=1.0, outcome_mix={"completed": 1})
    async with running_engine(
        sqlite_url,
        redis_prefix,
        simulator=simulator,
        with_worker=False,
        with_scheduler=False,
        scheduler={"reconcile_after_seconds": 0, "unknown_grace_seconds": 0},
    ) as engine:
        runtime = engine.runtime
        campaign_id, attempt_id = await claimed_attempt(runtime)
        (contact,) = await contacts_of(runtime, campaign_id)
        request = StartCallRequest(agent_id=AGENT_ID, to_number=contact.phone_e164)
        started = await runtime.vocobase.start_call(request)
        async with runtime.sessions() as session, session.begin():
            await mark_unknown(session, [attempt_id], error="read timeout")

        async def call_ended() -> bool:
            return (await runtime.vocobase.get_call(started.call_id)).is_final

        await wait_until(call_ended, 10, "the simulated call to end")
        body = event_body(
            session_id=started.session_id,
            call_id=started.call_id,
            to_number=contact.phone_e164,
        )
        async with client_for(runtime) as client:
            await deliver(client, body, secret=SECRET)
        assert [row.status for row in await inbox_rows(runtime)] == ["unmatched"]

        stats = await Reconciler(runtime).run_once()

        assert stats.found == 1
        (attempt,) = await attempts_of(runtime, campaign_id)
        assert (attempt.state, attempt.call_id) == (AttemptState.ENDED, started.call_id)
        assert attempt.transcript is not None and attempt.transcript[0]["content"].startswith(
            "Hello"
        )
        assert attempt.recording_url == f"https://recordings.example/{started.session_id}.mp3"
        assert [row.status for row in await inbox_rows(runtime)] == ["applied"]


def test_an_unknown_start_matches_the_oldest_call_to_its_number_placed_after_its_claim() -> None:
    claimed = datetime(2026, 5, 4, 10, 0, tzinfo=UTC)
    attempt = CallAttempt(to_number="+919700000001", claimed_at=claimed)
    calls = [
        Call(
            call_id="newest",
            status="completed",
            to_number="+919700000001",
            created_at=claimed + timedelta(minutes=3),
        ),
        Call(
            call_id="other-number",
            status="completed",
            to_number="+919700000002",
            created_at=claimed + timedelta(minutes=2),
        ),
        Call(
            call_id="ours",
            status="completed",
            to_number="+919700000001",
            created_at=claimed + timedelta(seconds=1),
        ),
        Call(
            call_id="before-claim",
            status="completed",
            to_number="+919700000001",
            created_at=claimed - timedelta(minutes=5),
        ),
    ]

    known = OffsetBounds(timedelta(0), timedelta(seconds=1))
    assert match_unknown(attempt, calls, set(), known).call_id == "ours"  # type: ignore[union-attr]
    assert match_unknown(attempt, calls, {"ours"}, known).call_id == "newest"  # type: ignore[union-attr]
    assert match_unknown(attempt, calls, {"ours", "newest"}, known) is None


def test_an_unknown_start_is_matched_on_vocobases_clock_however_far_ours_is() -> None:
    """Vocobase's clock 45 s fast: the call created 1 s after the claim reads as 46 s after
    it; one 45 s slow: as 44 s before it — found either way, with the learned offset."""
    claimed = datetime(2026, 5, 4, 10, 0, tzinfo=UTC)
    attempt = CallAttempt(to_number="+919700000001", claimed_at=claimed)
    for skew in (45, -45):
        ours = Call(
            call_id="ours",
            status="completed",
            to_number="+919700000001",
            created_at=claimed + timedelta(seconds=1 + skew),
        )
        offset = OffsetBounds(timedelta(seconds=skew - 0.5), timedelta(seconds=skew + 0.5))
        assert match_unknown(attempt, [ours], set(), offset) is ours


async def test_attempts_past_their_deadline_are_looked_up_before_newer_overdue_ones(
    runtime: Runtime,
) -> None:
    """The reconciler's list of started attempts to look up puts certain ones first."""
    ids = []
    for index in range(3):
        # A number of its own each: one number is in one open attempt at a time.
        _, attempt_id = await claimed_attempt(runtime, NUMBERS[index])
        async with runtime.sessions() as session, session.begin():
            await mark_started(session, attempt_id, call_id=f"c-{index}", session_id=f"s-{index}")
            await session.execute(
                update(CallAttempt)
                .where(CallAttempt.id == attempt_id)
                .values(claimed_at=ago(900), polled_at=None if index else ago(300))
            )
        ids.append(attempt_id)
    async with runtime.sessions() as session, session.begin():
        await session.execute(
            update(CallAttempt).where(CallAttempt.id == ids[0]).values(deadline_at=ago(1))
        )

    found = await Reconciler(runtime)._overdue_started()

    assert found[0].id == ids[0]  # polled before, but certainly over
    assert sorted(attempt.id for attempt in found) == sorted(ids)


def detail(**fields: object) -> CallDetail:
    return CallDetail.model_validate({"call_id": "c", "status": "completed", **fields})


def test_an_outcome_waits_while_processing_then_gives_the_webhook_its_grace() -> None:
    seen_end = datetime(2026, 5, 4, 10, 0, tzinfo=UTC)
    attempt = CallAttempt(ended_at=seen_end)
    wait_max, grace = timedelta(minutes=10), timedelta(seconds=10)
    now = seen_end + timedelta(seconds=20)
    busy = detail(processing_complete=False)
    assert _decide_at(busy, attempt, now, wait_max, grace) == seen_end + wait_max
    # Vocobase's clock 45 s fast: processing completed 30 s after the end, on its clock.
    their_end = seen_end + timedelta(seconds=45)
    done = detail(
        processing_complete=True,
        ended_at=their_end.isoformat(),
        pipeline_completed_at=(their_end + timedelta(seconds=30)).isoformat(),
    )
    assert _decide_at(done, attempt, now, wait_max, grace) == seen_end + timedelta(seconds=40)
    assert _decide_at(None, attempt, now, wait_max, grace) == now  # no such call: decide
    assert _decide_at(busy, attempt, seen_end + wait_max, wait_max, grace) == seen_end + wait_max


def test_a_status_no_disposition_can_refine_is_decided_at_once() -> None:
    attempt = CallAttempt(ended_at=datetime(2026, 5, 4, 10, 0, tzinfo=UTC))
    now = attempt.ended_at + timedelta(seconds=1)
    for status in ("no_answer", "busy", "canceled"):
        call = detail(status=status, processing_complete=False)
        assert _decide_at(call, attempt, now, timedelta(minutes=10), timedelta(seconds=10)) == now
