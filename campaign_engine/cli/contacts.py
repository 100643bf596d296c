"""``campaign-engine contacts import|pull|sources|forget-source``."""

from __future__ import annotations

import sys
from collections.abc import Awaitable, Callable
from contextlib import AbstractContextManager
from pathlib import Path
from typing import TypeVar

import typer
from rich.markup import escape
from rich.progress import Progress, TextColumn, TimeElapsedColumn
from rich.table import Table
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from campaign_engine.cli.common import console, errors, fail, print_json, run, settings_from
from campaign_engine.config import Settings
from campaign_engine.contacts.agent_contract import AgentLookup
from campaign_engine.contacts.importer import ImportOptions, ImportSummary, import_csv, import_sql
from campaign_engine.contacts.saved_sources import (
    PullFailed,
    describe_source,
    pull_saved_sources,
    remove_source,
    save_source,
    saved_sources,
)
from campaign_engine.contacts.summary import ImportRefused
from campaign_engine.db.session import create_engine, session_factory
from campaign_engine.vocobase.client import VocobaseClient
from campaign_engine.vocobase.errors import VocobaseError

app = typer.Typer(no_args_is_help=True)

T = TypeVar("T")
ProgressCallback = Callable[[ImportSummary], None]
Sessions = async_sessionmaker[AsyncSession]


def _parse_maps(values: list[str]) -> dict[str, str]:
    mapping: dict[str, str] = {}
    for value in values:
        column, sep, variable = value.partition("=")
        if not sep or not column.strip() or not variable.strip():
            raise typer.BadParameter(f"expected COLUMN=VARIABLE, got {value!r}", param_hint="--map")
        mapping[column.strip()] = variable.strip()
    return mapping


def _agent_lookup(settings: Settings) -> AgentLookup | None:
    """Ask Vocobase for an agent's variables, when an API key is configured."""
    api_key = settings.vocobase.api_key.get_secret_value()
    if not api_key.strip():
        return None

    async def lookup(agent_id: str) -> list[str]:
        try:
            async with VocobaseClient.from_settings(settings) as client:
                agent = await client.get_agent(agent_id)
        except VocobaseError as exc:
            raise ImportRefused(
                f"nothing imported; cannot check the columns against agent {agent_id}: {exc}"
            ) from exc
        return list(agent.variables)

    return lookup


def _progress_bar(
    show: bool,
) -> tuple[AbstractContextManager[Progress], Callable[[ImportSummary], None]]:
    """A live "rows, rows/s, rejected" line on a terminal; nothing otherwise."""
    bar = Progress(
        TextColumn("[bold]importing[/] {task.fields[rows]} rows"),
        TextColumn("{task.fields[rate]} rows/s"),
        TextColumn("rejected {task.fields[rejected]}"),
        TimeElapsedColumn(),
        console=console,
        disable=not show,
        transient=True,
    )
    task = bar.add_task("import", total=None, rows=0, rate=0, rejected=0)

    def update(summary: ImportSummary) -> None:
        elapsed = bar.tasks[task].elapsed or 1e-9
        bar.update(
            task,
            rows=summary.rows,
            rate=int(summary.rows / elapsed),
            rejected=sum(summary.rejected.values()),
        )

    return bar, update


def _with_sessions(settings: Settings, work: Callable[[Sessions], Awaitable[T]]) -> T:
    async def go() -> T:
        engine = create_engine(settings.database.url)
        try:
            return await work(session_factory(engine))
        finally:
            await engine.dispose()

    return run(go)


