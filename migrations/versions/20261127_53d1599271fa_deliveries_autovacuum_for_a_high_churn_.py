"""deliveries: autovacuum for a high-churn table

Every delivery row is updated three or four times within seconds (queued, sending, delivered or
retrying), and the relay's scan of the due index walks every dead row version until a vacuum
removes them: with PostgreSQL's defaults (20% of the table) that is rare on a large table. Vacuum
deliveries after about 1% of it changed. SQLite has no autovacuum settings: nothing to do there.

Revision ID: 53d1599271fa
Revises: ccc11eba56bd
Create Date: 2026-11-27 04:29:31.874428
"""

from collections.abc import Sequence

from alembic import op

revision: str = "53d1599271fa"
down_revision: str | None = "ccc11eba56bd"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        op.execute(
            "ALTER TABLE deliveries SET (autovacuum_vacuum_scale_factor = 0.01, "
            "autovacuum_vacuum_threshold = 1000, autovacuum_analyze_scale_factor = 0.02)"
        )


def downgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        op.execute(
            "ALTER TABLE deliveries RESET (autovacuum_vacuum_scale_factor, autovacuum_vacuum_threshold, "
            "autovacuum_analyze_scale_factor)"
        )
