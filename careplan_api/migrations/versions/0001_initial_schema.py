"""initial schema

Revision ID: 0001
Revises: 
Create Date: 2026-11-23

Citizens, units, users, fuldmagter, devices, meals, usage events, FSIII eating goals, staff notes,
the token revocation list and the append-only audit log (triggers refuse UPDATE/DELETE).
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision = '0001'
down_revision = None
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('audit_log',
    sa.Column('id', sa.Integer(), autoincrement=True, nullable=False),
    sa.Column('at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('actor_kind', sa.Enum('user', 'device', 'system', name='actor_kind', native_enum=False, create_constraint=True, length=32), nullable=False),
    sa.Column('actor_id', sa.Uuid(), nullable=True),
    sa.Column('actor_name', sa.String(length=150), nullable=False),
    sa.Column('actor_role', sa.String(length=32), nullable=False),
    sa.Column('action', sa.Enum('read', 'search', 'create', 'update', 'delete', 'export', 'login', 'denied', name='audit_action', native_enum=False, create_constraint=True, length=32), nullable=False),
    sa.Column('resource', sa.String(length=300), nullable=False),
    sa.Column('citizen_id', sa.Uuid(), nullable=True),
    sa.Column('purpose', sa.String(length=200), nullable=False),
    sa.Column('outcome', sa.String(length=32), nullable=False),
    sa.PrimaryKeyConstraint('id')
    )
    with op.batch_alter_table('audit_log', schema=None) as batch_op:
        batch_op.create_index('ix_audit_log_citizen_at', ['citizen_id', 'at'], unique=False)

    op.create_table('revoked_tokens',
    sa.Column('jti', sa.String(length=64), nullable=False),
    sa.Column('expires_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('revoked_at', sa.DateTime(timezone=True), nullable=False),
    sa.PrimaryKeyConstraint('jti')
    )
    op.create_table('units',
    sa.Column('id', sa.Uuid(), nullable=False),
    sa.Column('name', sa.String(length=200), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.PrimaryKeyConstraint('id'),
    sa.UniqueConstraint('name')
    )
    op.create_table('citizens',
    sa.Column('id', sa.Uuid(), nullable=False),
    sa.Column('name', sa.String(length=200), nullable=False),
    sa.Column('cpr_hmac', sa.String(length=64), nullable=True),
    sa.Column('unit_id', sa.Uuid(), nullable=True),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['unit_id'], ['units.id'], ondelete='RESTRICT'),
    sa.PrimaryKeyConstraint('id'),
    sa.UniqueConstraint('cpr_hmac')
    )
    with op.batch_alter_table('citizens', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_citizens_unit_id'), ['unit_id'], unique=False)

    op.create_table('devices',
    sa.Column('id', sa.Uuid(), nullable=False),
    sa.Column('citizen_id', sa.Uuid(), nullable=False),
    sa.Column('token_sha256', sa.String(length=64), nullable=False),
    sa.Column('label', sa.String(length=200), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('revoked_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('last_seen_at', sa.DateTime(timezone=True), nullable=True),
    sa.ForeignKeyConstraint(['citizen_id'], ['citizens.id'], ondelete='RESTRICT'),
    sa.PrimaryKeyConstraint('id'),
    sa.UniqueConstraint('token_sha256')
    )
    with op.batch_alter_table('devices', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_devices_citizen_id'), ['citizen_id'], unique=False)

    op.create_table('users',
    sa.Column('id', sa.Uuid(), nullable=False),
    sa.Column('username', sa.String(length=150), nullable=False),
    sa.Column('password_hash', sa.String(length=255), nullable=False),
    sa.Column('role', sa.Enum('staff', 'relative', 'citizen', 'analyst', 'admin', name='role', native_enum=False, create_constraint=True, length=32), nullable=False),
    sa.Column('unit_id', sa.Uuid(), nullable=True),
    sa.Column('citizen_id', sa.Uuid(), nullable=True),
    sa.Column('is_active', sa.Boolean(), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.CheckConstraint("role != 'citizen' OR citizen_id IS NOT NULL", name='citizen_user_has_citizen'),
    sa.CheckConstraint("role != 'staff' OR unit_id IS NOT NULL", name='staff_has_unit'),
    sa.ForeignKeyConstraint(['citizen_id'], ['citizens.id'], ondelete='RESTRICT'),
    sa.ForeignKeyConstraint(['unit_id'], ['units.id'], ondelete='RESTRICT'),
    sa.PrimaryKeyConstraint('id'),
    sa.UniqueConstraint('username')
    )
    op.create_table('eating_goals',
    sa.Column('id', sa.Uuid(), nullable=False),
    sa.Column('citizen_id', sa.Uuid(), nullable=False),
    sa.Column('code_system', sa.String(length=200), nullable=False),
    sa.Column('condition_code', sa.String(length=64), nullable=False),
    sa.Column('level', sa.Integer(), nullable=False),
    sa.Column('goal_text', sa.Text(), nullable=False),
    sa.Column('assessed_by', sa.Uuid(), nullable=True),
    sa.Column('assessed_at', sa.DateTime(timezone=True), nullable=False),
    sa.CheckConstraint('level BETWEEN 0 AND 4', name='fsiii_level_0_4'),
    sa.ForeignKeyConstraint(['assessed_by'], ['users.id'], ondelete='RESTRICT'),
    sa.ForeignKeyConstraint(['citizen_id'], ['citizens.id'], ondelete='RESTRICT'),
    sa.PrimaryKeyConstraint('id')
    )
    with op.batch_alter_table('eating_goals', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_eating_goals_citizen_id'), ['citizen_id'], unique=False)

    op.create_table('fuldmagter',
    sa.Column('id', sa.Uuid(), nullable=False),
    sa.Column('relative_user_id', sa.Uuid(), nullable=False),
    sa.Column('citizen_id', sa.Uuid(), nullable=False),
    sa.Column('scope', sa.Enum('care_plan', 'audit_log', 'full', name='fuldmagt_scope', native_enum=False, create_constraint=True, length=32), nullable=False),
    sa.Column('valid_from', sa.DateTime(timezone=True), nullable=False),
    sa.Column('valid_until', sa.DateTime(timezone=True), nullable=True),
    sa.Column('revoked_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['citizen_id'], ['citizens.id'], ondelete='RESTRICT'),
    sa.ForeignKeyConstraint(['relative_user_id'], ['users.id'], ondelete='RESTRICT'),
    sa.PrimaryKeyConstraint('id')
    )
    with op.batch_alter_table('fuldmagter', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_fuldmagter_citizen_id'), ['citizen_id'], unique=False)
        batch_op.create_index('ix_fuldmagter_relative_citizen', ['relative_user_id', 'citizen_id'], unique=False)

    op.create_table('meals',
    sa.Column('id', sa.Uuid(), nullable=False),
    sa.Column('citizen_id', sa.Uuid(), nullable=False),
    sa.Column('device_id', sa.Uuid(), nullable=False),
    sa.Column('status', sa.Enum('open', 'ended', name='meal_status', native_enum=False, create_constraint=True, length=32), nullable=False),
    sa.Column('started_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('ended_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('bites_offered', sa.Integer(), nullable=False),
    sa.Column('bites_taken', sa.Integer(), nullable=False),
    sa.Column('bite_timeouts', sa.Integer(), nullable=False),
    sa.Column('triggers', sa.Integer(), nullable=False),
    sa.Column('misfires', sa.Integer(), nullable=False),
    sa.Column('safety_stops', sa.Integer(), nullable=False),
    sa.Column('faults', sa.Integer(), nullable=False),
    sa.Column('calibration_changes', sa.Integer(), nullable=False),
    sa.Column('event_count', sa.Integer(), nullable=False),
    sa.Column('updated_at', sa.DateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['citizen_id'], ['citizens.id'], ondelete='RESTRICT'),
    sa.ForeignKeyConstraint(['device_id'], ['devices.id'], ondelete='RESTRICT'),
    sa.PrimaryKeyConstraint('id')
    )
    with op.batch_alter_table('meals', schema=None) as batch_op:
        batch_op.create_index('ix_meals_citizen_started', ['citizen_id', 'started_at'], unique=False)
        batch_op.create_index(batch_op.f('ix_meals_device_id'), ['device_id'], unique=False)

    op.create_table('staff_notes',
    sa.Column('id', sa.Uuid(), nullable=False),
    sa.Column('citizen_id', sa.Uuid(), nullable=False),
    sa.Column('author_id', sa.Uuid(), nullable=False),
    sa.Column('text', sa.Text(), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['author_id'], ['users.id'], ondelete='RESTRICT'),
    sa.ForeignKeyConstraint(['citizen_id'], ['citizens.id'], ondelete='RESTRICT'),
    sa.PrimaryKeyConstraint('id')
    )
    with op.batch_alter_table('staff_notes', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_staff_notes_citizen_id'), ['citizen_id'], unique=False)

    op.create_table('usage_events',
    sa.Column('id', sa.Uuid(), nullable=False),
    sa.Column('meal_id', sa.Uuid(), nullable=False),
    sa.Column('device_id', sa.Uuid(), nullable=False),
    sa.Column('citizen_id', sa.Uuid(), nullable=False),
    sa.Column('type', sa.String(length=32), nullable=False),
    sa.Column('at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('data', sa.JSON().with_variant(postgresql.JSONB(), 'postgresql'), nullable=False),
    sa.Column('received_at', sa.DateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['citizen_id'], ['citizens.id'], ondelete='RESTRICT'),
    sa.ForeignKeyConstraint(['device_id'], ['devices.id'], ondelete='RESTRICT'),
    sa.ForeignKeyConstraint(['meal_id'], ['meals.id'], ondelete='RESTRICT'),
    sa.PrimaryKeyConstraint('id')
    )
    with op.batch_alter_table('usage_events', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_usage_events_citizen_id'), ['citizen_id'], unique=False)
        batch_op.create_index('ix_usage_events_meal_at', ['meal_id', 'at'], unique=False)

    _create_audit_triggers()



def downgrade() -> None:
    with op.batch_alter_table('usage_events', schema=None) as batch_op:
        batch_op.drop_index('ix_usage_events_meal_at')
        batch_op.drop_index(batch_op.f('ix_usage_events_citizen_id'))

    op.drop_table('usage_events')
    with op.batch_alter_table('staff_notes', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_staff_notes_citizen_id'))

    op.drop_table('staff_notes')
    with op.batch_alter_table('meals', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_meals_device_id'))
        batch_op.drop_index('ix_meals_citizen_started')

    op.drop_table('meals')
    with op.batch_alter_table('fuldmagter', schema=None) as batch_op:
        batch_op.drop_index('ix_fuldmagter_relative_citizen')
        batch_op.drop_index(batch_op.f('ix_fuldmagter_citizen_id'))

    op.drop_table('fuldmagter')
    with op.batch_alter_table('eating_goals', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_eating_goals_citizen_id'))

    op.drop_table('eating_goals')
    op.drop_table('users')
    with op.batch_alter_table('devices', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_devices_citizen_id'))

    op.drop_table('devices')
    with op.batch_alter_table('citizens', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_citizens_unit_id'))

    op.drop_table('citizens')
    op.drop_table('units')
    op.drop_table('revoked_tokens')
    with op.batch_alter_table('audit_log', schema=None) as batch_op:
        batch_op.drop_index('ix_audit_log_citizen_at')

    _drop_audit_triggers()
    op.drop_table('audit_log')


_APPEND_ONLY = "audit_log is append-only"


def _create_audit_triggers() -> None:
    """Make the database itself refuse UPDATE and DELETE (and TRUNCATE on PostgreSQL) of audit_log."""
    if op.get_bind().dialect.name == "postgresql":
        op.execute(
            f"""
            CREATE FUNCTION audit_log_append_only() RETURNS trigger LANGUAGE plpgsql AS $$
            BEGIN
                RAISE EXCEPTION '{_APPEND_ONLY}' USING ERRCODE = 'insufficient_privilege';
            END $$
            """
        )
        op.execute(
            "CREATE TRIGGER audit_log_no_change BEFORE UPDATE OR DELETE ON audit_log "
            "FOR EACH ROW EXECUTE FUNCTION audit_log_append_only()"
        )
        op.execute(
            "CREATE TRIGGER audit_log_no_truncate BEFORE TRUNCATE ON audit_log "
            "FOR EACH STATEMENT EXECUTE FUNCTION audit_log_append_only()"
        )
    else:
        for verb in ("UPDATE", "DELETE"):
            op.execute(
                f"CREATE TRIGGER audit_log_no_{verb.lower()} BEFORE {verb} ON audit_log "
                f"BEGIN SELECT RAISE(ABORT, '{_APPEND_ONLY}'); END"
            )


def _drop_audit_triggers() -> None:
    if op.get_bind().dialect.name == "postgresql":
        op.execute("DROP TRIGGER IF EXISTS audit_log_no_truncate ON audit_log")
        op.execute("DROP TRIGGER IF EXISTS audit_log_no_change ON audit_log")
        op.execute("DROP FUNCTION IF EXISTS audit_log_append_only()")
    else:
        op.execute("DROP TRIGGER IF EXISTS audit_log_no_update")
        op.execute("DROP TRIGGER IF EXISTS audit_log_no_delete")
