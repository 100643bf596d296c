"""The console's actions on a contact or a campaign, audited under the acting token's name.

Destructive ones (cancel a campaign, requeue every contact of a reason, suppress a number)
first answer with a page that says what will happen and posts again only with a ticked box
(``confirm=yes``): no script needed, and no single click does them.
"""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import RedirectResponse, Response

from campaign_engine.campaigns.lifecycle import TransitionError
from campaign_engine.campaigns.service import CampaignError
from campaign_engine.control import campaign_moves
from campaign_engine.ops import actions, web_pages
from campaign_engine.ops import web_common as common
from campaign_engine.ops.call_now import summary
from campaign_engine.ops.priority import set_priority

REFUSED = (actions.ActionError, LookupError, TransitionError, CampaignError, ValueError)
CONTACT_ACTIONS = ("retry-now", "skip", "suppress", "edit-vars")
CAMPAIGN_ACTIONS = ("pause", "resume", "cancel", "requeue-reason", "priority")


def _confirmed(form: dict[str, str]) -> bool:
    return form.get("confirm") == "yes"


def _edited_variables(form: dict[str, str]) -> tuple[dict[str, str], list[str]]:
    """The edit form's ``var:NAME`` values, ``unset:NAME`` boxes and one new pair."""
    removed = [key.removeprefix("unset:") for key in form if key.startswith("unset:")]
    values = {
        key.removeprefix("var:"): value
        for key, value in form.items()
        if key.startswith("var:") and key.removeprefix("var:") not in removed
    }
    new_name = form.get("new_name", "").strip()
    if new_name:
        values[new_name] = form.get("new_value", "")
    return values, removed


async def contact_action(request: Request) -> Response:
    contact_id = int(request.path_params["contact_id"])
    action = request.path_params["action"]
    if action not in CONTACT_ACTIONS:
        return common.message(request, "not found", f"no action {action}", 404)
    form = await common.form(request)
    base = f"/ops/contacts/{contact_id}"
    if action == "suppress" and not _confirmed(form):
        page = web_pages.confirm_page(
            f"suppress contact {contact_id}?",
            common.chrome(request),
            warning=f"Contact {contact_id}'s number goes on the do-not-call list: it is never "
            "called again, from this campaign or any other.",
            action=f"{base}/suppress",
            check="yes, never call this number again",
            label="suppress",
            back=base,
        )
        return common.page(request, page)
    actor = common.actor(request)
    said: str | None = None
    try:
        async with common.runtime(request).sessions() as session, session.begin():
            if action == "retry-now":
                answer = await actions.retry_now(session, contact_id, actor=actor)
                said = f"contact {contact_id} {answer.when()}"
            elif action == "skip":
                await actions.skip(session, contact_id, actor=actor)
                said = f"contact {contact_id} skipped"
            elif action == "suppress":
                await actions.suppress(session, contact_id, actor=actor)
                said = f"contact {contact_id} suppressed"
            else:
                values, removed = _edited_variables(form)
                _, answer = await actions.edit_variables(
                    session, contact_id, actor=actor, values=values, remove=removed
                )
                said = f"variables saved; contact {contact_id} {answer.when()}"
    except REFUSED as exc:
        return common.message(request, "refused", str(exc), 409, base)
    back = base if action == "edit-vars" else "/ops/retries"
    return common.flash(RedirectResponse(back, status_code=303), said)


def _confirm_campaign(request: Request, campaign_id: str, action: str, form: dict[str, str]) -> str:
    base = f"/ops/campaigns/{campaign_id}"
    if action == "cancel":
        return web_pages.confirm_page(
            "cancel the campaign?",
            common.chrome(request),
            warning=f"Campaign {campaign_id} stops for good: no contact of it is called again, "
            "and a canceled campaign cannot be resumed.",
            action=f"{base}/cancel",
            check="yes, cancel the whole campaign",
            label="cancel the campaign",
            back=base,
            ask_reason=True,
            reason=form.get("reason", ""),
        )
    reason = form.get("reason", "")
    return web_pages.confirm_page(
        f"requeue every {reason} contact?",
        common.chrome(request),
        warning=f"Every contact of campaign {campaign_id} given up on or waiting for "
        f"{reason!r} is called again, ahead of the queue.",
        action=f"{base}/requeue-reason",
        check=f"yes, call every {reason} contact again",
        label="requeue every one",
        back=base,
        hidden={"reason": reason},
    )


async def campaign_action(request: Request) -> Response:
    runtime = common.runtime(request)
    campaign_id = request.path_params["campaign_id"]
    action = request.path_params["action"]
    if action not in CAMPAIGN_ACTIONS:
        return common.message(request, "not found", f"no action {action}", 404)
    form = await common.form(request)
    if action in ("cancel", "requeue-reason") and not _confirmed(form):
        return common.page(request, _confirm_campaign(request, campaign_id, action, form))
    actor = common.actor(request)
    reason = form.get("reason", "").strip() or None
    jobs: list[str] = []
    said: str | None = None
    try:
        async with runtime.sessions() as session, session.begin():
            if action == "requeue-reason":
                answers = await actions.requeue_reason(
                    session, campaign_id, form.get("reason", ""), actor=actor
                )
                said = summary(answers)
            elif action == "priority":
                _, after = await set_priority(
                    session, campaign_id, form.get("priority", ""), actor=actor
                )
                said = f"priority set to {after}"
            else:
                moved = await campaign_moves.control(
                    session, runtime.keys, campaign_id, action, actor=actor, reason=reason
                )
                jobs = moved.jobs
                said = f"campaign {action}d" if action != "cancel" else "campaign canceled"
    except REFUSED as exc:
        return common.message(request, "refused", str(exc), 409, f"/ops/campaigns/{campaign_id}")
    await campaign_moves.withdraw(runtime.redis, runtime.keys, jobs)
    return common.flash(RedirectResponse(f"/ops/campaigns/{campaign_id}", status_code=303), said)
