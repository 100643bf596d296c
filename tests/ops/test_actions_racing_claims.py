"""An operator's skip or suppress and a claim of the same contact, at the same moment: one
wins, and the loser sees it (never a call placed for a contact that shows "skipped")."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import Any

import pytest
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from campaign_engine.db.models import CallAttempt, Contact, Suppression
from campaign_engine.dialer import claim as claim_module
from campaign_engine.dialer.targets import DialTarget, load_targets
from campaign_engine.journal import audit
from campaign_engine.ops import actions
from campaign_engine.runtime import Runtime
from tests.blocked import until_blocked
from tests.ops import seed

PHONE = "+919811111111"


async def _queued(runtime: Runtime) -> DialTarget:
    """A running campaign's queued contact, read as a dial job reads it."""
    async with runtime.sessions() as session, session.begin():
        campaign_id = await seed.campaign(session)
        contact = await seed.contact(session, campaign_id, PHONE, state="queued")
    async with runtime.sessions() as session:
        [target] = await load_targets(session, [contact.id])
    return target


async def _act(runtime: Runtime, action: Callable[[AsyncSession], Awaitable[Any]]) -> Any:
    async with runtime.sessions() as session, session.begin():
        return await action(session)


async def _claim(runtime: Runtime, target: DialTarget) -> dict[int, int]:
    async with runtime.sessions() as session, session.begin():
        return await claim_module.claim(session, [target], margin_seconds=120)


async def _state(runtime: Runtime, contact_id: int) -> tuple[str, str | None]:
    async with runtime.sessions() as session:
        contact = await session.get(Contact, contact_id)
        assert contact is not None
        return contact.state, contact.last_error


async def _attempt_count(runtime: Runtime) -> int:
    async with runtime.sessions() as session:
        return len((await session.scalars(select(CallAttempt))).all())


async def _audited(runtime: Runtime) -> list[audit.AuditView]:
    async with runtime.sessions() as session:
        return [entry for entry in await audit.entries(session) if entry.target_type != "campaign"]


async def test_a_skip_racing_a_claim_that_won_is_refused_as_being_dialed(
    runtime: Runtime,
) -> None:
    target = await _queued(runtime)
    async with runtime.sessions() as session, session.begin():
        assert await claim_module.claim(session, [target], margin_seconds=120)
        skipping = asyncio.create_task(
            _act(runtime, lambda s: actions.skip(s, target.contact_id, actor="ops"))
        )
        await until_blocked(runtime)  # the skip read the contact, or waits to

    with pytest.raises(actions.ActionError, match="being dialed"):
        await skipping
    assert await _state(runtime, target.contact_id) == ("dialing", None)
    assert await _attempt_count(runtime) == 1
    assert await _audited(runtime) == []


async def test_a_claim_racing_a_skip_that_won_claims_nothing(runtime: Runtime) -> None:
    target = await _queued(runtime)
    async with runtime.sessions() as session, session.begin():
        await actions.skip(session, target.contact_id, actor="ops")
        claiming = asyncio.create_task(_claim(runtime, target))
        await until_blocked(runtime)

    assert await claiming == {}
    assert await _state(runtime, target.contact_id) == ("canceled", actions.SKIPPED)
    assert await _attempt_count(runtime) == 0
    assert [entry.action for entry in await _audited(runtime)] == ["skip"]


async def test_a_suppress_racing_a_claim_that_won_lists_the_number_and_lets_the_call_stand(
    runtime: Runtime,
) -> None:
    target = await _queued(runtime)
    async with runtime.sessions() as session, session.begin():
        assert await claim_module.claim(session, [target], margin_seconds=120)
        suppressing = asyncio.create_task(
            _act(runtime, lambda s: actions.suppress(s, target.contact_id, actor="ops"))
        )
        await until_blocked(runtime)

    assert await suppressing is False
    assert await _state(runtime, target.contact_id) == ("dialing", None)
    async with runtime.sessions() as session:
        [entry] = (await session.scalars(select(Suppression))).all()
    assert (entry.kind, entry.pattern) == ("number", PHONE)
    [audited] = await _audited(runtime)
    assert (audited.action, audited.details["closed"]) == ("suppress", False)


async def test_a_claim_racing_a_suppress_that_won_claims_nothing(runtime: Runtime) -> None:
    target = await _queued(runtime)
    async with runtime.sessions() as session, session.begin():
        assert await actions.suppress(session, target.contact_id, actor="ops", reason="asked")
        claiming = asyncio.create_task(_claim(runtime, target))
        await until_blocked(runtime)

    assert await claiming == {}
    assert await _state(runtime, target.contact_id) == ("suppressed", "asked")
    assert await _attempt_count(runtime) == 0
