"""sessions.transport: websocket or webrtc

Revision ID: 0002_webrtc
Revises: 0001
Create Date: 2026-12-02
"""
from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0002_webrtc"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("sessions") as batch:
        batch.add_column(sa.Column("transport", sa.String(16), nullable=False,
                                   server_default="websocket"))


def downgrade() -> None:
    with op.batch_alter_table("sessions") as batch:
        batch.drop_column("transport")
