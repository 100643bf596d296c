"""Every operator action changes the contact as promised and leaves its audit entry."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import select, update

from campaign_engine.campaigns.schedule import parse_schedule
from campaign_engine.control import campaign_moves
from campaign_engine.db.models import Campaign, Contact, Suppression, utcnow
from campaign_engine.journal import audit
from campaign_engine.ops import actions
from campaign_engine.runtime import Runtime
from tests.campaigns.support import WEEKDAYS_10_TO_13
from tests.ops import seed

LATER = timedelta(hours=2)


async def _only_entry(runtime: Runtime) -> audit.AuditView:
    async with runtime.sessions() as session:
        [entry] = await audit.entries(session)
    return entry


async def _contact(runtime: Runtime, contact_id: int) -> Contact:
    async with runtime.sessions() as session:
        found = await session.get(Contact, contact_id)
        assert found is not None
        return found


async def test_retry_now_makes_a_waiting_contact_due_now(runtime: Runtime) -> None:
    async with runtime.sessions() as session, session.begin():
        cid = await seed.campaign(session)
        asha = await seed.contact(
            session, cid, "+919811111111", state="retrying", attempts_count=1,
            next_attempt_at=utcnow() + LATER,
        )  # fmt: skip
    async with runtime.sessions() as session, session.begin():
        answer = await actions.retry_now(session, asha.id, actor="asha-ops")

    assert answer.now and answer.held is None
    after = await _contact(runtime, asha.id)
    assert after.next_attempt_at is not None and after.next_attempt_at <= utcnow()
    # Marked for the lane the scheduler serves ahead of every backlog.
    assert after.call_now_at is not None
    entry = await _only_entry(runtime)
    assert (entry.actor, entry.action, entry.target_type, entry.target_id) == (
        "asha-ops", "retry-now", "contact", str(asha.id),
    )  # fmt: skip


async def test_retry_now_brings_an_exhausted_contact_back_keeping_its_attempts(
    runtime: Runtime,
) -> None:
    async with runtime.sessions() as session, session.begin():
        cid = await seed.campaign(session)
        spent = await seed.contact(
            session, cid, "+919811111111", state="exhausted", attempts_count=3
        )
    async with runtime.sessions() as session, session.begin():
        assert (await actions.retry_now(session, spent.id, actor="ops")).from_state == "exhausted"

    after = await _contact(runtime, spent.id)
    assert (after.state, after.attempts_count) == ("retrying", 3)
    assert (await _only_entry(runtime)).details["from_state"] == "exhausted"


async def test_actions_refuse_a_contact_in_a_call_or_a_finished_campaign_without_audit(
    runtime: Runtime,
) -> None:
    async with runtime.sessions() as session, session.begin():
        cid = await seed.campaign(session)
        ringing = await seed.contact(session, cid, "+919811111111", state="calling")
        done = await seed.campaign(session, name="done")
        waiting = await seed.contact(session, done, "+919822222222", state="retrying")
        await campaign_moves.cancel(session, done, keys=runtime.keys, actor="tester")
    for act in (
        lambda s: actions.retry_now(s, ringing.id, actor="ops"),
        lambda s: actions.skip(s, ringing.id, actor="ops"),
        lambda s: actions.retry_now(s, waiting.id, actor="ops"),
        lambda s: actions.requeue_reason(s, done, "failed", actor="ops"),
    ):
        with pytest.raises(actions.ActionError):
            async with runtime.sessions() as session, session.begin():
                await act(session)
    async with runtime.sessions() as session:
        # The campaign canceled above is audited; none of the refused actions is.
        assert [entry.action for entry in await audit.entries(session)] == ["cancel"]


async def test_skip_cancels_a_waiting_contact_as_skipped_by_operator(runtime: Runtime) -> None:
    async with runtime.sessions() as session, session.begin():
        cid = await seed.campaign(session)
        asha = await seed.contact(session, cid, "+919811111111", state="queued")
    async with runtime.sessions() as session, session.begin():
        await actions.skip(session, asha.id, actor="ops")

    after = await _contact(runtime, asha.id)
    assert (after.state, after.last_error, after.queued_at) == (
        "canceled",
        "skipped by operator",
        None,
    )
    assert (await _only_entry(runtime)).action == "skip"


async def test_suppress_lists_the_number_and_closes_the_waiting_contact(runtime: Runtime) -> None:
    async with runtime.sessions() as session, session.begin():
        cid = await seed.campaign(session)
        asha = await seed.contact(session, cid, "+919811111111", state="retrying")
    async with runtime.sessions() as session, session.begin():
        closed = await actions.suppress(session, asha.id, actor="ops", reason="asked")

    assert closed
    async with runtime.sessions() as session:
        [entry] = (await session.scalars(select(Suppression))).all()
    assert (entry.kind, entry.pattern, entry.campaign_id, entry.reason, entry.created_by) == (
        "number", "+919811111111", None, "asked", "ops",
    )  # fmt: skip
    assert (await _contact(runtime, asha.id)).state == "suppressed"
    audited = await _only_entry(runtime)
    assert audited.details == {"phone_last4": "1111", "added": 1, "closed": True}


async def test_edit_vars_merges_and_removes_variables_and_requeues(runtime: Runtime) -> None:
    async with runtime.sessions() as session, session.begin():
        cid = await seed.campaign(session)
        asha = await seed.contact(
            session, cid, "+919811111111", state="failed",
            variables={"name": "Asah", "amount": "10"},
        )  # fmt: skip
    async with runtime.sessions() as session, session.begin():
        await actions.edit_variables(
            session, asha.id, actor="ops", values={"name": "Asha"}, remove=["amount"]
        )

    after = await _contact(runtime, asha.id)
    assert (after.variables, after.state) == ({"name": "Asha"}, "retrying")
    assert (await _only_entry(runtime)).details["set"] == ["name"]


async def test_requeue_reason_takes_waiting_and_given_up_contacts_of_that_reason_only(
    runtime: Runtime,
) -> None:
    later = utcnow() + LATER
    async with runtime.sessions() as session, session.begin():
        cid = await seed.campaign(session)
        waiting = await seed.contact(
            session, cid, "+919811111111", state="retrying", last_outcome="failed",
            next_attempt_at=later,
        )  # fmt: skip
        rejected = await seed.contact(
            session, cid, "+919822222222", state="failed", last_outcome="rejected"
        )
        busy = await seed.contact(
            session, cid, "+919833333333", state="retrying", last_outcome="busy",
            next_attempt_at=later,
        )  # fmt: skip
    async with runtime.sessions() as session, session.begin():
        answers = await actions.requeue_reason(session, cid, "failed", actor="ops")

    assert [a.contact_id for a in answers] == [waiting.id, rejected.id]
    assert all(answer.now for answer in answers)
    assert (await _contact(runtime, rejected.id)).state == "retrying"
    waited = await _contact(runtime, waiting.id)
    assert waited.next_attempt_at is not None and waited.next_attempt_at <= utcnow()
    assert (await _contact(runtime, busy.id)).next_attempt_at == later
    entry = await _only_entry(runtime)
    assert entry.target_id == cid
    assert entry.details == {
        "reason": "failed", "count": 2, "contact_ids": [waiting.id, rejected.id],
    }  # fmt: skip


async def test_requeue_rate_limited_takes_429_refusals_by_kind_not_a_number_holding_429(
    runtime: Runtime,
) -> None:
    later = utcnow() + LATER
    async with runtime.sessions() as session, session.begin():
        cid = await seed.campaign(session)
        capped = await seed.contact(
            session, cid, "+14295550100", state="pending", next_attempt_at=later,
            last_error="daily cap reached for +14295550100",
        )  # fmt: skip
        refused = await seed.contact(
            session, cid, "+919811111111", state="pending", next_attempt_at=later,
            last_error="POST /calls/start: HTTP 429 RATE_LIMITED: Rate limit exceeded",
            last_failure_kind="rate_limited",
        )  # fmt: skip
    async with runtime.sessions() as session, session.begin():
        answers = await actions.requeue_reason(session, cid, "rate-limited", actor="ops")

    assert [a.contact_id for a in answers] == [refused.id]
    due = await _contact(runtime, refused.id)
    assert due.next_attempt_at is not None and due.next_attempt_at <= utcnow()
    assert (await _contact(runtime, capped.id)).next_attempt_at == later
    assert (await _only_entry(runtime)).details == {
        "reason": "rate_limited", "count": 1, "contact_ids": [refused.id],
    }  # fmt: skip


async def test_pausing_from_the_console_unqueues_and_is_audited(runtime: Runtime) -> None:
    async with runtime.sessions() as session, session.begin():
        cid = await seed.campaign(session)
        queued = await seed.contact(session, cid, "+919811111111", state="queued", attempts_count=1)
    async with runtime.sessions() as session, session.begin():
        moved = await campaign_moves.control(session, runtime.keys, cid, "pause", actor="ops")
    assert await campaign_moves.withdraw(runtime.redis, runtime.keys, moved.jobs) == 0

    assert moved.jobs == [runtime.keys.dial_job_id(queued.id, 2)]
    assert (await _contact(runtime, queued.id)).state == "retrying"
    async with runtime.sessions() as session:
        campaign = await session.get(Campaign, cid)
        assert campaign is not None and campaign.state == "paused"
    entry = await _only_entry(runtime)
    assert (entry.action, entry.details["contacts_withdrawn"]) == ("pause", 1)


async def test_a_call_now_outside_the_callees_window_says_when_it_will_be(
    runtime: Runtime,
) -> None:
    # Monday 3 June 2030, 00:00 UTC is 05:30 in Kolkata: its 10:00-13:00 window opens at
    # 04:30 UTC.
    monday = datetime(2030, 6, 3, tzinfo=UTC)
    async with runtime.sessions() as session, session.begin():
        cid = await seed.campaign(session)
        await session.execute(
            update(Campaign)
            .where(Campaign.id == cid)
            .values(schedule=parse_schedule(WEEKDAYS_10_TO_13).to_json())
        )
        asha = await seed.contact(
            session, cid, "+919811111111", state="exhausted", attempts_count=2,
            timezones=["Asia/Calcutta"],
        )  # fmt: skip
    async with runtime.sessions() as session, session.begin():
        answer = await actions.retry_now(session, asha.id, actor="ops", now=monday)

    opens = datetime(2030, 6, 3, 4, 30, tzinfo=UTC)
    assert (answer.now, answer.due_at) == (False, opens)
    assert answer.held is not None
    assert answer.when().startswith("will be called at 2030-06-03T04:30:00+00:00 (")
    after = await _contact(runtime, asha.id)
    # Waits for its window, then goes first.
    assert (after.state, after.next_attempt_at, after.call_now_at) == ("retrying", opens, monday)


async def test_edit_vars_and_requeue_answer_when_each_contact_is_called(
    runtime: Runtime,
) -> None:
    async with runtime.sessions() as session, session.begin():
        cid = await seed.campaign(session)
        asha = await seed.contact(session, cid, "+919811111111", state="failed")
    async with runtime.sessions() as session, session.begin():
        variables, answer = await actions.edit_variables(
            session, asha.id, actor="ops", values={"name": "Asha"}
        )

    assert variables == {"name": "Asha"}
    assert (answer.contact_id, answer.from_state, answer.now) == (asha.id, "failed", True)
    assert (await _contact(runtime, asha.id)).call_now_at is not None


async def test_a_call_now_in_a_paused_campaign_says_it_waits_for_the_campaign(
    runtime: Runtime,
) -> None:
    async with runtime.sessions() as session, session.begin():
        cid = await seed.campaign(session)
        asha = await seed.contact(session, cid, "+919811111111", state="failed")
        await campaign_moves.pause(session, cid, keys=runtime.keys, actor="lead")
    async with runtime.sessions() as session, session.begin():
        answer = await actions.retry_now(session, asha.id, actor="ops")

    assert (answer.now, answer.due_at) == (False, None)
    assert (
        answer.when()
        == "is not called now: campaign paused: called ahead of the queue once it runs"
    )


async def test_edit_vars_refuses_a_variable_the_agent_does_not_declare_and_changes_nothing(
    runtime: Runtime,
) -> None:
    async with runtime.sessions() as session, session.begin():
        cid = await seed.campaign(session)
        campaign = await session.get(Campaign, cid)
        assert campaign is not None
        campaign.agent_variables = ["name", "ce_attempt_id"]
        asha = await seed.contact(
            session, cid, "+919811111111", state="failed", variables={"name": "Asha"}
        )
    with pytest.raises(actions.ActionError, match="agent does not declare: city"):
        async with runtime.sessions() as session, session.begin():
            await actions.edit_variables(session, asha.id, actor="ops", values={"city": "Pune"})

    after = await _contact(runtime, asha.id)
    assert (after.variables, after.state) == ({"name": "Asha"}, "failed")
    async with runtime.sessions() as session:
        assert await audit.entries(session) == []
