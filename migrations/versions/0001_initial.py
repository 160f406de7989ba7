"""initial schema: recorders, sessions, events

Revision ID: 0001
Revises:
Create Date: 2026-11-26
"""
from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "recorders",
        sa.Column("id", sa.String(26), nullable=False),
        sa.Column("host", sa.String(255), nullable=False),
        sa.Column("pid", sa.Integer(), nullable=False),
        sa.Column("started_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("heartbeat_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("stopped_at", sa.DateTime(timezone=True), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_recorders")),
    )
    op.create_table(
        "sessions",
        sa.Column("id", sa.String(26), nullable=False),
        sa.Column("started_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("ended_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("upstream_url", sa.Text(), nullable=True),
        sa.Column("path", sa.Text(), nullable=True),
        sa.Column("model", sa.String(255), nullable=True),
        sa.Column("client_addr", sa.String(255), nullable=True),
        sa.Column("flavour", sa.String(8), nullable=False),
        sa.Column("headers_json", sa.Text(), nullable=True),
        sa.Column("subprotocols_json", sa.Text(), nullable=True),
        sa.Column("subprotocol", sa.String(255), nullable=True),
        sa.Column("close_code", sa.Integer(), nullable=True),
        sa.Column("close_reason", sa.Text(), nullable=True),
        sa.Column("closed_by", sa.String(16), nullable=True),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("status_reason", sa.Text(), nullable=True),
        sa.Column("label", sa.String(255), nullable=True),
        sa.Column("replay_of", sa.String(26), nullable=True),
        sa.Column("recorder_id", sa.String(26), nullable=True),
        sa.Column("client_events", sa.Integer(), nullable=False),
        sa.Column("server_events", sa.Integer(), nullable=False),
        sa.Column("client_bytes", sa.BigInteger(), nullable=False),
        sa.Column("server_bytes", sa.BigInteger(), nullable=False),
        sa.Column("input_audio_ms", sa.Float(), nullable=False),
        sa.Column("output_audio_ms", sa.Float(), nullable=False),
        sa.Column("lost_frames", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_sessions")),
    )
    op.create_index(op.f("ix_sessions_started_at"), "sessions", ["started_at"])
    op.create_index(op.f("ix_sessions_status"), "sessions", ["status"])
    op.create_index(op.f("ix_sessions_label"), "sessions", ["label"])
    op.create_table(
        "events",
        sa.Column("session_id", sa.String(26), nullable=False),
        sa.Column("seq", sa.Integer(), nullable=False),
        sa.Column("direction", sa.String(8), nullable=False),
        sa.Column("t_ns", sa.BigInteger(), nullable=False),
        sa.Column("wall_ns", sa.BigInteger(), nullable=False),
        sa.Column("opcode", sa.String(8), nullable=False),
        sa.Column("size_bytes", sa.Integer(), nullable=False),
        sa.Column("data", sa.LargeBinary(), nullable=False),
        sa.Column("type", sa.String(255), nullable=True),
        sa.Column("event_id", sa.String(255), nullable=True),
        sa.Column("item_id", sa.String(255), nullable=True),
        sa.Column("response_id", sa.String(255), nullable=True),
        sa.Column("call_id", sa.String(255), nullable=True),
        sa.Column("parse_error", sa.Text(), nullable=True),
        sa.Column("delivered", sa.Boolean(), nullable=False),
        sa.Column("audio_bytes", sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(
            ["session_id"], ["sessions.id"],
            name=op.f("fk_events_session_id_sessions"), ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("session_id", "seq", name=op.f("pk_events")),
    )
    op.create_index("ix_events_session_type", "events", ["session_id", "type"])


def downgrade() -> None:
    op.drop_index("ix_events_session_type", table_name="events")
    op.drop_table("events")
    op.drop_index(op.f("ix_sessions_label"), table_name="sessions")
    op.drop_index(op.f("ix_sessions_status"), table_name="sessions")
    op.drop_index(op.f("ix_sessions_started_at"), table_name="sessions")
    op.drop_table("sessions")
    op.drop_table("recorders")
