"""A number's own verdict: suppressed before anything else, then a call in progress, then
the daily cap across campaigns; and what a refusal says."""

from __future__ import annotations

from datetime import UTC, datetime

from sqlalchemy import update

from campaign_engine.db.models import Contact, Suppression, utcnow
from campaign_engine.dialer import claim as claim_module
from campaign_engine.dialer import number_checks
from campaign_engine.dialer.targets import load_targets
from campaign_engine.runtime import Runtime
from tests.dialer.support import NUMBERS, contacts_of, running_campaign

NOW = datetime(2030, 6, 3, 5, 0, tzinfo=UTC)


async def _queued(runtime: Runtime, numbers: list[str]) -> list[int]:
    campaign_id = await running_campaign(runtime, numbers)
    async with runtime.sessions() as session, session.begin():
        await session.execute(
            update(Contact).where(Contact.campaign_id == campaign_id).values(state="queued")
        )
    return [contact.id for contact in await contacts_of(runtime, campaign_id)]


async def test_a_suppressed_number_in_a_call_is_refused_as_suppressed(runtime: Runtime) -> None:
    first = await _queued(runtime, NUMBERS[:1])
    second = await _queued(runtime, NUMBERS[:1])
    async with runtime.sessions() as session, session.begin():
        targets = await load_targets(session, first)
        assert await claim_module.claim(session, targets, margin_seconds=120)
        session.add(Suppression(kind="number", pattern=NUMBERS[0]))

    async with runtime.sessions() as session:
        targets = await load_targets(session, second)
        verdicts = await number_checks.number_verdicts(session, targets, utcnow())

    assert verdicts[second[0]].kind == number_checks.SUPPRESSED
    assert verdicts[second[0]].reason == f"suppressed (number {NUMBERS[0]} (global))"


async def test_a_number_free_and_under_its_cap_is_allowed(runtime: Runtime) -> None:
    ids = await _queued(runtime, NUMBERS[:2])
    async with runtime.sessions() as session:
        verdicts = await number_checks.number_verdicts(
            session, await load_targets(session, ids), utcnow(), daily_cap=1
        )
    assert [verdicts[one].allowed for one in ids] == [True, True]


def test_a_call_in_progress_names_its_campaign_or_this_one_and_the_wait() -> None:
    other = number_checks.in_call(NUMBERS[0], "c-other", "c-mine", NOW)
    own = number_checks.in_call(NUMBERS[0], "c-mine", "c-mine", NOW)
    assert other.reason == (
        f"number {NUMBERS[0]} is in a call of campaign c-other; one call per number at a time"
    )
    assert "in a call of this campaign" in own.reason
    assert other.retry_at == NOW + number_checks.IN_CALL_WAIT
    assert other.kind == own.kind == number_checks.IN_CALL
