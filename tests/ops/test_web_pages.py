"""The console's HTML: what operators supply is escaped wherever it lands, and each page
shows its rows and facts."""

from __future__ import annotations

import re
from datetime import UTC, datetime
from typing import Any

import pytest

from campaign_engine.journal.audit import AuditView
from campaign_engine.ops import web_pages
from campaign_engine.ops.actions import REQUEUE_REASONS
from campaign_engine.ops.history import AttemptView, ContactHistory, WebhookView
from campaign_engine.ops.limits_view import LimitsView, LimitUse
from campaign_engine.ops.progress import CampaignProgress, LastEvent
from campaign_engine.ops.queues import DeadLetters, QueuedContact, RetryQueue, StuckAttempt
from campaign_engine.webhooks.verify import accepted_by_form

EVIL = '<script>alert("x")</script>'
ESCAPED = "&lt;script&gt;alert(&quot;x&quot;)&lt;/script&gt;"
AT = datetime(2030, 6, 3, 4, 30, tzinfo=UTC)


def progress(**fields: Any) -> CampaignProgress:
    values: dict[str, Any] = {
        "id": "c-1",
        "name": "Diwali offers",
        "state": "running",
        "state_reason": None,
        "provider": "mcube",
        "total": 10,
        "final": 4,
        "in_flight": 2,
        "calls_last_minute": 3,
        "calls_last_hour": 40,
        "eta_seconds": 120.0,
        "last_event": None,
    }
    return CampaignProgress(**{**values, **fields})


def queued(**fields: Any) -> QueuedContact:
    values: dict[str, Any] = {
        "contact_id": 7,
        "campaign_id": "c-1",
        "phone": "+919876543210",
        "state": "retrying",
        "reason": "no_answer",
        "attempts_count": 1,
        "next_attempt_number": 2,
        "next_attempt_at": AT,
        "last_outcome": "no_answer",
        "last_error": None,
    }
    return QueuedContact(**{**values, **fields})


def attempt(**fields: Any) -> AttemptView:
    values: dict[str, Any] = {
        "id": 1,
        "attempt_number": 1,
        "state": "ended",
        "provider": "mcube",
        "call_id": "call-1",
        "session_id": "session-1",
        "call_status": "completed",
        "disposition": "answered",
        "answered_by": "human",
        "outcome": "completed",
        "error": None,
        "duration_seconds": 42.5,
        "claimed_at": AT,
        "started_at": AT,
        "ended_at": AT,
        "deadline_at": AT,
        "webhooks": [],
    }
    return AttemptView(**{**values, **fields})


def history(**fields: Any) -> ContactHistory:
    values: dict[str, Any] = {
        "contact_id": 7,
        "campaign_id": "c-1",
        "phone": "+919876543210",
        "state": "retrying",
        "attempts_count": 1,
        "next_attempt_at": None,
        "last_outcome": None,
        "last_error": None,
        "variables": {},
        "attempts": [],
    }
    return ContactHistory(**{**values, **fields})


def cells(html: str) -> list[list[str]]:
    """Each table row's cells (header rows excluded), as raw HTML."""
    return [
        re.findall(r"<td>(.*?)</td>", row)
        for row in re.findall(r"<tr>(.*?)</tr>", html)
        if "<td>" in row
    ]


# --- escaping ------------------------------------------------------------------------------


def test_a_campaign_name_with_markup_is_escaped_in_the_overview_and_its_page() -> None:
    row = progress(name=EVIL, state_reason=EVIL)

    for html in (
        web_pages.overview_page([row], refresh=5),
        web_pages.campaign_page(row, "", "token", refresh=5),
    ):
        assert EVIL not in html
        assert ESCAPED in html


def test_a_contact_variable_with_markup_is_escaped_in_its_name_and_value() -> None:
    html = web_pages.contact_page(
        history(variables={"name": EVIL, '"><b>': "ok"}, last_error=EVIL), "token"
    )

    assert "<script>" not in html
    assert f'value="{ESCAPED}"' in html
    assert 'name="var:&quot;&gt;&lt;b&gt;"' in html
    assert "<b>" not in html


def test_a_webhook_body_and_error_text_are_escaped_on_the_contact_page() -> None:
    webhook = WebhookView(
        id=3,
        event_type="call.ended",
        status="applied",
        received_at=AT,
        processed_at=AT,
        error=None,
        duplicates=2,
        body=EVIL,
    )
    html = web_pages.contact_page(
        history(attempts=[attempt(error=EVIL, webhooks=[webhook])]), "token"
    )

    assert EVIL not in html
    assert f"<pre>{ESCAPED}</pre>" in html
    assert "attempt 1: webhook 3 applied (2 duplicates)" in html


