"""The call store's tables (SQLAlchemy Core). Alembic migrations in `ivr.store.migrations`
create and change them; `tests/test_store.py` checks that the two agree.

Times: `*_at` columns are wall-clock UTC; `t*` columns are seconds of call time (the event
clock, from the first event of the call), as in the call's JSONL event log.
"""

from __future__ import annotations

import enum

import sqlalchemy as sa

SCHEMA_VERSION = 1  # bump with each migration that changes what a reader can expect


class Outcome(str, enum.Enum):
    """How a call ended, from the caller's point of view (see `ivr.store.outcome`)."""

    RESOLVED = "resolved"
    TRANSFERRED = "transferred"
    ABANDONED = "abandoned"
    FAILED = "failed"


metadata = sa.MetaData(naming_convention={
    "ix": "ix_%(table_name)s_%(column_0_N_name)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
})

UTC = sa.DateTime(timezone=True)

calls = sa.Table(
    "calls", metadata,
    sa.Column("call_id", sa.String(100), primary_key=True),
    sa.Column("started_at", UTC, nullable=False),
    sa.Column("ended_at", UTC),
    sa.Column("duration_s", sa.Float),
    sa.Column("caller_number", sa.String(64), nullable=False, server_default=""),
    sa.Column("remote", sa.String(500)),           # SIP From URI and source address
    sa.Column("sip_call_id", sa.String(255)),
    sa.Column("worker", sa.String(64), nullable=False),
    sa.Column("dialplan", sa.String(500)),         # the plan file the call ran on
    sa.Column("dialplan_sha256", sa.String(64)),
    sa.Column("language", sa.String(16)),
    # NULL while the call is going on (or its worker died and no one has marked it yet)
    sa.Column("outcome", sa.Enum(Outcome, name="call_outcome", native_enum=False, length=16,
                                 values_callable=lambda e: [m.value for m in e],
                                 create_constraint=True)),
    sa.Column("end_reason", sa.String(64)),
    sa.Column("transfer_target", sa.String(500)),
    sa.Column("transfer_reason", sa.String(64)),
    sa.Column("transfer_status", sa.String(100)),  # final NOTIFY: "200 OK", "486 Busy Here"
    sa.Column("slots", sa.JSON),
    sa.Column("survey_answer", sa.String(64)),
    sa.Column("summary", sa.Text),
    sa.Column("ticket", sa.JSON),
    sa.Column("qa_scores", sa.JSON),
    sa.Column("recording_path", sa.String(1000)),
    sa.Column("events_path", sa.String(1000)),
    sa.Column("schema_version", sa.Integer, nullable=False),
    sa.Index(None, "started_at"),
    sa.Index(None, "worker", "outcome"),
    # the console's call list: keyset paging newest first, and its most used filters
    sa.Index(None, "started_at", "call_id"),
    sa.Index(None, "dialplan", "started_at"),
    sa.Index(None, "outcome", "started_at"),
)

turns = sa.Table(
    "turns", metadata,
    sa.Column("call_id", sa.String(100), sa.ForeignKey("calls.call_id", ondelete="CASCADE"),
              primary_key=True),
    sa.Column("idx", sa.Integer, primary_key=True),  # 0 = the greeting
    sa.Column("t_start", sa.Float, nullable=False),  # caller began speaking (or the decision)
    sa.Column("t_end", sa.Float),                    # the bot's last sentence of the turn ends
    sa.Column("caller_text", sa.Text, nullable=False, server_default=""),
    sa.Column("bot_text", sa.Text, nullable=False, server_default=""),
    sa.Column("node", sa.String(100)),
    sa.Column("decision", sa.String(64), nullable=False),  # the dialog step's reason
    sa.Column("actions", sa.JSON),
    sa.Column("evidence", sa.JSON),                  # scores, matched phrase, guard, entry...
    sa.Column("answer_source", sa.String(16)),       # approved | llm | None (nothing answered)
    sa.Column("latency_ms", sa.Float),               # end of caller speech -> first bot sentence
)

events = sa.Table(
    "events", metadata,
    sa.Column("call_id", sa.String(100), sa.ForeignKey("calls.call_id", ondelete="CASCADE"),
              primary_key=True),
    sa.Column("seq", sa.Integer, primary_key=True),
    sa.Column("t", sa.Float, nullable=False),
    sa.Column("at", UTC, nullable=False),
    sa.Column("kind", sa.String(64), nullable=False),
    sa.Column("data", sa.JSON, nullable=False),
    sa.Index(None, "kind"),
)


