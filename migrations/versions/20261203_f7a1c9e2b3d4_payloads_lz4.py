"""payloads compressed with lz4 instead of pglz (PostgreSQL, where the server has lz4)

pglz took 110 µs to store a 6 KB edXML, lz4 49 µs (PostgreSQL 15 here), for 11% more bytes on
disk: the store runs for every document, its payloads are read back a handful of times. Rows
already stored keep their compression; those stored from now on use lz4.

Revision ID: f7a1c9e2b3d4
Revises: c5d1e7a3f920
Create Date: 2026-12-03 12:00:00.000000
"""

from collections.abc import Sequence

from alembic import op

revision: str = "f7a1c9e2b3d4"
down_revision: str | None = "c5d1e7a3f920"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

HAS_LZ4 = (
    "SELECT 'lz4' = ANY(enumvals) FROM pg_settings WHERE name = 'default_toast_compression'"
)


def upgrade() -> None:
    bind = op.get_bind()
    if bind.dialect.name != "postgresql" or not bind.exec_driver_sql(HAS_LZ4).scalar():
        return  # SQLite does not compress; a server built without lz4 keeps pglz
    op.execute("ALTER TABLE payloads ALTER COLUMN content SET COMPRESSION lz4")


def downgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        op.execute("ALTER TABLE payloads ALTER COLUMN content SET COMPRESSION default")
