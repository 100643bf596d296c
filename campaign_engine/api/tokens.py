"""``/tokens``: named tokens (admin scope): create (the token is in this answer only), list,
revoke."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field

from campaign_engine.api.problems import invalid
from campaign_engine.api.registry import Call, Operation
from campaign_engine.ops import tokens
from campaign_engine.ops.tokens import Scope, TokenError, TokenView

TAG = "tokens"


class TokenIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    name: str = Field(pattern=f"^{tokens.NAME_PATTERN}$")
    scope: Scope


class TokenCreated(BaseModel):
    name: str
    scope: Scope
    token: str = Field(description="Shown once: only its hash is stored.")


async def create_token(call: Call) -> TokenCreated:
    body: TokenIn = call.body
    try:
        raw = await tokens.create_token(call.db, name=body.name, scope=body.scope, actor=call.actor)
    except TokenError as exc:
        raise invalid("body.name", str(exc)) from None
    return TokenCreated(name=body.name.strip(), scope=body.scope, token=raw)


async def list_tokens(call: Call) -> list[TokenView]:
    return await tokens.list_tokens(call.db)


async def revoke_token(call: Call) -> TokenView:
    return await tokens.revoke_token(call.db, call.path["name"], actor=call.actor)


OPERATIONS = [
    Operation("POST", "/tokens", create_token, Scope.ADMIN, "Create a named token", TAG,
              body=TokenIn, response=TokenCreated, status=201, creates=True),
    Operation("GET", "/tokens", list_tokens, Scope.ADMIN, "Every token (never the tokens)", TAG,
              response=list[TokenView]),
    Operation("POST", "/tokens/{name}/revoke", revoke_token, Scope.ADMIN,
              "Revoke a token at once", TAG, response=TokenView),
]  # fmt: skip
