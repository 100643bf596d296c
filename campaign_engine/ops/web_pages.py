"""The console's HTML, as small functions: every value is escaped where it is placed.

Server-rendered pages with a meta refresh: nothing to build, works without JavaScript, and
a phone gets one readable column (tables scroll sideways rather than shrink). The retry
queue is the exception that does not reload itself: it is a list of rows with action
buttons, and a reload would move another contact's button under the operator's pointer.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from html import escape
from typing import Any

from campaign_engine.ops.audit import AuditView
from campaign_engine.ops.progress import CampaignProgress
from campaign_engine.ops.queues import RetryQueue
from campaign_engine.ops.web_auth import CSRF_FIELD

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
    retries = f'<p><a href="/ops/retries?campaign={escape(progress.id)}">retry queue</a></p>'
    return layout(progress.name, summary + controls + charts + retries, refresh=refresh)


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
            _e(c.contact_id), _e(c.phone), _e(c.reason), _e(c.next_attempt_number),
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
