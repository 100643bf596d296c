"""The console's read-only views over a real database (both backends) and real Redis."""

from __future__ import annotations

from datetime import timedelta

from campaign_engine.control import campaign_moves
from campaign_engine.db.models import utcnow
from campaign_engine.limits.plan import VOCOBASE_ACTIVE, provider_key
from campaign_engine.ops.history import contact_history
from campaign_engine.ops.limits_view import limits_view
from campaign_engine.ops.progress import eta_seconds, overview
from campaign_engine.ops.queues import dead_letters, retry_queue
from campaign_engine.runtime import Runtime
from tests.ops import seed


async def test_overview_shows_progress_in_flight_recent_rate_eta_and_why_paused(
    runtime: Runtime,
) -> None:
    async with runtime.sessions() as session, session.begin():
        cid = await seed.campaign(session)
        done = await seed.contact(session, cid, "+919800000001", state="completed")
        await seed.attempt(session, done, state="ended", outcome="completed")
        await seed.contact(session, cid, "+919800000002", state="exhausted")
        ringing = await seed.contact(session, cid, "+919800000003", state="calling")
        await seed.attempt(session, ringing, state="started")
        refused = await seed.contact(session, cid, "+919800000004", state="pending")
        await seed.attempt(session, refused, state="not_sent", error="429")
        old = await seed.contact(session, cid, "+919800000005", state="retrying")
        earlier = utcnow() - timedelta(minutes=30)
        await seed.attempt(session, old, state="ended", claimed_at=earlier)
        finished = await seed.campaign(session, name="old")
        await campaign_moves.cancel(session, finished, keys=runtime.keys, actor="tester")
        await campaign_moves.pause(
            session, cid, keys=runtime.keys, actor="tester", reason="carrier outage"
        )

    async with runtime.sessions() as session:
        [row] = await overview(session)
        everything = await overview(session, include_finished=True)

    assert len(everything) == 2
    assert (row.id, row.state, row.state_reason) == (cid, "paused", "carrier outage")
    assert (row.total, row.final, row.in_flight) == (6, 2, 1)
    assert (row.calls_last_minute, row.calls_last_hour) == (2, 3)
    assert row.eta_seconds is None  # paused: no pace to speak of
    assert row.last_event is not None and row.last_event.to_state == "paused"


def test_eta_uses_the_last_minute_else_the_last_hour_and_is_zero_when_done() -> None:
    assert eta_seconds(10, 5, 60, running=True) == 120.0
    assert eta_seconds(10, 0, 60, running=True) == 600.0
    assert eta_seconds(0, 0, 0, running=False) == 0.0
    assert eta_seconds(10, 0, 0, running=True) is None


async def test_retry_queue_groups_by_reason_and_filters_by_phone_campaign_and_reason(
    runtime: Runtime,
) -> None:
    async with runtime.sessions() as session, session.begin():
        cid = await seed.campaign(session)
        other = await seed.campaign(session, name="other")
        soon = utcnow() + timedelta(minutes=5)
        for phone, outcome in (("+919811111111", "no_answer"), ("+919822222222", "busy")):
            await seed.contact(
                session, cid, phone, state="retrying", attempts_count=1,
                last_outcome=outcome, next_attempt_at=soon,
            )  # fmt: skip
        await seed.contact(
            session, cid, "+919833333333", state="pending",
            last_error="POST /calls/start: HTTP 429 RATE_LIMITED: Too Many Requests",
            last_failure_kind="rate_limited", next_attempt_at=soon,
        )  # fmt: skip
        await seed.contact(
            session, other, "+919844444444", state="retrying", attempts_count=2,
            last_outcome="user_hangup_no_speech", next_attempt_at=soon,
        )  # fmt: skip

    async with runtime.sessions() as session:
        everything = await retry_queue(session)
        by_phone = await retry_queue(session, phone="98 222")
        limited = await retry_queue(session, campaign_id=cid, reason="rate_limited")
        elsewhere = await retry_queue(session, campaign_id=other)

    assert everything.by_reason == {
        "no_answer": 1, "busy": 1, "rate_limited": 1, "unknown": 1,
    }  # fmt: skip
    assert [c.phone for c in by_phone.contacts] == ["+919822222222"]
    assert by_phone.contacts[0].next_attempt_number == 2
    assert [c.phone for c in limited.contacts] == ["+919833333333"]
    assert limited.contacts[0].next_attempt_at is not None
    assert [(c.phone, c.reason) for c in elsewhere.contacts] == [("+919844444444", "unknown")]


