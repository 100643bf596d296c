"""``campaign-engine tokens``: a token printed once, listed without itself, revoked."""

from __future__ import annotations

import asyncio
from pathlib import Path

from campaign_engine.config import load_settings
from campaign_engine.db.session import create_engine, session_factory
from campaign_engine.ops import tokens
from campaign_engine.ops.tokens import Principal, Scope
from tests.cli.support import Cli, one_line_error


def _verify(config: Path, raw: str) -> Principal | None:
    async def check() -> Principal | None:
        engine = create_engine(load_settings(config).database.url)
        try:
            async with session_factory(engine)() as session, session.begin():
                return await tokens.verify_token(session, raw, config_token=None)
        finally:
            await engine.dispose()

    return asyncio.run(check())


def test_create_prints_the_token_once_and_it_verifies_to_its_name_and_scope(
    cli: Cli, config: Path
) -> None:
    raw = cli.ok("tokens", "create", "--name", "crm", "--scope", "operate").strip()
    made = cli.json("tokens", "create", "--name", "bot", "--scope", "read")
    listed = cli.json("tokens", "list")

    assert _verify(config, raw) == Principal("crm", Scope.OPERATE)
    assert _verify(config, made["token"]) == Principal("bot", Scope.READ)
    assert [(t["name"], t["scope"], t["revoked_at"]) for t in listed] == [
        ("crm", "operate", None),
        ("bot", "read", None),
    ]
    assert raw not in cli.ok("tokens", "list") and "token" not in listed[0]


def test_revoke_refuses_the_token_afterwards_and_says_so(cli: Cli, config: Path) -> None:
    raw = cli.ok("tokens", "create", "--name", "crm", "--scope", "admin").strip()
    revoked = cli.json("tokens", "revoke", "crm", "--actor", "lead")
    audit = cli.json("ops", "audit")

    assert revoked["name"] == "crm" and revoked["revoked_at"]
    assert _verify(config, raw) is None
    assert [(e["action"], e["actor"]) for e in audit][:1] == [("token.revoke", "lead")]


def test_bad_scope_duplicate_name_and_unknown_token_are_one_line_errors(cli: Cli) -> None:
    cli.ok("tokens", "create", "--name", "crm", "--scope", "read")
    duplicate = one_line_error(cli("tokens", "create", "--name", "crm", "--scope", "read"))
    unknown = one_line_error(cli("tokens", "revoke", "nope"))
    bad_scope = cli("tokens", "create", "--name", "x", "--scope", "root")

    assert "already exists" in duplicate
    assert "no token named 'nope'" in unknown
    assert bad_scope.exit_code == 2 and "root" in bad_scope.output
