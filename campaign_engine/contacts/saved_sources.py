"""Database sources a campaign pulls contacts from again and again (a daily job, say).

A saved source is a URL, a query and the import options (``contact_sources``). Pulling runs
each one through the same import as ``contacts import --from-sql``: numbers already in the
campaign are reported and skipped, so each pull enrols only the leads that are new since the
last. Every run's outcome is kept on the source (``last_run_at``, ``last_result``).

The URL is stored as given (it is needed to connect again) and shown only masked.

A campaign with a saved source is recurring (it waits as ``ongoing`` between pulls);
forgetting its sources (``contacts forget-source``, or ``campaign end`` for all of them) makes
it one-off: it completes once its contacts are final.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from campaign_engine.contacts.agent_contract import AgentLookup
from campaign_engine.contacts.importer import import_sql
from campaign_engine.contacts.sql_source import display_url
from campaign_engine.contacts.summary import ImportOptions, ImportSummary, Progress
from campaign_engine.db.models import Campaign, ContactSource, utcnow

SQL = "sql"


class PullFailed(ValueError):
    """Some sources could not be pulled (the others were); ``summaries`` has the others."""

    def __init__(self, message: str, summaries: list[ImportSummary]) -> None:
        super().__init__(message)
        self.summaries = summaries


async def save_source(
    sessions: async_sessionmaker[AsyncSession],
    campaign_id: str,
    url: str,
    query: str,
    options: ImportOptions,
    *,
    last_result: ImportSummary | None = None,
) -> int:
    """Remember a source for the campaign (the same URL and query again updates it)."""
    async with sessions() as session, session.begin():
        if await session.get(Campaign, campaign_id) is None:
            raise LookupError(f"campaign {campaign_id} not found")
        source = await session.scalar(
            select(ContactSource).where(
                ContactSource.campaign_id == campaign_id,
                ContactSource.source_url == url,
                ContactSource.query == query,
            )
        )
        if source is None:
            source = ContactSource(campaign_id=campaign_id, kind=SQL, source_url=url, query=query)
            session.add(source)
        source.options = options.saved()
        if last_result is not None:
            source.last_run_at = utcnow()
            source.last_result = {"ok": True, **last_result.to_dict()}
        await session.flush()
        return source.id


async def saved_sources(
    sessions: async_sessionmaker[AsyncSession], campaign_id: str
) -> list[ContactSource]:
    async with sessions() as session:
        found = await session.scalars(
            select(ContactSource)
            .where(ContactSource.campaign_id == campaign_id)
            .order_by(ContactSource.id)
        )
        return list(found)


async def remove_source(sessions: async_sessionmaker[AsyncSession], source_id: int) -> None:
    async with sessions() as session, session.begin():
        source = await session.get(ContactSource, source_id)
        if source is None:
            raise LookupError(f"saved source {source_id} not found")
        await session.delete(source)


def describe_source(source: ContactSource) -> dict[str, Any]:
    """A saved source as an operator may see it: the URL's password masked."""
    return {
        "id": source.id,
        "campaign_id": source.campaign_id,
        "kind": source.kind,
        "source_url": display_url(source.source_url),
        "query": source.query,
        "options": source.options,
        "last_run_at": source.last_run_at.isoformat() if source.last_run_at else None,
        "last_result": source.last_result,
    }


async def pull_saved_sources(
    sessions: async_sessionmaker[AsyncSession],
    campaign_id: str,
    *,
    agent_lookup: AgentLookup | None = None,
    progress: Progress | None = None,
) -> list[ImportSummary]:
    """Run every saved source of the campaign, in the order they were saved.

    One failing source (its database down, say) does not stop the others: each outcome is
    recorded on its source, and PullFailed is raised at the end naming the failures.
    """
    summaries: list[ImportSummary] = []
    failures: list[str] = []
    for source in await saved_sources(sessions, campaign_id):
        result: dict[str, Any]
        try:
            summary = await import_sql(
                sessions,
                campaign_id,
                source.source_url,
                source.query,
                ImportOptions.from_saved(source.options),
                progress=progress,
                agent_lookup=agent_lookup,
            )
        except ValueError as exc:  # refused: the source or the agent's contract
            failures.append(f"source {source.id} ({display_url(source.source_url)}): {exc}")
            result = {"ok": False, "error": str(exc)}
        else:
            summaries.append(summary)
            result = {"ok": True, **summary.to_dict()}
        async with sessions() as session, session.begin():
            stored = await session.get(ContactSource, source.id)
            if stored is not None:
                stored.last_run_at = utcnow()
                stored.last_result = result
    if failures:
        raise PullFailed("; ".join(failures), summaries)
    return summaries
