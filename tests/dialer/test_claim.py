"""The claim (dialer/claim.py): one winner per contact, and the last checks of each number
(do-not-call list, daily cap, one call at a time) made atomically with it."""

from __future__ import annotations

import asyncio
from datetime import timedelta

import pytest
from sqlalchemy import func, select, update

from campaign_engine.campaigns.lifecycle import transition
from campaign_engine.campaigns.window_check import local_day_bounds
from campaign_engine.db.models import CallAttempt, Contact, Suppression, utcnow
from campaign_engine.dialer import claim as claim_module
from campaign_engine.dialer import number_checks
from campaign_engine.dialer.targets import DialTarget
from campaign_engine.failure_kinds import FailureKind
from campaign_engine.runtime import Runtime
from campaign_engine.states import ATTEMPT_OPEN, CampaignState, ContactState, state_values
from tests.blocked import until_blocked
from tests.dialer.support import NUMBERS, attempts_of, contacts_of, queued_targets

MARGIN = 120


async def claim(runtime: Runtime, targets: list[DialTarget]) -> dict[int, int]:
    async with runtime.sessions() as session, session.begin():
        return await claim_module.claim(session, targets, margin_seconds=MARGIN)


async def test_a_claim_moves_each_queued_contact_to_dialing_with_one_attempt_row(
    runtime: Runtime,
) -> None:
    campaign_id, targets = await queued_targets(runtime, 3)
    before = utcnow()

    won = await claim(runtime, targets)

    contacts = await contacts_of(runtime, campaign_id)
    assert set(won) == {contact.id for contact in contacts}
    assert [(c.state, c.attempts_count, c.queued_at) for c in contacts] == [
        ("dialing", 1, None)
    ] * 3
    rows = await attempts_of(runtime, campaign_id)
    assert {row.id: row.contact_id for row in rows} == {a: c for c, a in won.items()}
    for row, contact in zip(rows, contacts, strict=True):
        assert (row.attempt_number, row.state, row.to_number) == (1, "dialing", contact.phone_e164)
        assert row.claimed_at >= before - timedelta(seconds=1)
        assert row.deadline_at - row.claimed_at == timedelta(
            seconds=targets[0].max_call_seconds + MARGIN
        )


async def test_two_claims_racing_for_the_same_contacts_have_one_winner_per_contact(
    runtime: Runtime,
) -> None:
    campaign_id, targets = await queued_targets(runtime, 4)

    first, second = await asyncio.gather(claim(runtime, targets), claim(runtime, targets))

    assert not set(first) & set(second)
    assert set(first) | set(second) == {target.contact_id for target in targets}
    rows = await attempts_of(runtime, campaign_id)
    assert sorted(row.contact_id for row in rows) == sorted(t.contact_id for t in targets)


async def test_a_target_read_before_its_count_moved_on_loses_its_claim(runtime: Runtime) -> None:
    campaign_id, targets = await queued_targets(runtime, 2)
    assert len(await claim(runtime, targets[:1])) == 1
    # The contact is queued again for its second attempt; the old target still says 0.
    async with runtime.sessions() as session, session.begin():
        await session.execute(
            update(Contact)
            .where(Contact.id == targets[0].contact_id)
            .values(state=ContactState.QUEUED.value)
        )

    won = await claim(runtime, targets)

    assert list(won) == [targets[1].contact_id]
    assert len(await attempts_of(runtime, campaign_id)) == 2


async def test_a_claim_in_a_campaign_that_stopped_running_hands_every_target_back(
    runtime: Runtime,
) -> None:
    campaign_id, targets = await queued_targets(runtime, 2)
    async with runtime.sessions() as session, session.begin():
        await transition(session, campaign_id, CampaignState.PAUSED, actor="tester", reason=None)

    assert await claim(runtime, targets) == {}

    contacts = await contacts_of(runtime, campaign_id)
    assert [(c.state, c.last_error) for c in contacts] == [("pending", "campaign paused")] * 2
    assert await attempts_of(runtime, campaign_id) == []


async def test_one_claim_refuses_the_contacts_of_two_campaigns(runtime: Runtime) -> None:
    _, one = await queued_targets(runtime, 1)
    _, other = await queued_targets(runtime, 1)
    async with runtime.sessions() as session:
        with pytest.raises(ValueError, match="one campaign"):
            await claim_module.claim(session, one + other, margin_seconds=MARGIN)
        assert await claim_module.claim(session, [], margin_seconds=MARGIN) == {}


# --- the last checks of each number, made by the claim itself ------------------------------


async def claim_checked(
    runtime: Runtime, targets: list[DialTarget], *, daily_cap: int = 3
) -> claim_module.Claim:
    async with runtime.sessions() as session, session.begin():
        return await claim_module.claim_checked(
            session, targets, margin_seconds=MARGIN, daily_cap=daily_cap
        )


async def open_attempts_by_number(runtime: Runtime) -> dict[str, int]:
    async with runtime.sessions() as session:
        rows = await session.execute(
            select(CallAttempt.to_number, func.count())
            .where(CallAttempt.state.in_(state_values(ATTEMPT_OPEN)))
            .group_by(CallAttempt.to_number)
        )
        return {number: count for number, count in rows.all()}