@app.command("import")
def import_command(
    ctx: typer.Context,
    campaign_id: str,
    file: Path | None = typer.Argument(
        None, exists=True, dir_okay=False, readable=True, help="The CSV file (or --from-sql)."
    ),
    from_sql: str | None = typer.Option(
        None, "--from-sql", help="Import the rows of this SELECT instead of a file."
    ),
    source_url: str | None = typer.Option(
        None,
        "--source-url",
        help="SQLAlchemy URL of the database --from-sql reads: sqlite:///leads.db, "
        "postgresql+asyncpg://user@host/db (asyncpg reads PGPASSWORD, so no password need be "
        "on the command line). Shown only with the password masked.",
    ),
    save_source_: bool = typer.Option(
        False, "--save-source", help="Keep the --from-sql source for `contacts pull`."
    ),
    phone_column: str | None = typer.Option(None, help="Column with the number (else detected)."),
    map_: list[str] = typer.Option([], "--map", help="COLUMN=VARIABLE (repeatable)."),
    exclude: list[str] = typer.Option([], "--exclude", help="Column not to import (repeatable)."),
    drop_undeclared: bool = typer.Option(
        False, "--drop-undeclared", help="Leave out columns the agent does not declare."
    ),
    keep_column: list[str] = typer.Option(
        [],
        "--keep-column",
        help="Column stored with each contact for the results export (a CRM id), never sent "
        "to the agent (repeatable).",
    ),
    default_region: str | None = typer.Option(
        None, help="Region (e.g. IN) for numbers without a country code."
    ),
    vanity_numbers: bool = typer.Option(
        False,
        "--vanity-numbers",
        help="Read letters in a number as keypad digits (1-800-FLOWERS). Off by default: "
        "such rows are rejected as letters_in_number, since a typo read that way dials a "
        "stranger.",
    ),
    encoding: str | None = typer.Option(None, help="File encoding (else detected)."),
    delimiter: str | None = typer.Option(
        None, help="Field delimiter: one character, or tab, comma, semicolon, pipe (else sniffed)."
    ),
    rejects: Path | None = typer.Option(None, help="Write rejected rows to this CSV."),
    dry_run: bool = typer.Option(False, "--dry-run", help="Validate and report; write nothing."),
    workers: int | None = typer.Option(
        None, min=0, help="Processes checking numbers (default: every core on big imports)."
    ),
    batch_size: int | None = typer.Option(
        None, min=1, help="Contacts per transaction (default: the fastest for the database)."
    ),
    as_json: bool = typer.Option(False, "--json", help="Print the summary as JSON."),
) -> None:
    """Import contacts from a CSV file or a database query: a phone column, every other
    column a variable. Numbers already in the campaign are reported, never added twice."""
    if (file is None) == (from_sql is None):
        fail("give either a CSV file or --from-sql QUERY (with --source-url)", 2)
    if from_sql is not None and not source_url:
        fail("--from-sql needs --source-url, the database to run it on", 2)
    if from_sql is None and (source_url or save_source_):
        fail("--source-url and --save-source go with --from-sql", 2)
    if from_sql is not None and (encoding or delimiter):
        fail("--encoding and --delimiter apply to CSV files, not to --from-sql", 2)
    if save_source_ and dry_run:
        fail("--save-source saves nothing in a --dry-run", 2)
    settings = settings_from(ctx)
    options = ImportOptions(
        phone_column=phone_column,
        mapping=_parse_maps(map_),
        exclude=tuple(exclude),
        default_region=default_region,
        encoding=encoding,
        delimiter=delimiter,
        dry_run=dry_run,
        engine_variables=(settings.dialer.correlation_variable,),
        drop_undeclared=drop_undeclared,
        keep=tuple(keep_column),
        vanity_numbers=vanity_numbers,
        workers=workers,
        batch_size=batch_size,
    )
    lookup = _agent_lookup(settings)

    async def do_import(sessions: Sessions) -> ImportSummary:
        bar, update = _progress_bar(sys.stderr.isatty() and not as_json)
        with bar:
            if file is not None:
                return await import_csv(
                    sessions, campaign_id, file, options,
                    rejects_path=rejects, progress=update, agent_lookup=lookup,
                )  # fmt: skip
            assert from_sql is not None and source_url is not None
            summary = await import_sql(
                sessions, campaign_id, source_url, from_sql, options,
                rejects_path=rejects, progress=update, agent_lookup=lookup,
            )  # fmt: skip
        if save_source_:
            await save_source(
                sessions, campaign_id, source_url, from_sql, options, last_result=summary
            )
        return summary

    summary = _with_sessions(settings, do_import)
    if as_json:
        print_json(summary.to_dict())
        return
    _print_summary(summary, rejects)
    if save_source_:
        console.print(f"source saved: `campaign-engine contacts pull {campaign_id}` runs it again")


