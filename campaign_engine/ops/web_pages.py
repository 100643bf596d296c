"""The console's HTML, as small functions: every value is escaped where it is placed.

Server-rendered pages with a meta refresh: nothing to build, works without JavaScript, and
a phone gets one readable column (tables scroll sideways rather than shrink). The retry
queue and a contact's page are the exceptions that do not reload themselves: they hold
action buttons and a form, and a reload would move another contact's button under the
operator's pointer or lose what was being typed.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from html import escape
from typing import Any

from campaign_engine.journal.audit import AuditView
from campaign_engine.ops.actions import REQUEUE_REASONS
from campaign_engine.ops.history import ContactHistory
from campaign_engine.ops.limits_view import LimitsView
from campaign_engine.ops.progress import CampaignProgress
from campaign_engine.ops.queues import DeadLetters, QueuedContact, RetryQueue
from campaign_engine.ops.web_auth import CSRF_FIELD
from campaign_engine.webhooks.verify import accepted_by_form

STYLE = """
body{font-family:system-ui,sans-serif;margin:0 auto;max-width:1100px;padding:.5rem;color:#222}
nav a{margin-right:1rem}.scroll{overflow-x:auto}table{border-collapse:collapse;width:100%}
th,td{padding:.3rem .5rem;border-bottom:1px solid #ddd;text-align:left;white-space:nowrap}
progress{width:8rem}form.inline{display:inline}button{margin:.1rem}
.error{color:#c62828}@media(max-width:600px){body{font-size:15px}th,td{padding:.25rem}}
"""


def _e(value: Any) -> str:
    return "-" if value is None else escape(str(value))


def layout(title: str, body: str, *, refresh: int | None = None) -> str:
    """A whole page; one that reloads itself every ``refresh`` seconds when given."""
    meta = f'<meta http-equiv="refresh" content="{refresh}">' if refresh else ""
    return (
        '<!doctype html><html lang="en"><head><meta charset="utf-8">'
        '<meta name="viewport" content="width=device-width,initial-scale=1">'
        f"{meta}<title>{escape(title)} · campaign-engine</title><style>{STYLE}</style></head>"
        '<body><nav><a href="/ops/">campaigns</a><a href="/ops/retries">retry queue</a>'
        '<a href="/ops/dead">dead letters</a><a href="/ops/limits">limits</a>'
        f'<a href="/ops/audit">audit log</a></nav><h1>{escape(title)}</h1>{body}</body></html>'
    )


def _table(headers: Sequence[str], rows: Iterable[Sequence[str]]) -> str:
    head = "".join(f"<th>{escape(h)}</th>" for h in headers)
    body = "".join("<tr>" + "".join(f"<td>{c}</td>" for c in row) + "</tr>" for row in rows)
    return f'<div class="scroll"><table><tr>{head}</tr>{body}</table></div>'


def button(action: str, label: str, csrf: str, hidden: dict[str, str] | None = None) -> str:
    fields = "".join(
        f'<input type="hidden" name="{escape(k)}" value="{escape(v)}">'
        for k, v in (hidden or {}).items()
    )
    return (
        f'<form class="inline" method="post" action="{escape(action)}">'
        f'<input type="hidden" name="{CSRF_FIELD}" value="{escape(csrf)}">{fields}'
        f"<button>{escape(label)}</button></form>"
    )


def login_page(error: str | None = None) -> str:
    problem = f'<p class="error">{escape(error)}</p>' if error else ""
    return layout(
        "log in",
        f'{problem}<form method="post" action="/ops/login"><label>token '
        '<input type="password" name="token" autocomplete="current-password"></label> '
        "<button>log in</button></form>",
    )


def message_page(title: str, message: str) -> str:
    return layout(title, f"<p>{escape(message)}</p>")


def overview_page(rows: list[CampaignProgress], refresh: int) -> str:
    def row(c: CampaignProgress) -> list[str]:
        eta = "-" if c.eta_seconds is None else f"{c.eta_seconds / 60:.1f} min"
        why = c.state_reason or (c.last_event.reason if c.last_event else None)
        return [
            f'<a href="/ops/campaigns/{escape(c.id)}">{escape(c.name)}</a>',
            _e(c.state),
            f'<progress max="{max(c.total, 1)}" value="{c.final}"></progress> '
            f'<span class="progress">{c.final}/{c.total}</span>',
            _e(c.in_flight), _e(c.calls_last_minute), _e(c.calls_last_hour), eta, _e(why),
        ]  # fmt: skip

    headers = ("campaign", "state", "progress", "in flight", "/min", "/hour", "eta", "why")
    return layout("campaigns", _table(headers, (row(c) for c in rows)), refresh=refresh)


def campaign_page(progress: CampaignProgress, charts: str, csrf: str, refresh: int) -> str:
    base = f"/ops/campaigns/{progress.id}"
    controls = "".join(button(f"{base}/{a}", a, csrf) for a in ("pause", "resume", "cancel"))
    summary = (
        f"<p>{escape(progress.state)} · {progress.final}/{progress.total} final · "
        f"{progress.in_flight} in flight · {_e(progress.state_reason)}</p>"
    )
    options = "".join(f"<option>{escape(reason)}</option>" for reason in REQUEUE_REASONS)
    requeue = (
        f'<form class="inline" method="post" action="{escape(base)}/requeue-reason">'
        f'<input type="hidden" name="{CSRF_FIELD}" value="{escape(csrf)}">'
        f'<select name="reason">{options}</select><button>requeue every one</button></form>'
    )
    links = (
        f'<p><a href="/ops/retries?campaign={escape(progress.id)}">retry queue</a> · '
        f'<a href="/ops/dead?campaign={escape(progress.id)}">dead letters</a></p>'
    )
    body = summary + controls + requeue + charts + links
    return layout(progress.name, body, refresh=refresh)


def _contact_link(contact_id: int) -> str:
    return f'<a href="/ops/contacts/{contact_id}">{contact_id}</a>'


def retries_page(queue: RetryQueue, csrf: str, filters: dict[str, str]) -> str:
    counts = ", ".join(f"{escape(k)}: {v}" for k, v in sorted(queue.by_reason.items()))
    search = (
        '<form method="get" action="/ops/retries">'
        + "".join(
            f'<input name="{name}" placeholder="{name}" value="{escape(filters.get(name, ""))}">'
            for name in ("phone", "campaign", "reason")
        )
        + "<button>search</button></form>"
    )

    def row(c: Any) -> list[str]:
        contact = f"/ops/contacts/{c.contact_id}"
        actions = (
            button(f"{contact}/retry-now", "requeue now", csrf)
            + button(f"{contact}/skip", "skip", csrf)
            + button(f"{contact}/suppress", "suppress", csrf)
        )
        return [
            _contact_link(c.contact_id), _e(c.phone), _e(c.reason), _e(c.next_attempt_number),
            _e(c.next_attempt_at), _e(c.last_error), actions,
        ]  # fmt: skip

    headers = ("contact", "phone", "reason", "attempt", "next attempt", "last error", "")
    table = _table(headers, (row(c) for c in queue.contacts))
    return layout("retry queue", f"<p>{counts or 'nobody waiting'}</p>{search}{table}")


def audit_page(entries: list[AuditView], refresh: int) -> str:
    rows = (
        [
            _e(e.at),
            _e(e.actor),
            _e(e.action),
            f"{_e(e.target_type)} {_e(e.target_id)}",
            _e(e.details),
        ]
        for e in entries
    )
    table = _table(("at", "actor", "action", "target", "details"), rows)
    return layout("audit log", table, refresh=refresh)


def _signature_forms(counts: dict[str, int]) -> str:
    """Which reading of the webhook secret Vocobase's signatures matched (this process)."""
    return (
        f"webhooks accepted by this server: {counts['as_given']} signed with the whole "
        f"whsec_ secret, {counts['without_prefix']} with the part after the prefix"
    )


def limits_page(view: LimitsView, refresh: int) -> str:
    facts = (
        f"<p>cooldown {view.cooldown_ms} ms · learned concurrency "
        f"{_e(view.learned_concurrency)} · lowered concurrency {_e(view.lowered_concurrency)} · "
        f"lowered rate factor {_e(view.lowered_rate_factor)}</p>"
        f"<p>{_e(_signature_forms(accepted_by_form()))}</p>"
    )
    rows = (
        [_e(u.name), _e(u.kind), f"{u.limit:g}", _e(u.in_use), _e(u.rate_limited_last_hour)]
        for u in view.limits
    )
    headers = ("limit", "kind", "configured", "in use", "429s last hour")
    return layout("limits", facts + _table(headers, rows), refresh=refresh)


def dead_page(dead: DeadLetters, refresh: int) -> str:
    def contact(c: QueuedContact) -> list[str]:
        return [
            _contact_link(c.contact_id), _e(c.campaign_id), _e(c.phone), _e(c.state),
            _e(c.last_outcome), _e(c.attempts_count), _e(c.last_error),
        ]  # fmt: skip

    contacts = _table(
        ("contact", "campaign", "phone", "state", "last outcome", "attempts", "last error"),
        (contact(c) for c in dead.contacts),
    )
    attempts = _table(
        ("attempt", "contact", "phone", "state", "claimed", "deadline", "error"),
        (
            [
                _e(a.attempt_id),
                _contact_link(a.contact_id),
                _e(a.phone),
                _e(a.state),
                _e(a.claimed_at),
                _e(a.deadline_at),
                _e(a.error),
            ]
            for a in dead.attempts
        ),
    )
    body = f"<h2>contacts given up on</h2>{contacts}<h2>attempts stuck or expired</h2>{attempts}"
    return layout("dead letters", body, refresh=refresh)


def contact_page(history: ContactHistory, csrf: str) -> str:
    """Everything about one contact, its actions, and its variables to edit and call again
    (no reload: it holds a form)."""
    base = f"/ops/contacts/{history.contact_id}"
    summary = (
        f"<p>{escape(history.phone)} · {escape(history.state)} · {history.attempts_count} "
        f"attempts · next {_e(history.next_attempt_at)} · last {_e(history.last_outcome)} · "
        f"{_e(history.last_error)} · campaign "
        f'<a href="/ops/campaigns/{escape(history.campaign_id)}">{escape(history.campaign_id)}</a>'
        "</p>"
    )
    if history.waiting_for:
        summary += f"<p><strong>waiting:</strong> {escape(history.waiting_for)}</p>"
    actions = "".join(
        button(f"{base}/{action}", label, csrf)
        for action, label in (
            ("retry-now", "call again now"),
            ("skip", "skip"),
            ("suppress", "suppress"),
        )
    )
    fields = "".join(
        f'<label>{escape(name)} <input name="var:{escape(name)}" value="{escape(str(value))}">'
        f'</label> <label><input type="checkbox" name="unset:{escape(name)}"> remove</label><br>'
        for name, value in sorted(history.variables.items())
    )
    edit = (
        f'<h2>variables</h2><form method="post" action="{escape(base)}/edit-vars">'
        f'<input type="hidden" name="{CSRF_FIELD}" value="{escape(csrf)}">{fields}'
        '<label>new <input name="new_name" placeholder="name"></label> '
        '<input name="new_value" placeholder="value"><br>'
        "<button>save and call again</button></form>"
    )
    rows = (
        [
            _e(a.attempt_number),
            _e(a.state),
            _e(a.outcome),
            _e(a.call_status),
            _e(a.disposition),
            _e(a.answered_by),
            _e(a.duration_seconds),
            _e(a.call_id),
            _e(a.session_id),
            _e(a.claimed_at),
            _e(a.ended_at),
            _e(a.error),
        ]
        for a in history.attempts
    )
    headers = (
        "#", "state", "outcome", "status", "disposition", "answered by", "seconds",
        "call id", "session id", "claimed", "ended", "error",
    )  # fmt: skip
    events = "".join(
        f"<details><summary>attempt {a.attempt_number}: webhook {w.id} {escape(w.status)} "
        f"({w.duplicates} duplicates)</summary><pre>{escape(w.body)}</pre></details>"
        for a in history.attempts
        for w in a.webhooks
    )
    body = summary + actions + edit + "<h2>attempts</h2>" + _table(headers, rows) + events
    return layout(f"contact {history.contact_id}", body)
