"""Where a replay connects: the URL, the handshake headers and subprotocols, the key.

Recorded secrets were redacted, so the key comes from ``--header`` or
``OPENAI_API_KEY``; it is kept out of everything that is stored or printed (the stored
headers and subprotocols are redacted, messages pass through :meth:`TargetPlan.scrub`).
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from urllib.parse import parse_qsl, quote, urlencode, urlsplit, urlunsplit

from ..baseurl import websocket_base
from ..errors import UsageError
from ..protocol import (
    KEY_SUBPROTOCOL_PREFIX,
    REDACTED_PREFIX,
    SECRET_HEADERS,
    SECRET_QUERY_PARAMS,
    model_from_path,
    redact_headers,
    redact_subprotocols,
    redact_text,
    redact_url,
    secret_marker,
)
from ..store.records import SessionRecord

FORWARDED_HEADERS = ("openai-beta", "openai-organization", "openai-project")
"""Recorded handshake headers a replay sends again (they keep the dialect and account)."""
_DROPPED_SUBPROTOCOL_PREFIXES = ("rtcapture-token.",)
_URL_RE = re.compile(r"\b(?:wss?|https?)://[^\s'\"]+")


@dataclass(frozen=True)
class TargetPlan:
    """Everything needed to open the replay's connection."""

    url: str
    headers: list[tuple[str, str]]
    subprotocols: list[str]
    secrets: tuple[str, ...] = ()

    def scrub(self, text: str) -> str:
        """A message safe to print: known secrets and key patterns replaced."""
        for secret in self.secrets:
            if secret:
                text = text.replace(secret, secret_marker(secret))
        return redact_text(_URL_RE.sub(lambda m: redact_url(m.group(0)), text))

    @property
    def safe_url(self) -> str:
        return self.scrub(self.url)

    @property
    def safe_headers(self) -> list[tuple[str, str]]:
        return [(k, self.scrub(v)) for k, v in redact_headers(self.headers)]

    @property
    def safe_subprotocols(self) -> list[str]:
        return [self.scrub(p) for p in redact_subprotocols(self.subprotocols)]


def recorded_path(session: SessionRecord) -> str:
    """The recording's path and query, without redacted secret query parameters."""
    path = session.path or ""
    if not path:
        return "/v1/realtime" + (f"?model={quote(session.model)}" if session.model else "")
    parts = urlsplit(path)
    query = [(k, v) for k, v in parse_qsl(parts.query, keep_blank_values=True)
             if k.lower() not in SECRET_QUERY_PARAMS and REDACTED_PREFIX not in v]
    return urlunsplit(("", "", parts.path or "/", urlencode(query, quote_via=quote, safe="/:"),
                       ""))


def join_url(base: str, path: str) -> str:
    """``base`` (a ws/wss/http/https URL) with ``path`` (path and query) appended."""
    parts = urlsplit(websocket_base(base, "--target", keywords="'mock' or 'playback'"))
    if not path.startswith("/"):
        raise UsageError(f"--path must start with '/', not {path!r}")
    extra = urlsplit(path)
    return urlunsplit((parts.scheme, parts.netloc, parts.path.rstrip("/") + extra.path,
                       extra.query, ""))


def build_target(url: str, session: SessionRecord, *, extra_headers: Sequence[tuple[str, str]]
                 = (), api_key: str | None = None) -> TargetPlan:
    """Handshake for replaying ``session`` at ``url`` (already joined with the path).

    Recorded ``OpenAI-Beta`` / organisation / project headers are sent again,
    ``--header`` values replace recorded ones of the same name, and the key (from
    ``--header`` or ``api_key``) goes where the recording had it: ``api-key`` for Azure
    style recordings, ``Authorization: Bearer`` otherwise, and into the key subprotocol
    if the recording offered one.
    """
    recorded = {name.lower(): (name, value) for name, value in session.headers}
    headers: dict[str, tuple[str, str]] = {
        low: recorded[low] for low in FORWARDED_HEADERS if low in recorded}
    for name, value in extra_headers:
        headers[name.lower()] = (name, value)
    secrets = [value for low, (_, value) in headers.items() if low in SECRET_HEADERS]
    explicit = next((v for low, (_, v) in headers.items() if low in SECRET_HEADERS), None)
    key = api_key
    if explicit is not None:
        scheme, _, token = explicit.partition(" ")
        key = token.strip() if scheme.lower() == "bearer" and token else explicit
    elif api_key:
        if "api-key" in recorded and "authorization" not in recorded:
            headers["api-key"] = ("api-key", api_key)
        else:
            headers["authorization"] = ("Authorization", f"Bearer {api_key}")
    if key:
        secrets.append(key)
    subprotocols = []
    for proto in session.subprotocols:
        if proto.startswith(_DROPPED_SUBPROTOCOL_PREFIXES):
            continue
        if proto.startswith(KEY_SUBPROTOCOL_PREFIX):
            if key:
                subprotocols.append(KEY_SUBPROTOCOL_PREFIX + key)
            continue
        subprotocols.append(proto)
    return TargetPlan(url=url, headers=list(headers.values()), subprotocols=subprotocols,
                      secrets=tuple(dict.fromkeys(s for s in secrets if s)))


def replay_model(session: SessionRecord, path: str) -> str | None:
    """The model the replay asks for (from its path, else the recording's)."""
    return model_from_path(path) or session.model
