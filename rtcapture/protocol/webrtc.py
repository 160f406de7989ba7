"""Realtime over WebRTC: the call-creation request, the data channel, WebRTC-only events.

A browser POSTs its SDP offer to ``<base>/v1/realtime/calls`` (body ``application/sdp``, or
``multipart/form-data`` with an ``sdp`` part and a ``session`` JSON part), authorised with
``Authorization: Bearer ek_...``; the answer is ``201`` with the SDP answer as body and the
call's URL in ``Location`` (``/v1/realtime/calls/rtc_...``). Events then travel as JSON
text messages on the data channel ``oai-events``, audio as one Opus track each way; the
server never sends audio deltas on the channel, and adds ``output_audio_buffer.*`` events.
"""

from __future__ import annotations

import email.parser
import email.policy
import json
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit, urlunsplit

from .events import INPUT_AUDIO_APPEND, names_for

CALLS_SUFFIX = "/realtime/calls"
"""The call-creation path ends with this (``/v1/realtime/calls``, Azure ``/openai/v1/...``)."""
DATA_CHANNEL = "oai-events"
SDP_TYPE = "application/sdp"
OUTPUT_AUDIO_BUFFER_STARTED = "output_audio_buffer.started"
OUTPUT_AUDIO_BUFFER_STOPPED = "output_audio_buffer.stopped"
OUTPUT_AUDIO_BUFFER_CLEARED = "output_audio_buffer.cleared"
MEDIA_RATE = 24000
OUTPUT_AUDIO_DELTA = names_for("ga").audio_delta
"""Media rows carry PCM16 mono at this rate, the Realtime API's default format."""


class CallRequestError(ValueError):
    """A call-creation request the gateway cannot read (answered with HTTP 400)."""


@dataclass(frozen=True)
class CallRequest:
    """What a call-creation request carries."""

    sdp: str
    session: dict[str, Any] | None = None
    """The session configuration of a multipart request (applied before ``session.created``)."""


def is_calls_path(path: str) -> bool:
    """True for a WebRTC call-creation path (query ignored)."""
    return path.split("?", 1)[0].rstrip("/").endswith(CALLS_SUFFIX)


def parse_call_request(content_type: str | None, body: bytes) -> CallRequest:
    """The SDP offer (and session configuration) of a ``POST .../realtime/calls`` body."""
    kind = (content_type or "").split(";", 1)[0].strip().lower()
    if kind == SDP_TYPE or (not kind and body.startswith(b"v=0")):
        return CallRequest(body.decode("utf-8", "replace"))
    if kind != "multipart/form-data":
        raise CallRequestError(f"unsupported content type {kind or 'none'!r}: expected "
                               f"{SDP_TYPE} or multipart/form-data")
    message = email.parser.BytesParser(policy=email.policy.HTTP).parsebytes(
        b"Content-Type: " + (content_type or "").encode("latin-1") + b"\r\n\r\n" + body)
    parts: dict[str, bytes] = {}
    for part in message.iter_parts():
        name = part.get_param("name", header="content-disposition")
        payload = part.get_payload(decode=True)
        if isinstance(name, str) and isinstance(payload, bytes):
            parts[name] = payload
    if "sdp" not in parts:
        raise CallRequestError("multipart call request without an 'sdp' part")
    session = None
    if "session" in parts:
        try:
            session = json.loads(parts["session"])
        except ValueError:
            raise CallRequestError("the 'session' part is not valid JSON") from None
        if not isinstance(session, dict):
            raise CallRequestError("the 'session' part must be a JSON object")
    return CallRequest(parts["sdp"].decode("utf-8", "replace"), session)


def calls_url(upstream_ws_url: str, path: str) -> str:
    """The upstream's HTTP call endpoint: ``wss://`` -> ``https://``, ``ws://`` -> ``http://``,
    the client's path (and query) appended to the base URL's path."""
    parts = urlsplit(upstream_ws_url)
    scheme = {"wss": "https", "ws": "http"}.get(parts.scheme, parts.scheme)
    path_only, _, query = path.partition("?")
    return urlunsplit((scheme, parts.netloc, parts.path.rstrip("/") + path_only, query, ""))


def call_id_from_location(location: str | None) -> str | None:
    """The call id at the end of a ``Location`` header (``/v1/realtime/calls/rtc_...``)."""
    if not location:
        return None
    tail = location.split("?", 1)[0].rstrip("/").rsplit("/", 1)[-1]
    return tail or None


def media_event(server: bool, audio_b64: str, response_id: str | None = None,
                item_id: str | None = None) -> bytes:
    """The JSON event a track's audio would have been over a WebSocket (GA names): an
    ``input_audio_buffer.append`` from the client, an output audio delta from the server."""
    event: dict[str, object]
    if not server:
        event = {"type": INPUT_AUDIO_APPEND, "audio": audio_b64}
    else:
        event = {"type": OUTPUT_AUDIO_DELTA, "response_id": response_id,
                 "item_id": item_id or None, "output_index": 0, "content_index": 0,
                 "delta": audio_b64}
    return json.dumps(event, separators=(",", ":")).encode()


def output_response_id(data: bytes) -> str | None:
    """``response_id`` of an ``output_audio_buffer.started`` message (None for any other)."""
    if OUTPUT_AUDIO_BUFFER_STARTED.encode() not in data:
        return None
    try:
        event = json.loads(data)
    except ValueError:
        return None
    if not isinstance(event, dict) or event.get("type") != OUTPUT_AUDIO_BUFFER_STARTED:
        return None
    rid = event.get("response_id")
    return rid if isinstance(rid, str) else None
