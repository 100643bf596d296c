"""The kind of a failure as data: call_attempts.failure_kind and contacts.last_failure_kind.

Until now "was this a 429?" was found again by searching the error text for "429", which
also matched any reason holding a phone number with "429" in it (a daily-cap hold, say).
The engine now writes the kind (a ``campaign_engine.failure_kinds.FailureKind``) when it
knows it, and readers compare the column.

Backfill: only the 429 refusals of a start, recognised by the exact prefix the engine has
always written for them (``str(RateLimited)``: ``POST /calls/start: HTTP 429 <code>: ...``),
become ``concurrency_limited`` when the text names the concurrency limit the way
``guess_rate_limit_kind`` reads it, else ``rate_limited``: on attempts that were not sent,
and on contacts not in a call whose last error is such a refusal. Every other old row keeps
a NULL kind (never counted, requeued or labelled as rate-limited): a bare "429" anywhere in
a text is no evidence.

Revision ID: 0004
Revises: 0003
Create Date: 2026-12-08
"""

import sqlalchemy as sa
from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None

# What str(RateLimited) of a start request begins with; no "_" or "%" in it to escape.
_START_429 = "POST /calls/start: HTTP 429 %"
_CONCURRENCY_WORDS = ("%concurren%", "%active call%", "%simultaneous%")


def _backfill(
    table: str, text_column: str, kind_column: str, *only: sa.ColumnElement[bool]
) -> None:
    text = sa.column(text_column, sa.Text)
    rows = sa.table(table, text, sa.column(kind_column, sa.String), sa.column("state", sa.String))
    concurrency = sa.or_(*(sa.func.lower(text).like(words) for words in _CONCURRENCY_WORDS))
    op.execute(
        rows.update()
        .where(text.like(_START_429), *only)
        .values({kind_column: sa.case((concurrency, "concurrency_limited"), else_="rate_limited")})
    )


def upgrade() -> None:
    # Plain ALTER TABLE ... ADD COLUMN on both backends: nullable, no default, no table copy.
    op.add_column("call_attempts", sa.Column("failure_kind", sa.String(length=32), nullable=True))
    op.add_column("contacts", sa.Column("last_failure_kind", sa.String(length=32), nullable=True))
    state = sa.column("state", sa.String)
    _backfill("call_attempts", "error", "failure_kind", state == "not_sent")
    # A contact in a call now has a newer attempt than the refusal its last_error tells of.
    _backfill("contacts", "last_error", "last_failure_kind", state.not_in(["dialing", "calling"]))


def downgrade() -> None:
    # A plain ALTER TABLE ... DROP COLUMN (SQLite 3.35+), not a batch table copy: dropping
    # the old contacts table of a copy would cascade-delete every attempt (foreign keys on).
    op.drop_column("contacts", "last_failure_kind")
    op.drop_column("call_attempts", "failure_kind")
