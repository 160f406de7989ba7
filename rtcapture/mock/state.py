"""Conversation state: ordered items in the connection's dialect, with their audio aside.

Items are stored exactly as the server shows them in ``conversation.item.*`` events
(no audio bytes); the audio of each content part is kept separately so that
``conversation.item.retrieve`` can return it and ``truncate`` can cut it.
"""

from __future__ import annotations

import base64
import copy
import math
from dataclasses import dataclass, field
from typing import Any

from ..protocol import PCM16, AudioFormat, Flavour
from .errors import MockError

ROOT = "root"


def item_not_found(item_id: str, param: str = "item_id") -> MockError:
    """The error for an id the conversation does not hold."""
    return MockError("invalid_value", f"Item with item_id '{item_id}' not found.", param)


@dataclass
class PartAudio:
    """Audio bytes of one content part, in the format they were produced or sent in."""

    data: bytearray
    fmt: AudioFormat = PCM16

    @property
    def ms(self) -> float:
        return self.fmt.ms_of(len(self.data))


@dataclass
class Conversation:
    """The default conversation of one connection."""

    flavour: Flavour
    conversation_id: str
    items: list[dict[str, Any]] = field(default_factory=list)
    audio: dict[tuple[str, int], PartAudio] = field(default_factory=dict)
    heard_text: dict[str, str] = field(default_factory=dict)
    """What the scenario treats as the text of a user audio item (its transcript)."""

    def index(self, item_id: str) -> int | None:
        for i, item in enumerate(self.items):
            if item.get("id") == item_id:
                return i
        return None

    def get(self, item_id: str) -> dict[str, Any] | None:
        i = self.index(item_id)
        return None if i is None else self.items[i]

    def require(self, item_id: str, param: str = "item_id") -> dict[str, Any]:
        """The item with this id, or the real service's not-found error."""
        item = self.get(item_id)
        if item is None:
            raise item_not_found(item_id, param)
        return item

    def last_id(self) -> str | None:
        return self.items[-1]["id"] if self.items else None

    def previous_id(self, item_id: str) -> str | None:
        i = self.index(item_id)
        return self.items[i - 1]["id"] if i else None

    def insert(self, item: dict[str, Any], previous_item_id: str | None = None) -> str | None:
        """Insert after ``previous_item_id`` (``"root"``: first; None: last).

        Returns the id of the item now before it (None at the start).
        """
        if previous_item_id is None:
            position = len(self.items)
        elif previous_item_id == ROOT:
            position = 0
        else:
            i = self.index(previous_item_id)
            if i is None:
                raise MockError("invalid_value", f"Error adding item: the previous item with id "
                                f"'{previous_item_id}' does not exist.", "previous_item_id")
            position = i + 1
        self.items.insert(position, item)
        return self.items[position - 1]["id"] if position else None

    def delete(self, item_id: str) -> None:
        i = self.index(item_id)
        if i is None:
            raise item_not_found(item_id)
        del self.items[i]
        for key in [k for k in self.audio if k[0] == item_id]:
            del self.audio[key]
        self.heard_text.pop(item_id, None)

    def set_audio(self, item_id: str, content_index: int, data: bytes, fmt: AudioFormat) -> None:
        self.audio[(item_id, content_index)] = PartAudio(bytearray(data), fmt)

    def add_audio(self, item_id: str, content_index: int, data: bytes, fmt: AudioFormat) -> None:
        part = self.audio.setdefault((item_id, content_index), PartAudio(bytearray(), fmt))
        part.data.extend(data)

    def truncate(self, item_id: str, content_index: int, audio_end_ms: int) -> None:
        """Cut an assistant item's audio at ``audio_end_ms`` and drop its transcript."""
        item = self.require(item_id)
        if item.get("type") != "message" or item.get("role") != "assistant":
            raise MockError("invalid_value", "Only assistant messages can be truncated.",
                            "item_id")
        content = item.get("content") or []
        if not 0 <= content_index < len(content):
            raise MockError("invalid_value", f"Invalid content_index: {content_index}. The item "
                            f"has {len(content)} content part(s).", "content_index")
        part = self.audio.get((item_id, content_index))
        if part is None:
            raise MockError("invalid_value", "Only audio content can be truncated.",
                            "content_index")
        if audio_end_ms > math.floor(part.ms):
            raise MockError("invalid_value", f"Audio content of {math.floor(part.ms)}ms is "
                            f"already shorter than {audio_end_ms}ms", None)
        keep = int(audio_end_ms * part.fmt.bytes_per_ms)
        keep -= keep % part.fmt.bytes_per_sample
        del part.data[keep:]
        content[content_index]["transcript"] = ""

    def render(self, item: dict[str, Any], *, with_audio: bool = False) -> dict[str, Any]:
        """An item as sent in events; with its audio bytes for ``retrieve``."""
        out = copy.deepcopy(item)
        if with_audio:
            for i, part in enumerate(out.get("content") or []):
                audio = self.audio.get((item["id"], i))
                if audio is not None and isinstance(part, dict):
                    part["audio"] = base64.b64encode(bytes(audio.data)).decode("ascii")
        return out

    def context(self, upto_id: str | None = None) -> list[dict[str, Any]]:
        """Items up to and including ``upto_id`` (all when None)."""
        if upto_id is None:
            return list(self.items)
        i = self.index(upto_id)
        return list(self.items) if i is None else self.items[: i + 1]
