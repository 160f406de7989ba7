"""The session object in either dialect: defaults, partial updates, and accessors.

The document is kept in the connection's own dialect (section 5.1 of the reference) and
sent as-is in ``session.created`` / ``session.updated``. ``expires_at`` comes from a fixed
epoch (``MOCK_EPOCH_S``), never from the clock, so frames stay deterministic.
"""

from __future__ import annotations

import copy
from typing import Any

from ..protocol import PCM16, AudioFormat, Flavour, parse_audio_format
from . import errors as E
from . import schema as S
from .errors import MockError

MOCK_EPOCH_S = 1767225600
"""2026-01-01T00:00:00Z: the mock's notion of "now" inside payloads."""
SESSION_LIMIT_S = {Flavour.GA: 3600, Flavour.BETA: 1800}
DEFAULT_INSTRUCTIONS = (
    "You are the rtcapture mock Realtime server. Replies are scripted by a scenario and "
    "audio is synthetic; nothing here comes from a model."
)
DEFAULT_MODEL = {Flavour.GA: "gpt-realtime", Flavour.BETA: "gpt-4o-realtime-preview"}

BETA_KEYS = ("model", "modalities", "instructions", "voice", "input_audio_format",
             "output_audio_format", "input_audio_transcription", "input_audio_noise_reduction",
             "turn_detection", "tools", "tool_choice", "temperature",
             "max_response_output_tokens", "speed", "tracing", "include")
GA_KEYS = ("type", "model", "output_modalities", "instructions", "audio", "tools",
           "tool_choice", "max_output_tokens", "tracing", "include", "truncation", "prompt",
           "reasoning", "parallel_tool_calls")
GA_TRANSCRIPTION_KEYS = ("type", "audio", "include")
BETA_TRANSCRIPTION_KEYS = ("input_audio_format", "input_audio_transcription",
                           "input_audio_noise_reduction", "turn_detection", "include",
                           "modalities")


def default_session(flavour: Flavour, model: str | None, session_id: str) -> dict[str, Any]:
    """The session object sent in ``session.created``."""
    model = model or DEFAULT_MODEL[flavour]
    expires = MOCK_EPOCH_S + SESSION_LIMIT_S[flavour]
    if flavour is Flavour.BETA:
        return {
            "id": session_id, "object": "realtime.session", "model": model,
            "expires_at": expires, "modalities": ["audio", "text"],
            "instructions": DEFAULT_INSTRUCTIONS, "voice": "alloy",
            "input_audio_format": "pcm16", "output_audio_format": "pcm16",
            "input_audio_transcription": None, "input_audio_noise_reduction": None,
            "turn_detection": S.server_vad_defaults(False), "tools": [], "tool_choice": "auto",
            "temperature": 0.8, "max_response_output_tokens": "inf", "speed": 1.0,
            "tracing": None, "client_secret": None, "include": None,
        }
    fmt = PCM16.ga_object()
    return {
        "type": "realtime", "object": "realtime.session", "id": session_id, "model": model,
        "output_modalities": ["audio"], "instructions": DEFAULT_INSTRUCTIONS, "tools": [],
        "tool_choice": "auto", "max_output_tokens": "inf", "tracing": None,
        "truncation": "auto", "prompt": None, "expires_at": expires,
        "audio": {
            "input": {"format": dict(fmt), "transcription": None, "noise_reduction": None,
                      "turn_detection": S.server_vad_defaults(True)},
            "output": {"format": dict(fmt), "voice": "marin", "speed": 1.0},
        },
        "include": None,
    }


