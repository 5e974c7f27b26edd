"""transparency log: leaves, nodes, checkpoints, log key, timestamps; payload retention

Revision ID: 5b1c0a7e4f21
Revises: 7c4e2b91d0a5
Create Date: 2026-12-02 09:00:00.000000
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "5b1c0a7e4f21"
down_revision: str | None = "7c4e2b91d0a5"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# The tree is as append-only as the logs it covers (same triggers as exchange_log and admin_log).
APPEND_ONLY = ("log_leaves", "log_nodes", "log_checkpoints")


def _forbid_changes(table: str) -> None:
    if op.get_bind().dialect.name == "postgresql":
        op.execute(
            f"""CREATE FUNCTION {table}_append_only() RETURNS trigger LANGUAGE plpgsql AS $$
            BEGIN RAISE EXCEPTION '{table} is append-only'; END $$"""
        )
        op.execute(
            f"CREATE TRIGGER {table}_append_only BEFORE UPDATE OR DELETE ON {table} "
            f"FOR EACH ROW EXECUTE FUNCTION {table}_append_only()"
        )
    else:
        for verb in ("UPDATE", "DELETE"):
            op.execute(
                f"CREATE TRIGGER {table}_no_{verb.lower()} BEFORE {verb} ON {table} "
                f"BEGIN SELECT RAISE(ABORT, '{table} is append-only'); END"
            )


def _allow_changes(table: str) -> None:
    if op.get_bind().dialect.name == "postgresql":
        op.execute(f"DROP TRIGGER {table}_append_only ON {table}")
        op.execute(f"DROP FUNCTION {table}_append_only()")
    else:
        for verb in ("update", "delete"):
            op.execute(f"DROP TRIGGER {table}_no_{verb}")


def upgrade() -> None:
    op.create_table(
        "log_leaves",
        sa.Column("leaf_index", sa.BigInteger(), autoincrement=False, nullable=False),
        sa.Column("source", sa.String(length=16), nullable=False),
        sa.Column("entry_id", sa.BigInteger(), nullable=False),
        sa.Column("leaf_hash", sa.LargeBinary(), nullable=False),
        sa.Column("integrated_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("leaf_index", name=op.f("pk_log_leaves")),
        sa.UniqueConstraint("source", "entry_id", name=op.f("uq_log_leaves_source")),
    )
    op.create_table(
        "log_nodes",
        sa.Column("level", sa.Integer(), autoincrement=False, nullable=False),
        sa.Column("node_index", sa.BigInteger(), autoincrement=False, nullable=False),
        sa.Column("hash", sa.LargeBinary(), nullable=False),
        sa.PrimaryKeyConstraint("level", "node_index", name=op.f("pk_log_nodes")),
    )
    op.create_table(
        "log_keys",
        sa.Column("id", sa.String(length=36), nullable=False),
        sa.Column("name", sa.String(length=200), nullable=False),
        sa.Column("public_key", sa.LargeBinary(), nullable=False),
        sa.Column("private_key_encrypted", sa.LargeBinary(), nullable=False),
        sa.Column("active", sa.Boolean(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_log_keys")),
    )
    with op.batch_alter_table("log_keys", schema=None) as batch_op:
        batch_op.create_index(
            "uq_log_keys_active",
            ["active"],
            unique=True,
            sqlite_where=sa.text("active"),
            postgresql_where=sa.text("active"),
        )
    op.create_table(
        "log_checkpoints",
        sa.Column("size", sa.BigInteger(), autoincrement=False, nullable=False),
        sa.Column("root_hash", sa.LargeBinary(), nullable=False),
        sa.Column("note", sa.Text(), nullable=False),
        sa.Column("key_id", sa.String(length=36), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("size", name=op.f("pk_log_checkpoints")),
    )
    with op.batch_alter_table("log_checkpoints", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_log_checkpoints_created_at"), ["created_at"], unique=False)
    op.create_table(
        "log_timestamps",
        sa.Column("checkpoint_size", sa.BigInteger(), autoincrement=False, nullable=False),
        sa.Column("token", sa.LargeBinary(), nullable=False),
        sa.Column("tsa_url", sa.String(length=500), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["checkpoint_size"],
            ["log_checkpoints.size"],
            name=op.f("fk_log_timestamps_checkpoint_size_log_checkpoints"),
        ),
        sa.PrimaryKeyConstraint("checkpoint_size", name=op.f("pk_log_timestamps")),
    )
    with op.batch_alter_table("payloads", schema=None) as batch_op:
        batch_op.add_column(sa.Column("purged_at", sa.DateTime(timezone=True), nullable=True))
    for table in APPEND_ONLY:
        _forbid_changes(table)


def downgrade() -> None:
    for table in APPEND_ONLY:
        _allow_changes(table)
    with op.batch_alter_table("payloads", schema=None) as batch_op:
        batch_op.drop_column("purged_at")
    op.drop_table("log_timestamps")
    with op.batch_alter_table("log_checkpoints", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_log_checkpoints_created_at"))
    op.drop_table("log_checkpoints")
    with op.batch_alter_table("log_keys", schema=None) as batch_op:
        batch_op.drop_index("uq_log_keys_active")
    op.drop_table("log_keys")
    op.drop_table("log_nodes")
    op.drop_table("log_leaves")
