"""pending answers: merchant answers kept while their watch could not be reached

Revision ID: 0005
Revises: 0004
Create Date: 2026-12-01 23:30:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
import sqlmodel
import db.types
from alembic import op


revision: str = '0005'
down_revision: str | None = '0004'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table('pending_answers',
    sa.Column('source_event_id', sqlmodel.sql.sqltypes.AutoString(length=200), nullable=False),
    sa.Column('refund_id', sqlmodel.sql.sqltypes.AutoString(length=64), nullable=False),
    sa.Column('merchant_id', sqlmodel.sql.sqltypes.AutoString(length=64), nullable=False),
    sa.Column('action', sqlmodel.sql.sqltypes.AutoString(length=20), nullable=False),
    sa.Column('channel', sqlmodel.sql.sqltypes.AutoString(length=10), nullable=False),
    sa.Column('raw', sqlmodel.sql.sqltypes.AutoString(length=200), nullable=False),
    sa.Column('received_at', db.types.UTCDateTime(timezone=True), nullable=False),
    sa.Column('attempts', sa.Integer(), nullable=False),
    sa.Column('delivered_at', db.types.UTCDateTime(timezone=True), nullable=True),
    sa.Column('verdict', sqlmodel.sql.sqltypes.AutoString(length=30), nullable=True),
    sa.ForeignKeyConstraint(['refund_id'], ['refunds.refund_id'], ),
    sa.PrimaryKeyConstraint('source_event_id')
    )
    with op.batch_alter_table('pending_answers', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_pending_answers_refund_id'), ['refund_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_pending_answers_delivered_at'), ['delivered_at'], unique=False)


def downgrade() -> None:
    with op.batch_alter_table('pending_answers', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_pending_answers_delivered_at'))
        batch_op.drop_index(batch_op.f('ix_pending_answers_refund_id'))
    op.drop_table('pending_answers')
