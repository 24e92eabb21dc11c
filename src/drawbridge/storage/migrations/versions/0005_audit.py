"""Audit trail: hash-chained events, the head of each stream, and the anchors retention purges leave.

Revision ID: 0005
Revises: 0004
"""

import sqlalchemy as sa
from alembic import op

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "audit_events",
        sa.Column("stream", sa.String(length=64), nullable=False),
        sa.Column("seq", sa.BigInteger(), autoincrement=False, nullable=False),
        sa.Column("kind", sa.String(length=64), nullable=False),
        sa.Column("occurred_at", sa.Float(), nullable=False),
        sa.Column("user_id", sa.String(length=255), nullable=True),
        sa.Column("username", sa.String(length=255), nullable=True),
        sa.Column("client_id", sa.String(length=512), nullable=True),
        sa.Column("client_kind", sa.String(length=32), nullable=True),
        sa.Column("session_id", sa.String(length=255), nullable=True),
        sa.Column("target", sa.String(length=512), nullable=True),
        sa.Column("arguments", sa.JSON(none_as_null=True), nullable=True),
        sa.Column("decision", sa.String(length=16), nullable=True),
        sa.Column("reason", sa.String(length=1024), nullable=True),
        sa.Column("outcome", sa.String(length=16), nullable=False),
        sa.Column("result_digest", sa.String(length=64), nullable=True),
        sa.Column("result_size", sa.BigInteger(), nullable=True),
        sa.Column("latency_ms", sa.Float(), nullable=True),
        sa.Column("trace_id", sa.String(length=64), nullable=True),
        sa.Column("detail", sa.JSON(), nullable=False),
        sa.Column("prev_hash", sa.String(length=64), nullable=False),
        sa.Column("hash", sa.String(length=64), nullable=False),
        sa.PrimaryKeyConstraint("stream", "seq", name=op.f("pk_audit_events")),
    )
    op.create_index("ix_audit_events_occurred_at", "audit_events", ["occurred_at"], unique=False)
    op.create_index("ix_audit_events_user_id", "audit_events", ["user_id"], unique=False)
    op.create_index("ix_audit_events_username", "audit_events", ["username"], unique=False)
    op.create_index("ix_audit_events_client_id", "audit_events", ["client_id"], unique=False)
    op.create_index("ix_audit_events_target", "audit_events", ["target"], unique=False)
    op.create_table(
        "audit_heads",
        sa.Column("stream", sa.String(length=64), nullable=False),
        sa.Column("seq", sa.BigInteger(), nullable=False),
        sa.Column("hash", sa.String(length=64), nullable=False),
        sa.PrimaryKeyConstraint("stream", name=op.f("pk_audit_heads")),
    )
    op.create_table(
        "audit_anchors",
        sa.Column("stream", sa.String(length=64), nullable=False),
        sa.Column("seq", sa.BigInteger(), autoincrement=False, nullable=False),
        sa.Column("hash", sa.String(length=64), nullable=False),
        sa.Column("purged_at", sa.Float(), nullable=False),
        sa.Column("older_than", sa.Float(), nullable=False),
        sa.Column("purged_rows", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint("stream", "seq", name=op.f("pk_audit_anchors")),
    )


def downgrade() -> None:
    op.drop_table("audit_anchors")
    op.drop_table("audit_heads")
    op.drop_index("ix_audit_events_target", table_name="audit_events")
    op.drop_index("ix_audit_events_client_id", table_name="audit_events")
    op.drop_index("ix_audit_events_username", table_name="audit_events")
    op.drop_index("ix_audit_events_user_id", table_name="audit_events")
    op.drop_index("ix_audit_events_occurred_at", table_name="audit_events")
    op.drop_table("audit_events")
