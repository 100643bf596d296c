"""The moves allowed between campaign, contact and attempt states."""

from __future__ import annotations

import pytest

from campaign_engine.states import (
    ATTEMPT_FINAL,
    ATTEMPT_MOVES,
    ATTEMPT_OPEN,
    CAMPAIGN_TERMINAL,
    CONTACT_ACTIVE,
    CONTACT_FINAL,
    CONTACT_WAITING,
    AttemptState,
    CampaignState,
    ContactState,
    attempt_can_move,
    campaign_can_move,
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
        (A.STARTED, A.ENDED),
        (A.STARTED, A.EXPIRED),
        (A.UNKNOWN, A.STARTED),  # the reconciler found the call
        (A.UNKNOWN, A.ENDED),
        (A.UNKNOWN, A.EXPIRED),
        (A.UNKNOWN, A.LOST),
    ],
)
def test_attempt_moves_forward(current: AttemptState, target: AttemptState) -> None:
    assert attempt_can_move(current, target)


@pytest.mark.parametrize(
    ("current", "target"),
    [
        (A.STARTED, A.DIALING),
        (A.UNKNOWN, A.DIALING),
        (A.STARTED, A.UNKNOWN),
        (A.STARTED, A.NOT_SENT),  # Vocobase accepted it: it was sent
        (A.UNKNOWN, A.NOT_SENT),  # it may have been sent
        (A.STARTED, A.LOST),
        (A.DIALING, A.LOST),
        (A.DIALING, A.EXPIRED),
    ],
)
def test_attempt_never_moves_backwards_or_claims_a_sent_call_was_not_sent(
    current: AttemptState, target: AttemptState
) -> None:
    assert not attempt_can_move(current, target)


@pytest.mark.parametrize("final", sorted(ATTEMPT_FINAL))
def test_final_attempt_states_never_move(final: AttemptState) -> None:
    assert not any(attempt_can_move(final, target) for target in AttemptState)


@pytest.mark.parametrize("state", list(AttemptState))
def test_no_attempt_state_moves_to_itself(state: AttemptState) -> None:
    assert not attempt_can_move(state, state)


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
    ],
)
def test_campaign_refused_moves(current: CampaignState, target: CampaignState) -> None:
    assert not campaign_can_move(current, target)


@pytest.mark.parametrize("terminal", sorted(CAMPAIGN_TERMINAL))
def test_completed_and_canceled_campaigns_never_move(terminal: CampaignState) -> None:
    assert not any(campaign_can_move(terminal, target) for target in CampaignState)
