"""Logging set-up that never lets a secret through.

websockets logs every handshake header at DEBUG (``Authorization`` included); its loggers
are capped at INFO and every record passes through a redacting filter.
"""

from __future__ import annotations

import logging

from .protocol import redact_text, redact_url


class RedactingFilter(logging.Filter):
    """Rewrites a record's message with keys and secret URL parts replaced."""

    def filter(self, record: logging.LogRecord) -> bool:
        try:
            message = record.getMessage()
        except Exception:  # noqa: BLE001
            message = str(record.msg)
        record.msg = redact_text(redact_url(message)) if "://" in message else redact_text(message)
        record.args = None
        if record.exc_info:
            record.exc_text = redact_text(logging.Formatter().formatException(record.exc_info))
            record.exc_info = None
        return True


_FILTER = RedactingFilter()


def configure_logging(verbose: int = 0, quiet: bool = False) -> None:
    """Root logging to stderr; websockets never below INFO; every record redacted."""
    level = logging.WARNING
    if verbose == 1:
        level = logging.INFO
    elif verbose >= 2:
        level = logging.DEBUG
    if quiet:
        level = logging.ERROR
    root = logging.getLogger()
    if not any(getattr(h, "_rtcapture", False) for h in root.handlers):
        handler = logging.StreamHandler()
        handler.setFormatter(logging.Formatter("%(levelname)s %(name)s: %(message)s"))
        handler.addFilter(_FILTER)
        handler._rtcapture = True  # type: ignore[attr-defined]
        root.addHandler(handler)
    root.setLevel(level)
    for name in ("websockets", "websockets.client", "websockets.server"):
        logger = logging.getLogger(name)
        logger.setLevel(max(level, logging.INFO))
        if _FILTER not in logger.filters:
            logger.addFilter(_FILTER)
