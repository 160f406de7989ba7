"""Token estimates for ``usage`` in ``response.done`` and the ``rate_limits.updated`` figures.

Deterministic stand-ins for the model's counts: text costs one token per 4 characters,
input audio one per 100 ms, output audio one per 50 ms (close to the real service's
published ratios). Rate limits count down from fixed budgets as responses consume tokens.
"""

from __future__ import annotations

import math
from typing import Any

TOKENS_PER_MINUTE = 40000
REQUESTS_PER_MINUTE = 5000


def text_tokens(text: str) -> int:
    return math.ceil(len(text) / 4)


def context_tokens(items: list[dict[str, Any]], instructions: str,
                   audio_ms: dict[str, float]) -> dict[str, int]:
    """Input token counts (text / audio) of the context a response reads."""
    text = text_tokens(instructions)
    audio = 0
    for item in items:
        if item.get("type") == "function_call":
            text += text_tokens(str(item.get("name", ""))) + text_tokens(
                str(item.get("arguments", "")))
        elif item.get("type") == "function_call_output":
            text += text_tokens(str(item.get("output", "")))
        for part in item.get("content") or []:
            if not isinstance(part, dict):
                continue
            for key in ("text", "transcript"):
                if isinstance(part.get(key), str):
                    text += text_tokens(part[key])
        ms = audio_ms.get(str(item.get("id")), 0.0)
        if ms:
            audio += math.ceil(ms / (100 if item.get("role") == "user" else 50))
    return {"text": text, "audio": audio}


class Usage:
    """Per-connection token accounting."""

    def __init__(self) -> None:
        self.used_tokens = 0
        self.requests = 0

    def rate_limits(self, ga: bool) -> list[dict[str, Any]]:
        """The ``rate_limits`` list (GA captures show only ``tokens``)."""
        self.requests += 1
        remaining = max(TOKENS_PER_MINUTE - self.used_tokens, 0)
        tokens = {"name": "tokens", "limit": TOKENS_PER_MINUTE, "remaining": remaining,
                  "reset_seconds": round(self.used_tokens * 60 / TOKENS_PER_MINUTE, 3)}
        if ga:
            return [tokens]
        requests = {"name": "requests", "limit": REQUESTS_PER_MINUTE,
                    "remaining": max(REQUESTS_PER_MINUTE - self.requests, 0),
                    "reset_seconds": round(self.requests * 60 / REQUESTS_PER_MINUTE, 3)}
        return [requests, tokens]

    def for_response(self, input_tokens: dict[str, int], out_text: int, out_audio_ms: float,
                     ga: bool) -> dict[str, Any]:
        """The ``usage`` object of ``response.done``; counts it against the budget."""
        in_text, in_audio = input_tokens.get("text", 0), input_tokens.get("audio", 0)
        out_audio = math.ceil(out_audio_ms / 50)
        total_in, total_out = in_text + in_audio, out_text + out_audio
        self.used_tokens += total_in + total_out
        cached: dict[str, int] = {"text_tokens": 0, "audio_tokens": 0}
        details: dict[str, Any] = {"text_tokens": in_text, "audio_tokens": in_audio,
                                   "cached_tokens": 0, "cached_tokens_details": cached}
        if ga:
            details["image_tokens"] = 0
            cached["image_tokens"] = 0
        return {"total_tokens": total_in + total_out, "input_tokens": total_in,
                "output_tokens": total_out, "input_token_details": details,
                "output_token_details": {"text_tokens": out_text, "audio_tokens": out_audio}}
