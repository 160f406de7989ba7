"""Secret redaction: ``sk-``/``ek_`` keys, credential headers, subprotocols, URLs."""

from __future__ import annotations

import hashlib
import re
from collections.abc import Iterable
from urllib.parse import parse_qsl, quote, urlencode, urlsplit

SECRET_HEADERS = frozenset({"authorization", "api-key"})
SECRET_QUERY_PARAMS = frozenset({"authorization", "api-key"})
KEY_SUBPROTOCOL_PREFIX = "openai-insecure-api-key."
# A key's "-" and "_" may come URL-encoded (%2D, %5F: a key in a path segment) or
# JSON-escaped (\u002d, \u005f: a key inside a payload string); both are keys all the same.
_DASH = r"(?:-|%2[Dd]|\\u002[Dd])"
_UNDERSCORE = r"(?:_|%5[Ff]|\\u005[Ff])"
_KEY = rf"(?:sk{_DASH}|ek{_UNDERSCORE})(?:[A-Za-z0-9]|{_DASH}|{_UNDERSCORE}){{6,}}"
_KEY_RE = re.compile(_KEY)
_KEY_RE_BYTES = re.compile(_KEY.encode("ascii"))
_ENCODED_RE = re.compile(r"%2[Dd]|%5[Ff]|\\u00(?:2[Dd]|5[Ff])")
_DECODED = {"2d": "-", "5f": "_"}
REDACTED_PREFIX = "REDACTED-"


def secret_marker(secret: str) -> str:
    """The stable marker replacing a secret: a short hash and its last 4 characters."""
    digest = hashlib.sha256(secret.encode("utf-8", "surrogatepass")).hexdigest()[:8]
    return f"{REDACTED_PREFIX}{digest}-{secret[-4:] if len(secret) > 8 else ''}"


def _key_marker(found: str) -> str:
    """The marker of a key as found: an encoded one is decoded first, so that a key
    gets the same marker however it was written."""
    if "%" in found or "\\" in found:
        found = _ENCODED_RE.sub(lambda m: _DECODED[m.group(0)[-2:].lower()], found)
    return secret_marker(found)


# Both functions look for the prefixes with ``in`` first: a substring search runs about ten
# times faster than the regex over frames that hold no key, which is nearly all of them.
# Encoded prefixes are only looked for where a "%" or "\\" occurs at all (one-byte searches;
# base64 audio holds neither), and then as "k%" / "k\\" (the regex decides).


def redact_text(text: str) -> str:
    """Replace ``sk-…`` / ``ek_…`` keys anywhere in a string (also URL-encoded or
    JSON-escaped: ``sk%2D…``, ``sk\\u002d…``)."""
    if "sk-" not in text and "ek_" not in text and not (
            ("%" in text or "\\" in text) and ("k%" in text or "k\\" in text)):
        return text
    return _KEY_RE.sub(lambda m: _key_marker(m.group(0)), text)


def redact_bytes(data: bytes) -> bytes:
    """Replace ``sk-…`` / ``ek_…`` keys anywhere in raw bytes (also encoded, as
    :func:`redact_text`)."""
    if b"sk-" not in data and b"ek_" not in data and not (
            (b"%" in data or b"\\" in data) and (b"k%" in data or b"k\\" in data)):
        return data
    return _KEY_RE_BYTES.sub(
        lambda m: _key_marker(m.group(0).decode("ascii")).encode("ascii"), data
    )


_MARKER_RE = re.compile(rf"{REDACTED_PREFIX}[0-9a-f]{{8}}-\S{{0,4}}")


def _mark(secret: str) -> str:
    """The marker of a secret; a value that already is a marker stays as it is, so that
    redacting twice (export after record, import after export) changes nothing."""
    return secret if _MARKER_RE.fullmatch(secret) else secret_marker(secret)


def _redact_credential(value: str) -> str:
    scheme, sep, token = value.partition(" ")
    if sep and scheme.lower() in ("bearer", "basic", "token"):
        return f"{scheme} {_mark(token.strip())}"
    return _mark(value.strip())


def redact_header(name: str, value: str) -> str:
    """A header value safe to store or print."""
    if name.lower() in SECRET_HEADERS or name.lower() == "x-rtcapture-token":
        return _redact_credential(value)
    if name.lower() == "sec-websocket-protocol":
        return ", ".join(redact_subprotocols([p.strip() for p in value.split(",")]))
    return redact_text(value)


def redact_headers(headers: Iterable[tuple[str, str]]) -> list[tuple[str, str]]:
    """Headers with every secret replaced by its marker."""
    return [(name, redact_header(name, value)) for name, value in headers]


def redact_subprotocols(subprotocols: Iterable[str]) -> list[str]:
    """Subprotocol entries with embedded keys replaced by markers."""
    out = []
    for proto in subprotocols:
        for prefix in (KEY_SUBPROTOCOL_PREFIX, "rtcapture-token."):
            if proto.startswith(prefix):
                proto = prefix + _mark(proto[len(prefix):])
                break
        else:
            proto = redact_text(proto)
        out.append(proto)
    return out


def redact_url(url: str) -> str:
    """A URL (or path with query) with secret query parameters and keys replaced."""
    try:
        parts = urlsplit(url)
        query = parse_qsl(parts.query, keep_blank_values=True)
    except ValueError:
        return redact_text(url)
    if not query and "@" not in parts.netloc:
        return redact_text(url)
    # Splice the cleaned parts into the URL itself: everything else stays byte for byte
    # (``urlunsplit`` would, for one, drop the empty authority of ``sqlite:///x.db``).
    if query:
        cleaned = [
            (k, _redact_credential(v) if k.lower() in SECRET_QUERY_PARAMS else redact_text(v))
            for k, v in query
        ]
        start = url.index("?") + 1  # the first "?" opens the query (netloc and path hold none)
        url = url[:start] + urlencode(cleaned, quote_via=quote, safe="/:") \
            + url[start + len(parts.query):]
    if "@" in parts.netloc:  # user:password@host
        url = url.replace(parts.netloc, "REDACTED@" + parts.netloc.rpartition("@")[2], 1)
    return redact_text(url)


