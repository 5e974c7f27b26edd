"""reports: documents' due date and steering type, holidays, paper counts, report dispatches, snapshots

The indicator reports (app.reports) need two values of the edXML header the hub did not keep
(DueDate, the processing deadline, and SteeringType, 1 for a directive), the working calendar's
exceptions (public holidays and worked weekend days), the operators' paper counts, and a record of
each report the hub sent as a document, and the per-agency facts of recent periods computed in the
background (snapshots), so reading a report does not recount a year of traffic.

Revision ID: 4b7e2c9d1a63
Revises: 5ec0a1b2c3d4
Create Date: 2026-12-02 09:00:00.000000
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "4b7e2c9d1a63"
down_revision: str | None = "5ec0a1b2c3d4"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

REVOKE = "business_type = 1 AND kind = 'edoc'"


def upgrade() -> None:
    with op.batch_alter_table("documents", schema=None) as batch_op:
        batch_op.add_column(sa.Column("due_date", sa.Date(), nullable=True))
        batch_op.add_column(sa.Column("steering_type", sa.Integer(), nullable=True))
        # Whether a document was revoked, for the reports: a small index over revokes only.
        batch_op.create_index(
            "ix_documents_revokes",
            ["related_id"],
            unique=False,
            sqlite_where=sa.text(REVOKE),
            postgresql_where=sa.text(REVOKE),
        )

    op.create_table(
        "holidays",
        sa.Column("day", sa.Date(), nullable=False),
        sa.Column("name", sa.String(length=200), nullable=False),
        sa.Column("working", sa.Boolean(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("day", name=op.f("pk_holidays")),
    )
    op.create_table(
        "paper_counts",
        sa.Column("agency_code", sa.String(length=35), nullable=False),
        sa.Column("month", sa.String(length=7), nullable=False),
        sa.Column("paper_sent", sa.Integer(), nullable=False),
        sa.Column("source", sa.String(length=300), nullable=False),
        sa.Column("entered_by", sa.String(length=200), nullable=False),
        sa.Column("entered_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("agency_code", "month", name=op.f("pk_paper_counts")),
    )
    op.create_table(
        "report_dispatches",
        sa.Column("period", sa.String(length=20), nullable=False),
        sa.Column("recipient_code", sa.String(length=35), nullable=False),
        sa.Column("number", sa.Integer(), nullable=False),
        sa.Column("document_id", sa.String(length=36), nullable=False),
        sa.Column("sent_by", sa.String(length=200), nullable=False),
        sa.Column("sent_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["document_id"], ["documents.id"], name=op.f("fk_report_dispatches_document_id_documents")
        ),
        sa.PrimaryKeyConstraint("period", "recipient_code", name=op.f("pk_report_dispatches")),
    )
    op.create_table(
        "report_snapshots",
        sa.Column("period", sa.String(length=30), nullable=False),
        sa.Column("as_of", sa.DateTime(timezone=True), nullable=False),
        sa.Column("facts", sa.JSON(), nullable=False),
        sa.Column("computed_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("period", name=op.f("pk_report_snapshots")),
    )


def downgrade() -> None:
    op.drop_table("report_snapshots")
    op.drop_table("report_dispatches")
    op.drop_table("paper_counts")
    op.drop_table("holidays")
    with op.batch_alter_table("documents", schema=None) as batch_op:
        batch_op.drop_index("ix_documents_revokes")
        batch_op.drop_column("steering_type")
        batch_op.drop_column("due_date")
