"""The reconciler's request budget: one token per request, the fleet's 429 cooldown, and
the slots of a call found live."""

from __future__ import annotations

import logging
import time
from collections.abc import AsyncIterator
from datetime import timedelta

import pytest
from sqlalchemy import update

from campaign_engine.db.models import CallAttempt, utcnow
from campaign_engine.dialer.attempts import mark_started
from campaign_engine.dialer.poll_budget import MAX_WAIT_SECONDS, PollBudget
from campaign_engine.limits.adaptive import read_limit_state
from campaign_engine.limits.limiter import lease_name
from campaign_engine.limits.plan import (
    RECONCILE,
    VOCOBASE_ACTIVE,
    VOCOBASE_CALLS,
    LimitPlan,
    SlotLimit,
    slot_names_for,
)
from campaign_engine.runtime import Runtime
from campaign_engine.states import AttemptState
from campaign_engine.vocobase.errors import RateLimited, RequestNotSent, ServerError
from tests.dialer.support import (
    attempts_of,
    claimed_attempt,
    open_runtime,
)


@pytest.fixture
async def quick_budget(sqlite_url: str, redis_prefix: str) -> AsyncIterator[Runtime]:
    """A reconciler share of 60 requests a minute: one token about every second."""
    async with open_runtime(
        sqlite_url,
        redis_prefix,
        limits={"vocobase": {"calls_per_minute": 120}},
        scheduler={"reconcile_budget_share": 0.5},
    ) as runtime:
        yield runtime


def refusal(path: str = "/calls", retry_after: float | None = None) -> RateLimited:
    return RateLimited(
        method="GET", path=path, code=None, message="too many", retry_after=retry_after
    )


async def cooldown_ms(runtime: Runtime) -> int:
    return int(await runtime.redis.pttl(runtime.keys.cooldown))


# --- token ---------------------------------------------------------------------------------


async def test_the_first_token_is_granted_at_once(sqlite_runtime: Runtime) -> None:
    started = time.monotonic()

    assert await PollBudget(sqlite_runtime).token() is True
    assert time.monotonic() - started < 0.5


async def test_a_token_due_within_the_limit_is_waited_for(quick_budget: Runtime) -> None:
    budget = PollBudget(quick_budget)
    assert await budget.token()
    started = time.monotonic()

    assert await budget.token() is True

    waited = time.monotonic() - started
    assert 0.8 < waited < MAX_WAIT_SECONDS


async def test_a_token_due_later_than_the_longest_wait_is_given_up_at_once(
    sqlite_runtime: Runtime,
) -> None:
    # Default budget: the reconciler's share is 2 requests a minute, the next one ~30 s away.
    budget = PollBudget(sqlite_runtime)
    assert await budget.token()
    started = time.monotonic()

    assert await budget.token() is False
    assert time.monotonic() - started < 0.5  # it did not sleep towards a wait it will not finish


async def test_a_long_cooldown_is_not_waited_out_and_takes_no_token(
    quick_budget: Runtime,
) -> None:
    await quick_budget.limiter.cool_down(MAX_WAIT_SECONDS + 30)
    started = time.monotonic()

    assert await PollBudget(quick_budget).token() is False

    assert time.monotonic() - started < 0.5
    keys = quick_budget.keys
    assert await quick_budget.redis.exists(keys.rate(VOCOBASE_CALLS), keys.rate(RECONCILE)) == 0


async def test_a_short_cooldown_is_waited_out(quick_budget: Runtime) -> None:
    await quick_budget.limiter.cool_down(0.4)
    started = time.monotonic()

    assert await PollBudget(quick_budget).token() is True
    assert time.monotonic() - started >= 0.3


