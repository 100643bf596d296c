"""One wave of a dial job against the simulator: every start request of the wave goes out
together, and each answer is recorded by what it means for "was a call placed?"."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import timedelta

import httpx
import pytest
from redis.exceptions import ConnectionError as RedisConnectionError
from sqlalchemy import update

from campaign_engine.db.models import Contact, utcnow
from campaign_engine.dialer import claim as claim_module
from campaign_engine.dialer import wave as wave_module
from campaign_engine.dialer.scheduler import Scheduler
from campaign_engine.dialer.targets import DialTarget, load_targets
from campaign_engine.dialer.wave import failure_kind_of, run_wave
from campaign_engine.failure_kinds import FailureKind
from campaign_engine.limits.plan import VOCOBASE_ACTIVE, LimitPlan, SlotLimit, slot_names_for
from campaign_engine.ops.queues import retry_queue
from campaign_engine.states import AttemptState, ContactState
from campaign_engine.vocobase.errors import (
    AmbiguousError,
    APIError,
    BadRequest,
    RateLimited,
    RequestNotSent,
    ServerError,
    Unauthorized,
    VocobaseError,
)
from campaign_engine.vocobase.schemas import StartCallRequest, StartedCall
from tests.dialer.support import NUMBERS, attempts_of, contacts_of
from tests.harness import Harness, running_engine, sim_config

INVALID = "+0123"  # the simulator refuses it with a 400 that names to_number


@pytest.fixture
async def engine(database_url: str, redis_prefix: str) -> AsyncIterator[Harness]:
    """A simulator with room for one call, and no worker or scheduler of the engine's own."""
    simulator = sim_config(
        concurrency=1,
        talk_seconds=(1000, 1000),
        outcome_mix={"completed": 1},
        send_retry_after=False,
    )
    async with running_engine(
        database_url,
        redis_prefix,
        simulator=simulator,
        with_worker=False,
        with_scheduler=False,
        limits={"vocobase": {"calls_per_minute": 6000, "concurrency": 10}},
    ) as harness:
        yield harness


async def leased_wave(engine: Harness, numbers: list[str]) -> tuple[str, list[DialTarget]]:
    """A started campaign's contacts, queued, with their leases taken as the job takes them."""
    runtime = engine.runtime
    campaign_id = await engine.add_campaign(numbers)
    await Scheduler(runtime).enqueue_due()
    ids = [contact.id for contact in await contacts_of(runtime, campaign_id)]
    async with runtime.sessions() as session:
        targets = await load_targets(session, ids)
    names = slot_names_for("mcube", campaign_id)
    plan = LimitPlan((), tuple(SlotLimit(name, 10) for name in names))
    grants = await runtime.limiter.acquire_many(plan, [t.lease for t in targets], 60_000)
    assert len(grants.granted) == len(targets)
    return campaign_id, targets


async def test_a_wave_records_a_start_a_refused_number_and_a_429_each_for_what_it_is(
    engine: Harness,
) -> None:
    runtime = engine.runtime
    campaign_id, wave = await leased_wave(engine, [NUMBERS[0], INVALID, NUMBERS[1]])

    tally = await run_wave(runtime, wave)

    # The simulator has room for one call: one start wins, the other valid number gets a
    # 429 (no attempt spent), the invalid number is refused for itself alone.
    assert tally == {"started": 1, "rate-limited": 1, "rejected": 1}
    contacts = {c.phone_e164: c for c in await contacts_of(runtime, campaign_id)}
    by_contact = {a.contact_id: a for a in await attempts_of(runtime, campaign_id)}
    refused = contacts[INVALID]
    assert refused.state == ContactState.FAILED
    assert "to_number" in (by_contact[refused.id].error or "")
    assert by_contact[refused.id].outcome == "rejected"
    (placed,) = engine.simulator.ledger.calls
    started = contacts[placed.to_number]
    assert started.state == ContactState.CALLING
    assert by_contact[started.id].call_id == placed.call_id
    (limited,) = [c for n, c in contacts.items() if n not in (INVALID, placed.to_number)]
    assert (limited.state, limited.attempts_count) == (ContactState.PENDING, 0)
    assert by_contact[limited.id].state == AttemptState.NOT_SENT
    assert limited.next_attempt_at is not None and limited.next_attempt_at > utcnow()
    # Only the call that exists still holds a slot; the whole fleet cools down.
    assert await runtime.limiter.in_use(VOCOBASE_ACTIVE) == 1
    assert await runtime.redis.pttl(runtime.keys.cooldown) > 0
    assert await runtime.redis.exists(runtime.keys.lowered_concurrency)
    # What each failure was is data on the attempt and the contact, not words in the error.
    assert by_contact[limited.id].failure_kind == FailureKind.CONCURRENCY_LIMITED
    assert limited.last_failure_kind == FailureKind.CONCURRENCY_LIMITED
    assert by_contact[refused.id].failure_kind == FailureKind.REJECTED
    assert refused.last_failure_kind == FailureKind.REJECTED
    assert by_contact[started.id].failure_kind is None and started.last_failure_kind is None
    async with runtime.sessions() as session:
        queue = await retry_queue(session, campaign_id=campaign_id)
    assert [(c.phone, c.reason) for c in queue.contacts] == [(limited.phone_e164, "rate_limited")]


