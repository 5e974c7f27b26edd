"""payloads.content moved to the last column (SQLite)

SQLite keeps a `zeroblob(n)` unwritten only when it is the last field of its record; anywhere else
it writes the n zero bytes at once, and a payload bound as a parameter is copied twice (the binding
and the record). With `content` last, the store inserts a large payload as a zeroblob and writes it
a slice at a time by incremental blob I/O, so storing a 48 MiB document no longer needs two more
copies of each payload in memory.

SQLite cannot move a column: the table is rebuilt (its rows copied into a new one, which then takes
its name), with foreign keys off for the rebuild, as SQLite's documentation prescribes, and checked
before the commit. On an installation with many gigabytes of payloads this takes a while and as
much free disk again. PostgreSQL is left as it is: its column order does not matter to COPY.

The downgrade leaves the order as it is: the earlier code names every column it writes.

Revision ID: a3b9d2e8c1f7
Revises: f7a1c9e2b3d4
Create Date: 2026-12-03 18:00:00.000000
"""

from collections.abc import Sequence

from alembic import op

revision: str = "a3b9d2e8c1f7"
down_revision: str | None = "f7a1c9e2b3d4"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

COLUMNS = "sha256, size, created_at, purged_at, content"
REBUILD = (
    "CREATE TABLE payloads_rebuilt ("
    " sha256 VARCHAR(64) NOT NULL, size INTEGER NOT NULL, created_at DATETIME NOT NULL,"
    " purged_at DATETIME, content BLOB NOT NULL,"
    " CONSTRAINT pk_payloads PRIMARY KEY (sha256))",
    f"INSERT INTO payloads_rebuilt ({COLUMNS}) SELECT {COLUMNS} FROM payloads",
    "DROP TABLE payloads",
    "ALTER TABLE payloads_rebuilt RENAME TO payloads",
)


def upgrade() -> None:
    if op.get_bind().dialect.name != "sqlite":
        return
    with op.get_context().autocommit_block():
        connection = op.get_bind()
        connection.exec_driver_sql("PRAGMA foreign_keys=OFF")  # not changeable inside a transaction
        try:
            connection.exec_driver_sql("BEGIN IMMEDIATE")
            try:
                for statement in REBUILD:
                    connection.exec_driver_sql(statement)
                broken = connection.exec_driver_sql("PRAGMA foreign_key_check").fetchall()
                if broken:
                    raise RuntimeError(f"rebuilding payloads would break foreign keys: {broken[:5]}")
            except BaseException:
                connection.exec_driver_sql("ROLLBACK")
                raise
            connection.exec_driver_sql("COMMIT")
        finally:
            connection.exec_driver_sql("PRAGMA foreign_keys=ON")


def downgrade() -> None:
    pass