async def test_while_every_slot_is_taken_polls_get_the_whole_budget(
    sqlite_url: str, redis_prefix: str
) -> None:
    # 50 a minute: a 20% share would space polls 6 s apart (past the longest wait); with all
    # five partner slots held no start can use the budget, so polls are 1.2 s apart.
    async with open_runtime(
        sqlite_url, redis_prefix, limits={"vocobase": {"calls_per_minute": 50}}
    ) as runtime:
        full = LimitPlan((), (SlotLimit(VOCOBASE_ACTIVE, 5),))
        for index in range(5):
            assert (await runtime.limiter.acquire(full, f"lease-{index}", 60_000)).granted
        budget = PollBudget(runtime)
        assert await budget.token()
        started = time.monotonic()
        granted = await budget.token()
        waited = time.monotonic() - started

    assert granted is True
    assert 1.0 < waited < MAX_WAIT_SECONDS


async def test_with_a_slot_free_polls_keep_to_their_share_of_the_budget(
    sqlite_url: str, redis_prefix: str
) -> None:
    async with open_runtime(
        sqlite_url, redis_prefix, limits={"vocobase": {"calls_per_minute": 50}}
    ) as runtime:
        full = LimitPlan((), (SlotLimit(VOCOBASE_ACTIVE, 5),))
        for index in range(4):
            assert (await runtime.limiter.acquire(full, f"lease-{index}", 60_000)).granted
        budget = PollBudget(runtime)
        assert await budget.token()
        assert await budget.token() is False


# --- refused -------------------------------------------------------------------------------


async def test_a_429_on_a_poll_cools_the_fleet_down_for_its_retry_after(
    sqlite_runtime: Runtime,
) -> None:
    exc = refusal(retry_after=30)

    await PollBudget(sqlite_runtime).refused("GET /calls", exc)

    assert 25_000 < await cooldown_ms(sqlite_runtime) <= 30_000
    assert exc.kind == "rate"  # a poll's 429 can only be the request rate
    state = await read_limit_state(sqlite_runtime.redis, sqlite_runtime.keys)
    assert state.rate_factor == pytest.approx(0.8)
    assert state.lowered_concurrency is None
    assert await PollBudget(sqlite_runtime).token() is False


async def test_a_429_without_retry_after_cools_down_for_the_configured_time(
    sqlite_runtime: Runtime,
) -> None:
    await PollBudget(sqlite_runtime).refused("GET /calls/x", refusal())

    configured_ms = sqlite_runtime.settings.limits.cooldown_seconds * 1000
    assert configured_ms - 1000 < await cooldown_ms(sqlite_runtime) <= configured_ms


@pytest.mark.parametrize(
    "exc",
    [
        ServerError(method="GET", path="/calls", status_code=503, code=None, message="down"),
        RequestNotSent("connect error", method="GET", path="/calls"),
    ],
    ids=["5xx", "not-sent"],
)
async def test_a_failure_other_than_429_is_logged_and_cools_nothing_down(
    sqlite_runtime: Runtime, caplog: pytest.LogCaptureFixture, exc: Exception
) -> None:
    with caplog.at_level(logging.WARNING, logger="campaign_engine.dialer.poll_budget"):
        await PollBudget(sqlite_runtime).refused("listing live calls", exc)  # type: ignore[arg-type]

    assert await cooldown_ms(sqlite_runtime) == -2  # no cooldown key at all
    state = await read_limit_state(sqlite_runtime.redis, sqlite_runtime.keys)
    assert state.rate_factor == 1.0
    assert any(
        record.getMessage().startswith("listing live calls failed:") for record in caplog.records
    )
    assert await PollBudget(sqlite_runtime).token() is True


# --- release -------------------------------------------------------------------------------


async def test_release_gives_back_every_slot_of_the_leases_and_ignores_none(
    sqlite_runtime: Runtime,
) -> None:
    names = slot_names_for("mcube", "c-1")
    plan = LimitPlan((), tuple(SlotLimit(name, 5) for name in names))
    assert (await sqlite_runtime.limiter.acquire(plan, "7:1", 60_000)).granted
    assert (await sqlite_runtime.limiter.acquire(plan, "8:1", 60_000)).granted
    budget = PollBudget(sqlite_runtime)

    await budget.release([])
    assert await sqlite_runtime.limiter.in_use(VOCOBASE_ACTIVE) == 2

    await budget.release([(names, "7:1")])
    for name in names:
        assert await sqlite_runtime.limiter.in_use(name) == 1


