"""calls, turns and events

Revision ID: 0001
Revises:
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None

UTC = sa.DateTime(timezone=True)


def upgrade() -> None:
    op.create_table(
        "calls",
        sa.Column("call_id", sa.String(100), nullable=False),
        sa.Column("started_at", UTC, nullable=False),
        sa.Column("ended_at", UTC, nullable=True),
        sa.Column("duration_s", sa.Float(), nullable=True),
        sa.Column("caller_number", sa.String(64), server_default="", nullable=False),
        sa.Column("remote", sa.String(500), nullable=True),
        sa.Column("sip_call_id", sa.String(255), nullable=True),
        sa.Column("worker", sa.String(64), nullable=False),
        sa.Column("dialplan", sa.String(500), nullable=True),
        sa.Column("dialplan_sha256", sa.String(64), nullable=True),
        sa.Column("language", sa.String(16), nullable=True),
        sa.Column("outcome", sa.Enum("resolved", "transferred", "abandoned", "failed",
                                     name="call_outcome", native_enum=False,
                                     create_constraint=True, length=16), nullable=True),
        sa.Column("end_reason", sa.String(64), nullable=True),
        sa.Column("transfer_target", sa.String(500), nullable=True),
        sa.Column("transfer_reason", sa.String(64), nullable=True),
        sa.Column("transfer_status", sa.String(100), nullable=True),
        sa.Column("slots", sa.JSON(), nullable=True),
        sa.Column("survey_answer", sa.String(64), nullable=True),
        sa.Column("summary", sa.Text(), nullable=True),
        sa.Column("ticket", sa.JSON(), nullable=True),
        sa.Column("qa_scores", sa.JSON(), nullable=True),
        sa.Column("recording_path", sa.String(1000), nullable=True),
        sa.Column("events_path", sa.String(1000), nullable=True),
        sa.Column("schema_version", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint("call_id", name=op.f("pk_calls")),
    )
    op.create_index(op.f("ix_calls_started_at"), "calls", ["started_at"])
    op.create_index(op.f("ix_calls_worker_outcome"), "calls", ["worker", "outcome"])
    op.create_table(
        "events",
        sa.Column("call_id", sa.String(100), nullable=False),
        sa.Column("seq", sa.Integer(), nullable=False),
        sa.Column("t", sa.Float(), nullable=False),
        sa.Column("at", UTC, nullable=False),
        sa.Column("kind", sa.String(64), nullable=False),
        sa.Column("data", sa.JSON(), nullable=False),
        sa.ForeignKeyConstraint(["call_id"], ["calls.call_id"],
                                name=op.f("fk_events_call_id_calls"), ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("call_id", "seq", name=op.f("pk_events")),
    )
    op.create_index(op.f("ix_events_kind"), "events", ["kind"])
    op.create_table(
        "turns",
        sa.Column("call_id", sa.String(100), nullable=False),
        sa.Column("idx", sa.Integer(), nullable=False),
        sa.Column("t_start", sa.Float(), nullable=False),
        sa.Column("t_end", sa.Float(), nullable=True),
        sa.Column("caller_text", sa.Text(), server_default="", nullable=False),
        sa.Column("bot_text", sa.Text(), server_default="", nullable=False),
        sa.Column("node", sa.String(100), nullable=True),
        sa.Column("decision", sa.String(64), nullable=False),
        sa.Column("actions", sa.JSON(), nullable=True),
        sa.Column("evidence", sa.JSON(), nullable=True),
        sa.Column("answer_source", sa.String(16), nullable=True),
        sa.Column("latency_ms", sa.Float(), nullable=True),
        sa.ForeignKeyConstraint(["call_id"], ["calls.call_id"],
                                name=op.f("fk_turns_call_id_calls"), ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("call_id", "idx", name=op.f("pk_turns")),
    )


def downgrade() -> None:
    op.drop_table("turns")
    op.drop_index(op.f("ix_events_kind"), table_name="events")
    op.drop_table("events")
    op.drop_index(op.f("ix_calls_worker_outcome"), table_name="calls")
    op.drop_index(op.f("ix_calls_started_at"), table_name="calls")
    op.drop_table("calls")
