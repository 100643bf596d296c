"""The console's HTML: Jinja2 templates (``ops/templates``) with auto-escaping on, so a
value is escaped wherever a template places it unless it is marked as markup (the charts).

Server-rendered pages with a meta refresh: nothing to build, works without JavaScript, and
a phone gets one readable column (tables scroll sideways rather than shrink). The retry
queue and a contact's page do not reload themselves: they hold action buttons and a form,
and a reload would move another contact's button under the operator's pointer or lose what
was being typed. Every page function returns the whole page as a string.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from jinja2 import Environment, PackageLoader, pass_context, select_autoescape
from jinja2.runtime import Context
from markupsafe import Markup

from campaign_engine.contacts.columns import KEPT_PREFIX, is_kept
from campaign_engine.journal.audit import AuditView
from campaign_engine.ops.actions import REQUEUE_REASONS
from campaign_engine.ops.history import ContactHistory
from campaign_engine.ops.limits_view import LimitsView
from campaign_engine.ops.priority import MAX_PRIORITY
from campaign_engine.ops.progress import CampaignProgress
from campaign_engine.ops.queues import DeadLetters, QueuedContact
from campaign_engine.ops.web_lists import Page
from campaign_engine.ops.web_times import readable
from campaign_engine.webhooks.verify import accepted_by_form


@pass_context
def _when(context: Context, at: datetime | None, zone: str | None = None) -> str:
    """A time in the operator's zone (or ``zone``), readably: "Mon 09:30 UTC"."""
    return readable(at, zone or context.get("zone") or "UTC", now=context.get("now"))


ENV = Environment(
    loader=PackageLoader("campaign_engine.ops", "templates"),
    autoescape=select_autoescape(default=True, default_for_string=True),
    keep_trailing_newline=True,
)
ENV.filters["when"] = _when


@dataclass(frozen=True)
class Chrome:
    """What every page around its content needs: the form token, who is logged in (and so
    the log-out button), the zone times are shown in, an action's one-time answer."""

    csrf: str = ""
    who: str | None = None
    zone: str = "UTC"
    flash: str | None = None
    now: datetime | None = None


PLAIN = Chrome()


def render(template: str, title: str, chrome: Chrome = PLAIN, **values: Any) -> str:
    return ENV.get_template(template).render(
        title=title,
        csrf=chrome.csrf,
        who=chrome.who,
        zone=chrome.zone,
        flash=chrome.flash,
        now=chrome.now,
        **values,
    )


def login_page(error: str | None = None, *, off: bool = False) -> str:
    """``off``: there is nothing to log in with yet (the form is left out)."""
    return render("login.html", "log in", error=error, off=off)


def message_page(title: str, message: str, chrome: Chrome = PLAIN, back: str | None = None) -> str:
    return render("message.html", title, chrome, message=message, back=back)


def confirm_page(
    title: str,
    chrome: Chrome,
    *,
    warning: str,
    action: str,
    check: str,
    label: str,
    back: str,
    hidden: dict[str, str] | None = None,
    ask_reason: bool = False,
    reason: str = "",
) -> str:
    """The step before a destructive action: says what it will do, and posts again only
    with a ticked box (``confirm=yes``); works without JavaScript."""
    return render(
        "confirm.html",
        title,
        chrome,
        warning=warning,
        action=action,
        check=check,
        label=label,
        back=back,
        hidden=hidden or {},
        ask_reason=ask_reason,
        reason=reason,
    )


def overview_page(rows: list[CampaignProgress], refresh: int, chrome: Chrome = PLAIN) -> str:
    return render("overview.html", "campaigns", chrome, rows=rows, refresh=refresh)


def campaign_page(
    progress: CampaignProgress,
    charts: str,
    chrome: Chrome,
    refresh: int,
    *,
    priority: int | None = None,
    schedule_text: str | None = None,
    warning: str | None = None,
    next_calls: str | None = None,
) -> str:
    return render(
        "campaign.html",
        progress.name,
        chrome,
        c=progress,
        charts=Markup(charts),  # built by web_charts, every value in it escaped there
        refresh=refresh,
        priority=priority,
        max_priority=MAX_PRIORITY,
        reasons=REQUEUE_REASONS,
        schedule_text=schedule_text,
        warning=warning,
        next_calls=next_calls,
    )


def retries_page(
    by_reason: dict[str, int],
    contacts: list[QueuedContact],
    page: Page,
    filters: dict[str, str],
    chrome: Chrome = PLAIN,
) -> str:
    return render(
        "retries.html",
        "retry queue",
        chrome,
        by_reason=sorted(by_reason.items()),
        contacts=contacts,
        page=page,
        filters=filters,
    )


def audit_page(
    entries: list[AuditView], page: Page, filters: dict[str, str], refresh: int, chrome: Chrome
) -> str:
    return render(
        "audit.html",
        "audit log",
        chrome,
        entries=entries,
        page=page,
        filters=filters,
        refresh=refresh,
    )


def limits_page(view: LimitsView, refresh: int, chrome: Chrome = PLAIN) -> str:
    return render(
        "limits.html",
        "limits",
        chrome,
        view=view,
        signatures=accepted_by_form(),
        refresh=refresh,
    )


def dead_page(dead: DeadLetters, page: Page, refresh: int, chrome: Chrome = PLAIN) -> str:
    return render("dead.html", "dead letters", chrome, dead=dead, page=page, refresh=refresh)


def contact_page(
    history: ContactHistory,
    chrome: Chrome,
    *,
    callee_zone: str | None = None,
    next_call: str | None = None,
    declared: list[str] | None = None,
) -> str:
    """Everything about one contact, its actions, and its variables to edit and call again
    (no reload: it holds a form). Kept columns are shown apart: they are not call variables."""
    variables = history.variables.items()
    call = sorted((k, v) for k, v in variables if not is_kept(k))
    kept = sorted((k.removeprefix(KEPT_PREFIX), v) for k, v in variables if is_kept(k))
    return render(
        "contact.html",
        f"contact {history.contact_id}",
        chrome,
        h=history,
        variables=call,
        kept=kept,
        callee_zone=callee_zone,
        next_call=next_call,
        declared=declared,
    )
