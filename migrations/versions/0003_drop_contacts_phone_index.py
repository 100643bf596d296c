"""Drop ix_contacts_phone: no query looks contacts up by number alone.

Every lookup of a contact by number is within a campaign, which the unique
(campaign_id, phone_e164) index serves. The lone phone index only cost every insert a second
random b-tree insertion: on a million-row import, ~15% of SQLite's write time.

Revision ID: 0003
Revises: 0002
Create Date: 2026-12-01
"""

from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("contacts", schema=None) as batch_op:
        batch_op.drop_index("ix_contacts_phone")


def downgrade() -> None:
    with op.batch_alter_table("contacts", schema=None) as batch_op:
        batch_op.create_index("ix_contacts_phone", ["phone_e164"], unique=False)
