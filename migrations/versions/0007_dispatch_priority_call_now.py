"""Fair dispatch: campaigns.priority (a campaign's weight where limits are shared) and
contacts.call_now_at (an operator's "call now", dispatched ahead of every backlog).

Revision ID: 0007
Revises: 0006
Create Date: 2026-12-06
"""

import sqlalchemy as sa
from alembic import op

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None

_MARKED = sa.text("call_now_at IS NOT NULL")


def upgrade() -> None:
    op.add_column(
        "campaigns",
        sa.Column("priority", sa.Integer(), nullable=False, server_default=sa.text("1")),
    )
    op.add_column("contacts", sa.Column("call_now_at", sa.DateTime(timezone=True), nullable=True))
    op.create_index(
        "ix_contacts_call_now",
        "contacts",
        ["call_now_at"],
        sqlite_where=_MARKED,
        postgresql_where=_MARKED,
    )


def downgrade() -> None:
    op.drop_index("ix_contacts_call_now", table_name="contacts")
    op.drop_column("contacts", "call_now_at")
    op.drop_column("campaigns", "priority")
