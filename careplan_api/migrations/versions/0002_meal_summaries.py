"""meal summaries

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-23

Table `meal_summaries`: one row per meal with its summary and its FHIR Observation and Provenance
as encoded JSON, kept up to date by ingest (`careplan_api.meal_summary_store`), so that reading a
year of meals no longer reads every journal event. The upgrade fills it for the meals already
stored (summarised from their events by the service's own summariser); the downgrade drops it
(the events, from which it is made, stay).
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

from careplan_api.meal_summary_store import rebuild_meal_summaries

revision = '0002'
down_revision = '0001'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('meal_summaries',
    sa.Column('meal_id', sa.Uuid(), nullable=False),
    sa.Column('citizen_id', sa.Uuid(), nullable=False),
    sa.Column('device_id', sa.Uuid(), nullable=False),
    sa.Column('derived_version', sa.Integer(), nullable=False),
    sa.Column('revision', sa.Integer(), nullable=False),
    sa.Column('started_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('ended_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('complete', sa.Boolean(), nullable=False),
    sa.Column('bites_offered', sa.Integer(), nullable=False),
    sa.Column('bites_taken', sa.Integer(), nullable=False),
    sa.Column('assistance_level', sa.Integer(), nullable=True),
    sa.Column('calibration_changes', sa.Integer(), nullable=False),
    sa.Column('updated_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('details', sa.JSON().with_variant(postgresql.JSONB(), 'postgresql'), nullable=False),
    sa.Column('fhir_observation', sa.Text(), nullable=False),
    sa.Column('fhir_provenance', sa.Text(), nullable=False),
    sa.CheckConstraint('assistance_level BETWEEN 0 AND 4', name='summary_fsiii_level_0_4'),
    sa.ForeignKeyConstraint(['citizen_id'], ['citizens.id'], ondelete='RESTRICT'),
    sa.ForeignKeyConstraint(['device_id'], ['devices.id'], ondelete='RESTRICT'),
    sa.ForeignKeyConstraint(['meal_id'], ['meals.id'], ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('meal_id')
    )
    with op.batch_alter_table('meal_summaries', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_meal_summaries_citizen_id'), ['citizen_id'], unique=False)

    rebuild_meal_summaries(op.get_bind())


def downgrade() -> None:
    with op.batch_alter_table('meal_summaries', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_meal_summaries_citizen_id'))

    op.drop_table('meal_summaries')
