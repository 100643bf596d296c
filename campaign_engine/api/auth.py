"""Who calls: ``Authorization: Bearer <token>``, a named token (or the config's ``[ops]
token``, an admin named ``config``), with the scope the operation needs."""

from __future__ import annotations

from starlette.requests import Request

from campaign_engine.api.problems import ApiProblem
from campaign_engine.ops.tokens import Principal, Scope, verify_token
from campaign_engine.runtime import Runtime


async def authenticate(request: Request, runtime: Runtime, needed: Scope) -> Principal:
    """The caller; 401 without a valid token, 403 when its scope is too small."""
    scheme, _, offered = request.headers.get("authorization", "").partition(" ")
    if scheme.lower() != "bearer" or not offered.strip():
        raise ApiProblem(401, "send a token: Authorization: Bearer <token>", kind="no-token")
    config_token = runtime.settings.ops.token.get_secret_value() or None
    async with runtime.sessions() as session, session.begin():
        principal = await verify_token(session, offered.strip(), config_token=config_token)
    if principal is None:
        raise ApiProblem(401, "unknown or revoked token", kind="bad-token")
    if not principal.allows(needed):
        raise ApiProblem(
            403,
            f"token {principal.name!r} has scope {principal.scope.value}; "
            f"this needs {needed.value}",
            kind="scope",
        )
    return principal
