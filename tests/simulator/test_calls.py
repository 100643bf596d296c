"""The call lifecycle: statuses in order, documented endings, durations from the plan."""

from __future__ import annotations

import asyncio
import random

import pytest

from campaign_engine.simulator.calls import CallBook, CallPlan, SimCall, draw_plan, render
from campaign_engine.simulator.knobs import SimulatorConfig
from campaign_engine.simulator.ledger import Ledger

from .conftest import fast_config

AGENT = SimulatorConfig().agents[0]


class Recorder:
    """Stands in for asyncio.sleep: notes the call's status and each requested delay."""

    def __init__(self) -> None:
        self.call: SimCall | None = None
        self.seen: list[tuple[str, float]] = []

    async def sleep(self, seconds: float) -> None:
        assert self.call is not None
        self.seen.append((self.call.status, seconds))
        await asyncio.sleep(0)


def plan(outcome: str, ring: float = 4.0, talk: float = 30.0) -> CallPlan:
    return CallPlan(outcome, ring, talk, 0.1, drop_webhook=False, duplicate_webhook=False)


async def run_call(outcome: str, *, time_scale: float = 1.0) -> tuple[SimCall, Recorder, Ledger]:
    recorder, ledger = Recorder(), Ledger()
    ended: list[SimCall] = []
    book = CallBook(ledger, on_end=ended.append, sleep=recorder.sleep)
    call = book.place(
        agent=AGENT,
        to_number="+15555550100",
        provider="twilio",
        from_number="+14155550100",
        variables={"name": "Asha"},
        plan=plan(outcome),
        time_scale=time_scale,
    )
    recorder.call = call
    await book.drain()
    assert ended == [call]
    return call, recorder, ledger


async def test_answered_call_moves_pending_ringing_in_progress_completed() -> None:
    call, recorder, _ = await run_call("completed")
    assert [status for status, _ in recorder.seen] == ["pending", "ringing", "in_progress"]
    assert call.status == "completed"


@pytest.mark.parametrize(
    ("outcome", "status", "disposition", "answered_by"),
    [
        ("completed", "completed", "completed", "human"),
        ("voicemail", "completed", "voicemail", "machine"),
        ("no_answer", "no_answer", "no_answer", "not_answered"),
        ("busy", "busy", "busy", "not_answered"),
        ("failed", "failed", "failed", None),
    ],
)
async def test_outcome_endings_match_documentation(
    outcome: str, status: str, disposition: str, answered_by: str | None
) -> None:
    call, _, _ = await run_call(outcome)
    record = call.record
    assert (record.status, record.disposition, record.answered_by) == (
        status,
        disposition,
        answered_by,
    )
    assert record.ended_at is not None


async def test_busy_and_failed_end_within_a_fraction_of_ring_time() -> None:
    for outcome in ("busy", "failed"):
        _, recorder, _ = await run_call(outcome, time_scale=0.5)
        assert [status for status, _ in recorder.seen] == ["pending"]
        assert sum(delay for _, delay in recorder.seen) < 4.0 * 0.5 * 0.25


async def test_no_answer_rings_for_the_full_scaled_ring_time() -> None:
    call, recorder, _ = await run_call("no_answer", time_scale=0.5)
    assert sum(delay for _, delay in recorder.seen) == pytest.approx(4.0 * 0.5)
    assert call.record.duration_seconds == 0


async def test_talk_time_is_scaled_but_reported_in_simulated_seconds() -> None:
    call, recorder, _ = await run_call("completed", time_scale=0.01)
    assert recorder.seen[-1][1] == pytest.approx(30.0 * 0.01)
    assert call.record.duration_seconds == 30
    assert call.credits_used == 1


async def test_unanswered_call_has_no_recording_or_transcript() -> None:
    call, _, _ = await run_call("no_answer")
    assert call.recording_url is None
    assert call.transcript == []


async def test_answered_call_transcript_renders_variables() -> None:
    call, _, _ = await run_call("completed")
    assert call.recording_url is not None
    assert call.transcript[0]["role"] == "assistant"
    assert "Asha" in call.transcript[0]["content"]
    assert {"role", "content", "timestamp"} <= set(call.transcript[0])


async def test_call_frees_concurrency_slot_when_it_ends() -> None:
    ledger = Ledger()
    book = CallBook(ledger, on_end=lambda _call: None)
    for _ in range(3):
        book.place(
            agent=AGENT,
            to_number="+15555550100",
            provider="twilio",
            from_number="+14155550100",
            variables={},
            plan=plan("completed", ring=1, talk=1),
            time_scale=0.001,
        )
    assert book.active_count() == 3
    assert ledger.peak_concurrency == 3
    await book.drain()
    assert book.active_count() == 0


def test_same_seed_draws_the_same_plans() -> None:
    config = fast_config()
    rng_a, rng_b = random.Random(3), random.Random(3)
    assert [draw_plan(config, rng_a, AGENT) for _ in range(20)] == [
        draw_plan(config, rng_b, AGENT) for _ in range(20)
    ]


def test_outcomes_follow_the_mix() -> None:
    config = fast_config(outcome_mix={"busy": 1, "voicemail": 1})
    rng = random.Random(1)
    outcomes = {draw_plan(config, rng, AGENT).outcome for _ in range(50)}
    assert outcomes == {"busy", "voicemail"}


def test_talk_time_is_capped_by_agent_max_duration() -> None:
    config = fast_config(talk_seconds=(5000, 5000), outcome_mix={"completed": 1})
    assert draw_plan(config, random.Random(1), AGENT).talk_seconds == 600


def test_render_fills_missing_variables_with_empty_string() -> None:
    assert render("Hi {{name}}{{ missing }}!", {"name": "Asha"}) == "Hi Asha!"
