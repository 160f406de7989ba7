"""The one rule for a base URL rtcapture connects to (``record --upstream``,
``replay --target``): ws://, wss://, or their http://, https:// spellings."""

from __future__ import annotations

from urllib.parse import urlsplit, urlunsplit

from .errors import UsageError
from .protocol import redact_url

WS_SCHEMES = {"ws": "ws", "wss": "wss", "http": "ws", "https": "wss"}
"""Accepted schemes and the WebSocket scheme each stands for (https://api.openai.com is
what users copy from the API docs; it means wss://api.openai.com)."""


def websocket_base(url: str, option: str, *, keywords: str = "") -> str:
    """``url`` as a ws:// or wss:// base URL (http -> ws, https -> wss), or a one-line
    :class:`UsageError` naming ``option`` (and the ``keywords`` it also takes).

    The client's (or the recording's) path and query are appended later, so the base
    takes no query or fragment.
    """
    text = url.strip()
    parts = urlsplit(text)
    scheme = WS_SCHEMES.get(parts.scheme.lower())
    also = f", {keywords}" if keywords else ""
    if scheme is None or not parts.hostname:
        raise UsageError(f"{option} must be a ws://, wss://, http:// or https:// URL{also}; "
                         f"not {redact_url(text)!r}")
    if parts.query or parts.fragment:
        raise UsageError(f"{option} takes no query or fragment (the client's path and query "
                         f"are appended): {redact_url(text)!r}")
    try:
        parts.port  # noqa: B018 - raises on a bad port
    except ValueError:
        raise UsageError(f"{option} has an invalid port: {redact_url(text)!r}") from None
    return urlunsplit((scheme, parts.netloc, parts.path, "", ""))
