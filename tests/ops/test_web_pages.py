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
from campaign_engine.ops.limits_view import LeadingScheduler, LimitsView, LimitUse
from campaign_engine.ops.progress import CampaignProgress, LastEvent
from campaign_engine.ops.queues import DeadLetters, QueuedContact, StuckAttempt
from campaign_engine.ops.web_lists import Page
from campaign_engine.ops.web_pages import Chrome
from campaign_engine.webhooks.verify import accepted_by_form

EVIL = '<script>alert("x")</script>'
ESCAPED = "&lt;script&gt;alert(&#34;x&#34;)&lt;/script&gt;"
AT = datetime(2030, 6, 3, 4, 30, tzinfo=UTC)  # a Monday
SHOWN_AT = "Mon 04:30 UTC"
TOK = Chrome(csrf="tok", who="asha (operate)")
ONE_PAGE = Page(0, 1)


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
        re.findall(r"<td[^>]*>(.*?)</td>", row, re.S)
        for row in re.findall(r"<tr>(.*?)</tr>", html, re.S)
        if "<td" in row
    ]


# --- escaping ------------------------------------------------------------------------------


def test_a_campaign_name_with_markup_is_escaped_in_the_overview_and_its_page() -> None:
    row = progress(name=EVIL)
    for html in (
        web_pages.overview_page([row], refresh=5),
        web_pages.campaign_page(row, "", TOK, refresh=5),
    ):
        assert EVIL not in html
        assert ESCAPED in html


def test_a_contact_variable_with_markup_is_escaped_in_its_name_and_value() -> None:
    html = web_pages.contact_page(history(variables={'"><b>': EVIL}), TOK)
    assert "<script>" not in html
    assert f'value="{ESCAPED}"' in html
    assert 'name="var:&#34;&gt;&lt;b&gt;"' in html
    assert "<b>" not in html


def test_a_webhook_body_and_error_text_are_escaped_on_the_contact_page() -> None:
    hook = WebhookView(
        id=3, event_type="call.ended", status="applied", received_at=AT, processed_at=AT,
        error=None, duplicates=2, body=EVIL,
    )  # fmt: skip
    html = web_pages.contact_page(
        history(last_error=EVIL, attempts=[attempt(error=EVIL, webhooks=[hook])]), TOK
    )
    assert EVIL not in html
    assert f"<pre>{ESCAPED}</pre>" in html
    assert "attempt 1: webhook 3 applied (2 duplicates)" in html


def test_retry_queue_search_values_and_rows_are_escaped() -> None:
    html = web_pages.retries_page(
        {EVIL: 1}, [queued(reason=EVIL, last_error=EVIL)], ONE_PAGE, {"phone": '"><script>'}, TOK
    )
    assert "<script>" not in html
    assert 'value="&#34;&gt;&lt;script&gt;"' in html
    assert f"{ESCAPED}: 1" in html


def test_audit_details_and_dead_letters_are_escaped() -> None:
    entry = AuditView(
        id=1, at=AT, actor=EVIL, action="pause", target_type="campaign", target_id="c",
        details={"why": EVIL},
    )  # fmt: skip
    dead = DeadLetters(contacts=[queued(last_error=EVIL)], attempts=[])
    for html in (
        web_pages.audit_page([entry], ONE_PAGE, {}, 5, TOK),
        web_pages.dead_page(dead, ONE_PAGE, 5, TOK),
    ):
        assert "<script>" not in html
        assert "&lt;script&gt;" in html


def test_page_titles_messages_and_login_errors_are_escaped() -> None:
    assert "<title>&lt;b&gt; · campaign-engine</title>" in web_pages.message_page("<b>", EVIL)
    assert f"<p>{ESCAPED}</p>" in web_pages.message_page("x", EVIL)
    assert f'<p class="error" role="alert">{ESCAPED}</p>' in web_pages.login_page(EVIL)
    assert 'class="error"' not in web_pages.login_page()