class SessionState:
    """One connection's effective session configuration."""

    def __init__(self, flavour: Flavour, model: str | None, session_id: str) -> None:
        self.flavour = flavour
        self.doc = default_session(flavour, model, session_id)
        self.audio_produced = False
        """Set once assistant audio went out: the voice is then fixed."""
        self.transcription_only = False

    @property
    def ga(self) -> bool:
        return self.flavour is Flavour.GA

    def render(self) -> dict[str, Any]:
        """The full session object for ``session.created`` / ``session.updated``."""
        if self.ga and self.transcription_only:
            return {"type": "transcription", "object": "realtime.transcription_session",
                    "id": self.doc["id"], "expires_at": self.doc["expires_at"],
                    "audio": {"input": copy.deepcopy(self.doc["audio"]["input"])},
                    "include": self.doc.get("include")}
        return copy.deepcopy(self.doc)

    def render_beta_transcription(self, secret: str) -> dict[str, Any]:
        """The beta ``transcription_session.updated`` object."""
        d = self.doc
        return {"id": d["id"], "object": "realtime.transcription_session",
                "client_secret": {"value": secret, "expires_at": d["expires_at"]},
                "modalities": ["text"], "input_audio_format": d["input_audio_format"],
                "input_audio_transcription": copy.deepcopy(d["input_audio_transcription"]),
                "input_audio_noise_reduction": copy.deepcopy(d["input_audio_noise_reduction"]),
                "turn_detection": copy.deepcopy(d["turn_detection"]),
                "include": d.get("include")}

    # ------------------------------------------------------------------ updates

    def update(self, patch: Any, param: str = "session") -> None:
        """Validate a partial session and merge it; nothing changes if it is refused."""
        if not isinstance(patch, dict):
            raise E.invalid_type(param, "an object", patch)
        doc = copy.deepcopy(self.doc)
        if self.ga:
            transcription = self._merge_ga(doc, patch, param)
        else:
            self._merge_beta(doc, patch, param, BETA_KEYS)
            transcription = self.transcription_only
        self.doc = doc
        self.transcription_only = transcription

    def update_beta_transcription(self, patch: Any) -> None:
        """Beta ``transcription_session.update``: the session becomes transcription-only."""
        if not isinstance(patch, dict):
            raise E.invalid_type("session", "an object", patch)
        doc = copy.deepcopy(self.doc)
        self._merge_beta(doc, patch, "session", BETA_TRANSCRIPTION_KEYS)
        if doc.get("input_audio_transcription") is None:
            doc["input_audio_transcription"] = {"model": "gpt-4o-transcribe"}
        self.doc = doc
        self.transcription_only = True

    def _check_voice_change(self, old: Any, new: Any, param: str) -> None:
        if self.audio_produced and new != old:
            raise MockError("invalid_value", "Cannot update a conversation's voice if "
                            "assistant audio is present.", param)

    def _merge_beta(self, doc: dict[str, Any], patch: dict[str, Any], param: str,
                    allowed: tuple[str, ...]) -> None:
        p = f"{param}."
        E.check_keys(patch, allowed, p)
        for key, value in patch.items():
            if key in ("input_audio_format", "output_audio_format"):
                doc[key] = S.check_beta_format(value, p + key)
            elif key == "modalities":
                doc[key] = S.check_beta_modalities(value, p + key)
            elif key == "turn_detection":
                doc[key] = S.check_turn_detection(value, doc.get(key), p + key, ga=False)
            elif key == "input_audio_transcription":
                doc[key] = S.check_transcription(value, p + key)
            elif key == "input_audio_noise_reduction":
                doc[key] = S.check_noise_reduction(value, p + key)
            elif key == "tools":
                doc[key] = S.check_tools(value, p + key, ga=False)
            elif key == "tool_choice":
                doc[key] = S.check_tool_choice(value, p + key)
            elif key == "max_response_output_tokens":
                doc[key] = S.check_max_tokens(value, p + key)
            elif key == "temperature":
                E.want_number(patch, key, p + key, low=0.6, high=1.2)
                doc[key] = value
            elif key == "speed":
                E.want_number(patch, key, p + key, low=0.25, high=1.5)
                doc[key] = value
            elif key == "voice":
                S.check_voice(value, p + key, ga=False)
                self._check_voice_change(doc.get("voice"), value, p + key)
                doc[key] = value
            elif key in ("instructions", "model"):
                E.want_str(patch, key, p + key)
                doc[key] = value
            else:  # tracing, include: passed through
                doc[key] = copy.deepcopy(value)

    def _merge_ga(self, doc: dict[str, Any], patch: dict[str, Any], param: str) -> bool:
        p = f"{param}."
        kind = E.want_enum(patch, "type", p + "type", ("realtime", "transcription"))
        if kind is None:
            raise E.missing(p + "type")
        transcription = kind == "transcription"
        E.check_keys(patch, GA_TRANSCRIPTION_KEYS if transcription else GA_KEYS, p)
        for key, value in patch.items():
            if key == "type":
                continue
            if key == "audio":
                self._merge_ga_audio(doc, value, p + key, transcription)
            elif key == "output_modalities":
                doc[key] = S.check_ga_modalities(value, p + key)
            elif key == "tools":
                doc[key] = S.check_tools(value, p + key, ga=True)
            elif key == "tool_choice":
                doc[key] = S.check_tool_choice(value, p + key)
            elif key == "max_output_tokens":
                doc[key] = S.check_max_tokens(value, p + key)
            elif key in ("instructions", "model"):
                E.want_str(patch, key, p + key)
                doc[key] = value
            elif key == "parallel_tool_calls":
                E.want_bool(patch, key, p + key)
                doc[key] = value
            else:  # tracing, include, truncation, prompt, reasoning
                doc[key] = copy.deepcopy(value)
        return transcription

    def _merge_ga_audio(self, doc: dict[str, Any], value: Any, param: str,
                        transcription: bool) -> None:
        if not isinstance(value, dict):
            raise E.invalid_type(param, "an object", value)
        E.check_keys(value, ("input",) if transcription else ("input", "output"), param + ".")
        audio = doc["audio"]
        ain = E.want_obj(value, "input", param + ".input")
        if ain is not None:
            pi = param + ".input."
            E.check_keys(ain, ("format", "transcription", "noise_reduction", "turn_detection"), pi)
            for key, sub in ain.items():
                if key == "format":
                    audio["input"][key] = S.check_ga_format(sub, pi + key)
                elif key == "transcription":
                    audio["input"][key] = S.check_transcription(sub, pi + key)
                elif key == "noise_reduction":
                    audio["input"][key] = S.check_noise_reduction(sub, pi + key)
                else:
                    audio["input"][key] = S.check_turn_detection(
                        sub, audio["input"].get(key), pi + key, ga=True)
        aout = E.want_obj(value, "output", param + ".output")
        if aout is not None:
            po = param + ".output."
            E.check_keys(aout, ("format", "voice", "speed"), po)
            for key, sub in aout.items():
                if key == "format":
                    audio["output"][key] = S.check_ga_format(sub, po + key)
                elif key == "voice":
                    S.check_voice(sub, po + key, ga=True)
                    self._check_voice_change(audio["output"].get("voice"), sub, po + key)
                    audio["output"][key] = sub
                else:
                    E.want_number(aout, key, po + key, low=0.25, high=1.5)
                    audio["output"][key] = sub

    # ------------------------------------------------------------------ accessors

    def _audio(self, side: str) -> dict[str, Any]:
        return self.doc["audio"][side]

    @property
    def input_format(self) -> AudioFormat:
        raw = self._audio("input")["format"] if self.ga else self.doc["input_audio_format"]
        return parse_audio_format(raw) or PCM16

    @property
    def output_format(self) -> AudioFormat:
        raw = self._audio("output")["format"] if self.ga else self.doc["output_audio_format"]
        return parse_audio_format(raw) or PCM16

    @property
    def turn_detection(self) -> dict[str, Any] | None:
        return self._audio("input")["turn_detection"] if self.ga else self.doc["turn_detection"]

    @property
    def transcription(self) -> dict[str, Any] | None:
        if self.ga:
            return self._audio("input")["transcription"]
        return self.doc["input_audio_transcription"]

    @property
    def voice(self) -> str:
        raw = self._audio("output")["voice"] if self.ga else self.doc["voice"]
        return raw if isinstance(raw, str) else str(raw.get("id", "custom"))

    @property
    def speed(self) -> float:
        raw = self._audio("output").get("speed") if self.ga else self.doc.get("speed")
        return float(raw) if isinstance(raw, int | float) else 1.0

    @property
    def modalities(self) -> list[str]:
        return list(self.doc["output_modalities"] if self.ga else self.doc["modalities"])

    @property
    def max_output_tokens(self) -> int | str:
        return self.doc["max_output_tokens" if self.ga else "max_response_output_tokens"]

    def get(self, key: str) -> Any:
        """A top-level field (instructions, tools, tool_choice, …)."""
        return self.doc.get(key)
