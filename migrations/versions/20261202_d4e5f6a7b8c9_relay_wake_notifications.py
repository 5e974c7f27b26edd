"""deliveries: PostgreSQL tells the relays when something became due

The relays run in the workers (`lienthong worker`), not in the process that stores a document, so
the database wakes them: a new delivery (intake, a status message, the axis poller) or a lifted
pause sends `NOTIFY lienthong_due` when its transaction commits, and every relay LISTENs on that
channel (app/delivery/relay.py). Statement-level triggers: one notification per statement, whatever
the number of rows, and PostgreSQL folds identical ones of one transaction into one. SQLite (the
embedded default) needs none: its relay runs in the gateway and is woken directly.

Revision ID: d4e5f6a7b8c9
Revises: 5f3c2a9d7b41
Create Date: 2026-12-02 18:00:00.000000
"""

from collections.abc import Sequence

from alembic import op

revision: str = "d4e5f6a7b8c9"
down_revision: str | None = "5f3c2a9d7b41"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

TRIGGERS = {
    "deliveries_due_on_insert": "INSERT ON deliveries",
    "pauses_due_on_delete": "DELETE ON connector_pauses",
}


def upgrade() -> None:
    if op.get_bind().dialect.name != "postgresql":
        return
    op.execute(
        "CREATE FUNCTION lienthong_notify_due() RETURNS trigger LANGUAGE plpgsql AS "
        "$$ BEGIN PERFORM pg_notify('lienthong_due', ''); RETURN NULL; END $$"
    )
    for name, event in TRIGGERS.items():
        op.execute(
            f"CREATE TRIGGER {name} AFTER {event} FOR EACH STATEMENT EXECUTE FUNCTION lienthong_notify_due()"
        )


def downgrade() -> None:
    if op.get_bind().dialect.name != "postgresql":
        return
    for name, event in TRIGGERS.items():
        op.execute(f"DROP TRIGGER {name} ON {event.split(' ON ')[1]}")
    op.execute("DROP FUNCTION lienthong_notify_due()")
