"""``campaign-engine tokens create|list|revoke``: named tokens for the API and the console.

A token is printed once, when it is created; only its hash is stored, so a lost token is
revoked and replaced, never recovered. Creating and revoking are audited under ``--actor``.
"""

from __future__ import annotations

import typer
from rich.markup import escape
from rich.table import Table

from campaign_engine.cli.common import (
    ACTOR_HELP,
    actor_name,
    console,
    db_session,
    print_json,
    run,
    settings_from,
)
from campaign_engine.ops import tokens
from campaign_engine.ops.tokens import Scope, TokenView

app = typer.Typer(no_args_is_help=True)

ACTOR = typer.Option(None, "--actor", help=ACTOR_HELP)
JSON = typer.Option(False, "--json", help="Print JSON.")


@app.command("create")
def create_command(
    ctx: typer.Context,
    name: str = typer.Option(..., "--name", help="Its name: the audit log's actor for its use."),
    scope: Scope = typer.Option(..., "--scope", help="read, operate (actions) or admin."),
    actor: str | None = ACTOR,
    as_json: bool = JSON,
) -> None:
    """Create a token and print it once (only its hash is kept)."""
    settings = settings_from(ctx)

    async def create() -> str:
        async with db_session(settings) as session:
            return await tokens.create_token(
                session, name=name, scope=scope, actor=actor_name(actor)
            )

    raw = run(create)
    if as_json:
        print_json({"name": name.strip(), "scope": scope.value, "token": raw})
        return
    # The token alone on stdout (scripts capture it); the warning on stderr.
    typer.echo(raw)
    typer.echo("store it now: it is not shown again", err=True)


@app.command("list")
def list_command(ctx: typer.Context, as_json: bool = JSON) -> None:
    """Every token: name, scope, who created it, last use, revoked or not."""
    settings = settings_from(ctx)

    async def read() -> list[TokenView]:
        async with db_session(settings) as session:
            return await tokens.list_tokens(session)

    views = run(read)
    if as_json:
        print_json([view.model_dump(mode="json") for view in views])
        return
    table = Table("name", "scope", "created", "by", "last used", "revoked")
    for view in views:
        table.add_row(
            escape(view.name),
            view.scope.value,
            f"{view.created_at:%Y-%m-%d %H:%M}",
            escape(view.created_by),
            f"{view.last_used_at:%Y-%m-%d %H:%M}" if view.last_used_at else "never",
            f"{view.revoked_at:%Y-%m-%d %H:%M}" if view.revoked_at else "",
        )
    console.print(table)


@app.command("revoke")
def revoke_command(
    ctx: typer.Context,
    name: str = typer.Argument(..., help="The token's name."),
    actor: str | None = ACTOR,
    as_json: bool = JSON,
) -> None:
    """Revoke a token: its next request is refused. Its name stays taken."""
    settings = settings_from(ctx)

    async def revoke() -> TokenView:
        async with db_session(settings) as session:
            return await tokens.revoke_token(session, name, actor=actor_name(actor))

    view = run(revoke)
    if as_json:
        print_json(view.model_dump(mode="json"))
        return
    console.print(f"revoked {escape(view.name)}", highlight=False)