def test_an_actions_answer_and_the_user_are_escaped_in_the_page_chrome() -> None:
    chrome = Chrome(csrf='to"ken', who=EVIL, flash="called at <09:00>")
    html = web_pages.message_page("retry queue", "body", chrome)
    assert '<p class="flash" role="status"><strong>called at &lt;09:00&gt;</strong></p>' in html
    assert EVIL not in html and ESCAPED in html
    assert 'name="csrf" value="to&#34;ken"' in html


# --- layout --------------------------------------------------------------------------------


def test_a_page_reloads_itself_only_when_given_a_refresh() -> None:
    assert '<meta http-equiv="refresh" content="7">' in web_pages.overview_page([], 7)
    assert "http-equiv" not in web_pages.message_page("t", "")
    assert "http-equiv" not in web_pages.overview_page([], 0)


def test_the_retry_queue_and_contact_pages_do_not_reload_under_the_operator() -> None:
    assert "http-equiv" not in web_pages.retries_page({}, [queued()], ONE_PAGE, {}, TOK)
    assert "http-equiv" not in web_pages.contact_page(history(), TOK)


def test_every_page_has_one_stylesheet_from_the_server_and_nothing_from_elsewhere() -> None:
    html = web_pages.overview_page([progress()], 5)
    assert re.findall(r'<link rel="stylesheet" href="([^"]+)">', html) == [
        "/ops/static/console.css"
    ]
    assert "http://" not in html and "https://" not in html and "<script" not in html


def test_the_log_out_button_is_there_only_for_someone_logged_in() -> None:
    assert 'action="/ops/logout"' in web_pages.overview_page([], 5, TOK)
    assert "asha (operate)" in web_pages.overview_page([], 5, TOK)
    assert 'action="/ops/logout"' not in web_pages.login_page()


def test_a_destructive_actions_confirm_page_needs_a_ticked_box_and_keeps_its_fields() -> None:
    html = web_pages.confirm_page(
        "cancel?", TOK, warning="stops for good", action="/ops/campaigns/c-1/cancel",
        check="yes, cancel", label="cancel the campaign", back="/ops/campaigns/c-1",
        hidden={"reason": "busy"}, ask_reason=True, reason="wrong list",
    )  # fmt: skip
    assert '<input type="checkbox" name="confirm" value="yes" required>' in html
    assert 'action="/ops/campaigns/c-1/cancel"' in html and 'value="wrong list"' in html
    assert '<input type="hidden" name="reason" value="busy">' in html
    assert 'name="csrf" value="tok"' in html and 'href="/ops/campaigns/c-1"' in html


# --- pages ---------------------------------------------------------------------------------


def test_the_limits_page_shows_the_webhook_signature_forms_and_each_limit() -> None:
    view = LimitsView(
        cooldown_ms=1500,
        learned_concurrency=12,
        lowered_concurrency=None,
        lowered_rate_factor=None,
        limits=[
            LimitUse(name="vocobase:calls", kind="concurrency", limit=20, in_use=3,
                     rate_limited_last_hour=1),
            LimitUse(name="mcube:cps", kind="rate", limit=2.5, in_use=0,
                     rate_limited_last_hour=0),
        ],
    )  # fmt: skip
    counts = accepted_by_form()
    html = web_pages.limits_page(view, refresh=5)
    assert "cooldown 1500 ms · learned concurrency 12 · lowered concurrency - · " in html
    assert (
        f"webhooks accepted by this server: {counts['as_given']} signed with the whole whsec_ "
        f"secret, {counts['without_prefix']} with the part after the prefix"
    ) in html
    assert cells(html) == [
        ["vocobase:calls", "concurrency", "20", "3", "1"],
        ["mcube:cps", "rate", "2.5", "0", "0"],
    ]


def test_the_limits_page_says_which_scheduler_leads_since_when_and_its_token() -> None:
    since = datetime(2030, 6, 5, 9, 30, tzinfo=UTC)
    leader = LeadingScheduler(
        leading=True,
        holder="host-a:4242",
        since=since,
        token=7,
        renewed_at=since,
        lease_ms_left=6000,
    )
    view = LimitsView(
        cooldown_ms=0,
        learned_concurrency=None,
        lowered_concurrency=None,
        lowered_rate_factor=None,
        limits=[],
        scheduler_leader=leader,
    )

    html = web_pages.limits_page(view, refresh=5)

    assert "scheduler leader: host-a:4242 since 2030-06-05 09:30:00 UTC, token 7" in html


