"""One contact's story: its attempts in claim order, each with the raw webhooks it received."""

from __future__ import annotations

from datetime import timedelta

import pytest

from campaign_engine.db.models import WebhookEvent, utcnow
from campaign_engine.ops.history import contact_history
from campaign_engine.runtime import Runtime
from tests.ops import seed


async def test_an_unknown_contact_is_a_lookup_error_naming_it(runtime: Runtime) -> None:
    async with runtime.sessions() as session:
        with pytest.raises(LookupError, match="contact 424242 not found"):
            await contact_history(session, 424242)


async def test_a_contact_never_called_has_its_own_facts_and_no_attempts(
    runtime: Runtime,
) -> None:
    due = utcnow() + timedelta(hours=2)
    async with runtime.sessions() as session, session.begin():
        cid = await seed.campaign(session, start=False)
        contact = await seed.contact(
            session, cid, "+919811111111", state="pending", variables={"name": "Asha"},
            next_attempt_at=due, last_error="not now",
        )  # fmt: skip
    async with runtime.sessions() as session:
        history = await contact_history(session, contact.id)

    assert (history.contact_id, history.campaign_id, history.phone) == (
        contact.id,
        cid,
        "+919811111111",
    )
    assert (history.state, history.attempts_count, history.last_error) == ("pending", 0, "not now")
    assert history.next_attempt_at == due
    assert history.variables == {"name": "Asha"}
    assert history.attempts == []


async def test_attempts_are_in_claim_order_even_when_ids_say_otherwise(runtime: Runtime) -> None:
    now = utcnow()
    async with runtime.sessions() as session, session.begin():
        cid = await seed.campaign(session, start=False)
        contact = await seed.contact(session, cid, "+919811111111", state="retrying")
        later = await seed.attempt(
            session, contact, state="ended", number=2, outcome="busy", claimed_at=now
        )
        earlier = await seed.attempt(
            session, contact, state="ended", number=1, outcome="no_answer",
            claimed_at=now - timedelta(hours=1), error="no answer",
        )  # fmt: skip
        other = await seed.contact(session, cid, "+919822222222", state="calling")
        await seed.attempt(session, other, state="started")
    async with runtime.sessions() as session:
        history = await contact_history(session, contact.id)

    assert [a.id for a in history.attempts] == [earlier.id, later.id]
    first = history.attempts[0]
    assert (first.attempt_number, first.state, first.outcome, first.error) == (
        1,
        "ended",
        "no_answer",
        "no answer",
    )
    assert first.provider == "twilio"
    assert first.deadline_at == first.claimed_at + timedelta(minutes=10)


async def test_each_attempt_gets_only_its_own_webhooks_in_arrival_order(
    runtime: Runtime,
) -> None:
    now = utcnow()
    async with runtime.sessions() as session, session.begin():
        cid = await seed.campaign(session, start=False)
        contact = await seed.contact(session, cid, "+919811111111", state="completed")
        one = await seed.attempt(session, contact, state="ended", session_id="s1", call_id="c1")
        two = await seed.attempt(
            session, contact, state="ended", number=2, session_id="s2", call_id="c2"
        )
        session.add_all(
            [
                WebhookEvent(
                    session_id="s2-late", event_type="session.completed", status="ignored",
                    raw_body=b'{"n":2}', attempt_id=two.id, received_at=now,
                    duplicates=3, error="already final",
                ),
                WebhookEvent(
                    session_id="s2-early", event_type="session.started", status="applied",
                    raw_body=b'{"n":1}', attempt_id=two.id,
                    received_at=now - timedelta(minutes=1), processed_at=now,
                ),
                WebhookEvent(
                    session_id="stray", event_type="session.completed", status="unmatched",
                    raw_body=b"{}", attempt_id=None, received_at=now,
                ),
            ]
        )  # fmt: skip
    async with runtime.sessions() as session:
        history = await contact_history(session, contact.id)

    by_id = {a.id: a for a in history.attempts}
    assert by_id[one.id].webhooks == []
    hooks = by_id[two.id].webhooks
    assert [(w.event_type, w.status, w.body) for w in hooks] == [
        ("session.started", "applied", '{"n":1}'),
        ("session.completed", "ignored", '{"n":2}'),
    ]
    assert (hooks[1].duplicates, hooks[1].error, hooks[1].processed_at) == (
        3,
        "already final",
        None,
    )
    assert hooks[0].processed_at == now


async def test_a_webhook_body_that_is_not_utf8_is_shown_with_replacement_characters(
    runtime: Runtime,
) -> None:
    async with runtime.sessions() as session, session.begin():
        cid = await seed.campaign(session, start=False)
        contact = await seed.contact(session, cid, "+919811111111", state="completed")
        attempt = await seed.attempt(session, contact, state="ended", session_id="s1")
        await seed.webhook(session, attempt, b'{"name":"\xff\xfe"}')
    async with runtime.sessions() as session:
        history = await contact_history(session, contact.id)
    [hook] = history.attempts[0].webhooks
    assert hook.body == '{"name":"\ufffd\ufffd"}'


async def test_the_history_is_json_ready(runtime: Runtime) -> None:
    async with runtime.sessions() as session, session.begin():
        cid = await seed.campaign(session, start=False)
        contact = await seed.contact(session, cid, "+919811111111", state="completed")
        attempt = await seed.attempt(session, contact, state="ended", session_id="s1")
        await seed.webhook(session, attempt, b"{}")
    async with runtime.sessions() as session:
        data = (await contact_history(session, contact.id)).model_dump(mode="json")
    assert data["phone"] == "+919811111111"
    assert data["attempts"][0]["webhooks"][0]["body"] == "{}"
    assert isinstance(data["attempts"][0]["claimed_at"], str)


@pytest.mark.parametrize(
    ("state", "words"),
    [
        ("unknown", "start's fate is unknown"),
        ("processing", "outcome waits for Vocobase's post-call processing"),
        ("started", "in a call"),
    ],
)
async def test_a_contact_with_an_open_attempt_says_what_it_waits_for(
    runtime: Runtime, state: str, words: str
) -> None:
    """A contact whose start's fate is unknown waits, and says so, rather than being dialed
    again on a guess."""
    async with runtime.sessions() as session, session.begin():
        cid = await seed.campaign(session, start=False)
        contact = await seed.contact(session, cid, "+919811111111", state="dialing")
        await seed.attempt(session, contact, state="ended", number=1, outcome="busy")
        await seed.attempt(session, contact, state=state, number=2, outcome_source=None)
    async with runtime.sessions() as session:
        history = await contact_history(session, contact.id)

    assert history.waiting_for is not None and words in history.waiting_for


async def test_a_contact_with_no_open_attempt_waits_for_nothing_and_shows_the_outcome_source(
    runtime: Runtime,
) -> None:
    async with runtime.sessions() as session, session.begin():
        cid = await seed.campaign(session, start=False)
        contact = await seed.contact(session, cid, "+919811111111", state="completed")
        await seed.attempt(
            session, contact, state="ended", outcome="completed", outcome_source="poll"
        )
    async with runtime.sessions() as session:
        history = await contact_history(session, contact.id)

    assert history.waiting_for is None
    assert history.attempts[0].outcome_source == "poll"