def test_retry_queue_search_values_and_rows_are_escaped() -> None:
    queue = RetryQueue(by_reason={EVIL: 1}, contacts=[queued(last_error=EVIL, phone=EVIL)])

    html = web_pages.retries_page(queue, "token", {"phone": '"><script>'})

    assert "<script>" not in html
    assert 'value="&quot;&gt;&lt;script&gt;"' in html
    assert f"{ESCAPED}: 1" in html


def test_audit_details_and_dead_letters_are_escaped() -> None:
    entry = AuditView(
        id=1,
        at=AT,
        actor=EVIL,
        action="pause",
        target_type="campaign",
        target_id="c-1",
        details={"reason": EVIL},
    )
    dead = DeadLetters(contacts=[queued(last_error=EVIL)], attempts=[])

    for html in (web_pages.audit_page([entry], 5), web_pages.dead_page(dead, 5)):
        assert "<script>" not in html
        assert "&lt;script&gt;" in html


def test_page_titles_messages_and_login_errors_are_escaped() -> None:
    assert "<title>&lt;b&gt; · campaign-engine</title>" in web_pages.message_page("<b>", EVIL)
    assert f"<p>{ESCAPED}</p>" in web_pages.message_page("x", EVIL)
    assert f'<p class="error">{ESCAPED}</p>' in web_pages.login_page(EVIL)
    assert 'class="error"' not in web_pages.login_page()


def test_a_button_escapes_its_action_label_token_and_hidden_fields() -> None:
    html = web_pages.button('/ops/x"y', "<go>", 'to"ken', {"a<": 'b"'})

    assert html == (
        '<form class="inline" method="post" action="/ops/x&quot;y">'
        '<input type="hidden" name="csrf" value="to&quot;ken">'
        '<input type="hidden" name="a&lt;" value="b&quot;">'
        "<button>&lt;go&gt;</button></form>"
    )


# --- layout --------------------------------------------------------------------------------


def test_a_page_reloads_itself_only_when_given_a_refresh() -> None:
    assert '<meta http-equiv="refresh" content="7">' in web_pages.layout("t", "", refresh=7)
    assert "http-equiv" not in web_pages.layout("t", "")
    assert "http-equiv" not in web_pages.layout("t", "", refresh=0)


def test_the_retry_queue_and_contact_pages_do_not_reload_under_the_operator() -> None:
    assert "http-equiv" not in web_pages.retries_page(
        RetryQueue(by_reason={}, contacts=[]), "t", {}
    )
    assert "http-equiv" not in web_pages.contact_page(history(), "t")


# --- the limits page -----------------------------------------------------------------------


def test_the_limits_page_shows_the_webhook_signature_forms_and_each_limit() -> None:
    view = LimitsView(
        limits=[
            LimitUse(name="vocobase:calls", kind="rate", limit=10.0, in_use=3),
            LimitUse(
                name="vocobase:active",
                kind="concurrency",
                limit=5,
                in_use=5,
                rate_limited_last_hour=2,
            ),
            LimitUse(name="provider:exotel", kind="rate", limit=200 / 60 * 60, in_use=0),
        ],
        cooldown_ms=1500,
        learned_concurrency=None,
        lowered_concurrency=4,
        lowered_rate_factor=0.8,
    )
    counts = accepted_by_form()

    html = web_pages.limits_page(view, refresh=5)

    assert (
        f"webhooks accepted by this server: {counts['as_given']} signed with the whole "
        f"whsec_ secret, {counts['without_prefix']} with the part after the prefix"
    ) in html
    assert (
        "cooldown 1500 ms · learned concurrency - · lowered concurrency 4 · lowered rate factor 0.8"
    ) in html
    assert cells(html) == [
        ["vocobase:calls", "rate", "10", "3", "0"],
        ["vocobase:active", "concurrency", "5", "5", "2"],
        ["provider:exotel", "rate", "200", "0", "0"],
    ]


# --- the contact page ----------------------------------------------------------------------


def test_the_contact_page_says_what_an_open_attempt_waits_for() -> None:
    html = web_pages.contact_page(history(waiting_for="in a call"), "token")

    assert "<p><strong>waiting:</strong> in a call</p>" in html


def test_the_contact_page_says_nothing_of_waiting_when_nothing_is_open() -> None:
    assert "waiting:" not in web_pages.contact_page(history(waiting_for=None), "token")


