"""The call lifecycle: statuses in order, documented endings, durations from the plan, and
post-call processing after the end."""

from __future__ import annotations

import asyncio
import random
from datetime import UTC, datetime

import pytest

from campaign_engine.simulator.calls import CallBook, CallPlan, SimCall, draw_plan, render
from campaign_engine.simulator.knobs import SimAgent, SimulatorConfig
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


def plan(outcome: str, ring: float = 4.0, talk: float = 30.0, processing: float = 0.0) -> CallPlan:
    return CallPlan(
        outcome,
        ring,
        talk,
        0.1,
        drop_webhook=False,
        duplicate_webhook=False,
        processing_seconds=processing,
    )


async def run_call(
    outcome: str, *, time_scale: float = 1.0, processing: float = 0.0
) -> tuple[SimCall, Recorder, Ledger]:
    recorder, ledger = Recorder(), Ledger()
    processed: list[SimCall] = []
    book = CallBook(ledger, on_processed=processed.append, sleep=recorder.sleep)
    call = book.place(
        agent=AGENT,
        to_number="+15555550100",
        provider="twilio",
        from_number="+14155550100",
        variables={"name": "Asha"},
        plan=plan(outcome, processing=processing),
        time_scale=time_scale,
    )
    recorder.call = call
    await book.drain()
    assert processed == [call]
    return call, recorder, ledger


async def test_answered_call_moves_pending_ringing_in_progress_completed() -> None:
    call, recorder, _ = await run_call("completed")
    assert [status for status, _ in recorder.seen] == ["pending", "ringing", "in_progress"]
    assert call.status == "completed"
    assert call.processing_complete


