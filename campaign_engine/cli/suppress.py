"""``campaign-engine suppress add|import|remove|list``: the do-not-call list.

Numbers are stored in E.164 (national forms read with ``--default-region``, else the
campaign's); prefixes are written in international form (``--prefix +1800``). Entries are
global unless ``--campaign`` names one campaign. Imports refuse suppressed numbers, and the
dialer checks again right before every call. Adding, importing and removing are written to
the audit log under ``--actor`` (default: the login running the command), like every other
operator action (see :mod:`campaign_engine.ops.suppression_actions`).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import typer
from rich.markup import escape
from rich.table import Table
from sqlalchemy.ext.asyncio import AsyncSession

from campaign_engine.cli.common import (
    ACTOR_HELP,
    actor_name,
    console,
    db_session,
    fail,
    print_json,
    run,
    settings_from,
)
from campaign_engine.contacts.suppression import NUMBER, PREFIX
from campaign_engine.contacts.suppression_list import (
    SuppressionImport,
    import_entries,
    list_entries,
    number_pattern,
    prefix_pattern,
)
from campaign_engine.db.models import Campaign, Suppression
from campaign_engine.db.session import create_engine, session_factory
from campaign_engine.ops import suppression_actions

app = typer.Typer(no_args_is_help=True)

CAMPAIGN = typer.Option(None, "--campaign", help="For this campaign only (default: global).")
REGION = typer.Option(
    None, help="Region (e.g. IN) for numbers without a country code (default: the campaign's)."
)
# ``--by`` was the name before ``--actor``; scripts that use it keep working.
ACTOR = typer.Option(None, "--actor", "--by", help=ACTOR_HELP)


async def _region(session: AsyncSession, campaign_id: str | None, region: str | None) -> str | None:
    if region or campaign_id is None:
        return region
    campaign = await session.get(Campaign, campaign_id)
    if campaign is None:
        raise LookupError(f"campaign {campaign_id} not found")
    return campaign.default_region


def _entries(numbers: list[str], prefixes: list[str], region: str | None) -> list[tuple[str, str]]:
    return [(NUMBER, number_pattern(raw, region)) for raw in numbers] + [
        (PREFIX, prefix_pattern(raw)) for raw in prefixes
    ]


@app.command("add")
def add_command(
    ctx: typer.Context,
    numbers: list[str] = typer.Argument(None, help="Numbers never to call."),
    prefix: list[str] = typer.Option([], "--prefix", help="A number prefix, e.g. +1800."),
    campaign_id: str | None = CAMPAIGN,
    reason: str | None = typer.Option(None, help="Why (shown wherever the entry blocks a call)."),
    default_region: str | None = REGION,
    actor: str | None = ACTOR,
) -> None:
    """Add numbers and prefixes to the do-not-call list."""
    if not numbers and not prefix:
        fail("give at least one number or --prefix", 2)
    settings = settings_from(ctx)

    async def add() -> tuple[int, int]:
        async with db_session(settings) as session:
            region = await _region(session, campaign_id, default_region)
            entries = _entries(numbers or [], prefix, region)
            result = await suppression_actions.add(
                session, entries, actor=actor_name(actor), campaign_id=campaign_id, reason=reason
            )
            return result.added, result.already

    added, already = run(add)
    console.print(f"added {added}" + (f", already on the list {already}" if already else ""))


@app.command("import")
def import_command(
    ctx: typer.Context,
    file: Path = typer.Argument(..., exists=True, dir_okay=False, readable=True),
    campaign_id: str | None = CAMPAIGN,
    reason: str | None = typer.Option(None, help="Reason for rows without a 'reason' column."),
    default_region: str | None = REGION,
    phone_column: str | None = typer.Option(None, help="Column with the number (else detected)."),
    encoding: str | None = typer.Option(None, help="File encoding (else detected)."),
    delimiter: str | None = typer.Option(None, help="Field delimiter (else sniffed)."),
    rejects: Path | None = typer.Option(None, help="Write rows that are not numbers here."),
    actor: str | None = ACTOR,
    as_json: bool = typer.Option(False, "--json", help="Print the summary as JSON."),
) -> None:
    """Add every number of a CSV file (read like a contact list) to the do-not-call list."""
    settings = settings_from(ctx)
    who = actor_name(actor)

    async def import_them() -> SuppressionImport:
        async with db_session(settings) as session:
            region = await _region(session, campaign_id, default_region)
        engine = create_engine(settings.database.url)
        try:
            return await import_entries(
                session_factory(engine),
                file,
                campaign_id=campaign_id,
                reason=reason,
                created_by=who,
                default_region=region,
                phone_column=phone_column,
                encoding=encoding,
                delimiter=delimiter,
                rejects_path=rejects,
                after_batch=suppression_actions.import_audit(
                    file, actor=who, campaign_id=campaign_id, reason=reason
                ),
            )
        finally:
            await engine.dispose()

    summary = run(import_them)
    if as_json:
        print_json(summary.to_dict())
        return
    console.print(
        f"{escape(summary.file)}: {summary.rows} rows (phone column "
        f"{escape(repr(summary.phone_column))}); added {summary.added}, already on the list "
        f"{summary.already}, rejected {sum(summary.rejected.values())}",
        highlight=False,
    )
    for reason_code, count in summary.rejected.most_common():
        console.print(f"  {reason_code}: {count}")


@app.command("remove")
def remove_command(
    ctx: typer.Context,
    numbers: list[str] = typer.Argument(None, help="Numbers to call again."),
    prefix: list[str] = typer.Option([], "--prefix", help="A prefix to remove."),
    entry_id: list[int] = typer.Option([], "--id", help="An entry's id (see `suppress list`)."),
    campaign_id: str | None = typer.Option(
        None, "--campaign", help="Remove the campaign's entry (default: the global one)."
    ),
    default_region: str | None = REGION,
    reason: str | None = typer.Option(None, help="Why (recorded in the audit log)."),
    actor: str | None = ACTOR,
) -> None:
    """Take numbers, prefixes or entries off the do-not-call list."""
    if not numbers and not prefix and not entry_id:
        fail("give a number, --prefix or --id to remove", 2)
    settings = settings_from(ctx)

    async def remove() -> int:
        async with db_session(settings) as session:
            region = await _region(session, campaign_id, default_region)
            entries = _entries(numbers or [], prefix, region)
            removed = await suppression_actions.remove(
                session,
                entries,
                actor=actor_name(actor),
                entry_ids=entry_id,
                campaign_id=campaign_id,
                reason=reason,
            )
            if not removed:
                scope = f"campaign {campaign_id}" if campaign_id else "the global list"
                raise LookupError(f"nothing to remove: not on {scope}")
            return removed

    console.print(f"removed {run(remove)}")


def _describe(entry: Suppression) -> dict[str, Any]:
    return {
        "id": entry.id,
        "kind": entry.kind,
        "pattern": entry.pattern,
        "campaign_id": entry.campaign_id,
        "reason": entry.reason,
        "created_by": entry.created_by,
        "created_at": entry.created_at.isoformat(),
    }


@app.command("list")
def list_command(
    ctx: typer.Context,
    campaign_id: str | None = typer.Option(
        None, "--campaign", help="Only the entries that apply to this campaign (and global ones)."
    ),
    limit: int | None = typer.Option(None, min=1, help="At most this many (oldest first)."),
    as_json: bool = typer.Option(False, "--json", help="Print as JSON."),
) -> None:
    """Show the do-not-call list."""
    settings = settings_from(ctx)

    async def entries() -> list[dict[str, Any]]:
        async with db_session(settings) as session:
            return [_describe(e) for e in await list_entries(session, campaign_id, limit=limit)]

    found = run(entries)
    if as_json:
        print_json(found)
        return
    table = Table("id", "kind", "pattern", "scope", "reason", "by", "added")
    for entry in found:
        scope = f"campaign {entry['campaign_id']}" if entry["campaign_id"] else "global"
        table.add_row(
            str(entry["id"]),
            entry["kind"],
            entry["pattern"],
            scope,
            escape(entry["reason"] or ""),
            escape(entry["created_by"]),
            entry["created_at"],
        )
    console.print(table)
