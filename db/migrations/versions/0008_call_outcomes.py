"""call outcomes by the contact's local hour (learned call times); send tickets carry worth
and deadline (their priority is recomputed while they wait)

Revision ID: 0008
Revises: 0007
Create Date: 2026-12-02 07:00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
import sqlmodel
import db.types
from alembic import op


revision: str = "0008"
down_revision: str | None = "0007"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "call_outcomes",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("idempotency_key", sqlmodel.sql.sqltypes.AutoString(length=200), nullable=False),
        sa.Column("merchant_id", sqlmodel.sql.sqltypes.AutoString(length=64), nullable=False),
        sa.Column("contact_id", sa.Integer(), nullable=False),
        sa.Column("called_at", db.types.UTCDateTime(timezone=True), nullable=False),
        sa.Column("local_hour", sa.Integer(), nullable=False),
        sa.Column("weekday", sa.Integer(), nullable=False),
        sa.Column("outcome", sqlmodel.sql.sqltypes.AutoString(length=12), nullable=False),
        sa.ForeignKeyConstraint(["contact_id"], ["contacts.id"]),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("idempotency_key"),
    )
    with op.batch_alter_table("call_outcomes", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_call_outcomes_merchant_id"), ["merchant_id"], unique=False
        )
        batch_op.create_index(
            "ix_call_outcomes_contact_called", ["contact_id", "called_at"], unique=False
        )
    with op.batch_alter_table("send_tickets", schema=None) as batch_op:
        batch_op.add_column(sa.Column("worth", sa.Float(), nullable=True))
        batch_op.add_column(
            sa.Column("deadline_at", db.types.UTCDateTime(timezone=True), nullable=True)
        )


def downgrade() -> None:
    with op.batch_alter_table("send_tickets", schema=None) as batch_op:
        batch_op.drop_column("deadline_at")
        batch_op.drop_column("worth")
    with op.batch_alter_table("call_outcomes", schema=None) as batch_op:
        batch_op.drop_index("ix_call_outcomes_contact_called")
        batch_op.drop_index(batch_op.f("ix_call_outcomes_merchant_id"))
    op.drop_table("call_outcomes")
