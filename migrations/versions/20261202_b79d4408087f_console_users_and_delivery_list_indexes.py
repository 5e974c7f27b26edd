"""console: users, and the indexes of the delivery list

Revision ID: b79d4408087f
Revises: 7c3e1a9d5b42
Create Date: 2026-12-02 09:00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "b79d4408087f"
down_revision: str | None = "7c3e1a9d5b42"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "users",
        sa.Column("id", sa.String(length=36), nullable=False),
        sa.Column("name", sa.String(length=100), nullable=False),
        sa.Column("role", sa.String(length=16), nullable=False),
        sa.Column("password_hash", sa.String(length=200), nullable=False),
        sa.Column("session_epoch", sa.Integer(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("password_changed_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("last_login_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("disabled_at", sa.DateTime(timezone=True), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_users")),
        sa.UniqueConstraint("name", name=op.f("uq_users_name")),
    )
    with op.batch_alter_table("deliveries", schema=None) as batch_op:
        batch_op.create_index("ix_deliveries_state_id", ["state", "id"], unique=False)
        batch_op.create_index("ix_deliveries_connector_id", ["connector", "id"], unique=False)
        batch_op.create_index("ix_deliveries_recipient_id", ["recipient_code", "id"], unique=False)
        batch_op.create_index("ix_deliveries_state_connector", ["state", "connector"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("deliveries", schema=None) as batch_op:
        batch_op.drop_index("ix_deliveries_state_connector")
        batch_op.drop_index("ix_deliveries_recipient_id")
        batch_op.drop_index("ix_deliveries_connector_id")
        batch_op.drop_index("ix_deliveries_state_id")
    op.drop_table("users")