@app.command("pull")
def pull_command(
    ctx: typer.Context,
    campaign_id: str,
    as_json: bool = typer.Option(False, "--json", help="Print the summaries as JSON."),
) -> None:
    """Run the campaign's saved database sources again, adding only contacts not yet in it."""
    settings = settings_from(ctx)
    lookup = _agent_lookup(settings)

    async def pull(sessions: Sessions) -> tuple[list[ImportSummary], str | None]:
        try:
            return await pull_saved_sources(sessions, campaign_id, agent_lookup=lookup), None
        except PullFailed as exc:
            return exc.summaries, str(exc)

    summaries, failure = _with_sessions(settings, pull)
    if as_json:
        print_json([summary.to_dict() for summary in summaries])
    else:
        if not summaries and failure is None:
            console.print(f"campaign {campaign_id} has no saved sources")
        for summary in summaries:
            _print_summary(summary, None)
    if failure is not None:
        fail(failure)


@app.command("sources")
def sources_command(
    ctx: typer.Context,
    campaign_id: str,
    as_json: bool = typer.Option(False, "--json", help="Print as JSON."),
) -> None:
    """List the campaign's saved database sources (passwords masked)."""
    settings = settings_from(ctx)
    found = _with_sessions(settings, lambda sessions: saved_sources(sessions, campaign_id))
    described = [describe_source(source) for source in found]
    if as_json:
        print_json(described)
        return
    table = Table("id", "source", "query", "last run", "last result")
    for item in described:
        last = item["last_result"] or {}
        outcome = (
            f"imported {last.get('imported', 0)}, rejected {last.get('rejected', 0)}"
            if last.get("ok", True)
            else f"failed: {last.get('error')}"
        )
        table.add_row(
            str(item["id"]),
            escape(item["source_url"]),
            escape(item["query"]),
            item["last_run_at"] or "-",
            escape(outcome) if last else "-",
        )
    console.print(table)


@app.command("forget-source")
def forget_source_command(ctx: typer.Context, source_id: int) -> None:
    """Stop pulling from a saved source (its contacts stay in the campaign)."""
    settings = settings_from(ctx)
    _with_sessions(settings, lambda sessions: remove_source(sessions, source_id))
    console.print(f"saved source {source_id} removed")


def _print_summary(summary: ImportSummary, rejects: Path | None) -> None:
    verb = "would import" if summary.dry_run else "imported"
    if summary.query is not None:
        origin = f"{summary.file} ({summary.query})"
        read = f"phone column {summary.phone_column!r}"
    else:
        origin = summary.file
        read = (
            f"{summary.encoding}, delimiter {summary.delimiter!r}, "
            f"phone column {summary.phone_column!r}"
        )
    console.print(
        f"{escape(origin)}: {summary.rows} rows ({escape(read)}); "
        f"{verb} [bold green]{summary.imported}[/], "
        f"rejected [bold red]{sum(summary.rejected.values())}[/]",
        highlight=False,
    )
    if summary.dropped:
        dropped = escape(", ".join(summary.dropped))
        console.print(f"left out (the agent does not declare them): {dropped}")
    if summary.kept:
        kept = escape(", ".join(summary.kept))
        console.print(f"kept for the export, not sent to the agent: {kept}")
    if not summary.variables_checked:
        errors.print(
            "warning: the agent's declared variables are not known (no Vocobase API key, "
            "none stored on the campaign), so the columns were not checked against them; "
            "set VOCOBASE_API_KEY to have them checked",
            highlight=False,
            soft_wrap=True,
        )
    if summary.rejected:
        table = Table("reason", "rows")
        for reason, count in summary.rejected.most_common():
            table.add_row(reason, str(count))
        console.print(table)
        if rejects:
            console.print(
                f"rejected rows written to {escape(str(rejects))} (fix them and import that file)"
            )