async def test_dead_letters_list_given_up_contacts_and_attempts_stuck_or_expired(
    runtime: Runtime,
) -> None:
    async with runtime.sessions() as session, session.begin():
        cid = await seed.campaign(session)
        for phone, state, error in (
            ("+919811111111", "exhausted", None),
            ("+919822222222", "failed", "400 invalid number"),
            ("+919833333333", "suppressed", "on the do-not-call list"),
        ):
            await seed.contact(session, cid, phone, state=state, last_error=error)
        stuck = await seed.contact(session, cid, "+919844444444", state="calling")
        late = utcnow() - timedelta(hours=1)
        await seed.attempt(session, stuck, state="started", claimed_at=late)
        gone = await seed.contact(session, cid, "+919855555555", state="retrying")
        await seed.attempt(session, gone, state="expired", error="no outcome")
        fine = await seed.contact(session, cid, "+919866666666", state="calling")
        await seed.attempt(session, fine, state="started")

    async with runtime.sessions() as session:
        dead = await dead_letters(session, campaign_id=cid)

    assert [(c.phone, c.state, c.last_error) for c in dead.contacts] == [
        ("+919811111111", "exhausted", None),
        ("+919822222222", "failed", "400 invalid number"),
        ("+919833333333", "suppressed", "on the do-not-call list"),
    ]
    assert sorted((a.phone, a.state) for a in dead.attempts) == [
        ("+919844444444", "started"),
        ("+919855555555", "expired"),
    ]


async def test_contact_history_has_every_attempt_with_ids_and_its_raw_webhooks(
    runtime: Runtime,
) -> None:
    async with runtime.sessions() as session, session.begin():
        cid = await seed.campaign(session)
        asha = await seed.contact(session, cid, "+919811111111", state="completed")
        first = await seed.attempt(
            session, asha, state="ended", outcome="no_answer", call_id="c1", session_id="s1",
            claimed_at=utcnow() - timedelta(minutes=5),
        )  # fmt: skip
        second = await seed.attempt(
            session, asha, state="ended", number=2, outcome="completed", call_id="c2",
            session_id="s2", disposition="completed", answered_by="human", duration_seconds=42.5,
        )  # fmt: skip
        await seed.webhook(session, second, b'{"event":"session.completed"}')

    async with runtime.sessions() as session:
        history = await contact_history(session, asha.id)

    assert [(a.id, a.call_id, a.session_id) for a in history.attempts] == [
        (first.id, "c1", "s1"),
        (second.id, "c2", "s2"),
    ]
    assert history.attempts[1].answered_by == "human"
    assert history.attempts[1].duration_seconds == 42.5
    assert [w.body for w in history.attempts[1].webhooks] == ['{"event":"session.completed"}']
    assert history.attempts[0].webhooks == []


async def test_limits_show_configured_values_use_429s_cooldown_and_lowered_limits(
    runtime: Runtime,
) -> None:
    keys = runtime.keys
    await runtime.redis.set(keys.cooldown, "1", px=60_000)
    await runtime.redis.set(keys.lowered_concurrency, "3", px=60_000)
    await runtime.redis.set(keys.lowered_rate, "0.8", px=60_000)
    now_s, _ = await runtime.redis.time()
    far = (now_s + 600) * 1000
    await runtime.redis.zadd(keys.slots(VOCOBASE_ACTIVE), {"lease-1": far, "lease-2": far})
    async with runtime.sessions() as session, session.begin():
        cid = await seed.campaign(session)
        target = await seed.contact(session, cid, "+919811111111", state="pending")
        await seed.attempt(
            session, target, state="not_sent", error="HTTP 429: too many",
            failure_kind="concurrency_limited",
        )  # fmt: skip
        # Not sent for another reason, though its text holds "429": not a 429.
        await seed.attempt(
            session, target, state="not_sent", number=2, failure_kind="not_sent",
            error="POST /calls/start: cannot connect to edge-429.vocobase.example",
        )  # fmt: skip

    async with runtime.sessions() as session:
        view = await limits_view(session, runtime.redis, keys, runtime.settings.limits)

    by_name = {(row.name, row.kind): row for row in view.limits}
    active = by_name[(VOCOBASE_ACTIVE, "concurrency")]
    assert (active.limit, active.in_use) == (3, 2)
    twilio = by_name[(provider_key("twilio"), "rate")]
    assert (twilio.limit, twilio.in_use, twilio.rate_limited_last_hour) == (60, 2, 1)
    assert by_name[("vocobase:calls", "rate")].limit == 8.0
    assert by_name[(f"campaign:{cid}", "concurrency")].limit == 3
    assert 0 < view.cooldown_ms <= 60_000
    assert (view.lowered_concurrency, view.lowered_rate_factor) == (3, 0.8)
