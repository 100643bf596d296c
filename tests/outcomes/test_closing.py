"""Closing contacts without a call: only from the states named, with the final notification
and one state log line per contact, all in the caller's transaction."""

from __future__ import annotations

import logging

import pytest
from sqlalchemy import select, update

from campaign_engine.db.models import Contact, Notification
from campaign_engine.notifications import emit
from campaign_engine.outcomes.closing import Closed, close_without_call
from campaign_engine.runtime import Runtime
from campaign_engine.states import ContactState
from tests.dialer.support import NUMBERS, contacts_of, running_campaign

STATES = [
    ContactState.PENDING,
    ContactState.RETRYING,
    ContactState.QUEUED,
    ContactState.CALLING,
    ContactState.COMPLETED,
]
WAITING = (ContactState.PENDING, ContactState.RETRYING)


async def contacts_in(runtime: Runtime, states: list[ContactState]) -> tuple[str, list[int]]:
    """A running campaign with one contact in each of ``states`` (in order); their ids."""
    campaign_id = await running_campaign(runtime, NUMBERS[: len(states)])
    async with runtime.sessions() as session, session.begin():
        for number, state in zip(NUMBERS, states, strict=False):
            await session.execute(
                update(Contact)
                .where(Contact.campaign_id == campaign_id, Contact.phone_e164 == number)
                .values(state=state.value, last_error="earlier error")
            )
    return campaign_id, [contact.id for contact in await contacts_of(runtime, campaign_id)]


async def test_only_contacts_still_in_the_given_states_are_closed(runtime: Runtime) -> None:
    campaign_id, ids = await contacts_in(runtime, STATES)
    async with runtime.sessions() as session, session.begin():
        closed = await close_without_call(
            session,
            Contact.campaign_id == campaign_id,
            from_states=WAITING,
            state=ContactState.CANCELED,
            reason="campaign canceled",
        )

    assert sorted(closed, key=lambda one: one.contact_id) == [
        Closed(ids[0], campaign_id),
        Closed(ids[1], campaign_id),
    ]
    contacts = await contacts_of(runtime, campaign_id)
    assert [(c.state, c.last_error) for c in contacts] == [
        ("canceled", "campaign canceled"),
        ("canceled", "campaign canceled"),
        ("queued", "earlier error"),
        ("calling", "earlier error"),
        ("completed", "earlier error"),
    ]
    assert all(c.next_attempt_at is None and c.queued_at is None for c in contacts[:2])


async def test_only_the_contacts_selected_are_closed_and_no_reason_keeps_their_error(
    runtime: Runtime,
) -> None:
    campaign_id, ids = await contacts_in(runtime, [ContactState.PENDING, ContactState.PENDING])
    async with runtime.sessions() as session, session.begin():
        closed = await close_without_call(
            session,
            Contact.id == ids[1],
            from_states=WAITING,
            state=ContactState.CANCELED,
            reason=None,
        )

    assert [one.contact_id for one in closed] == [ids[1]]
    contacts = await contacts_of(runtime, campaign_id)
    assert [(c.state, c.last_error) for c in contacts] == [
        ("pending", "earlier error"),
        ("canceled", "earlier error"),
    ]


async def test_closing_into_a_state_that_is_not_final_is_refused(runtime: Runtime) -> None:
    campaign_id, _ = await contacts_in(runtime, [ContactState.PENDING])
    async with runtime.sessions() as session:
        with pytest.raises(ValueError, match="retrying is not a final contact state"):
            await close_without_call(
                session,
                Contact.campaign_id == campaign_id,
                from_states=WAITING,
                state=ContactState.RETRYING,
                reason="no",
            )


async def test_each_contact_closed_gets_its_final_notification_in_the_same_transaction(
    runtime: Runtime,
) -> None:
    campaign_id, ids = await contacts_in(runtime, STATES)
    emit.enable(runtime.sessions)
    async with runtime.sessions() as session, session.begin():
        await close_without_call(
            session,
            Contact.campaign_id == campaign_id,
            from_states=WAITING,
            state=ContactState.CANCELED,
            reason="campaign canceled",
        )

    async with runtime.sessions() as session:
        rows = (await session.scalars(select(Notification).order_by(Notification.id))).all()
    assert sorted((row.contact_id, row.kind) for row in rows) == [
        (ids[0], "final"),
        (ids[1], "final"),
    ]
    assert {row.payload["state"] for row in rows} == {"canceled"}


async def test_each_contact_closed_is_one_state_log_line_once_committed(
    runtime: Runtime, caplog: pytest.LogCaptureFixture
) -> None:
    campaign_id, ids = await contacts_in(runtime, STATES)
    caplog.set_level(logging.INFO, logger="campaign_engine.state")
    caplog.clear()  # the set-up's own moves (the campaign started) are not under test
    with pytest.raises(RuntimeError):
        async with runtime.sessions() as session, session.begin():
            await close_without_call(
                session,
                Contact.campaign_id == campaign_id,
                from_states=WAITING,
                state=ContactState.CANCELED,
                reason="rolled back",
            )
            raise RuntimeError("the caller's transaction fails")
    assert not [r for r in caplog.records if r.name == "campaign_engine.state"]

    async with runtime.sessions() as session, session.begin():
        await close_without_call(
            session,
            Contact.campaign_id == campaign_id,
            from_states=WAITING,
            state=ContactState.CANCELED,
            reason="campaign canceled",
            detail="canceled by asha",
        )

    lines = sorted(r.getMessage() for r in caplog.records if r.name == "campaign_engine.state")
    assert lines == sorted(
        f"contact {contact_id} canceled: canceled by asha [campaign {campaign_id}]"
        for contact_id in ids[:2]
    )
