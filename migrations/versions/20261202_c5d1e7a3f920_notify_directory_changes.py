"""notify changes of credentials, agencies and routes (PostgreSQL), for the gateways' caches

Revision ID: c5d1e7a3f920
Revises: d4e5f6a7b8c9
Create Date: 2026-12-02 17:45:00.000000
"""

from collections.abc import Sequence

from alembic import op

revision: str = "c5d1e7a3f920"
down_revision: str | None = "d4e5f6a7b8c9"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# The tables every intake reads, and the columns of each whose change matters to a reader
# (credentials' last_used_at, written once a minute per credential, does not).
WATCHED = {
    "credentials": "INSERT OR DELETE OR TRUNCATE OR UPDATE OF role, agency_code, holder, token_hash, revoked_at, expires_at",
    "agencies": "INSERT OR DELETE OR TRUNCATE OR UPDATE",
    "routes": "INSERT OR DELETE OR TRUNCATE OR UPDATE",
}


def upgrade() -> None:
    if op.get_bind().dialect.name != "postgresql":
        return  # SQLite has no NOTIFY; there nothing is cached (app/kit/changes.py)
    op.execute(
        """CREATE FUNCTION lienthong_notify_change() RETURNS trigger LANGUAGE plpgsql AS $$
        BEGIN PERFORM pg_notify('lienthong_changes', TG_TABLE_NAME); RETURN NULL; END $$"""
    )
    for table, events in WATCHED.items():
        op.execute(
            f"CREATE TRIGGER {table}_notify_change AFTER {events} ON {table} "
            "FOR EACH STATEMENT EXECUTE FUNCTION lienthong_notify_change()"
        )


def downgrade() -> None:
    if op.get_bind().dialect.name != "postgresql":
        return
    for table in WATCHED:
        op.execute(f"DROP TRIGGER {table}_notify_change ON {table}")
    op.execute("DROP FUNCTION lienthong_notify_change()")