def test_the_contact_page_says_what_an_open_attempt_waits_for() -> None:
    html = web_pages.contact_page(history(waiting_for="in a call"), TOK)
    assert "<p><strong>waiting:</strong> in a call</p>" in html


def test_the_contact_page_says_nothing_of_waiting_when_nothing_is_open() -> None:
    assert "waiting:" not in web_pages.contact_page(history(waiting_for=None), TOK)


def test_the_contact_page_shows_times_in_the_operators_and_the_callees_zone() -> None:
    chrome = Chrome(csrf="t", zone="Europe/London")
    html = web_pages.contact_page(
        history(next_attempt_at=AT), chrome, callee_zone="Asia/Kolkata",
        next_call="waiting for the window; next call Mon 10:00 IST",
    )  # fmt: skip
    assert "next Mon 05:30 BST (Mon 10:00 IST callee time)" in html
    assert "waiting for the window; next call Mon 10:00 IST" in html


def test_the_contact_page_lists_its_attempts_actions_and_sorted_variables() -> None:
    html = web_pages.contact_page(
        history(
            variables={"zone": "north", "amount": "1200", "kept:crm_id": "C-7"},
            attempts=[attempt(), attempt(attempt_number=2, state="started", call_id=None)],
        ),
        Chrome(csrf="tok"),
        declared=["amount", "zone"],
    )
    rows = cells(html)
    assert rows[0][:3] == ["1", "ended", "completed"]
    assert rows[0][6:9] == ["42.5", "call-1", "session-1"]
    assert rows[0][9] == SHOWN_AT and ".000" not in html and "+00:00" not in html
    assert rows[1][:3] == ["2", "started", "completed"]
    assert rows[1][7] == "-"  # a missing value shows as a dash
    assert html.index('name="var:amount"') < html.index('name="var:zone"')
    assert 'value="1200"' in html
    assert 'name="var:kept:crm_id"' not in html and "crm_id: C-7" in html
    assert "the agent declares: amount, zone" in html
    for action in ("retry-now", "skip", "suppress", "edit-vars"):
        assert f'action="/ops/contacts/7/{action}"' in html
    assert html.count('name="csrf" value="tok"') == 4


def test_the_overview_lists_each_campaign_with_progress_eta_and_why() -> None:
    paused = progress(
        id="c-2", name="Lapsed", state="paused", total=0, final=0, in_flight=0,
        calls_last_minute=0, calls_last_hour=0, eta_seconds=None,
        last_event=LastEvent(
            at=AT, from_state="running", to_state="paused", actor="tester", reason="lunch"
        ),
    )  # fmt: skip
    rows = cells(web_pages.overview_page([progress(), paused], refresh=5))
    assert len(rows) == 2
    assert rows[0][0] == '<a href="/ops/campaigns/c-1">Diwali offers</a>'
    assert rows[0][2].endswith('<span class="progress">4/10</span>')
    assert rows[0][1:2] + rows[0][3:] == ["running", "2", "3", "40", "2.0 min", "-"]
    assert '<progress max="1" value="0">' in rows[1][2]
    assert rows[1][6:] == ["-", "lunch"]


def test_the_overview_shows_under_the_eta_which_zones_wait_for_their_window() -> None:
    note = "Asia/Kolkata waits for 09:00"
    rows = cells(web_pages.overview_page([progress(eta_seconds=32400.0, eta_note=note)], 5))
    assert rows[0][6] == f'540.0 min<br><small class="progress">{note}</small>'


