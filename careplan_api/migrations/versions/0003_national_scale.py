"""national scale: shared login throttle, device ingest quota, token cut-off, hand-feeding minutes, dashboard releases

Revision ID: 0003
Revises: 0002
Create Date: 2026-12-04

- `login_failures`, `login_known_addresses`: the login throttle's counts, in the database so that
  every worker process answers the same (`services.login_throttle`);
- `devices.quota_events`, `devices.quota_at_s`: each device's ingest token bucket (`services.ingest_quota`);
- `users.tokens_valid_after`: tokens issued before it are refused (password change, reset, reactivation);
- `eating_goals.hand_feeding_minutes`: minutes of hand-feeding per meal, recorded by staff (effect figures);
- `dashboard_releases`: the dashboard's figures of each closed period, stored once (no differencing).

The downgrade drops them again (nothing else depends on them).
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision = '0003'
down_revision = '0002'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        'login_failures',
        sa.Column('id', sa.Integer(), autoincrement=True, nullable=False),
        sa.Column('account', sa.String(length=150), nullable=False),
        sa.Column('address', sa.String(length=150), nullable=False),
        sa.Column('at_s', sa.Float(), nullable=False),
        sa.Column('from_known', sa.Boolean(), nullable=False),
        sa.PrimaryKeyConstraint('id'),
    )
    with op.batch_alter_table('login_failures', schema=None) as batch_op:
        batch_op.create_index('ix_login_failures_account_address', ['account', 'address'], unique=False)
        batch_op.create_index('ix_login_failures_address', ['address'], unique=False)
        batch_op.create_index('ix_login_failures_at_s', ['at_s'], unique=False)
    op.create_table(
        'login_known_addresses',
        sa.Column('user_id', sa.Uuid(), nullable=False),
        sa.Column('address', sa.String(length=150), nullable=False),
        sa.Column('last_success_s', sa.Float(), nullable=False),
        sa.ForeignKeyConstraint(['user_id'], ['users.id'], ondelete='CASCADE'),
        sa.PrimaryKeyConstraint('user_id', 'address'),
    )
    op.create_table(
        'dashboard_releases',
        sa.Column('period', sa.String(length=16), nullable=False),
        sa.Column('released_at', sa.DateTime(timezone=True), nullable=False),
        sa.Column('content', sa.JSON().with_variant(postgresql.JSONB(), 'postgresql'), nullable=False),
        sa.PrimaryKeyConstraint('period'),
    )
    # plain ALTER TABLE ... ADD COLUMN on both databases (no batch copy of tables others refer to)
    op.add_column('devices', sa.Column('quota_events', sa.Float(), nullable=True))
    op.add_column('devices', sa.Column('quota_at_s', sa.Float(), nullable=True))
    op.add_column('users', sa.Column('tokens_valid_after', sa.DateTime(timezone=True), nullable=True))
    op.add_column('eating_goals', sa.Column('hand_feeding_minutes', sa.Float(), nullable=True))


def downgrade() -> None:
    for table, column in (
        ('eating_goals', 'hand_feeding_minutes'),
        ('users', 'tokens_valid_after'),
        ('devices', 'quota_at_s'),
        ('devices', 'quota_events'),
    ):
        op.drop_column(table, column)  # SQLite >= 3.35 drops a column in place
    op.drop_table('dashboard_releases')
    op.drop_table('login_known_addresses')
    with op.batch_alter_table('login_failures', schema=None) as batch_op:
        batch_op.drop_index('ix_login_failures_at_s')
        batch_op.drop_index('ix_login_failures_address')
        batch_op.drop_index('ix_login_failures_account_address')
    op.drop_table('login_failures')
