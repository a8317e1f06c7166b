"""in-app notices keep the merchant's acknowledgement (the inbox's read/ack state)

Revision ID: 0009
Revises: 0008
Create Date: 2026-12-02 07:00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import db.types

revision: str = "0009"
down_revision: str | None = "0008"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("in_app_notices", schema=None) as batch_op:
        batch_op.add_column(sa.Column("acknowledged_at", db.types.UTCDateTime(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("in_app_notices", schema=None) as batch_op:
        batch_op.drop_column("acknowledged_at")