def test_the_contact_page_lists_its_attempts_actions_and_sorted_variables() -> None:
    html = web_pages.contact_page(
        history(
            variables={"zone": "north", "amount": 1200},
            attempts=[attempt(), attempt(id=2, attempt_number=2, state="started", call_id=None)],
        ),
        "tok",
    )

    rows = cells(html)
    assert rows[0][:3] == ["1", "ended", "completed"]
    assert rows[0][6:9] == ["42.5", "call-1", "session-1"]
    assert rows[1][:3] == ["2", "started", "completed"]
    assert rows[1][7] == "-"  # a missing value shows as a dash
    assert html.index('name="var:amount"') < html.index('name="var:zone"')
    assert 'value="1200"' in html
    for action in ("retry-now", "skip", "suppress", "edit-vars"):
        assert f'action="/ops/contacts/7/{action}"' in html
    assert html.count('name="csrf" value="tok"') == 4


# --- lists ---------------------------------------------------------------------------------


def test_the_overview_lists_each_campaign_with_progress_eta_and_why() -> None:
    paused = progress(
        id="c-2",
        name="second",
        state="paused",
        total=0,
        final=0,
        eta_seconds=None,
        last_event=LastEvent(
            at=AT, from_state="running", to_state="paused", actor="tester", reason="lunch"
        ),
    )

    rows = cells(web_pages.overview_page([progress(), paused], refresh=5))

    assert len(rows) == 2
    assert rows[0][0] == '<a href="/ops/campaigns/c-1">Diwali offers</a>'
    assert rows[0][2].endswith('<span class="progress">4/10</span>')
    assert rows[0][1:2] + rows[0][3:] == ["running", "2", "3", "40", "2.0 min", "-"]
    # No contacts: the bar's maximum stays one; the reason comes from the last event.
    assert '<progress max="1" value="0">' in rows[1][2]
    assert rows[1][6:] == ["-", "lunch"]


def test_the_campaign_page_has_its_controls_and_every_requeue_reason() -> None:
    html = web_pages.campaign_page(progress(), "<svg>chart</svg>", "tok", refresh=5)

    for action in ("pause", "resume", "cancel", "requeue-reason"):
        assert f'action="/ops/campaigns/c-1/{action}"' in html
    assert re.findall(r"<option>(.*?)</option>", html) == list(REQUEUE_REASONS)
    assert "<svg>chart</svg>" in html  # the charts are markup already
    assert '<a href="/ops/retries?campaign=c-1">retry queue</a>' in html


def test_the_retry_queue_lists_its_contacts_and_counts_by_reason() -> None:
    queue = RetryQueue(
        by_reason={"no_answer": 2, "busy": 1},
        contacts=[queued(), queued(contact_id=8, reason="busy", last_error="line busy")],
    )

    html = web_pages.retries_page(queue, "tok", {})

    assert "<p>busy: 1, no_answer: 2</p>" in html
    rows = cells(html)
    assert [row[:6] for row in rows] == [
        ['<a href="/ops/contacts/7">7</a>', "+919876543210", "no_answer", "2", str(AT), "-"],
        ['<a href="/ops/contacts/8">8</a>', "+919876543210", "busy", "2", str(AT), "line busy"],
    ]
    assert 'action="/ops/contacts/8/retry-now"' in rows[1][6]


def test_an_empty_retry_queue_says_nobody_is_waiting() -> None:
    html = web_pages.retries_page(RetryQueue(by_reason={}, contacts=[]), "tok", {})

    assert "<p>nobody waiting</p>" in html
    assert cells(html) == []


def test_dead_letters_list_contacts_and_stuck_attempts_in_their_own_tables() -> None:
    stuck = StuckAttempt(
        attempt_id=11,
        contact_id=7,
        campaign_id="c-1",
        phone="+919876543210",
        state="expired",
        claimed_at=AT,
        deadline_at=AT,
        error=None,
    )
    dead = DeadLetters(contacts=[queued(state="exhausted", attempts_count=3)], attempts=[stuck])

    html = web_pages.dead_page(dead, refresh=5)

    contacts_part, attempts_part = html.split("<h2>attempts stuck or expired</h2>")
    assert cells(contacts_part) == [
        [
            '<a href="/ops/contacts/7">7</a>',
            "c-1",
            "+919876543210",
            "exhausted",
            "no_answer",
            "3",
            "-",
        ]
    ]
    assert cells(attempts_part) == [
        ["11", '<a href="/ops/contacts/7">7</a>', "+919876543210", "expired", str(AT), str(AT), "-"]
    ]


@pytest.mark.parametrize("entries", [0, 3])
def test_the_audit_log_has_one_row_per_entry(entries: int) -> None:
    rows = [
        AuditView(
            id=index,
            at=AT,
            actor="asha",
            action="pause",
            target_type="campaign",
            target_id=f"c-{index}",
            details={},
        )
        for index in range(entries)
    ]

    found = cells(web_pages.audit_page(rows, refresh=5))

    assert len(found) == entries
    if entries:
        assert found[2] == [str(AT), "asha", "pause", "campaign c-2", "{}"]