@pytest.mark.parametrize(
    ("outcome", "status", "disposition", "answered_by"),
    [
        ("completed", "completed", "completed", "human"),
        ("voicemail", "completed", "voicemail", "machine"),
        ("user_hangup_no_speech", "completed", "user_hangup_no_speech", "unknown"),
        ("no_answer", "no_answer", "no_answer", "not_answered"),
        ("busy", "busy", "busy", "not_answered"),
        ("canceled", "canceled", "canceled", "not_answered"),
        ("blocked", "failed", "blocked", "not_answered"),
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


async def test_busy_failed_and_blocked_end_within_a_fraction_of_ring_time() -> None:
    for outcome in ("busy", "failed", "blocked"):
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


async def test_canceled_call_rings_then_ends_unanswered() -> None:
    call, recorder, _ = await run_call("canceled")
    assert [status for status, _ in recorder.seen] == ["pending", "ringing"]
    assert call.record.duration_seconds == 0
    assert call.recording_url is None


async def test_no_speech_hangup_is_answered_but_short_with_only_the_bot_speaking() -> None:
    call, recorder, _ = await run_call("user_hangup_no_speech")
    assert [status for status, _ in recorder.seen] == ["pending", "ringing", "in_progress"]
    assert call.record.duration_seconds == 30
    assert call.recording_url is not None
    assert {turn["role"] for turn in call.transcript} == {"bot"}


async def test_unanswered_call_has_no_recording_or_transcript() -> None:
    call, _, _ = await run_call("no_answer")
    assert call.recording_url is None
    assert call.transcript == []


async def test_answered_call_transcript_renders_variables() -> None:
    call, _, _ = await run_call("completed")
    assert call.recording_url is not None
    assert [turn["role"] for turn in call.transcript] == ["bot", "user", "bot"]  # documented
    assert "Asha" in call.transcript[0]["content"]
    assert {"role", "content", "timestamp"} <= set(call.transcript[0])


async def test_processing_follows_the_end_and_holds_back_the_results() -> None:
    seen_at_end: list[tuple[str, bool, str | None, int]] = []
    recorder = Recorder()
    processed: list[SimCall] = []

    async def sleep(seconds: float) -> None:
        call = recorder.call
        assert call is not None
        if call.record.ended_at is not None:  # the processing wait
            seen_at_end.append(
                (call.status, call.processing_complete, call.recording_url, book.active_count())
            )
            assert processed == []  # on_processed waits for processing
        await recorder.sleep(seconds)

    book = CallBook(Ledger(), on_processed=processed.append, sleep=sleep)
    call = book.place(
        agent=AGENT,
        to_number="+15555550100",
        provider="twilio",
        from_number="+14155550100",
        variables={},
        plan=plan("completed", processing=20.0),
        time_scale=0.5,
    )
    recorder.call = call
    await book.drain()
    assert seen_at_end == [("completed", False, None, 0)]  # final, slot free, no results yet
    assert recorder.seen[-1][1] == pytest.approx(20.0 * 0.5)  # processing is scaled
    assert processed == [call]
    assert call.processing_complete and call.recording_url is not None
    assert call.record.pipeline_completed_at is not None
    assert call.record.ended_at is not None
    assert call.record.pipeline_completed_at >= call.record.ended_at


async def test_detail_view_hides_session_results_and_disposition_until_processed() -> None:
    recorder = Recorder()
    views: list[dict[str, object]] = []

    async def sleep(seconds: float) -> None:
        call = recorder.call
        assert call is not None
        if call.record.ended_at is not None:
            views.append(call.detail_view(expose_disposition=True))
        await recorder.sleep(seconds)

    book = CallBook(Ledger(), on_processed=lambda _call: None, sleep=sleep)
    call = book.place(
        agent=AGENT,
        to_number="+15555550100",
        provider="twilio",
        from_number="+14155550100",
        variables={},
        plan=plan("voicemail", processing=5.0),
        time_scale=0.001,
    )
    recorder.call = call
    await book.drain()
    [during] = views
    assert during["status"] == "completed"
    assert (during["processing_complete"], during["pipeline_completed_at"]) == (False, None)
    assert (during["disposition"], during["answered_by"]) == (None, None)
    session = during["session"]
    assert isinstance(session, dict)
    assert (session["transcript"], session["recording_url"]) == ([], None)
    assert session["duration_seconds"] is None
    after = call.detail_view(expose_disposition=True)
    assert after["processing_complete"] is True and after["pipeline_completed_at"]
    assert (after["disposition"], after["answered_by"]) == ("voicemail", "machine")
    assert "disposition" not in call.detail_view(expose_disposition=False)


async def test_timestamps_come_from_the_books_clock() -> None:
    moment = datetime(2030, 1, 2, 3, 4, 5, tzinfo=UTC)
    book = CallBook(Ledger(), on_processed=lambda _call: None, now=lambda: moment)
    call = book.place(
        agent=AGENT,
        to_number="+15555550100",
        provider="twilio",
        from_number="+14155550100",
        variables={},
        plan=plan("completed", ring=1, talk=1),
        time_scale=0.001,
    )
    await book.drain()
    view = call.detail_view(expose_disposition=False)
    stamps = [view[k] for k in ("created_at", "started_at", "ended_at", "pipeline_completed_at")]
    assert stamps == ["2030-01-02T03:04:05.000Z"] * 4


async def test_call_frees_concurrency_slot_when_it_ends() -> None:
    ledger = Ledger()
    book = CallBook(ledger, on_processed=lambda _call: None)
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


def test_uncapped_agent_calls_last_as_long_as_talk_time_says() -> None:
    agent = SimAgent(agent_id=AGENT.agent_id, name="old", max_call_duration_secs=None)
    config = fast_config(talk_seconds=(5000, 5000), outcome_mix={"completed": 1})
    assert draw_plan(config, random.Random(1), agent).talk_seconds == 5000


def test_no_speech_hangups_and_voicemails_are_shorter_than_conversations() -> None:
    def talk(outcome: str) -> float:
        config = fast_config(talk_seconds=(40, 40), outcome_mix={outcome: 1})
        return draw_plan(config, random.Random(1), AGENT).talk_seconds

    assert talk("user_hangup_no_speech") == pytest.approx(4)
    assert talk("voicemail") == pytest.approx(10)
    assert talk("completed") == 40


def test_processing_time_is_drawn_from_its_range() -> None:
    config = fast_config(processing_seconds=(5, 30))
    rng = random.Random(2)
    drawn = [draw_plan(config, rng, AGENT).processing_seconds for _ in range(50)]
    assert all(5 <= value <= 30 for value in drawn)
    instant = fast_config(processing_seconds=(0, 0))
    assert draw_plan(instant, random.Random(2), AGENT).processing_seconds == 0


def test_every_documented_disposition_can_be_drawn() -> None:
    outcomes = (
        "completed", "voicemail", "user_hangup_no_speech", "no_answer", "busy", "canceled",
        "blocked", "failed",
    )  # fmt: skip
    config = fast_config(outcome_mix=dict.fromkeys(outcomes, 1.0))
    rng = random.Random(5)
    assert {draw_plan(config, rng, AGENT).outcome for _ in range(400)} == set(outcomes)


def test_listing_orders_are_stable_and_unordered_is_not_by_time() -> None:
    book = CallBook(Ledger(), on_processed=lambda _call: None, list_salt="7")
    calls = [
        book.place(
            agent=AGENT,
            to_number=f"+155555501{i:02d}",
            provider="twilio",
            from_number="+14155550100",
            variables={},
            plan=plan("completed"),
            time_scale=1.0,
            run=False,
        )
        for i in range(30)
    ]
    assert book.listed(order="oldest") == calls
    assert book.listed(order="newest") == calls[::-1]
    shuffled = book.listed(order="unordered")
    assert shuffled == book.listed(order="unordered")  # stable between pages
    assert sorted(c.call_id for c in shuffled) == sorted(c.call_id for c in calls)
    assert shuffled not in (calls, calls[::-1])


def test_render_fills_missing_variables_with_empty_string() -> None:
    assert render("Hi {{name}}{{ missing }}!", {"name": "Asha"}) == "Hi Asha!"
