"""The retry queue and the dead letters, as contacts: who waits, why, and who was given up on."""

from __future__ import annotations

from datetime import timedelta

from campaign_engine.db.models import utcnow
from campaign_engine.ops.queues import dead_letters, retry_queue
from campaign_engine.runtime import Runtime
from tests.ops import seed


async def test_the_queue_holds_retrying_contacts_and_pending_ones_handed_back_with_an_error(
    runtime: Runtime,
) -> None:
    soon = utcnow() + timedelta(minutes=5)
    async with runtime.sessions() as session, session.begin():
        cid = await seed.campaign(session, start=False)  # a plain pending contact: not queued
        await seed.contact(
            session, cid, "+919811111111", state="retrying", attempts_count=1,
            last_outcome="no_answer", next_attempt_at=soon,
        )  # fmt: skip
        await seed.contact(
            session, cid, "+919822222222", state="pending", last_error="HTTP 429",
            last_failure_kind="concurrency_limited", next_attempt_at=soon,
        )  # fmt: skip
        for phone, state in (("+919833333333", "queued"), ("+919844444444", "exhausted")):
            await seed.contact(session, cid, phone, state=state, last_outcome="no_answer")

    async with runtime.sessions() as session:
        queue = await retry_queue(session)

    assert [(c.phone, c.state, c.reason) for c in queue.contacts] == [
        ("+919811111111", "retrying", "no_answer"),
        ("+919822222222", "pending", "rate_limited"),
    ]
    assert queue.by_reason == {"no_answer": 1, "rate_limited": 1}


async def test_reasons_are_a_429_first_then_a_named_outcome_else_unknown(
    runtime: Runtime,
) -> None:
    soon = utcnow() + timedelta(minutes=5)
    async with runtime.sessions() as session, session.begin():
        cid = await seed.campaign(session, start=False)
        cases = [
            ("+919800000001", "busy", None),
            ("+919800000002", "voicemail", None),
            ("+919800000003", "failed", None),
            ("+919800000004", "user_hangup_no_speech", None),
            ("+919800000005", None, None),
            ("+919800000006", "busy", "rate_limited"),  # a 429 after a busy try
            ("+919800000007", "no_answer", "not_sent"),  # not a 429, whatever the text
        ]
        for index, (phone, outcome, kind) in enumerate(cases):
            await seed.contact(
                session, cid, phone, state="retrying", last_outcome=outcome,
                last_failure_kind=kind, last_error="HTTP 429 in text" if kind else None,
                next_attempt_at=soon + timedelta(seconds=index),
            )  # fmt: skip

    async with runtime.sessions() as session:
        queue = await retry_queue(session, campaign_id=cid)

    assert [c.reason for c in queue.contacts] == [
        "busy",
        "voicemail",
        "failed",
        "unknown",
        "unknown",
        "rate_limited",
        "no_answer",
    ]
    assert queue.by_reason == {
        "busy": 1,
        "voicemail": 1,
        "failed": 1,
        "unknown": 2,
        "rate_limited": 1,
        "no_answer": 1,
    }


async def test_the_queue_is_soonest_first_and_the_limit_cuts_the_list_not_the_counts(
    runtime: Runtime,
) -> None:
    now = utcnow()
    async with runtime.sessions() as session, session.begin():
        cid = await seed.campaign(session, start=False)
        for minutes, phone in ((30, "+919800000030"), (10, "+919800000010"), (20, "+919800000020")):
            await seed.contact(
                session, cid, phone, state="retrying", attempts_count=2, last_outcome="busy",
                next_attempt_at=now + timedelta(minutes=minutes),
            )  # fmt: skip

    async with runtime.sessions() as session:
        queue = await retry_queue(session, limit=2)

    assert [c.phone for c in queue.contacts] == ["+919800000010", "+919800000020"]
    assert queue.by_reason == {"busy": 3}
    first = queue.contacts[0]
    assert (first.attempts_count, first.next_attempt_number) == (2, 3)
    assert first.next_attempt_at == now + timedelta(minutes=10)
    assert (first.campaign_id, first.last_outcome) == (cid, "busy")


async def test_filters_by_campaign_phone_digits_and_reason_narrow_list_and_counts(
    runtime: Runtime,
) -> None:
    soon = utcnow() + timedelta(minutes=5)
    async with runtime.sessions() as session, session.begin():
        cid = await seed.campaign(session, start=False)
        other = await seed.campaign(session, name="other", start=False)
        for campaign, phone, outcome in (
            (cid, "+919811111111", "busy"),
            (cid, "+919822222222", "no_answer"),
            (other, "+919811111112", "busy"),
        ):
            await seed.contact(
                session, campaign, phone, state="retrying", last_outcome=outcome,
                next_attempt_at=soon,
            )  # fmt: skip

    async with runtime.sessions() as session:
        mine = await retry_queue(session, campaign_id=cid)
        typed = await retry_queue(session, phone="+91 98111-1111")
        busy = await retry_queue(session, reason="busy")
        both = await retry_queue(session, campaign_id=cid, reason="busy")
        nothing = await retry_queue(session, reason="voicemail")

    assert mine.by_reason == {"busy": 1, "no_answer": 1}
    assert sorted(c.phone for c in typed.contacts) == ["+919811111111", "+919811111112"]
    assert busy.by_reason == {"busy": 2}
    assert [c.phone for c in both.contacts] == ["+919811111111"]
    assert (nothing.by_reason, nothing.contacts) == ({}, [])


