"""the console: users, sessions, saved dialplan versions; call list indexes

Revision ID: 0002
Revises: 0001
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None

UTC = sa.DateTime(timezone=True)


def upgrade() -> None:
    op.create_index(op.f("ix_calls_started_at_call_id"), "calls", ["started_at", "call_id"])
    op.create_index(op.f("ix_calls_dialplan_started_at"), "calls", ["dialplan", "started_at"])
    op.create_index(op.f("ix_calls_outcome_started_at"), "calls", ["outcome", "started_at"])
    op.create_table(
        "console_users",
        sa.Column("name", sa.String(64), nullable=False),
        sa.Column("role", sa.String(16), nullable=False),
        sa.Column("password_hash", sa.String(255), nullable=False),
        sa.Column("failed_logins", sa.Integer(), server_default="0", nullable=False),
        sa.Column("locked_until", UTC, nullable=True),
        sa.Column("created_at", UTC, nullable=False),
        sa.CheckConstraint("role IN ('admin', 'qa')", name=op.f("ck_console_users_role")),
        sa.PrimaryKeyConstraint("name", name=op.f("pk_console_users")),
    )
    op.create_table(
        "console_sessions",
        sa.Column("token_sha256", sa.String(64), nullable=False),
        sa.Column("user_name", sa.String(64), nullable=False),
        sa.Column("csrf_token", sa.String(64), nullable=False),
        sa.Column("created_at", UTC, nullable=False),
        sa.Column("expires_at", UTC, nullable=False),
        sa.ForeignKeyConstraint(["user_name"], ["console_users.name"],
                                name=op.f("fk_console_sessions_user_name_console_users"),
                                ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("token_sha256", name=op.f("pk_console_sessions")),
    )
    op.create_table(
        "dialplan_versions",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("plan", sa.String(255), nullable=False),
        sa.Column("sha256", sa.String(64), nullable=False),
        sa.Column("content", sa.Text(), nullable=False),
        sa.Column("saved_by", sa.String(64), nullable=False),
        sa.Column("saved_at", UTC, nullable=False),
        sa.Column("note", sa.String(200), server_default="", nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_dialplan_versions")),
    )
    op.create_index(op.f("ix_dialplan_versions_plan_id"), "dialplan_versions", ["plan", "id"])


def downgrade() -> None:
    op.drop_index(op.f("ix_dialplan_versions_plan_id"), table_name="dialplan_versions")
    op.drop_table("dialplan_versions")
    op.drop_table("console_sessions")
    op.drop_table("console_users")
    op.drop_index(op.f("ix_calls_outcome_started_at"), table_name="calls")
    op.drop_index(op.f("ix_calls_dialplan_started_at"), table_name="calls")
    op.drop_index(op.f("ix_calls_started_at_call_id"), table_name="calls")
