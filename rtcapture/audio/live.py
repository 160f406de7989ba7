"""Audio of a GPT-Live session: ``input.wav`` from the appended audio, ``output.wav`` from
the one continuous output track, ``conversation.wav`` (left: user, right: assistant, both
on the session timeline) and ``--per-turn`` files cut at each utterance.

Live has one ``audio.format`` for both directions (set by ``session.start``). Output deltas
are placed by their ``start_ms`` where a connection carries timeline fields (a sideband
reflection), leaving silence over any gap, which is reported; otherwise in arrival order,
as the real-time track was played. Utterances follow
:func:`rtcapture.protocol.live.group_utterances` (transcript fragments).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import soundfile as sf

from ..codec import decode_samples
from ..protocol import (
    PCM16,
    AudioFormat,
    Direction,
    decode_audio_b64,
    decode_event,
    live,
    session_audio_formats,
)
from ..store import Store
from .extract import FETCH_ROWS, AudioReport, InvalidChunk
from .turns import TurnFolder
from .wav import WavWriter, WrittenFile

BLOCK = 65536
"""Frames read at a time when mixing and cutting the written tracks."""


@dataclass
class Gap:
    """Silence the output track holds because timeline ranges were missing."""

    start_ms: float
    ms: float


@dataclass
class LiveAudioReport(AudioReport):
    """An :class:`AudioReport` plus the output gaps and the utterances cut."""

    gaps: list[Gap] = field(default_factory=list)
    utterances: int = 0

    def as_json(self) -> dict[str, Any]:
        out = super().as_json()
        out["gaps"] = [{"start_ms": round(g.start_ms, 3), "ms": round(g.ms, 3)}
                       for g in self.gaps]
        return out


class _LiveWalk:
    def __init__(self, out_dir: Path, report: LiveAudioReport) -> None:
        self.out_dir = out_dir
        self.report = report
        self.fmt: AudioFormat = PCM16
        self.input: WavWriter | None = None
        self.output: WavWriter | None = None
        self.deltas: list[tuple[int | None, dict[str, Any]]] = []

    def _writer(self, name: str) -> WavWriter:
        return WavWriter(self.out_dir / f"{name}.wav", self.fmt.rate, 1, name)

    def handle(self, seq: int, direction: str, data: bytes, etype: str | None) -> None:
        if etype is None:
            return
        if etype in (live.SESSION_START, live.SESSION_STARTED):
            event = decode_event(data) or {}
            fmt, _ = session_audio_formats(event.get("session"))
            if fmt is not None and self.input is None and self.output is None:
                self.fmt = fmt
        elif etype in live.SPEAKER_OF and direction == Direction.SERVER:
            delta = decode_event(data)
            if delta is not None:
                self.deltas.append((seq, {k: delta.get(k) for k in (
                    "type", "delta", "start_ms", "end_ms")}))
        elif (etype == live.INPUT_APPEND and direction == Direction.CLIENT) or (
                etype == live.OUTPUT_AUDIO_DELTA and direction == Direction.SERVER):
            self._audio(seq, etype, decode_event(data) or {})

    def _audio(self, seq: int, etype: str, event: dict[str, Any]) -> None:
        raw = decode_audio_b64(event.get(live.audio_key(etype) or ""))
        if raw is None or len(raw) % self.fmt.bytes_per_sample:
            self._invalid(seq, etype, "not valid base64" if raw is None
                          else "not a whole number of samples")
            return
        samples = decode_samples(raw, self.fmt)
        if etype == live.INPUT_APPEND:
            self.input = self.input or self._writer("input")
            self.input.write(samples)
            return
        self.output = self.output or self._writer("output")
        span = live.timeline_ms(event)
        if span is not None:
            at = int(round(span[0] * self.fmt.rate / 1000))
            if at > self.output.frames:
                missing = at - self.output.frames
                self.report.gaps.append(Gap(self.output.frames * 1000 / self.fmt.rate,
                                            missing * 1000 / self.fmt.rate))
                self.output.write(np.zeros(missing, dtype=np.int16))
            elif at < self.output.frames:
                samples = samples[self.output.frames - at:]  # overlap: keep the first copy
        self.output.write(samples)

    def _invalid(self, seq: int, etype: str, reason: str) -> None:
        self.report.invalid_count += 1
        if len(self.report.invalid) < 1000:
            self.report.invalid.append(InvalidChunk(seq, etype, reason))


def _read(path: Path, start: int, frames: int) -> np.ndarray:
    with sf.SoundFile(path) as f:
        if start >= f.frames:
            return np.zeros(0, dtype=np.int16)
        f.seek(start)
        return f.read(min(frames, f.frames - start), dtype="int16")


def _conversation(out_dir: Path, files: dict[str, WrittenFile], rate: int) -> WrittenFile:
    """Both tracks side by side on the timeline (they both start at the session's 0)."""
    total = max(f.frames for f in files.values())
    writer = WavWriter(out_dir / "conversation.wav", rate, 2, "conversation")
    for start in range(0, total, BLOCK):
        n = min(BLOCK, total - start)
        block = np.zeros((n, 2), dtype=np.int16)
        for channel, name in enumerate(("input", "output")):
            if name in files:
                part = _read(files[name].path, start, n)
                block[:part.size, channel] = part
        writer.write(block)
    written = writer.close()
    assert written is not None
    return written


def _cut_turns(out_dir: Path, files: dict[str, WrittenFile], rate: int,
               utterances: list[live.Utterance]) -> list[WrittenFile]:
    folder = TurnFolder(out_dir / "turns")
    folder.clear_stale()
    out: list[WrittenFile] = []
    for utt in utterances:
        source = files.get("input" if utt.speaker == "user" else "output")
        if source is None:
            continue
        start = int(utt.start_ms * rate / 1000)
        part = _read(source.path, start, max(0, int(utt.end_ms * rate / 1000) - start))
        if part.size == 0:
            continue
        ordinal = folder.ordinal()
        writer = WavWriter(folder.path(ordinal, utt.speaker, f"{int(utt.start_ms)}ms"), rate,
                           1, f"{utt.speaker}_turn", f"{int(utt.start_ms)}ms")
        writer.write(part)
        written = writer.close()
        if written is not None:
            out.append(written)
    folder.remove_if_empty()
    return out


def extract_live_audio(store: Store, session_id: str, out_dir: Path,
                       per_turn: bool = False) -> LiveAudioReport:
    """Write a Live session's audio into ``out_dir``; no audio, no files."""
    report = LiveAudioReport(session_id)
    walk = _LiveWalk(out_dir, report)
    for ev in store.events(session_id, chunk=FETCH_ROWS):
        walk.handle(ev.seq, ev.direction, ev.data, ev.type)
    files: dict[str, WrittenFile] = {}
    for writer in (walk.input, walk.output):
        written = writer.close() if writer is not None else None
        if written is not None:
            files[written.kind] = written
    report.files = list(files.values())
    if files:
        report.files.append(_conversation(out_dir, files, walk.fmt.rate))
    utterances = live.group_utterances(walk.deltas)
    report.utterances = len(utterances)
    if per_turn and files:
        report.files.extend(_cut_turns(out_dir, files, walk.fmt.rate, utterances))
    return report
