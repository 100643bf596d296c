"""``campaign-engine contacts import CAMPAIGN_ID FILE``."""

from __future__ import annotations

import sys
from pathlib import Path

import typer
from rich.progress import Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

from campaign_engine.cli.common import console, print_json, run, settings_from
from campaign_engine.contacts.importer import ImportOptions, ImportSummary, import_csv
from campaign_engine.db.session import create_engine, session_factory

app = typer.Typer(no_args_is_help=True)


def _parse_maps(values: list[str]) -> dict[str, str]:
    mapping: dict[str, str] = {}
    for value in values:
        column, sep, variable = value.partition("=")
        if not sep or not column.strip() or not variable.strip():
            raise typer.BadParameter(f"expected COLUMN=VARIABLE, got {value!r}", param_hint="--map")
        mapping[column.strip()] = variable.strip()
    return mapping


@app.command("import")
def import_command(
    ctx: typer.Context,
    campaign_id: str,
    file: Path = typer.Argument(..., exists=True, dir_okay=False, readable=True),
    phone_column: str | None = typer.Option(None, help="Column with the number (else detected)."),
    map_: list[str] = typer.Option([], "--map", help="COLUMN=VARIABLE (repeatable)."),
    exclude: list[str] = typer.Option([], "--exclude", help="Column not to import (repeatable)."),
    default_region: str | None = typer.Option(
        None, help="Region (e.g. IN) for numbers without a country code."
    ),
    encoding: str | None = typer.Option(None, help="File encoding (else detected)."),
    delimiter: str | None = typer.Option(None, help="Field delimiter (else sniffed)."),
    rejects: Path | None = typer.Option(None, help="Write rejected rows to this CSV."),
    dry_run: bool = typer.Option(False, "--dry-run", help="Validate and report; write nothing."),
    as_json: bool = typer.Option(False, "--json", help="Print the summary as JSON."),
) -> None:
    """Import a CSV: a phone column, every other column a variable."""
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
    )
    show_progress = sys.stderr.isatty() and not as_json

    async def do_import() -> ImportSummary:
        engine = create_engine(settings.database.url)
        try:
            with Progress(
                TextColumn("[bold]importing[/] {task.fields[rows]} rows"),
                TextColumn("{task.fields[rate]} rows/s"),
                TextColumn("rejected {task.fields[rejected]}"),
                TimeElapsedColumn(),
                console=console,
                disable=not show_progress,
                transient=True,
            ) as bar:
                task = bar.add_task("import", total=None, rows=0, rate=0, rejected=0)

                def update(summary: ImportSummary) -> None:
                    elapsed = bar.tasks[task].elapsed or 1e-9
                    bar.update(
                        task,
                        rows=summary.rows,
                        rate=int(summary.rows / elapsed),
                        rejected=sum(summary.rejected.values()),
                    )

                return await import_csv(
                    session_factory(engine),
                    campaign_id,
                    file,
                    options,
                    rejects_path=rejects,
                    progress=update,
                )
        finally:
            await engine.dispose()

    summary = run(do_import)
    if as_json:
        print_json(summary.to_dict())
        return
    _print_summary(summary, rejects)


def _print_summary(summary: ImportSummary, rejects: Path | None) -> None:
    verb = "would import" if summary.dry_run else "imported"
    console.print(
        f"{summary.file}: {summary.rows} rows ({summary.encoding}, "
        f"delimiter {summary.delimiter!r}, phone column {summary.phone_column!r}); "
        f"{verb} [bold green]{summary.imported}[/], "
        f"rejected [bold red]{sum(summary.rejected.values())}[/]"
    )
    if summary.rejected:
        table = Table("reason", "rows")
        for reason, count in summary.rejected.most_common():
            table.add_row(reason, str(count))
        console.print(table)
        if rejects:
            console.print(f"rejected rows written to {rejects} (fix them and import that file)")
