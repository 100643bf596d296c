"""The console's read-only pages: the same views as ``campaign-engine ops``, a page of each
long list at a time, times in the operator's zone (and the callee's, for a contact)."""

from __future__ import annotations

from datetime import timedelta

from sqlalchemy import select
from starlette.requests import Request
from starlette.responses import Response

from campaign_engine.campaigns.schedule import from_json
from campaign_engine.db.models import Campaign, Contact, utcnow
from campaign_engine.ops import web_charts, web_lists, web_pages
from campaign_engine.ops import web_common as common
from campaign_engine.ops.history import contact_history
from campaign_engine.ops.limits_view import limits_view
from campaign_engine.ops.progress import overview
from campaign_engine.ops.queues import dead_letters, retry_queue
from campaign_engine.ops.web_campaign_form import schedule_summary, warning_for
from campaign_engine.ops.web_lists import Page, offset_of
from campaign_engine.ops.web_times import callee_zone, next_call_text
from campaign_engine.states import ContactState

FILTERS = ("phone", "campaign", "reason", "state", "text", "actor")


def _filters(request: Request) -> dict[str, str]:
    return {k: v for k, v in request.query_params.items() if v and k in FILTERS}


def _refresh(request: Request) -> int:
    return common.settings(request).ops.refresh_seconds


async def home(request: Request) -> Response:
    async with common.runtime(request).sessions() as session:
        rows = await overview(session, include_finished=True)
    body = web_pages.overview_page(rows, _refresh(request), common.chrome(request))
    return common.page(request, body)


async def campaign(request: Request) -> Response:
    campaign_id = request.path_params["campaign_id"]
    async with common.runtime(request).sessions() as session:
        found = [c for c in await overview(session, include_finished=True) if c.id == campaign_id]
        row = await session.get(Campaign, campaign_id)
        if not found or row is None:
            return common.message(request, "not found", f"no campaign {campaign_id}", 404)
        since = utcnow() - timedelta(hours=4)
        rows = await web_charts.attempts_since(session, campaign_id, since)
    charts = (
        web_charts.progress_over_time(rows)
        + web_charts.calls_per_minute(rows)
        + web_charts.outcomes_over_time(rows)
    )
    schedule = from_json(row.schedule)
    body = web_pages.campaign_page(
        found[0], charts, common.chrome(request), _refresh(request),
        priority=row.priority, schedule_text=schedule_summary(schedule),
        warning=warning_for(schedule),
    )  # fmt: skip
    return common.page(request, body)


async def retries(request: Request) -> Response:
    filters = _filters(request)
    offset = offset_of(request.query_params.get("offset"))
    async with common.runtime(request).sessions() as session:
        queue = await retry_queue(
            session,
            campaign_id=filters.get("campaign"),
            phone=filters.get("phone"),
            reason=filters.get("reason"),
            limit=web_lists.PAGE_SIZE,
            offset=offset,
        )
    page = Page(offset, sum(queue.by_reason.values()), filters=filters)
    body = web_pages.retries_page(
        queue.by_reason, queue.contacts, page, filters, common.chrome(request)
    )
    return common.page(request, body)


async def limits(request: Request) -> Response:
    runtime = common.runtime(request)
    async with runtime.sessions() as session:
        view = await limits_view(session, runtime.redis, runtime.keys, runtime.settings.limits)
    return common.page(
        request, web_pages.limits_page(view, _refresh(request), common.chrome(request))
    )


async def dead(request: Request) -> Response:
    filters = _filters(request)
    offset = offset_of(request.query_params.get("offset"))
    async with common.runtime(request).sessions() as session:
        found = await dead_letters(
            session,
            campaign_id=filters.get("campaign"),
            phone=filters.get("phone"),
            limit=web_lists.PAGE_SIZE,
            offset=offset,
        )
        total = await web_lists.dead_total(
            session, campaign_id=filters.get("campaign"), phone=filters.get("phone")
        )
    page = Page(offset, total, filters=filters)
    body = web_pages.dead_page(found, page, _refresh(request), common.chrome(request))
    return common.page(request, body)


async def audit_log(request: Request) -> Response:
    filters = _filters(request)
    offset = offset_of(request.query_params.get("offset"))
    async with common.runtime(request).sessions() as session:
        entries, total = await web_lists.audit_page(
            session, offset=offset, actor=filters.get("actor"), campaign_id=filters.get("campaign")
        )
    page = Page(offset, total, filters=filters)
    body = web_pages.audit_page(entries, page, filters, _refresh(request), common.chrome(request))
    return common.page(request, body)


async def contacts(request: Request) -> Response:
    filters = _filters(request)
    offset = offset_of(request.query_params.get("offset"))
    async with common.runtime(request).sessions() as session:
        found, total = await web_lists.search_contacts(
            session,
            offset=offset,
            now=utcnow(),
            phone=filters.get("phone"),
            campaign_id=filters.get("campaign"),
            state=filters.get("state"),
            text=filters.get("text"),
        )
    body = web_pages.render(
        "contacts.html",
        "contacts",
        common.chrome(request),
        contacts=found,
        page=Page(offset, total, filters=filters),
        filters=filters,
        states=[state.value for state in ContactState],
    )
    return common.page(request, body)


async def contact(request: Request) -> Response:
    contact_id = int(request.path_params["contact_id"])
    try:
        async with common.runtime(request).sessions() as session:
            history = await contact_history(session, contact_id)
            row = await session.get(Contact, contact_id)
            declared = await session.scalar(
                select(Campaign.agent_variables).where(Campaign.id == history.campaign_id)
            )
    except LookupError as exc:
        return common.message(request, "not found", str(exc), 404)
    zones = list(row.timezones or []) if row is not None else []
    body = web_pages.contact_page(
        history,
        common.chrome(request),
        callee_zone=callee_zone(zones),
        next_call=next_call_text(history.state, history.next_attempt_at, zones, utcnow()),
        declared=declared,
    )
    return common.page(request, body)
