"""vxp systems: strict mode (freshness window, no repeated signatures) and allowed source addresses

Revision ID: 7c3e1a9d5b42
Revises: e9cdc87af3d2
Create Date: 2026-12-02 09:00:00.000000
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "7c3e1a9d5b42"
down_revision: str | None = "e9cdc87af3d2"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("vxp_systems", schema=None) as batch_op:
        batch_op.add_column(sa.Column("strict", sa.Boolean(), server_default=sa.false(), nullable=False))
        batch_op.add_column(sa.Column("allowed_sources", sa.String(length=1000), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("vxp_systems", schema=None) as batch_op:
        batch_op.drop_column("allowed_sources")
        batch_op.drop_column("strict")
