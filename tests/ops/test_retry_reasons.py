"""A contact's retry reason comes from the failure kind the dialer stored, never from the
words of its last error (real database, both backends)."""

from __future__ import annotations

from datetime import timedelta

from sqlalchemy import select

from campaign_engine.db.models import Contact, utcnow
from campaign_engine.failure_kinds import FailureKind
from campaign_engine.ops.queues import retry_queue
from campaign_engine.ops.retry_reasons import reason_of, waiting_for_retry
from campaign_engine.runtime import Runtime
from tests.ops import seed

DAILY_CAP = "daily cap reached for +14295550100"
REFUSED = "POST /calls/start: HTTP 429 RATE_LIMITED: Rate limit exceeded"
TOO_MANY_CALLS = "POST /calls/start: HTTP 429 CONCURRENCY_LIMIT_EXCEEDED: too many active calls"


async def test_a_reason_holding_a_number_with_429_is_not_rate_limited(runtime: Runtime) -> None:
    soon = utcnow() + timedelta(minutes=5)
    async with runtime.sessions() as session, session.begin():
        cid = await seed.campaign(session)
        capped = await seed.contact(
            session, cid, "+14295550100", state="pending", last_error=DAILY_CAP,
            next_attempt_at=soon,
        )  # fmt: skip
        # Retried after a busy line; the hold's words name the number, nothing else.
        busy = await seed.contact(
            session, cid, "+14295550101", state="retrying", attempts_count=1,
            last_outcome="busy", last_error="daily cap reached for +14295550101",
            next_attempt_at=soon,
        )  # fmt: skip

    async with runtime.sessions() as session:
        queue = await retry_queue(session, campaign_id=cid)
        limited = await retry_queue(session, campaign_id=cid, reason="rate_limited")
        rows = await session.execute(select(Contact.id, reason_of()).where(waiting_for_retry()))
        reasons = {contact_id: reason for contact_id, reason in rows}

    assert queue.by_reason == {"unknown": 1, "busy": 1}
    assert limited.contacts == [] and limited.by_reason == {}
    assert (reasons[capped.id], reasons[busy.id]) == ("unknown", "busy")


async def test_a_429_refusal_is_rate_limited_by_its_stored_kind_whichever_limit(
    runtime: Runtime,
) -> None:
    soon = utcnow() + timedelta(minutes=5)
    async with runtime.sessions() as session, session.begin():
        cid = await seed.campaign(session)
        for phone, error, kind in (
            ("+919811111111", REFUSED, FailureKind.RATE_LIMITED),
            ("+919822222222", TOO_MANY_CALLS, FailureKind.CONCURRENCY_LIMITED),
            # A 429 kind wins over the outcome of an earlier call.
            ("+919833333333", REFUSED, FailureKind.RATE_LIMITED),
        ):
            await seed.contact(
                session, cid, phone, state="pending", last_error=error,
                last_failure_kind=kind.value, next_attempt_at=soon,
                last_outcome="no_answer" if phone.endswith("3") else None,
            )  # fmt: skip
        # Handed back for a connect error: not a 429, even if its words held one.
        await seed.contact(
            session, cid, "+919844444444", state="pending", next_attempt_at=soon,
            last_error="POST /calls/start: cannot connect to edge-429.vocobase.example",
            last_failure_kind=FailureKind.NOT_SENT.value,
        )  # fmt: skip

    async with runtime.sessions() as session:
        queue = await retry_queue(session, campaign_id=cid)
        limited = await retry_queue(session, campaign_id=cid, reason="rate_limited")

    assert queue.by_reason == {"rate_limited": 3, "unknown": 1}
    assert sorted(c.phone for c in limited.contacts) == [
        "+919811111111", "+919822222222", "+919833333333",
    ]  # fmt: skip
