"""raw copies and their audit log, persisted console replay jobs, disabled console users

Revision ID: 0003
Revises: 0002

Additive only: new tables and one new column with a default, so a 0002 database keeps every
row and an older reader of the tables it knows is unaffected.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None

UTC = sa.DateTime(timezone=True)


def upgrade() -> None:
    op.add_column("console_users", sa.Column("disabled", sa.Boolean(), nullable=False,
                                             server_default=sa.false()))
    op.create_table(
        "replay_jobs",
        sa.Column("id", sa.String(32), nullable=False),
        sa.Column("title", sa.String(500), nullable=False),
        sa.Column("call_ids", sa.JSON(), nullable=False),
        sa.Column("started_by", sa.String(64), nullable=False),
        sa.Column("state", sa.String(16), nullable=False),
        sa.Column("current", sa.String(100), nullable=True),
        sa.Column("results", sa.JSON(), nullable=False),
        sa.Column("elapsed_s", sa.Float(), server_default="0", nullable=False),
        sa.Column("created_at", UTC, nullable=False),
        sa.Column("finished_at", UTC, nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_replay_jobs")),
    )
    op.create_index(op.f("ix_replay_jobs_created_at"), "replay_jobs", ["created_at"])
    op.create_table(
        "raw_copies",
        sa.Column("call_id", sa.String(100), nullable=False),
        sa.Column("roles", sa.JSON(), nullable=False),
        sa.Column("recording_path", sa.String(1000), nullable=True),
        sa.ForeignKeyConstraint(["call_id"], ["calls.call_id"],
                                name=op.f("fk_raw_copies_call_id_calls"), ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("call_id", name=op.f("pk_raw_copies")),
    )
    op.create_table(
        "raw_turns",
        sa.Column("call_id", sa.String(100), nullable=False),
        sa.Column("idx", sa.Integer(), nullable=False),
        sa.Column("caller_text", sa.Text(), server_default="", nullable=False),
        sa.Column("bot_text", sa.Text(), server_default="", nullable=False),
        sa.ForeignKeyConstraint(["call_id"], ["calls.call_id"],
                                name=op.f("fk_raw_turns_call_id_calls"), ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("call_id", "idx", name=op.f("pk_raw_turns")),
    )
    op.create_table(
        "raw_views",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("at", UTC, nullable=False),
        sa.Column("user_name", sa.String(64), nullable=False),
        sa.Column("call_id", sa.String(100), nullable=False),
        sa.Column("what", sa.String(16), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_raw_views")),
    )
    op.create_index(op.f("ix_raw_views_at"), "raw_views", ["at"])


def downgrade() -> None:
    op.drop_index(op.f("ix_raw_views_at"), table_name="raw_views")
    op.drop_table("raw_views")
    op.drop_table("raw_turns")
    op.drop_table("raw_copies")
    op.drop_index(op.f("ix_replay_jobs_created_at"), table_name="replay_jobs")
    op.drop_table("replay_jobs")
    with op.batch_alter_table("console_users") as batch:
        batch.drop_column("disabled")