# ---- the console (`ivr.web`): its users, their sessions, saved dialplan versions ----------------
console_users = sa.Table(
    "console_users", metadata,
    sa.Column("name", sa.String(64), primary_key=True),
    sa.Column("role", sa.String(16), nullable=False),          # admin | qa
    sa.Column("password_hash", sa.String(255), nullable=False),  # argon2id, PHC string
    sa.Column("failed_logins", sa.Integer, nullable=False, server_default="0"),
    sa.Column("locked_until", UTC),
    sa.Column("created_at", UTC, nullable=False),
    # a disabled user cannot log in and has no live session (`ivr console user disable`)
    sa.Column("disabled", sa.Boolean, nullable=False, server_default=sa.false()),
    sa.CheckConstraint("role IN ('admin', 'qa')", name="role"),
)

console_sessions = sa.Table(
    "console_sessions", metadata,
    sa.Column("token_sha256", sa.String(64), primary_key=True),  # the cookie's hash, not itself
    sa.Column("user_name", sa.String(64),
              sa.ForeignKey("console_users.name", ondelete="CASCADE"), nullable=False),
    sa.Column("csrf_token", sa.String(64), nullable=False),
    sa.Column("created_at", UTC, nullable=False),
    sa.Column("expires_at", UTC, nullable=False),
)

dialplan_versions = sa.Table(
    "dialplan_versions", metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("plan", sa.String(255), nullable=False),     # file name in the dialplans folder
    sa.Column("sha256", sa.String(64), nullable=False),    # of the plan file's bytes
    sa.Column("content", sa.Text, nullable=False),
    sa.Column("saved_by", sa.String(64), nullable=False),
    sa.Column("saved_at", UTC, nullable=False),
    sa.Column("note", sa.String(200), nullable=False, server_default=""),
    sa.Index(None, "plan", "id"),
)

replay_jobs = sa.Table(
    "replay_jobs", metadata,
    sa.Column("id", sa.String(32), primary_key=True),
    sa.Column("title", sa.String(500), nullable=False),      # "call X" or "filter outcome=..."
    sa.Column("call_ids", sa.JSON, nullable=False),           # the calls, in replay order
    sa.Column("started_by", sa.String(64), nullable=False),
    sa.Column("state", sa.String(16), nullable=False),        # queued|running|done|interrupted
    sa.Column("current", sa.String(100)),                     # the call being replayed now
    sa.Column("results", sa.JSON, nullable=False),            # one per call replayed so far
    sa.Column("elapsed_s", sa.Float, nullable=False, server_default="0"),
    sa.Column("created_at", UTC, nullable=False),
    sa.Column("finished_at", UTC),
    sa.Index(None, "created_at"),
)


# ---- raw copies (`redaction.raw_copy` in a plan): what was said, kept apart, by role --------
raw_copies = sa.Table(
    "raw_copies", metadata,
    sa.Column("call_id", sa.String(100), sa.ForeignKey("calls.call_id", ondelete="CASCADE"),
              primary_key=True),
    sa.Column("roles", sa.JSON, nullable=False),              # console roles that may see it
    sa.Column("recording_path", sa.String(1000)),             # the unredacted WAV (mode 0600)
)

raw_turns = sa.Table(
    "raw_turns", metadata,
    sa.Column("call_id", sa.String(100), sa.ForeignKey("calls.call_id", ondelete="CASCADE"),
              primary_key=True),
    sa.Column("idx", sa.Integer, primary_key=True),           # as `turns.idx`
    sa.Column("caller_text", sa.Text, nullable=False, server_default=""),
    sa.Column("bot_text", sa.Text, nullable=False, server_default=""),
)

raw_views = sa.Table(  # the audit log: no foreign keys, it outlives users and purged calls
    "raw_views", metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("at", UTC, nullable=False),
    sa.Column("user_name", sa.String(64), nullable=False),
    sa.Column("call_id", sa.String(100), nullable=False),
    sa.Column("what", sa.String(16), nullable=False),         # text | audio
    sa.Index(None, "at"),
)
