"""Named tokens: created once and shown once, stored only as a hash, verified to their name
and scope, revoked at once; the config's ``[ops] token`` is an admin named ``config``."""

from __future__ import annotations

import pytest
from sqlalchemy import select

from campaign_engine.db.models import ApiToken
from campaign_engine.journal import audit
from campaign_engine.ops import tokens
from campaign_engine.ops.tokens import Principal, Scope, TokenError
from campaign_engine.runtime import Runtime


def test_scopes_nest_admin_over_operate_over_read() -> None:
    read, operate, admin = (Principal("x", scope) for scope in Scope)
    assert [admin.allows(s) for s in Scope] == [True, True, True]
    assert [operate.allows(s) for s in Scope] == [True, True, False]
    assert [read.allows(s) for s in Scope] == [True, False, False]
    assert [s.value for s in Scope] == ["read", "operate", "admin"]


async def test_a_created_token_verifies_to_its_name_and_scope_and_only_its_hash_is_stored(
    runtime: Runtime,
) -> None:
    async with runtime.sessions() as session, session.begin():
        raw = await tokens.create_token(session, name="crm", scope="operate", actor="asha")
    async with runtime.sessions() as session, session.begin():
        who = await tokens.verify_token(session, raw, config_token=None)
        stored = (await session.scalars(select(ApiToken))).one()
        entries = await audit.entries(session)

    assert raw.startswith("ce_") and len(raw) >= 43
    assert who == Principal("crm", Scope.OPERATE)
    assert raw not in (stored.token_hash, stored.name) and len(stored.token_hash) == 64
    assert stored.created_by == "asha" and stored.last_used_at is not None
    assert [(e.action, e.actor, e.target_id, e.details) for e in entries] == [
        ("token.create", "asha", "crm", {"scope": "operate"})
    ]


async def test_wrong_empty_and_revoked_tokens_verify_to_nobody(runtime: Runtime) -> None:
    async with runtime.sessions() as session, session.begin():
        raw = await tokens.create_token(session, name="nightly", scope=Scope.READ, actor="a")
    async with runtime.sessions() as session, session.begin():
        assert await tokens.verify_token(session, raw + "x", config_token=None) is None
        assert await tokens.verify_token(session, "", config_token="") is None
        view = await tokens.revoke_token(session, "nightly", actor="lead")
    async with runtime.sessions() as session, session.begin():
        assert await tokens.verify_token(session, raw, config_token=None) is None
        listed = await tokens.list_tokens(session)
        actions = [e.action for e in await audit.entries(session)]

    assert view.revoked_at is not None
    assert [(t.name, t.revoked_at is not None) for t in listed] == [("nightly", True)]
    assert actions == ["token.revoke", "token.create"]


async def test_the_config_token_is_an_admin_named_config(runtime: Runtime) -> None:
    async with runtime.sessions() as session:
        who = await tokens.verify_token(session, "s3cret", config_token="s3cret")
        nobody = await tokens.verify_token(session, "s3cre", config_token="s3cret")
    assert who == Principal("config", Scope.ADMIN)
    assert nobody is None


async def test_names_are_unique_not_reserved_and_scopes_are_checked(runtime: Runtime) -> None:
    async with runtime.sessions() as session, session.begin():
        await tokens.create_token(session, name="crm", scope="read", actor="a")
    async with runtime.sessions() as session, session.begin():
        with pytest.raises(TokenError, match="already exists"):
            await tokens.create_token(session, name="crm", scope="read", actor="a")
        with pytest.raises(TokenError, match="reserved"):
            await tokens.create_token(session, name="config", scope="read", actor="a")
        with pytest.raises(TokenError, match="scope must be"):
            await tokens.create_token(session, name="x", scope="root", actor="a")
        with pytest.raises(TokenError, match="name must be"):
            await tokens.create_token(session, name=" ", scope="read", actor="a")
        with pytest.raises(LookupError, match="no token named 'nope'"):
            await tokens.revoke_token(session, "nope", actor="a")
