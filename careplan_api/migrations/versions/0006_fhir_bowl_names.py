"""FHIR bowl names as the panel says them

Revision ID: 0006
Revises: 0005
Create Date: 2026-12-06

The meal Observation's `bowl-bites-taken` components now name a bowl as the robot's panel does
(`plain_words.bowl`: the robot's bowl 0 is "Skål 1", a named bowl keeps its name) instead of
"Skål {bowl}" ("Skål 0", "Skål kartoffelmos"), which changes the stored derived form
(`meal_summary_store.DERIVED_VERSION` 1 -> 2). No table changes.

- upgrade: every stored meal is summarised and mapped again from its events
  (`rebuild_meal_summaries`, the service's own code), so no row of the old form stays behind.
- downgrade: each row of form 2 gets back exactly the Observation that form 1 wrote, with
  `derived_version` 1: only the bowl components' `code.text` differ between the two forms, and the
  row's `details` still holds the bowls' names in the components' order (the old text is frozen
  here, not taken from the service's code). A row it cannot turn back (its bowl components and
  bowls do not pair up, or it is of another form) is left as it is: the older service does not use
  a row of another `derived_version`, it summarises that meal from its events until ingest rewrites
  the row.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any

import orjson
import sqlalchemy as sa
from alembic import op

from careplan_api.meal_summary_store import rebuild_meal_summaries

revision = '0006'
down_revision = '0005'
branch_labels = None
depends_on = None

FORM_BEFORE = 1  # derived_version of the rows this migration's downgrade writes
FORM_AFTER = 2  # derived_version of the rows it turns back
CHUNK_ROWS = 500

_summaries = sa.table(
    'meal_summaries',
    sa.column('meal_id', sa.Uuid()),
    sa.column('derived_version', sa.Integer()),
    sa.column('revision', sa.Integer()),
    sa.column('details', sa.JSON()),
    sa.column('fhir_observation', sa.Text()),
    sa.column('updated_at', sa.DateTime(timezone=True)),
)


def upgrade() -> None:
    rebuild_meal_summaries(op.get_bind())


def observation_before(observation: str, bowls: Sequence[Sequence[Any]]) -> str | None:
    """The form-1 text of a form-2 Observation, given the row's `details["bowls"]` ([name, offered,
    taken], in the components' order); None when its bowl components and the bowls do not pair up.
    orjson writes what it reads back byte for byte (key order kept, shortest float text)."""
    resource = orjson.loads(observation)
    components = [
        c for c in resource.get('component', ()) if c['code']['coding'][0]['code'] == 'bowl-bites-taken'
    ]
    if len(components) != len(bowls):
        return None
    pairs = list(zip(components, bowls, strict=True))
    if any(component['valueInteger'] != taken for component, (_name, _offered, taken) in pairs):
        return None
    for component, (name, _offered, _taken) in pairs:
        component['code']['text'] = f'Skål {name}'  # form 1's text, frozen
    return orjson.dumps(resource).decode()


def downgrade() -> None:
    connection = op.get_bind()
    s = _summaries.c
    meal_ids = connection.execute(
        sa.select(s.meal_id).where(s.derived_version == FORM_AFTER).order_by(s.meal_id)
    ).scalars().all()
    turn_back = (
        sa.update(_summaries)
        .where(s.meal_id == sa.bindparam('b_meal_id'), s.derived_version == FORM_AFTER)
        .values(
            fhir_observation=sa.bindparam('b_observation'),
            derived_version=FORM_BEFORE,
            revision=s.revision + 1,  # a reader's cache keyed by (meal, revision) reads it again
            updated_at=datetime.now(UTC),
        )
    )
    for start in range(0, len(meal_ids), CHUNK_ROWS):
        rows = connection.execute(
            sa.select(s.meal_id, sa.cast(s.details, sa.Text), s.fhir_observation).where(
                s.meal_id.in_(meal_ids[start : start + CHUNK_ROWS])
            )
        ).all()
        updates = []
        for meal_id, details, observation in rows:
            try:
                before = observation_before(observation, orjson.loads(details)['bowls'])
            except (KeyError, TypeError, ValueError, IndexError):  # a damaged row: left for the events to tell
                before = None
            if before is not None:
                updates.append({'b_meal_id': meal_id, 'b_observation': before})
        if updates:
            connection.execute(turn_back, updates)