async def test_a_number_suppressed_after_the_gate_is_not_claimed_but_closed_as_suppressed(
    runtime: Runtime,
) -> None:
    campaign_id, targets = await queued_targets(runtime, 3)  # read, as the gate read them: allowed
    async with runtime.sessions() as session, session.begin():
        session.add(Suppression(kind="number", pattern=NUMBERS[0], reason="asked not to"))
        session.add(Suppression(kind="number", pattern=NUMBERS[1], campaign_id=campaign_id))

    checked = await claim_checked(runtime, targets)

    assert list(checked.won) == [targets[2].contact_id]
    assert checked.refused == {
        targets[0].contact_id: number_checks.SUPPRESSED,
        targets[1].contact_id: number_checks.SUPPRESSED,
    }
    contacts = await contacts_of(runtime, campaign_id)
    assert [c.state for c in contacts] == ["suppressed", "suppressed", "dialing"]
    assert "asked not to" in (contacts[0].last_error or "")
    assert f"campaign {campaign_id}" in (contacts[1].last_error or "")
    assert [row.contact_id for row in await attempts_of(runtime, campaign_id)] == [
        targets[2].contact_id
    ]


async def test_a_number_in_a_call_of_another_campaign_is_handed_back_a_short_while(
    runtime: Runtime,
) -> None:
    first_id, first = await queued_targets(runtime, 2)
    second_id, second = await queued_targets(runtime, 2)  # the same two numbers
    assert len(await claim(runtime, first)) == 2
    before = utcnow()

    checked = await claim_checked(runtime, second)

    assert checked.won == {}
    assert set(checked.refused.values()) == {number_checks.IN_CALL}
    for contact in await contacts_of(runtime, second_id):
        assert (contact.state, contact.attempts_count, contact.last_failure_kind) == (
            "pending",
            0,
            FailureKind.NUMBER_IN_CALL,
        )
        assert f"in a call of campaign {first_id}" in (contact.last_error or "")
        assert contact.next_attempt_at is not None
        assert contact.next_attempt_at >= before + number_checks.IN_CALL_WAIT
    assert await open_attempts_by_number(runtime) == {NUMBERS[0]: 1, NUMBERS[1]: 1}


async def test_two_campaigns_claiming_the_same_numbers_at_once_open_one_attempt_per_number(
    runtime: Runtime,
) -> None:
    one_id, one = await queued_targets(runtime, 4)
    other_id, other = await queued_targets(runtime, 4)

    results = await asyncio.gather(claim_checked(runtime, one), claim_checked(runtime, other))

    assert await open_attempts_by_number(runtime) == dict.fromkeys(NUMBERS[:4], 1)
    assert sum(len(result.won) for result in results) == 4
    refused = {**results[0].refused, **results[1].refused}
    assert len(refused) == 4 and set(refused.values()) == {number_checks.IN_CALL}
    everyone = [*await contacts_of(runtime, one_id), *await contacts_of(runtime, other_id)]
    waiting = [contact for contact in everyone if contact.id in refused]
    assert {(c.state, c.attempts_count, c.last_failure_kind) for c in waiting} == {
        ("pending", 0, FailureKind.NUMBER_IN_CALL)
    }


async def test_the_daily_cap_across_campaigns_is_enforced_at_the_claim(runtime: Runtime) -> None:
    _, other = await queued_targets(runtime, 1)
    mine_id, mine = await queued_targets(runtime, 2)
    assert len(await claim(runtime, other)) == 1
    async with runtime.sessions() as session, session.begin():  # that call is over
        await session.execute(update(CallAttempt).values(state="ended", outcome="no_answer"))

    checked = await claim_checked(runtime, mine, daily_cap=1)

    assert list(checked.won) == [mine[1].contact_id]
    assert checked.refused == {mine[0].contact_id: number_checks.NOT_NOW}
    capped = (await contacts_of(runtime, mine_id))[0]
    assert (capped.state, capped.last_failure_kind) == ("pending", FailureKind.NOT_NOW)
    assert capped.last_error == f"daily cap reached: 1 calls to {NUMBERS[0]} today, at most 1"
    _, tomorrow = local_day_bounds("Asia/Calcutta", utcnow())
    assert capped.next_attempt_at == tomorrow


async def test_an_attempt_the_claim_could_not_see_yet_wins_the_number_without_failing_the_batch(
    runtime: Runtime,
) -> None:
    """The backstop: an open attempt of the number committed while the claim runs (here
    written by hand, past every check) — the claim's contact is given back, the rest won."""
    other_id, other = await queued_targets(runtime, 1)
    mine_id, mine = await queued_targets(runtime, 2)
    async with runtime.sessions() as blocker, blocker.begin():
        blocker.add(
            CallAttempt(
                contact_id=other[0].contact_id,
                campaign_id=other_id,
                attempt_number=1,
                state="dialing",
                provider="twilio",
                to_number=NUMBERS[0],
                deadline_at=utcnow() + timedelta(hours=1),
            )
        )
        await blocker.flush()
        claiming = asyncio.create_task(claim_checked(runtime, mine))
        await until_blocked(runtime)

    checked = await claiming

    assert list(checked.won) == [mine[1].contact_id]
    assert checked.refused == {mine[0].contact_id: number_checks.IN_CALL}
    given_back = (await contacts_of(runtime, mine_id))[0]
    assert (given_back.state, given_back.attempts_count, given_back.last_failure_kind) == (
        "pending",
        0,
        FailureKind.NUMBER_IN_CALL,
    )
    assert NUMBERS[0] in (given_back.last_error or "")
    assert await open_attempts_by_number(runtime) == {NUMBERS[0]: 1, NUMBERS[1]: 1}