async def test_a_claimed_contact_no_longer_carries_the_kind_of_its_last_failure(
    engine: Harness,
) -> None:
    """Handed back by a 429, then claimed again and started: its outcome will replace the
    429's last_error, so the kind is no longer its reason."""
    runtime = engine.runtime
    campaign_id, wave = await leased_wave(engine, NUMBERS[:1])
    async with runtime.sessions() as session, session.begin():
        await session.execute(
            update(Contact)
            .where(Contact.campaign_id == campaign_id)
            .values(last_error="earlier 429", last_failure_kind=FailureKind.RATE_LIMITED.value)
        )

    assert await run_wave(runtime, wave) == {"started": 1}

    [contact] = await contacts_of(runtime, campaign_id)
    assert (contact.state, contact.last_failure_kind) == (ContactState.CALLING, None)


def _errors() -> list[tuple[VocobaseError, FailureKind]]:
    where = {"method": "POST", "path": "/calls/start"}
    return [
        (RateLimited(**where, code="RATE_LIMITED", message="Rate limit"), FailureKind.RATE_LIMITED),
        (RateLimited(**where, code=None, message="slow down"), FailureKind.RATE_LIMITED),
        (
            RateLimited(**where, code=None, message="-", kind="concurrency"),
            FailureKind.CONCURRENCY_LIMITED,
        ),
        (RequestNotSent("connect error", **where), FailureKind.NOT_SENT),
        (AmbiguousError("read timeout", **where), FailureKind.UNKNOWN),
        (
            ServerError(**where, status_code=502, code=None, message="bad gateway"),
            FailureKind.UNKNOWN,
        ),
        (
            BadRequest(**where, status_code=400, code="VALIDATION_ERROR", message="bad to_number"),
            FailureKind.REJECTED,
        ),
        (
            Unauthorized(**where, status_code=401, code=None, message="bad key"),
            FailureKind.CAMPAIGN_PAUSED,
        ),
    ]


@pytest.mark.parametrize(("error", "kind"), _errors())
def test_each_failed_start_has_the_kind_its_error_class_says(
    error: VocobaseError, kind: FailureKind
) -> None:
    assert failure_kind_of(error) == kind


async def test_a_wave_claimed_elsewhere_sends_nothing_and_leaves_the_winners_leases(
    engine: Harness,
) -> None:
    """Two jobs for one contact (Redis lost its queue): the attempt of that number is the
    other job's, and so is the lease of that name — the loser must not free it."""
    runtime = engine.runtime
    campaign_id, wave = await leased_wave(engine, NUMBERS[:2])
    async with runtime.sessions() as session, session.begin():
        assert len(await claim_module.claim(session, wave, margin_seconds=120)) == 2

    assert await run_wave(runtime, wave) == {"claimed-elsewhere": 2}

    assert engine.simulator.ledger.calls == []
    assert await runtime.limiter.in_use(VOCOBASE_ACTIVE) == 2
    assert len(await attempts_of(runtime, campaign_id)) == 2


async def test_a_wave_whose_contacts_were_closed_meanwhile_frees_its_leases(
    engine: Harness,
) -> None:
    runtime = engine.runtime
    campaign_id, wave = await leased_wave(engine, NUMBERS[:2])
    async with runtime.sessions() as session, session.begin():
        await session.execute(
            update(Contact).where(Contact.campaign_id == campaign_id).values(state="canceled")
        )

    assert await run_wave(runtime, wave) == {"claimed-elsewhere": 2}

    assert engine.simulator.ledger.calls == []
    assert await runtime.limiter.in_use(VOCOBASE_ACTIVE) == 0
    assert await attempts_of(runtime, campaign_id) == []


async def test_a_wave_of_accepted_starts_stores_every_call_id_in_one_go(
    database_url: str, redis_prefix: str
) -> None:
    simulator = sim_config(concurrency=10, talk_seconds=(1000, 1000), outcome_mix={"completed": 1})
    async with running_engine(
        database_url, redis_prefix, simulator=simulator, with_worker=False, with_scheduler=False
    ) as engine:
        runtime = engine.runtime
        campaign_id, wave = await leased_wave(engine, NUMBERS[:5])

        assert await run_wave(runtime, wave) == {"started": 5}

        attempts_by_number = {a.to_number: a for a in await attempts_of(runtime, campaign_id)}
        placed = {call.to_number: call.call_id for call in engine.simulator.ledger.calls}
        assert {n: a.call_id for n, a in attempts_by_number.items()} == placed
        assert {a.state for a in attempts_by_number.values()} == {AttemptState.STARTED}
        contacts = await contacts_of(runtime, campaign_id)
        assert {c.state for c in contacts} == {ContactState.CALLING}
        assert await runtime.limiter.in_use(VOCOBASE_ACTIVE) == 5


