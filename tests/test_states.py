"""The moves allowed between campaign, contact and attempt states, and the inbox and outbox
statuses."""

from __future__ import annotations

import pytest

from campaign_engine.states import (
    ATTEMPT_FINAL,
    ATTEMPT_HOLDING,
    ATTEMPT_MOVES,
    ATTEMPT_OPEN,
    CAMPAIGN_TERMINAL,
    CONTACT_ACTIVE,
    CONTACT_FINAL,
    CONTACT_MOVES,
    CONTACT_WAITING,
    INBOX_ACTIVE,
    INBOX_FINAL,
    OUTBOX_ACTIVE,
    OUTBOX_FINAL,
    AttemptState,
    CampaignState,
    ContactState,
    InboxStatus,
    OutboxStatus,
    campaign_can_move,
    contact_guard,
    sources_of,
    state_values,
)

A = AttemptState
C = CampaignState


def test_every_attempt_state_is_either_open_or_final() -> None:
    assert set(AttemptState) == ATTEMPT_OPEN | ATTEMPT_FINAL
    assert not ATTEMPT_OPEN & ATTEMPT_FINAL
    assert set(ATTEMPT_MOVES) == set(AttemptState)


def test_every_contact_state_is_exactly_one_of_waiting_active_final() -> None:
    groups = [CONTACT_WAITING, CONTACT_ACTIVE, CONTACT_FINAL]
    assert set().union(*groups) == set(ContactState)
    assert sum(len(group) for group in groups) == len(ContactState)


@pytest.mark.parametrize(
    ("current", "target"),
    [
        (A.DIALING, A.STARTED),
        (A.DIALING, A.UNKNOWN),
        (A.DIALING, A.NOT_SENT),
        (A.DIALING, A.ENDED),  # the webhook beat the start response
        (A.DIALING, A.EXPIRED),  # still dialing long past its deadline: the reconciler closes it
        (A.STARTED, A.ENDED),
        (A.STARTED, A.EXPIRED),
        (A.UNKNOWN, A.STARTED),  # the reconciler found the call
        (A.UNKNOWN, A.ENDED),
        (A.UNKNOWN, A.EXPIRED),
        (A.UNKNOWN, A.LOST),
    ],
)
def test_attempt_moves_forward(current: AttemptState, target: AttemptState) -> None:
    assert target in ATTEMPT_MOVES[current]
    assert current in sources_of(target)


@pytest.mark.parametrize(
    ("current", "target"),
    [
        (A.STARTED, A.DIALING),
        (A.UNKNOWN, A.DIALING),
        (A.STARTED, A.UNKNOWN),
        (A.STARTED, A.NOT_SENT),  # Vocobase accepted it: it was sent
        (A.UNKNOWN, A.NOT_SENT),  # it may have been sent
        (A.STARTED, A.LOST),
        (A.DIALING, A.LOST),  # only an unknown start is looked up and found missing
    ],
)
def test_attempt_never_moves_backwards_or_claims_a_sent_call_was_not_sent(
    current: AttemptState, target: AttemptState
) -> None:
    assert target not in ATTEMPT_MOVES[current]
    assert current not in sources_of(target)


@pytest.mark.parametrize("final", sorted(ATTEMPT_FINAL))
def test_final_attempt_states_never_move(final: AttemptState) -> None:
    assert ATTEMPT_MOVES[final] == frozenset()
    assert not any(final in sources_of(target) for target in AttemptState)


@pytest.mark.parametrize("state", list(AttemptState))
def test_no_attempt_state_moves_to_itself(state: AttemptState) -> None:
    assert state not in sources_of(state)


@pytest.mark.parametrize("state", sorted(ATTEMPT_OPEN))
def test_every_open_attempt_state_can_reach_a_final_one(state: AttemptState) -> None:
    seen = {state}
    frontier = [state]
    while frontier:
        for target in ATTEMPT_MOVES[frontier.pop()]:
            if target not in seen:
                seen.add(target)
                frontier.append(target)
    assert seen & ATTEMPT_FINAL


def test_sources_of_is_the_table_read_backwards() -> None:
    for current in AttemptState:
        for target in AttemptState:
            assert (current in sources_of(target)) == (target in ATTEMPT_MOVES[current])
    assert sources_of(A.DIALING) == frozenset()  # an attempt is created dialing


@pytest.mark.parametrize(
    ("target", "production_moves_from"),
    [
        # mark_started(_many): the start response, or the reconciler finding an unknown
        # start's call; an attempt a fast webhook already ended keeps its outcome.
        (A.STARTED, {A.DIALING, A.UNKNOWN}),
        # mark_unknown and the orphaned-dialing sweep.
        (A.UNKNOWN, {A.DIALING}),
        # mark_not_sent: only a request that certainly never left.
        (A.NOT_SENT, {A.DIALING}),
        # record_outcomes (webhook or polling): any open attempt.
        (A.ENDED, set(ATTEMPT_OPEN)),
        # expire_attempts, from the reconciler: any attempt open past its deadline.
        (A.EXPIRED, set(ATTEMPT_OPEN)),
        # the reconciler: an unknown start Vocobase has no call for.
        (A.LOST, {A.UNKNOWN}),
        # mark_calls_ended: polling saw the call over before its webhook came.
        (A.PROCESSING, {A.STARTED, A.UNKNOWN}),
    ],
)
def test_the_guards_built_from_the_table_are_the_moves_production_makes(
    target: AttemptState, production_moves_from: set[AttemptState]
) -> None:
    assert sources_of(target) == production_moves_from


