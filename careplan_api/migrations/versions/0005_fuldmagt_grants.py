"""fuldmagt grants: who gave a fuldmagt, how, and to whom before they have a login

Revision ID: 0005
Revises: 0004
Create Date: 2026-12-05

- `fuldmagter.source`: citizen (granted here), paper (registered by staff), register (imported from
  the national fuldmagt register), admin (the earlier way; every existing row);
- `granted_by_user_id`, `reason` (required for paper), `revoked_by_user_id`: who did it and why;
- `holder_name`, `holder_national_id_hmac`: the holder as the citizen named them, and, for a holder
  without a login yet, their CPR number as a keyed hash; `relative_user_id` may then be empty;
- `register_ref`: the national register's id (unique: an import is idempotent).

The downgrade drops them again; fuldmagter whose holder has no login yet cannot be kept without
the hash and are deleted (they gave nobody access).
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = '0005'
down_revision = '0004'
branch_labels = None
depends_on = None

_SOURCE = sa.Enum(
    'citizen', 'paper', 'register', 'admin', name='fuldmagt_source', native_enum=False, create_constraint=True, length=32
)


def upgrade() -> None:
    with op.batch_alter_table('fuldmagter', schema=None) as batch_op:
        batch_op.add_column(sa.Column('holder_name', sa.String(length=200), nullable=False, server_default=''))
        batch_op.add_column(sa.Column('holder_national_id_hmac', sa.String(length=64), nullable=True))
        batch_op.add_column(sa.Column('source', _SOURCE, nullable=False, server_default='admin'))
        batch_op.add_column(sa.Column('granted_by_user_id', sa.Uuid(), nullable=True))
        batch_op.add_column(sa.Column('reason', sa.Text(), nullable=False, server_default=''))
        batch_op.add_column(sa.Column('register_ref', sa.String(length=100), nullable=True))
        batch_op.add_column(sa.Column('revoked_by_user_id', sa.Uuid(), nullable=True))
        batch_op.alter_column('relative_user_id', existing_type=sa.Uuid(), nullable=True)
        batch_op.create_index(
            batch_op.f('ix_fuldmagter_holder_national_id_hmac'), ['holder_national_id_hmac'], unique=False
        )
        batch_op.create_unique_constraint('uq_fuldmagter_register_ref', ['register_ref'])
        batch_op.create_foreign_key(
            'fk_fuldmagter_granted_by_user_id_users', 'users', ['granted_by_user_id'], ['id'], ondelete='RESTRICT'
        )
        batch_op.create_foreign_key(
            'fk_fuldmagter_revoked_by_user_id_users', 'users', ['revoked_by_user_id'], ['id'], ondelete='RESTRICT'
        )
        batch_op.create_check_constraint(
            'fuldmagt_has_holder', 'relative_user_id IS NOT NULL OR holder_national_id_hmac IS NOT NULL'
        )
        batch_op.create_check_constraint('paper_fuldmagt_has_reason', "source != 'paper' OR reason != ''")


def downgrade() -> None:
    op.execute('DELETE FROM fuldmagter WHERE relative_user_id IS NULL')
    with op.batch_alter_table('fuldmagter', schema=None) as batch_op:
        batch_op.drop_constraint('paper_fuldmagt_has_reason', type_='check')
        batch_op.drop_constraint('fuldmagt_has_holder', type_='check')
        batch_op.drop_constraint('fuldmagt_source', type_='check')  # the enum's, left behind by SQLite's copy
        batch_op.drop_constraint('fk_fuldmagter_revoked_by_user_id_users', type_='foreignkey')
        batch_op.drop_constraint('fk_fuldmagter_granted_by_user_id_users', type_='foreignkey')
        batch_op.drop_constraint('uq_fuldmagter_register_ref', type_='unique')
        batch_op.drop_index(batch_op.f('ix_fuldmagter_holder_national_id_hmac'))
        batch_op.alter_column('relative_user_id', existing_type=sa.Uuid(), nullable=False)
        batch_op.drop_column('revoked_by_user_id')
        batch_op.drop_column('register_ref')
        batch_op.drop_column('reason')
        batch_op.drop_column('granted_by_user_id')
        batch_op.drop_column('source')
        batch_op.drop_column('holder_national_id_hmac')
        batch_op.drop_column('holder_name')
