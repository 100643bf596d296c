"""``campaign-engine results export``: a campaign's results as CSV or JSON Lines."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import TextIO

import typer

from campaign_engine.cli.common import db_session, errors, fail, run, settings_from
from campaign_engine.results.export import FORMATS, Format, export

app = typer.Typer(no_args_is_help=True)


@app.command("export")
def export_results(
    ctx: typer.Context,
    campaign_id: str,
    fmt: str = typer.Option("csv", "--format", help=f"One of: {', '.join(FORMATS)}."),
    out: Path | None = typer.Option(
        None, "--out", dir_okay=False, help="Write here instead of standard output."
    ),
    attempts: bool = typer.Option(
        False, "--attempts", help="One row per attempt instead of one per contact."
    ),
) -> None:
    """Export results: one row per contact (final state, attempts, last disposition,
    answered_by, duration, variables, extraction values), or per attempt. CSV cells that
    a spreadsheet would run as a formula are prefixed with ' (plain numbers such as E.164
    phone numbers are kept as they are)."""
    if fmt not in FORMATS:
        fail(f"unknown format {fmt!r}; choose {' or '.join(FORMATS)}")
    chosen: Format = "csv" if fmt == "csv" else "jsonl"
    settings = settings_from(ctx)

    async def write(target: TextIO) -> int:
        async with db_session(settings) as session:
            done = await export(session, campaign_id, target, fmt=chosen, attempts=attempts)
            return done.rows

    if out is None:
        run(lambda: write(sys.stdout))
        return
    partial = out.with_name(out.name + ".partial")
    try:
        with partial.open("w", encoding="utf-8", newline="") as handle:
            count = run(lambda: write(handle))
        partial.replace(out)
    finally:
        partial.unlink(missing_ok=True)
    errors.print(f"exported {count} rows to {out}", highlight=False, soft_wrap=True)