async def roomy_engine(database_url: str, redis_prefix: str) -> AsyncIterator[Harness]:
    simulator = sim_config(concurrency=10, talk_seconds=(1000, 1000), outcome_mix={"completed": 1})
    async with running_engine(
        database_url, redis_prefix, simulator=simulator, with_worker=False, with_scheduler=False
    ) as harness:
        yield harness


@pytest.fixture
async def roomy(database_url: str, redis_prefix: str) -> AsyncIterator[Harness]:
    async for harness in roomy_engine(database_url, redis_prefix):
        yield harness


async def test_an_unexpected_error_on_one_start_still_records_every_call_placed(
    roomy: Harness, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A corrupt answer (httpx.DecodingError) is one start of unknown fate; the wave's other
    calls are stored with their ids, not left ``dialing`` for the reconciler to guess."""
    runtime = roomy.runtime
    campaign_id, wave = await leased_wave(roomy, NUMBERS[:3])
    real = runtime.vocobase.start_call

    async def start_call(request: StartCallRequest) -> StartedCall:
        answer = await real(request)
        if request.to_number == NUMBERS[1]:
            raise httpx.DecodingError("corrupt gzip stream")
        return answer

    monkeypatch.setattr(runtime.vocobase, "start_call", start_call)

    assert await run_wave(runtime, wave) == {"started": 2, "unknown": 1}

    states = {a.to_number: (a.state, a.call_id) for a in await attempts_of(runtime, campaign_id)}
    placed = {call.to_number: call.call_id for call in roomy.simulator.ledger.calls}
    assert states[NUMBERS[0]] == (AttemptState.STARTED, placed[NUMBERS[0]])
    assert states[NUMBERS[2]] == (AttemptState.STARTED, placed[NUMBERS[2]])
    assert states[NUMBERS[1]] == (AttemptState.UNKNOWN, None)
    assert await runtime.limiter.in_use(VOCOBASE_ACTIVE) == 3  # the unknown one may be live


async def test_a_worker_stalled_after_its_claim_sends_nothing(
    roomy: Harness, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Past SEND_WITHIN the reconciler may be taking the claim for an orphan: a late start
    could dial a contact it has handed back. Nothing is sent; nothing is spent."""
    runtime = roomy.runtime
    campaign_id, wave = await leased_wave(roomy, NUMBERS[:1])
    monkeypatch.setattr(wave_module, "SEND_WITHIN", timedelta(seconds=-1))

    assert await run_wave(runtime, wave) == {"not-sent": 1}

    assert roomy.simulator.ledger.calls == []
    (attempt,) = await attempts_of(runtime, campaign_id)
    assert attempt.state == AttemptState.NOT_SENT and "stalled" in (attempt.error or "")
    (contact,) = await contacts_of(runtime, campaign_id)
    assert (contact.state, contact.attempts_count) == (ContactState.PENDING, 0)


@pytest.mark.parametrize("status", [409, 422])
async def test_an_undocumented_refusal_fails_the_attempt_not_the_contact_for_good(
    roomy: Harness, monkeypatch: pytest.MonkeyPatch, status: int
) -> None:
    runtime = roomy.runtime
    campaign_id, wave = await leased_wave(roomy, NUMBERS[:1])

    async def start_call(request: StartCallRequest) -> StartedCall:
        raise APIError(
            method="POST", path="/calls/start", status_code=status, code="X", message="nope"
        )

    monkeypatch.setattr(runtime.vocobase, "start_call", start_call)

    assert await run_wave(runtime, wave) == {"refused": 1}

    (attempt,) = await attempts_of(runtime, campaign_id)
    assert (attempt.outcome, attempt.failure_kind) == ("failed", FailureKind.REFUSED)
    (contact,) = await contacts_of(runtime, campaign_id)
    assert contact.state == ContactState.RETRYING  # the retry policy decides, as for a failure
    assert await runtime.limiter.in_use(VOCOBASE_ACTIVE) == 0


async def test_a_redis_failure_after_the_starts_leaves_the_call_ids_stored(
    roomy: Harness, monkeypatch: pytest.MonkeyPatch
) -> None:
    runtime = roomy.runtime
    campaign_id, wave = await leased_wave(roomy, NUMBERS[:2])

    async def extend_many(*args: object) -> None:
        raise RedisConnectionError("Redis went away")

    monkeypatch.setattr(runtime.limiter, "extend_many", extend_many)

    assert await run_wave(runtime, wave) == {"started": 2}

    placed = {call.to_number: call.call_id for call in roomy.simulator.ledger.calls}
    stored = {a.to_number: a.call_id for a in await attempts_of(runtime, campaign_id)}
    assert stored == placed


def test_kept_columns_are_never_sent_as_call_variables_declared_or_not() -> None:
    from campaign_engine.dialer.wave import call_variables

    stored = {"name": "Asha", "kept:crm_id": "C-1", "due": 5}
    assert call_variables(stored, None, "ce_attempt_id", 7) == {"name": "Asha", "due": "5"}
    assert call_variables(stored, ["name", "ce_attempt_id"], "ce_attempt_id", 7) == {
        "name": "Asha",
        "ce_attempt_id": "7",
    }