def test_the_campaign_page_has_its_controls_and_every_requeue_reason() -> None:
    html = web_pages.campaign_page(progress(), "<svg>chart</svg>", TOK, refresh=5)
    for action in ("pause", "resume", "cancel", "requeue-reason"):
        assert f'action="/ops/campaigns/c-1/{action}"' in html
    assert re.findall(r"<option>(.*?)</option>", html) == list(REQUEUE_REASONS)
    assert "<svg>chart</svg>" in html  # the charts are markup already
    assert '<a href="/ops/retries?campaign=c-1">retry queue</a>' in html
    assert 'href="/ops/campaigns/c-1/results.csv"' in html
    assert 'href="/ops/campaigns/c-1/upload"' in html and 'href="/ops/campaigns/c-1/edit"' in html
    assert 'name="reason"' in html  # pause with a reason


def test_only_a_draft_campaign_page_offers_to_start_it() -> None:
    assert 'action="/ops/campaigns/c-1/start"' in web_pages.campaign_page(
        progress(state="draft"), "", TOK, refresh=5
    )
    assert "/start" not in web_pages.campaign_page(progress(), "", TOK, refresh=5)


def test_the_retry_queue_lists_its_contacts_counts_and_where_the_page_is() -> None:
    contacts = [queued(), queued(contact_id=8, phone="+919811111111", reason="busy")]
    html = web_pages.retries_page(
        {"no_answer": 2, "busy": 1}, contacts, Page(100, 345, filters={"reason": "busy"}), {}, TOK
    )
    rows = cells(html)
    assert "<p>busy: 1, no_answer: 2</p>" in html
    assert [row[:1] + row[2:6] for row in rows] == [
        ['<a href="/ops/contacts/7">7</a>', "+919876543210", "no_answer", "2", SHOWN_AT],
        ['<a href="/ops/contacts/8">8</a>', "+919811111111", "busy", "2", SHOWN_AT],
    ]
    assert 'action="/ops/contacts/8/retry-now"' in rows[1][1]  # actions come first, on screen
    assert "showing 101\u2013200 of 345" in html
    assert 'href="/ops/retries?reason=busy&amp;offset=0" rel="prev"' in html
    assert 'href="/ops/retries?reason=busy&amp;offset=200" rel="next"' in html


def test_an_empty_retry_queue_says_nobody_is_waiting() -> None:
    html = web_pages.retries_page({}, [], Page(0, 0), {}, TOK)
    assert "<p>nobody waiting</p>" in html
    assert cells(html) == []
    assert "nothing to show" in html and 'rel="next"' not in html


def test_dead_letters_list_contacts_and_stuck_attempts_in_their_own_tables() -> None:
    dead = DeadLetters(
        contacts=[queued(state="exhausted", last_outcome="no_answer", attempts_count=3,
                         last_error="no answer")],
        attempts=[StuckAttempt(attempt_id=11, contact_id=7, campaign_id="c-1",
                               phone="+919876543210", state="expired", claimed_at=AT,
                               deadline_at=AT, error="deadline passed")],
    )  # fmt: skip
    html = web_pages.dead_page(dead, Page(0, 1), refresh=5)
    contacts_part, attempts_part = html.split("attempts stuck or expired")
    assert cells(contacts_part) == [
        ['<a href="/ops/contacts/7">7</a>', "c-1", "+919876543210", "exhausted", "no_answer",
         "3", "no answer"],
    ]  # fmt: skip
    assert cells(attempts_part) == [
        ["11", '<a href="/ops/contacts/7">7</a>', "+919876543210", "expired", SHOWN_AT,
         SHOWN_AT, "deadline passed"],
    ]  # fmt: skip
    assert "showing 1\u20131 of 1" in contacts_part


@pytest.mark.parametrize("entries", [0, 1, 3])
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
    found = cells(web_pages.audit_page(rows, Page(0, entries), {}, 5, TOK))
    assert len(found) == entries
    if entries == 3:
        assert found[2] == [SHOWN_AT, "asha", "pause", "campaign c-2", "{}"]


def test_the_campaign_page_has_a_priority_form_when_its_priority_is_known() -> None:
    html = web_pages.campaign_page(progress(), "", TOK, refresh=5, priority=3)
    assert 'action="/ops/campaigns/c-1/priority"' in html
    assert 'name="priority" type="number" min="1" max="1000" value="3"' in html
    assert "/priority" not in web_pages.campaign_page(progress(), "", TOK, refresh=5)
