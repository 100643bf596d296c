"""The agent's declared variables are the contract a contact list must meet.

Vocobase fills a call's prompt from the variables the agent declares (``GET /agent/{id}``)
and refuses the ones it does not, so a list is checked against that declaration *before*
anything is imported: a mismatch found after a million rows were written would fail a
million calls. The declaration is learned at ``campaign start``; an import into a campaign
that has not started yet asks Vocobase itself (when an API key is configured) and keeps the
answer on the campaign.

Variables the engine fills in itself (the correlation variable) never count as missing.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Iterable, Sequence

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from campaign_engine.contacts.columns import ColumnMapping, check_against_agent, is_kept
from campaign_engine.contacts.summary import ImportRefused
from campaign_engine.db.models import Campaign

AgentLookup = Callable[[str], Awaitable[Sequence[str]]]
"""Given an agent id, the variable names it declares (raises if it cannot be asked)."""


async def declared_variables(
    sessions: async_sessionmaker[AsyncSession],
    campaign: Campaign,
    lookup: AgentLookup | None,
    *,
    remember: bool,
) -> list[str] | None:
    """The campaign's agent variables: as stored, else asked of Vocobase, else None (any).

    With ``remember``, an answer from Vocobase is stored on the campaign.
    """
    if campaign.agent_variables is not None or lookup is None:
        return campaign.agent_variables
    declared = [str(name) for name in await lookup(campaign.agent_id)]
    if remember:
        async with sessions() as session, session.begin():
            stored = await session.get(Campaign, campaign.id)
            if stored is not None and stored.agent_variables is None:
                stored.agent_variables = declared
    return declared


def fit_to_agent(
    mapping: ColumnMapping,
    declared: Sequence[str] | None,
    *,
    engine_variables: Sequence[str] = (),
    drop_undeclared: bool = False,
) -> tuple[ColumnMapping, tuple[str, ...]]:
    """The mapping to import with, and the columns dropped to meet the agent's contract.

    Raises ImportRefused, naming every problem and its fix, when the file cannot meet it.
    """
    check = check_against_agent(mapping, declared)
    missing = [name for name in check.missing if name not in engine_variables]
    dropped: tuple[str, ...] = ()
    problems = []
    if check.undeclared and drop_undeclared:
        by_variable = {name: mapping.headers[index] for index, name in mapping.variables}
        dropped = tuple(by_variable[name] for name in check.undeclared)
        mapping = mapping.without(check.undeclared)
    elif check.undeclared:
        problems.append(
            "columns the agent does not declare: "
            + ", ".join(check.undeclared)
            + " (drop them with --exclude COLUMN or --drop-undeclared, "
            "or rename with --map COLUMN=VARIABLE)"
        )
    if missing:
        problems.append(
            "variables the agent declares that no column supplies: "
            + ", ".join(missing)
            + " (rename a column with --map COLUMN=VARIABLE)"
        )
    if problems:
        raise ImportRefused("nothing imported; " + "; ".join(problems))
    return mapping, dropped


def edit_problems(
    before: Iterable[str], after: Iterable[str], declared: Sequence[str] | None
) -> tuple[list[str], list[str]]:
    """The names that break the agent's contract in an edit from ``before`` to ``after``:
    those the agent does not declare, and those it declares that the edit removes."""
    if declared is None:
        return [], []
    now = [name for name in after if not is_kept(name)]
    undeclared = [name for name in now if name not in declared]
    removed = [name for name in before if name in declared and name not in now]
    return undeclared, removed


def edit_refusal(
    before: Iterable[str], after: Iterable[str], declared: Sequence[str] | None
) -> str | None:
    """Why an edit of a contact's variables from ``before`` to ``after`` (names) breaks the
    agent's contract, as an import would be refused, or None when it keeps it.

    A variable the agent does not declare would never reach the call; one it declares that
    the edit removes would render empty. Kept columns (``kept:``) are not call variables.
    Unknown ``declared`` (None) accepts any, as an import does.
    """
    undeclared, removed = edit_problems(before, after, declared)
    problems = []
    if undeclared:
        problems.append(
            "variables the agent does not declare: "
            + ", ".join(undeclared)
            + f" (the agent declares: {', '.join(declared or []) or 'none'})"
        )
    if removed:
        problems.append(
            "variables the agent declares that nothing would supply: " + ", ".join(removed)
        )
    return "nothing changed; " + "; ".join(problems) if problems else None
