"""action links (merchant_links) and SMS encoding and segments on attempts

Revision ID: 0007
Revises: 0006
Create Date: 2026-12-02 06:40:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
import sqlmodel
from alembic import op

import db.types

revision: str = "0007"
down_revision: str | None = "0006"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "merchant_links",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("id_hash", sqlmodel.sql.sqltypes.AutoString(length=64), nullable=False),
        sa.Column("merchant_id", sqlmodel.sql.sqltypes.AutoString(length=64), nullable=False),
        sa.Column("refund_ids", sa.JSON(), nullable=False),
        sa.Column("attempt_key", sqlmodel.sql.sqltypes.AutoString(length=200), nullable=True),
        sa.Column("created_at", db.types.UTCDateTime(), nullable=False),
        sa.Column("expires_at", db.types.UTCDateTime(), nullable=False),
        sa.Column("revoked_at", db.types.UTCDateTime(), nullable=True),
        sa.Column("revoked_reason", sqlmodel.sql.sqltypes.AutoString(length=200), nullable=True),
        sa.ForeignKeyConstraint(["merchant_id"], ["merchants.merchant_id"]),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("id_hash"),
    )
    op.create_index("ix_merchant_links_merchant_id", "merchant_links", ["merchant_id"])
    op.create_index("ix_merchant_links_attempt_key", "merchant_links", ["attempt_key"])
    with op.batch_alter_table("notification_attempts", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column("encoding", sqlmodel.sql.sqltypes.AutoString(length=4), nullable=True)
        )
        batch_op.add_column(sa.Column("segments", sa.Integer(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("notification_attempts", schema=None) as batch_op:
        batch_op.drop_column("segments")
        batch_op.drop_column("encoding")
    op.drop_index("ix_merchant_links_attempt_key", table_name="merchant_links")
    op.drop_index("ix_merchant_links_merchant_id", table_name="merchant_links")
    op.drop_table("merchant_links")
