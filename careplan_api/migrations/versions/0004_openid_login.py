"""openid login: people linked to OpenID Provider identities, and logins on their way

Revision ID: 0004
Revises: 0003
Create Date: 2026-12-05

- `identity_links`: an (issuer, subject) at an OpenID Provider -> the user it logs in as;
- `users.national_id_hmac`: a person's CPR number as a keyed hash, to link a first OpenID login;
- `pending_openid_logins`: state (hashed), nonce and PKCE verifier of a login sent to a provider,
  deleted when it comes back (so a replayed answer finds nothing) or when old.

The downgrade drops them again (OpenID-only users stay, without a way to log in).
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

import careplan_api.models

revision = '0004'
down_revision = '0003'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        'pending_openid_logins',
        sa.Column('state_sha256', sa.String(length=64), nullable=False),
        sa.Column('browser_sha256', sa.String(length=64), nullable=False),
        sa.Column('provider', sa.String(length=32), nullable=False),
        sa.Column('nonce', sa.String(length=128), nullable=False),
        sa.Column('code_verifier', sa.String(length=128), nullable=False),
        sa.Column('redirect_uri', sa.String(length=2000), nullable=False),
        sa.Column('next_path', sa.String(length=2000), nullable=False),
        sa.Column('language', sa.String(length=8), nullable=False),
        sa.Column('created_s', sa.Float(), nullable=False),
        sa.PrimaryKeyConstraint('state_sha256'),
    )
    with op.batch_alter_table('pending_openid_logins', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_pending_openid_logins_created_s'), ['created_s'], unique=False)

    op.create_table(
        'identity_links',
        sa.Column('id', sa.Integer(), autoincrement=True, nullable=False),
        sa.Column('user_id', sa.Uuid(), nullable=False),
        sa.Column('issuer', sa.String(length=300), nullable=False),
        sa.Column('subject', sa.String(length=255), nullable=False),
        sa.Column('created_at', careplan_api.models.UTCDateTime(timezone=True), nullable=False),
        sa.Column('last_login_at', careplan_api.models.UTCDateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(['user_id'], ['users.id'], ondelete='CASCADE'),
        sa.PrimaryKeyConstraint('id'),
        sa.UniqueConstraint('issuer', 'subject', name='uq_identity_links_issuer_subject'),
    )
    with op.batch_alter_table('identity_links', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_identity_links_user_id'), ['user_id'], unique=False)

    with op.batch_alter_table('users', schema=None) as batch_op:
        batch_op.add_column(sa.Column('national_id_hmac', sa.String(length=64), nullable=True))
        batch_op.create_unique_constraint('uq_users_national_id_hmac', ['national_id_hmac'])


def downgrade() -> None:
    with op.batch_alter_table('users', schema=None) as batch_op:
        batch_op.drop_constraint('uq_users_national_id_hmac', type_='unique')
        batch_op.drop_column('national_id_hmac')

    with op.batch_alter_table('identity_links', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_identity_links_user_id'))
    op.drop_table('identity_links')

    with op.batch_alter_table('pending_openid_logins', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_pending_openid_logins_created_s'))
    op.drop_table('pending_openid_logins')
