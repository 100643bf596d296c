"""One call per number at a time: a partial unique index on call_attempts(to_number) over
open attempts (dialing, started, unknown, processing), across campaigns.

The claim checks this itself while holding the numbers it claims; the index is the backstop
nothing can race. A database may already hold numbers with several open attempts (two
campaigns dialed one number at the same moment before this). They are settled before the
index is built:

- the attempt claimed first (then the lowest id) keeps the number and stays as it is;
- every other one is ``expired`` (what the reconciler makes of an attempt whose outcome it
  cannot learn), with an error that says why; a webhook that comes for it later is ignored;
- its contact, if still ``dialing`` or ``calling`` on it, waits as ``retrying`` until that
  attempt's deadline (never redialed while its call may still be going), keeping its
  attempt count: the call may have been placed. The retry policy decides from there.

How many were settled is logged. Rows left in other states are untouched.

Revision ID: 0006
Revises: 0005
Create Date: 2026-12-06
"""

import logging
from datetime import UTC, datetime

import sqlalchemy as sa
from alembic import op

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None

INDEX = "uq_call_attempts_open_number"
OPEN = ("dialing", "processing", "started", "unknown")
_OPEN_SQL = "state IN ('dialing', 'processing', 'started', 'unknown')"
SETTLED = (
    "settled by migration 0006: attempt {kept} to the same number was open at the same "
    "time (one call per number at a time)"
)

log = logging.getLogger("alembic.runtime.migration")

attempts = sa.table(
    "call_attempts",
    sa.column("id", sa.BigInteger),
    sa.column("contact_id", sa.BigInteger),
    sa.column("to_number", sa.String),
    sa.column("state", sa.String),
    sa.column("error", sa.Text),
    sa.column("claimed_at", sa.DateTime(timezone=True)),
    sa.column("deadline_at", sa.DateTime(timezone=True)),
    sa.column("ended_at", sa.DateTime(timezone=True)),
    sa.column("updated_at", sa.DateTime(timezone=True)),
)
contacts = sa.table(
    "contacts",
    sa.column("id", sa.BigInteger),
    sa.column("state", sa.String),
    sa.column("next_attempt_at", sa.DateTime(timezone=True)),
    sa.column("queued_at", sa.DateTime(timezone=True)),
    sa.column("last_error", sa.Text),
    sa.column("last_failure_kind", sa.String),
    sa.column("updated_at", sa.DateTime(timezone=True)),
)


def _aware(value: datetime) -> datetime:
    """SQLite gives naive UTC back."""
    return value if value.tzinfo else value.replace(tzinfo=UTC)


def _settle_duplicates() -> None:
    bind = op.get_bind()
    sqlite = bind.dialect.name == "sqlite"
    shared = (
        sa.select(attempts.c.to_number)
        .where(attempts.c.state.in_(OPEN))
        .group_by(attempts.c.to_number)
        .having(sa.func.count() > 1)
    )
    rows = bind.execute(
        sa.select(
            attempts.c.id,
            attempts.c.contact_id,
            attempts.c.to_number,
            attempts.c.deadline_at,
        )
        .where(attempts.c.state.in_(OPEN), attempts.c.to_number.in_(shared))
        .order_by(attempts.c.to_number, attempts.c.claimed_at, attempts.c.id)
    ).all()
    now = datetime.now(UTC)

    def stored(value: datetime) -> datetime:
        return value.replace(tzinfo=None) if sqlite else value

    kept: dict[str, tuple[int, int]] = {}
    extra = []
    for row in rows:
        if row.to_number in kept:
            extra.append(row)
        else:
            kept[row.to_number] = (row.id, row.contact_id)
    holding = {contact_id for _, contact_id in kept.values()}
    for row in extra:
        why = SETTLED.format(kept=kept[row.to_number][0])
        bind.execute(
            sa.update(attempts)
            .where(attempts.c.id == row.id, attempts.c.state.in_(OPEN))
            .values(
                state="expired",
                error=why,
                ended_at=sa.func.coalesce(attempts.c.ended_at, stored(now)),
                updated_at=stored(now),
            )
        )
        if row.contact_id in holding:
            continue  # its other attempt still holds the number: it stays in that call
        bind.execute(
            sa.update(contacts)
            .where(contacts.c.id == row.contact_id, contacts.c.state.in_(("dialing", "calling")))
            .values(
                state="retrying",
                next_attempt_at=stored(max(now, _aware(row.deadline_at))),
                queued_at=None,
                last_error=why,
                last_failure_kind=None,
                updated_at=stored(now),
            )
        )
    if extra:
        log.warning(
            "0006: %d open attempts shared a number with an earlier one; settled as expired",
            len(extra),
        )


def upgrade() -> None:
    _settle_duplicates()
    op.create_index(
        INDEX,
        "call_attempts",
        ["to_number"],
        unique=True,
        sqlite_where=sa.text(_OPEN_SQL),
        postgresql_where=sa.text(_OPEN_SQL),
    )


def downgrade() -> None:
    op.drop_index(INDEX, table_name="call_attempts")
