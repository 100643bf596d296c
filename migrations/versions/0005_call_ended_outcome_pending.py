"""An attempt whose call polling saw end waits for its outcome: outcome_due_at and
outcome_source on call_attempts.

Polling can tell *that* a call ended long before anything can tell *how*: the webhook (and
the disposition it carries) comes after post-call processing. Such an attempt is now
``processing`` (its slots free) until the webhook comes or ``outcome_due_at`` passes; then
its outcome is decided from a poll and ``outcome_source`` says so.

Revision ID: 0005
Revises: 0004
Create Date: 2026-12-06
"""

import sqlalchemy as sa
from alembic import op

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column("call_attempts", sa.Column("outcome_source", sa.String(16), nullable=True))
    op.add_column(
        "call_attempts", sa.Column("outcome_due_at", sa.DateTime(timezone=True), nullable=True)
    )


def downgrade() -> None:
    op.drop_column("call_attempts", "outcome_due_at")
    op.drop_column("call_attempts", "outcome_source")