def test_state_values_are_the_stored_strings_sorted() -> None:
    assert state_values(ATTEMPT_OPEN) == ["dialing", "processing", "started", "unknown"]
    assert state_values(ATTEMPT_HOLDING) == ["dialing", "started", "unknown"]
    assert state_values(sources_of(A.NOT_SENT)) == ["dialing"]
    assert all(type(value) is str for value in state_values(InboxStatus))


def test_inbox_statuses_are_the_stored_strings_each_active_or_final() -> None:
    assert {status.value for status in InboxStatus} == {
        "received",
        "unmatched",
        "applied",
        "ignored",
        "invalid",
    }
    assert {InboxStatus.RECEIVED, InboxStatus.UNMATCHED} == INBOX_ACTIVE
    assert set(InboxStatus) == INBOX_ACTIVE | INBOX_FINAL
    assert not INBOX_ACTIVE & INBOX_FINAL


def test_outbox_statuses_are_the_stored_strings_each_active_or_final() -> None:
    assert [status.value for status in OutboxStatus] == ["pending", "delivered", "dead"]
    assert {OutboxStatus.PENDING} == OUTBOX_ACTIVE
    assert set(OutboxStatus) == OUTBOX_ACTIVE | OUTBOX_FINAL
    assert not OUTBOX_ACTIVE & OUTBOX_FINAL


@pytest.mark.parametrize(
    ("current", "target"),
    [
        (C.DRAFT, C.RUNNING),
        (C.DRAFT, C.SCHEDULED),
        (C.SCHEDULED, C.RUNNING),
        (C.RUNNING, C.PAUSED),
        (C.PAUSED, C.RUNNING),
        (C.PAUSED, C.SCHEDULED),  # paused before its schedule's start
        (C.RUNNING, C.COMPLETED),
        (C.RUNNING, C.CANCELED),
        (C.PAUSED, C.CANCELED),
        (C.DRAFT, C.CANCELED),
        (C.RUNNING, C.ONGOING),  # recurring, every contact so far final
        (C.ONGOING, C.RUNNING),  # a pull or an import added contacts
        (C.ONGOING, C.PAUSED),
        (C.ONGOING, C.CANCELED),
        (C.ONGOING, C.COMPLETED),  # its end date, or an operator ended it
        (C.PAUSED, C.ONGOING),  # resumed with nothing to call until the next pull
    ],
)
def test_campaign_allowed_moves(current: CampaignState, target: CampaignState) -> None:
    assert campaign_can_move(current, target)


@pytest.mark.parametrize(
    ("current", "target"),
    [
        (C.RUNNING, C.DRAFT),
        (C.PAUSED, C.COMPLETED),  # only a running campaign completes
        (C.DRAFT, C.COMPLETED),
        (C.DRAFT, C.PAUSED),
        (C.PAUSED, C.DRAFT),
        (C.DRAFT, C.ONGOING),  # it starts running first
        (C.SCHEDULED, C.ONGOING),
        (C.ONGOING, C.SCHEDULED),
        (C.ONGOING, C.DRAFT),
    ],
)
def test_campaign_refused_moves(current: CampaignState, target: CampaignState) -> None:
    assert not campaign_can_move(current, target)


def test_ongoing_is_open_not_terminal() -> None:
    assert C.ONGOING not in CAMPAIGN_TERMINAL
    assert C.ONGOING.value == "ongoing"


@pytest.mark.parametrize("terminal", sorted(CAMPAIGN_TERMINAL))
def test_completed_and_canceled_campaigns_never_move(terminal: CampaignState) -> None:
    assert not any(campaign_can_move(terminal, target) for target in CampaignState)


def test_a_contact_guard_the_table_does_not_allow_is_refused_where_it_is_built() -> None:
    with pytest.raises(ValueError, match="contact move completed -> queued is not allowed"):
        contact_guard([ContactState.COMPLETED], ContactState.QUEUED)
    assert contact_guard([ContactState.QUEUED], ContactState.DIALING) == ["queued"]


@pytest.mark.parametrize("state", sorted(ContactState))
def test_every_contact_state_can_reach_a_final_one_or_is_final(state: ContactState) -> None:
    seen = {state}
    frontier = [state]
    while frontier:
        for target in CONTACT_MOVES[frontier.pop()]:
            if target not in seen:
                seen.add(target)
                frontier.append(target)
    assert seen & CONTACT_FINAL


def test_only_an_operator_reopens_a_final_contact_and_only_a_given_up_one() -> None:
    reopened = {state for state in CONTACT_FINAL if CONTACT_MOVES[state]}
    assert reopened == {ContactState.EXHAUSTED, ContactState.FAILED}
    assert all(CONTACT_MOVES[state] == {ContactState.RETRYING} for state in reopened)


def test_a_contact_is_never_queued_while_in_a_call() -> None:
    for state in (ContactState.DIALING, ContactState.CALLING):
        assert ContactState.QUEUED not in CONTACT_MOVES[state]
