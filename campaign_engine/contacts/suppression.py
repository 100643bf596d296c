"""The do-not-call list: exact numbers and number prefixes, global or per campaign.

Checked when a list is imported (``suppressed_among``, a batch at a time), by the dial job's
gate, and last by the claim of every attempt in the claim's own transaction
(``campaign_engine.dialer.number_checks``), so a number suppressed after its upload, or
while its job waited for a slot, is never called. Adding and removing entries is in
``suppression_list``.
"""

from __future__ import annotations

import json
from collections.abc import Sequence

from sqlalchemy import (
    ColumnElement,
    String,
    any_,
    bindparam,
    column,
    func,
    literal,
    or_,
    select,
    union_all,
)
from sqlalchemy.dialects.postgresql import ARRAY
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import aliased

from campaign_engine.db.models import Suppression

NUMBER = "number"
PREFIX = "prefix"
KINDS = (NUMBER, PREFIX)


def _scope(campaign_id: str | None) -> ColumnElement[bool]:
    """Global entries, and the campaign's own when there is one."""
    scope: ColumnElement[bool] = Suppression.campaign_id.is_(None)
    if campaign_id is not None:
        scope = or_(scope, Suppression.campaign_id == campaign_id)
    return scope


async def suppression_for(
    session: AsyncSession, phone: str, campaign_id: str | None
) -> Suppression | None:
    """The entry that forbids calling ``phone`` in ``campaign_id`` (global ones count too)."""
    matches = or_(
        (Suppression.kind == NUMBER) & (Suppression.pattern == phone),
        (Suppression.kind == PREFIX) & literal(phone).startswith(Suppression.pattern),
    )
    return await session.scalar(
        select(Suppression).where(_scope(campaign_id), matches).order_by(Suppression.id).limit(1)
    )


async def suppressed_among(
    session: AsyncSession, numbers: Sequence[str], campaign_id: str | None
) -> dict[str, Suppression]:
    """For each of ``numbers`` that must not be called, the entry that says so.

    The same rule as ``suppression_for`` (the oldest matching entry wins), for a whole import
    batch — or a claim — in one query: exact numbers through the pattern index, and every
    prefix (few, by nature), compared here. A UNION ALL, so that each half keeps its index.
    """
    if not numbers:
        return {}
    scope = _scope(campaign_id)
    exact = select(Suppression).where(
        scope, Suppression.kind == NUMBER, pattern_in(numbers, session.get_bind().dialect.name)
    )
    prefix = select(Suppression).where(scope, Suppression.kind == PREFIX)
    both = union_all(exact, prefix).subquery()
    entries = list(await session.scalars(select(aliased(Suppression, both)).order_by(both.c.id)))
    found: dict[str, Suppression] = {}
    for entry in entries:
        if entry.kind == NUMBER:
            found.setdefault(entry.pattern, entry)
    prefixes = [entry for entry in entries if entry.kind == PREFIX]
    if prefixes:
        patterns = tuple(entry.pattern for entry in prefixes)
        for number in numbers:
            if number.startswith(patterns):
                entry = next(e for e in prefixes if number.startswith(e.pattern))
                current = found.get(number)
                if current is None or entry.id < current.id:
                    found[number] = entry
    return found


def pattern_in(numbers: Sequence[str], dialect: str) -> ColumnElement[bool]:
    """``pattern`` is one of ``numbers``, as one bound parameter however many there are: an
    IN list of thousands is slow to build and past SQLite's parameter limit."""
    if dialect == "postgresql":
        return Suppression.pattern == any_(bindparam("numbers", list(numbers), ARRAY(String)))
    listed = func.json_each(bindparam("numbers", json.dumps(list(numbers))))  # SQLite's JSON1
    return Suppression.pattern.in_(select(column("value", String)).select_from(listed))


def describe(entry: Suppression) -> str:
    """How an operator reads an entry: "prefix +1800 (global): asked not to be called"."""
    scope = f"campaign {entry.campaign_id}" if entry.campaign_id else "global"
    text = f"{entry.kind} {entry.pattern} ({scope})"
    return f"{text}: {entry.reason}" if entry.reason else text
