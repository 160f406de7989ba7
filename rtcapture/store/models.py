"""Typed ORM models: the schema Alembic revisions create and the store reads."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import (
    BigInteger,
    Boolean,
    DateTime,
    Float,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    MetaData,
    String,
    Text,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

NAMING_CONVENTION = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING_CONVENTION)


class Recorder(Base):
    """A running (or past) recorder process, for liveness checks."""

    __tablename__ = "recorders"

    id: Mapped[str] = mapped_column(String(26), primary_key=True)
    host: Mapped[str] = mapped_column(String(255))
    pid: Mapped[int] = mapped_column(Integer)
    started_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    heartbeat_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    stopped_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))


class Session(Base):
    """One recorded WebSocket session (secrets redacted)."""

    __tablename__ = "sessions"

    id: Mapped[str] = mapped_column(String(26), primary_key=True)
    started_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), index=True)
    ended_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    upstream_url: Mapped[str | None] = mapped_column(Text)
    path: Mapped[str | None] = mapped_column(Text)
    model: Mapped[str | None] = mapped_column(String(255))
    client_addr: Mapped[str | None] = mapped_column(String(255))
    flavour: Mapped[str] = mapped_column(String(8), default="ga")
    headers_json: Mapped[str | None] = mapped_column(Text)
    """Handshake request headers as a JSON list of [name, value], secrets redacted."""
    subprotocols_json: Mapped[str | None] = mapped_column(Text)
    subprotocol: Mapped[str | None] = mapped_column(String(255))
    close_code: Mapped[int | None] = mapped_column(Integer)
    close_reason: Mapped[str | None] = mapped_column(Text)
    closed_by: Mapped[str | None] = mapped_column(String(16))
    """Which side closed first: ``client``, ``server`` or ``recorder``."""
    status: Mapped[str] = mapped_column(String(16), index=True)
    status_reason: Mapped[str | None] = mapped_column(Text)
    label: Mapped[str | None] = mapped_column(String(255), index=True)
    replay_of: Mapped[str | None] = mapped_column(String(26))
    recorder_id: Mapped[str | None] = mapped_column(String(26))
    client_events: Mapped[int] = mapped_column(Integer, default=0)
    server_events: Mapped[int] = mapped_column(Integer, default=0)
    client_bytes: Mapped[int] = mapped_column(BigInteger, default=0)
    server_bytes: Mapped[int] = mapped_column(BigInteger, default=0)
    input_audio_ms: Mapped[float] = mapped_column(Float, default=0.0)
    output_audio_ms: Mapped[float] = mapped_column(Float, default=0.0)
    lost_frames: Mapped[int] = mapped_column(Integer, default=0)
    transport: Mapped[str] = mapped_column(String(16), default="websocket",
                                           server_default="websocket")
    """``websocket``, or ``webrtc`` (data-channel messages as frames, track audio as media)."""


class Event(Base):
    """One WebSocket message, stored byte-exact with its parsed fields."""

    __tablename__ = "events"

    session_id: Mapped[str] = mapped_column(
        String(26), ForeignKey("sessions.id", ondelete="CASCADE"), primary_key=True
    )
    seq: Mapped[int] = mapped_column(Integer, primary_key=True)
    direction: Mapped[str] = mapped_column(String(8))
    t_ns: Mapped[int] = mapped_column(BigInteger)
    wall_ns: Mapped[int] = mapped_column(BigInteger)
    opcode: Mapped[str] = mapped_column(String(8))
    size_bytes: Mapped[int] = mapped_column(Integer)
    data: Mapped[bytes] = mapped_column(LargeBinary)
    type: Mapped[str | None] = mapped_column(String(255))
    event_id: Mapped[str | None] = mapped_column(String(255))
    item_id: Mapped[str | None] = mapped_column(String(255))
    response_id: Mapped[str | None] = mapped_column(String(255))
    call_id: Mapped[str | None] = mapped_column(String(255))
    parse_error: Mapped[str | None] = mapped_column(Text)
    delivered: Mapped[bool] = mapped_column(Boolean, default=True)
    audio_bytes: Mapped[int] = mapped_column(Integer, default=0)

    __table_args__ = (Index("ix_events_session_type", "session_id", "type"),)