async def test_dead_letters_are_given_up_contacts_only(runtime: Runtime) -> None:
    now = utcnow()
    async with runtime.sessions() as session, session.begin():
        cid = await seed.campaign(session, start=False)
        for index, state in enumerate(
            ("exhausted", "failed", "suppressed", "completed", "canceled", "retrying")
        ):
            await seed.contact(
                session, cid, f"+91970000000{index}", state=state, last_outcome="no_answer",
                next_attempt_at=now + timedelta(minutes=index),
            )  # fmt: skip

    async with runtime.sessions() as session:
        dead = await dead_letters(session, campaign_id=cid)

    assert [(c.state, c.reason) for c in dead.contacts] == [
        ("exhausted", "no_answer"),
        ("failed", "no_answer"),
        ("suppressed", "no_answer"),
    ]
    assert dead.attempts == []


async def test_stuck_attempts_are_expired_ones_or_open_ones_past_their_deadline(
    runtime: Runtime,
) -> None:
    now = utcnow()
    hour_ago = now - timedelta(hours=1)
    async with runtime.sessions() as session, session.begin():
        cid = await seed.campaign(session, start=False)
        contact = await seed.contact(session, cid, "+919811111111", state="calling")
        expired = await seed.attempt(session, contact, state="expired", error="no outcome")
        # Open ones each to a number of its own: one number is in one open attempt at a time.
        late = {
            state: await seed.attempt(
                session, contact, state=state, number=n, claimed_at=hour_ago,
                to_number=f"+91981111110{n}",
            )
            for n, state in ((2, "dialing"), (3, "started"), (4, "unknown"))
        }  # fmt: skip
        # Past the deadline but settled: not stuck.
        await seed.attempt(session, contact, state="ended", number=5, claimed_at=hour_ago)
        await seed.attempt(session, contact, state="lost", number=6, claimed_at=hour_ago)
        # Open, within its deadline: not stuck yet.
        await seed.attempt(session, contact, state="started", number=7, to_number="+919811111107")

    async with runtime.sessions() as session:
        dead = await dead_letters(session, campaign_id=cid, now=now)
        before = await dead_letters(session, campaign_id=cid, now=hour_ago)

    assert [a.attempt_id for a in dead.attempts] == [
        late["unknown"].id,
        late["started"].id,
        late["dialing"].id,
        expired.id,
    ]
    stuck = dead.attempts[-1]
    assert (stuck.state, stuck.error, stuck.phone, stuck.campaign_id) == (
        "expired",
        "no outcome",
        "+919811111111",
        cid,
    )
    assert stuck.deadline_at == stuck.claimed_at + timedelta(minutes=10)
    # An hour ago, none of the open ones had reached its deadline yet.
    assert [a.attempt_id for a in before.attempts] == [expired.id]


async def test_stuck_attempts_filter_by_campaign_and_phone_and_respect_the_limit(
    runtime: Runtime,
) -> None:
    async with runtime.sessions() as session, session.begin():
        cid = await seed.campaign(session, start=False)
        other = await seed.campaign(session, name="other", start=False)
        mine = await seed.contact(session, cid, "+919811111111", state="calling")
        theirs = await seed.contact(session, other, "+919822222222", state="calling")
        a1 = await seed.attempt(session, mine, state="expired")
        a2 = await seed.attempt(session, mine, state="expired", number=2)
        b1 = await seed.attempt(session, theirs, state="expired")

    async with runtime.sessions() as session:
        by_campaign = await dead_letters(session, campaign_id=other)
        by_phone = await dead_letters(session, phone="+919811111111")
        limited = await dead_letters(session, limit=2)

    assert [a.attempt_id for a in by_campaign.attempts] == [b1.id]
    assert [a.attempt_id for a in by_phone.attempts] == [a2.id, a1.id]
    assert [a.attempt_id for a in limited.attempts] == [b1.id, a2.id]


async def test_a_phone_search_finds_the_same_contact_and_its_stuck_attempts_however_written(
    runtime: Runtime,
) -> None:
    async with runtime.sessions() as session, session.begin():
        cid = await seed.campaign(session)
        given_up = await seed.contact(session, cid, "+919811111111", state="exhausted")
        elsewhere = await seed.campaign(session, name="other")
        stuck = await seed.contact(session, elsewhere, "+919811111111", state="calling")
        await seed.attempt(session, stuck, state="started", deadline_in=timedelta(minutes=-5))
    async with runtime.sessions() as session:
        for written in ("+919811111111", "+91 98111-11111", "98111 11111"):
            dead = await dead_letters(session, phone=written)
            assert [c.contact_id for c in dead.contacts] == [given_up.id], written
            assert len(dead.attempts) == 1, written
