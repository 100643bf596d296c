"""Creating and editing a campaign in the console, starting it, and exporting its results:
the same service functions the CLI's ``campaign`` and ``results export`` commands call."""

from __future__ import annotations

import asyncio
import tempfile
from pathlib import Path

from starlette.background import BackgroundTask
from starlette.requests import Request
from starlette.responses import FileResponse, RedirectResponse, Response

from campaign_engine.campaigns import service
from campaign_engine.campaigns.lifecycle import TransitionError
from campaign_engine.campaigns.schedule import from_json
from campaign_engine.campaigns.schedule_values import WEEKDAYS
from campaign_engine.config import PROVIDERS
from campaign_engine.db.models import Campaign
from campaign_engine.journal import audit
from campaign_engine.ops import web_campaign_form as forms
from campaign_engine.ops import web_common as common
from campaign_engine.ops import web_pages
from campaign_engine.ops.priority import MAX_PRIORITY, set_priority
from campaign_engine.results.export import export
from campaign_engine.vocobase.errors import VocobaseError

REFUSED = (service.CampaignError, TransitionError, ValueError, LookupError)


def _form_page(
    request: Request,
    shown: forms.CampaignFields,
    *,
    creating: bool,
    action: str,
    title: str,
    error: str | None = None,
    warning: str | None = None,
    status: int = 200,
) -> Response:
    page = web_pages.render(
        "campaign_form.html",
        title,
        common.chrome(request),
        f=shown,
        creating=creating,
        action=action,
        error=error,
        warning=warning,
        providers=PROVIDERS,
        presets=forms.PRESET_CHOICES,
        fixed_zone_presets=forms.FIXED_ZONE_PRESETS,
        weekdays=WEEKDAYS,
        outcomes=forms.OUTCOMES,
        max_priority=MAX_PRIORITY,
        submit="create the campaign" if creating else "save",
    )
    return common.page(request, page, status)


async def new_campaign(request: Request) -> Response:
    if request.method == "GET":
        return _form_page(
            request, forms.fields_of(None), creating=True, action="/ops/campaigns/new",
            title="new campaign",
        )  # fmt: skip
    form = await common.form(request)
    try:
        schedule = forms.schedule_from(form)
        policy = forms.policy_from(form)
        max_concurrent, calls_per_minute = forms.limits_from(form)
        async with common.runtime(request).sessions() as session, session.begin():
            created = await service.create_campaign(
                session,
                name=form.get("name", ""),
                agent_id=form.get("agent_id", "").strip(),
                provider=form.get("provider", "mcube"),
                connection_id=form.get("connection_id", "").strip() or None,
                max_concurrent=max_concurrent,
                calls_per_minute=calls_per_minute,
                default_region=form.get("default_region", "").strip() or None,
                retry_policy=policy,
                schedule=schedule,
            )
            if form.get("priority", "").strip() not in ("", "1"):
                await set_priority(
                    session, created.id, form["priority"], actor=common.actor(request)
                )
            await audit.record(
                session, actor=common.actor(request), action="campaign.create",
                target_type="campaign", target_id=created.id, details={"name": created.name},
            )  # fmt: skip
    except REFUSED as exc:
        return _form_page(
            request, forms.fields_posted(form), creating=True, action="/ops/campaigns/new",
            title="new campaign", error=str(exc), status=422,
        )  # fmt: skip
    said = "campaign created; upload its contacts next"
    if (warning := forms.warning_for(schedule)) is not None:
        said += f" ({warning})"
    return common.flash(RedirectResponse(f"/ops/campaigns/{created.id}/upload", 303), said)


async def edit_campaign(request: Request) -> Response:
    campaign_id = request.path_params["campaign_id"]
    base = f"/ops/campaigns/{campaign_id}"
    async with common.runtime(request).sessions() as session:
        campaign = await session.get(Campaign, campaign_id)
    if campaign is None:
        return common.message(request, "not found", f"no campaign {campaign_id}", 404)
    title = f"edit {campaign.name}"
    if request.method == "GET":
        warning = forms.warning_for(from_json(campaign.schedule))
        return _form_page(
            request, forms.fields_of(campaign), creating=False, action=f"{base}/edit",
            title=title, warning=warning,
        )  # fmt: skip
    form = await common.form(request)
    try:
        schedule = forms.schedule_from(form)
        policy = forms.policy_from(form)
        max_concurrent, calls_per_minute = forms.limits_from(form)
        async with common.runtime(request).sessions() as session, session.begin():
            await forms.apply_edit(
                session, campaign_id, max_concurrent=max_concurrent,
                calls_per_minute=calls_per_minute, policy=policy, actor=common.actor(request),
            )  # fmt: skip
            moved = await service.set_schedule(session, campaign_id, schedule)
            if form.get("priority", "").strip() and form["priority"].strip() != str(
                campaign.priority
            ):
                await set_priority(
                    session, campaign_id, form["priority"], actor=common.actor(request)
                )
    except REFUSED as exc:
        return _form_page(
            request, forms.fields_posted(form), creating=False, action=f"{base}/edit",
            title=title, error=str(exc), status=422,
        )  # fmt: skip
    said = f"saved; {moved} waiting contacts moved to the new schedule"
    if (warning := forms.warning_for(schedule)) is not None:
        said += f" ({warning})"
    return common.flash(RedirectResponse(base, 303), said)


async def start(request: Request) -> Response:
    """Start the campaign as ``campaign start`` does (checked with Vocobase first)."""
    runtime = common.runtime(request)
    campaign_id = request.path_params["campaign_id"]
    try:
        async with runtime.sessions() as session, session.begin():
            started = await service.start_campaign(
                session,
                campaign_id,
                runtime.vocobase,
                actor=common.actor(request),
                uncapped_call_seconds=runtime.settings.limits.uncapped_call_seconds,
            )
            state = started.state
    except (*REFUSED, VocobaseError) as exc:
        return common.message(request, "refused", str(exc), 409, f"/ops/campaigns/{campaign_id}")
    return common.flash(
        RedirectResponse(f"/ops/campaigns/{campaign_id}", 303), f"campaign is {state}"
    )


async def results(request: Request) -> Response:
    """The results export, streamed from a temporary file (memory stays flat)."""
    campaign_id = request.path_params["campaign_id"]
    fmt = request.path_params["fmt"]
    if fmt not in ("csv", "jsonl"):
        return common.message(request, "not found", f"no export format {fmt}", 404)
    attempts = request.query_params.get("per") == "attempt"
    handle = tempfile.NamedTemporaryFile(  # noqa: SIM115 - removed after the response
        "w", suffix=f".{fmt}", encoding="utf-8", newline="", delete=False
    )
    path = Path(handle.name)
    try:
        with handle:
            async with common.runtime(request).sessions() as session:
                await export(session, campaign_id, handle, fmt=fmt, attempts=attempts)  # type: ignore[arg-type]
    except LookupError as exc:
        await asyncio.to_thread(path.unlink, missing_ok=True)
        return common.message(request, "not found", str(exc), 404)
    media = "text/csv" if fmt == "csv" else "application/x-ndjson"
    return FileResponse(
        path,
        media_type=media,
        filename=f"{campaign_id}-results.{fmt}",
        background=BackgroundTask(path.unlink, missing_ok=True),
    )
