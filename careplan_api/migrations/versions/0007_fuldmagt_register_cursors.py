"""fuldmagt register cursors: where the fuldmagt import got to in each register

Revision ID: 0007
Revises: 0006
Create Date: 2026-12-06

- `fuldmagt_register_cursors`: per register (a feed's URL or a file, keyed by the SHA-256 of its
  name) the cursor after the last import that stored its entries; `bidvis careplan
  import-fuldmagter` without `--since` asks from it.

The downgrade drops the table: the older import asks from `--since` only (from the start without it),
which imports again only what is already there (the import is idempotent by the register's ref).
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

import careplan_api.models

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "fuldmagt_register_cursors",
        sa.Column("source_sha256", sa.String(length=64), nullable=False),
        sa.Column("source", sa.String(length=2000), nullable=False),
        sa.Column("cursor", sa.String(length=200), nullable=False),
        sa.Column("updated_at", careplan_api.models.UTCDateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("source_sha256"),
    )


def downgrade() -> None:
    op.drop_table("fuldmagt_register_cursors")
