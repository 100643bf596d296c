"""What the engine's own errors mean over HTTP: a missing thing is 404, a request the
engine's state refuses (pause a draft, skip a contact being dialed) is 409, a value it
cannot use is 422; each keeps the engine's own message as the detail."""

from __future__ import annotations

from starlette.exceptions import HTTPException
from starlette.requests import ClientDisconnect

from campaign_engine.api.problems import ApiProblem, FieldError
from campaign_engine.campaigns.lifecycle import TransitionError
from campaign_engine.campaigns.service import CampaignError
from campaign_engine.contacts.summary import ImportRefused
from campaign_engine.ops.actions import ActionError, VariablesRefused
from campaign_engine.vocobase.errors import VocobaseError


def as_problem(exc: Exception) -> ApiProblem | None:
    """The problem ``exc`` answers with; None for a bug (a 500, logged)."""
    if isinstance(exc, ApiProblem):
        return exc
    message = str(exc) or type(exc).__name__
    if isinstance(exc, ClientDisconnect):
        # Nobody reads this answer; it keeps a client going away from looking like a bug.
        return ApiProblem(400, "the client went away before the body was complete")
    if isinstance(exc, HTTPException):
        return ApiProblem(exc.status_code, str(exc.detail))
    if isinstance(exc, LookupError) or (
        isinstance(exc, CampaignError | ImportRefused) and message.endswith("not found")
    ):
        return ApiProblem(404, message.strip("'\""))
    if isinstance(exc, VariablesRefused):
        fields = [FieldError(field=f"body.set.{name}", problem="the agent does not declare it")
                  for name in exc.undeclared]  # fmt: skip
        fields += [FieldError(field="body.remove", problem=f"the agent needs {name}")
                   for name in exc.removed]  # fmt: skip
        return ApiProblem(422, message, fields)
    if isinstance(exc, CampaignError | TransitionError | ActionError):
        return ApiProblem(409, message, kind="refused")
    if isinstance(exc, VocobaseError):
        return ApiProblem(502, f"Vocobase refused or did not answer: {message}", kind="vocobase")
    if isinstance(exc, ValueError):
        return ApiProblem(422, message)
    return None