# --- hold_live -----------------------------------------------------------------------------


async def set_attempt(runtime: Runtime, attempt_id: int, **values: object) -> None:
    async with runtime.sessions() as session, session.begin():
        await session.execute(
            update(CallAttempt).where(CallAttempt.id == attempt_id).values(**values)
        )


async def lease_expiry_ms(runtime: Runtime, name: str, lease: str) -> float | None:
    return await runtime.redis.zscore(runtime.keys.slots(name), lease)


async def redis_now_ms(runtime: Runtime) -> int:
    seconds, micros = await runtime.redis.time()
    return seconds * 1000 + micros // 1000


async def test_a_live_call_whose_lease_ran_out_holds_its_slots_again_until_its_deadline(
    runtime: Runtime,
) -> None:
    campaign_id, attempt_id = await claimed_attempt(runtime)
    deadline = utcnow() + timedelta(hours=2)
    async with runtime.sessions() as session, session.begin():
        await mark_started(session, attempt_id, call_id="call-1", session_id="session-1")
    await set_attempt(runtime, attempt_id, deadline_at=deadline)
    (attempt,) = await attempts_of(runtime, campaign_id)
    names = slot_names_for(attempt.provider, campaign_id)
    lease = lease_name(attempt.contact_id, attempt.attempt_number)
    await runtime.limiter.release(names, lease)  # the short start lease expired

    await PollBudget(runtime).hold_live(attempt)

    for name in names:
        assert await runtime.limiter.in_use(name) == 1
        expiry = await lease_expiry_ms(runtime, name, lease)
        assert expiry is not None
        assert abs(expiry / 1000 - deadline.timestamp()) < 5


async def test_a_live_call_past_its_deadline_still_holds_its_slots_for_a_second(
    runtime: Runtime,
) -> None:
    campaign_id, attempt_id = await claimed_attempt(runtime)
    await set_attempt(runtime, attempt_id, deadline_at=utcnow() - timedelta(minutes=5))
    (attempt,) = await attempts_of(runtime, campaign_id)
    names = slot_names_for(attempt.provider, campaign_id)
    lease = lease_name(attempt.contact_id, attempt.attempt_number)

    await PollBudget(runtime).hold_live(attempt)

    expiry = await lease_expiry_ms(runtime, VOCOBASE_ACTIVE, lease)
    assert expiry is not None
    assert 0 < expiry - await redis_now_ms(runtime) <= 1000
    for name in names:
        assert await runtime.limiter.in_use(name) == 1


@pytest.mark.parametrize("state", [AttemptState.ENDED, AttemptState.PROCESSING, AttemptState.LOST])
async def test_an_attempt_that_stopped_holding_meanwhile_gives_its_slots_back_at_once(
    runtime: Runtime, state: AttemptState
) -> None:
    campaign_id, attempt_id = await claimed_attempt(runtime)
    (attempt,) = await attempts_of(runtime, campaign_id)  # read while still dialing
    assert attempt.state == AttemptState.DIALING
    await set_attempt(runtime, attempt_id, state=state.value)  # a webhook ended it meanwhile

    await PollBudget(runtime).hold_live(attempt)

    for name in slot_names_for(attempt.provider, campaign_id):
        assert await runtime.limiter.in_use(name) == 0


@pytest.mark.parametrize("state", [AttemptState.DIALING, AttemptState.UNKNOWN])
async def test_every_holding_state_keeps_its_slots(runtime: Runtime, state: AttemptState) -> None:
    campaign_id, attempt_id = await claimed_attempt(runtime)
    await set_attempt(runtime, attempt_id, state=state.value)
    (attempt,) = await attempts_of(runtime, campaign_id)

    await PollBudget(runtime).hold_live(attempt)

    for name in slot_names_for(attempt.provider, campaign_id):
        assert await runtime.limiter.in_use(name) == 1
