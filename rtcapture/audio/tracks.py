"""The output files and what feeds them: decoded chunks in, WAV files out.

User chunks go to ``input.wav``, the conversation's left channel and the per-turn cutter;
assistant chunks to ``output.wav``, the right channel and the per-item files. Each file
takes its rate when its first chunk arrives (the conversation: the highest rate declared
for either side at that moment); lower-rate chunks are resampled up on the way. A chunk
at a *higher* rate than its file was opened with raises ``Replan``: the caller starts
over with the higher rate (rare: a format change to a higher rate mid-session).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import NamedTuple

import numpy as np

from .cutter import UserTurns
from .mixer import ConversationMixer
from .resample import ChunkStream, Piece
from .turns import AssistantTurns, TurnFolder
from .wav import WavWriter, WrittenFile

INPUT_WAV = "input.wav"
OUTPUT_WAV = "output.wav"
CONVERSATION_WAV = "conversation.wav"
TURNS_DIR = "turns"


@dataclass(frozen=True, slots=True)
class RatePlan:
    """Rates the files must take (None: decided by their first chunk)."""

    input_rate: int | None = None
    output_rate: int | None = None
    conversation_rate: int | None = None

    def raised(self, other: RatePlan) -> RatePlan:
        """The higher of two plans, file by file."""
        def top(a: int | None, b: int | None) -> int | None:
            return b if a is None else a if b is None else max(a, b)
        return RatePlan(top(self.input_rate, other.input_rate),
                        top(self.output_rate, other.output_rate),
                        top(self.conversation_rate, other.conversation_rate))


class Replan(Exception):
    """A chunk came at a higher rate than its file was opened with."""

    def __init__(self, plan: RatePlan) -> None:
        super().__init__(f"rates change to {plan}")
        self.plan = plan


class _InTag(NamedTuple):
    conv_start: int
    created: str | None  # a client-created item's key; None for appended audio


class _OutTag(NamedTuple):
    key: tuple[str, int]
    conv_start: int
    item_offset: int
    heard: bool  # delivered to the client, so it belongs in the conversation


class Tracks:
    """The files of one extraction, opened as audio arrives."""

    def __init__(self, out_dir: Path, per_turn: bool, plan: RatePlan) -> None:
        self.out_dir = out_dir
        self.plan = plan
        self.folder = TurnFolder(out_dir / TURNS_DIR) if per_turn else None
        self._folder_ready = False
        self.mixer: ConversationMixer | None = None
        self.input_wav: WavWriter | None = None
        self.output_wav: WavWriter | None = None
        self.in_file: ChunkStream[_InTag] | None = None
        self.in_conv: ChunkStream[_InTag] | None = None
        self.out_file: ChunkStream[_OutTag] | None = None
        self.out_conv: ChunkStream[_OutTag] | None = None
        self.user_turns: UserTurns | None = None
        self.assistant_turns: AssistantTurns | None = None

    # ------------------------------------------------------------------ opening

    def _turn_folder(self) -> TurnFolder | None:
        if self.folder is not None and not self._folder_ready:
            self.folder.clear_stale()
            self._folder_ready = True
        return self.folder

    def _conversation(self, rate: int) -> ConversationMixer:
        if self.mixer is None:
            rate = max(rate, self.plan.conversation_rate or 0)
            self.mixer = ConversationMixer(WavWriter(self.out_dir / CONVERSATION_WAV, rate, 2,
                                                     kind="conversation"))
        return self.mixer

    def _opened(self) -> RatePlan:
        return RatePlan(self.in_file.rate_out if self.in_file else None,
                        self.out_file.rate_out if self.out_file else None,
                        self.mixer.rate if self.mixer else None)

    def open_input(self, rate: int, declared_output_rate: int, vad: bool) -> None:
        """Ready the user side for a chunk at ``rate``; raises ``Replan`` if it is too high."""
        if self.in_file is None:
            mixer = self._conversation(max(rate, declared_output_rate))
            in_rate = max(rate, self.plan.input_rate or 0)
            self.in_file = ChunkStream(in_rate)
            self.in_conv = self.in_file if in_rate == mixer.rate else ChunkStream(mixer.rate)
            self.input_wav = WavWriter(self.out_dir / INPUT_WAV, in_rate, kind="input")
            folder = self._turn_folder()
            if folder is not None:
                self.user_turns = UserTurns(folder, in_rate, vad=vad)
        assert self.mixer is not None
        if rate > self.in_file.rate_out or rate > self.mixer.rate:
            raise Replan(self._opened().raised(RatePlan(rate, None, rate)))

    def open_output(self, rate: int, declared_input_rate: int) -> None:
        """Ready the assistant side for a chunk at ``rate``; raises ``Replan`` if too high."""
        if self.out_file is None:
            mixer = self._conversation(max(rate, declared_input_rate))
            out_rate = max(rate, self.plan.output_rate or 0)
            self.out_file = ChunkStream(out_rate)
            self.out_conv = self.out_file if out_rate == mixer.rate else ChunkStream(mixer.rate)
            self.output_wav = WavWriter(self.out_dir / OUTPUT_WAV, out_rate, kind="output")
            folder = self._turn_folder()
            if folder is not None:
                self.assistant_turns = AssistantTurns(folder, out_rate)
        assert self.mixer is not None
        if rate > self.out_file.rate_out or rate > self.mixer.rate:
            raise Replan(self._opened().raised(RatePlan(None, rate, rate)))

    # ------------------------------------------------------------------ user audio

    def add_input(self, t_ns: int, samples: np.ndarray, rate: int,
                  created: str | None = None) -> None:
        """One user chunk sent at ``t_ns`` (``open_input`` first)."""
        assert self.in_file is not None and self.in_conv is not None and self.mixer
        if self.in_conv is self.in_file and self.in_file.passes(rate):
            self.add_inputs([t_ns], [samples], samples.size, created)
            return
        n_conv = self.in_conv.frames_for(samples.size, rate)
        if self.user_turns is not None and created is None:
            self.user_turns.promise(self.in_file.frames_for(samples.size, rate))
        tag = _InTag(self.mixer.queue_user(t_ns, n_conv), created)
        _, pieces = self.in_file.feed(samples, rate, tag)
        self._input_pieces(pieces, self.in_conv is self.in_file)
        if self.in_conv is not self.in_file:
            _, pieces = self.in_conv.feed(samples, rate, tag)
            self._user_conv_pieces(pieces)

    def passes_input(self, rate: int) -> bool:
        """True when user chunks at ``rate`` go everywhere as they are (``add_inputs``)."""
        return self.in_conv is self.in_file and self.in_file is not None \
            and self.in_file.passes(rate)

    def add_inputs(self, times_ns: list[int], chunks: list[np.ndarray], frames: int,
                   created: str | None = None) -> None:
        """User chunks that need no resampling (``passes_input``), in one go."""
        assert self.input_wav is not None and self.mixer is not None
        self.input_wav.write_all(chunks, frames)
        if self.user_turns is not None:
            if created is None:
                self.user_turns.promise(frames)
            for samples in chunks:
                if created is None:
                    self.user_turns.append(samples)
                else:
                    self.user_turns.created_audio(created, samples)
        self.mixer.add_user(times_ns, chunks)

    def _input_pieces(self, pieces: list[Piece[_InTag]], to_conv: bool) -> None:
        assert self.input_wav is not None
        for piece in pieces:
            self.input_wav.write(piece.frames)
            if self.user_turns is not None:
                if piece.tag.created is None:
                    self.user_turns.append(piece.frames)
                else:
                    self.user_turns.created_audio(piece.tag.created, piece.frames)
        if to_conv:
            self._user_conv_pieces(pieces)

    def _user_conv_pieces(self, pieces: list[Piece[_InTag]]) -> None:
        assert self.mixer is not None
        for piece in pieces:
            self.mixer.place_user(piece.tag.conv_start + piece.offset, piece.frames)

    # ------------------------------------------------------------------ assistant audio

    def add_output(self, key: tuple[str, int], t_ns: int, samples: np.ndarray, rate: int,
                   delivered: bool) -> None:
        """One assistant chunk of item ``key`` that arrived at ``t_ns`` (``open_output``
        first); undelivered audio was never heard, so it stays out of the conversation."""
        assert self.out_file is not None and self.out_conv is not None and self.mixer
        start = offset = 0
        if delivered:
            n_conv = self.out_conv.frames_for(samples.size, rate)
            start, offset = self.mixer.queue_assistant(key, t_ns, n_conv)
        if self.assistant_turns is not None:
            self.assistant_turns.start(key)
        tag = _OutTag(key, start, offset, delivered)
        _, pieces = self.out_file.feed(samples, rate, tag)
        self._output_pieces(pieces, self.out_conv is self.out_file)
        if self.out_conv is not self.out_file:
            _, pieces = self.out_conv.feed(samples, rate, tag)
            self._assistant_conv_pieces(pieces)

    def _output_pieces(self, pieces: list[Piece[_OutTag]], to_conv: bool) -> None:
        assert self.output_wav is not None
        for piece in pieces:
            self.output_wav.write(piece.frames)
            if self.assistant_turns is not None:
                self.assistant_turns.write(piece.tag.key, piece.frames)
        if to_conv:
            self._assistant_conv_pieces(pieces)

    def _assistant_conv_pieces(self, pieces: list[Piece[_OutTag]]) -> None:
        assert self.mixer is not None
        for piece in pieces:
            tag = piece.tag
            if tag.heard:
                self.mixer.place_assistant(tag.key, tag.conv_start + piece.offset,
                                           tag.item_offset + piece.offset, piece.frames)

    def truncate(self, key: tuple[str, int], audio_end_ms: float) -> None:
        """The user heard only the first ``audio_end_ms`` of an assistant item."""
        if self.mixer is not None:
            self.mixer.truncate(key, audio_end_ms)
        if self.assistant_turns is not None:
            self.assistant_turns.truncate(key, audio_end_ms)

    # ------------------------------------------------------------------ time and the end

    def advance(self, t_ns: int) -> None:
        """The walk reached ``t_ns``: write out the conversation no later event can change."""
        if self.mixer is not None:
            self.mixer.advance(t_ns, self._floor())

    def _floor(self) -> int | None:
        """The earliest conversation frame still owed by a resampler."""
        floors = []
        pending_in = self.in_conv.pending() if self.in_conv is not None else None
        if pending_in is not None:
            floors.append(pending_in[0].conv_start + pending_in[1])
        pending_out = self.out_conv.pending() if self.out_conv is not None else None
        if pending_out is not None and pending_out[0].heard:
            floors.append(pending_out[0].conv_start + pending_out[1])
        return min(floors) if floors else None

    def finish(self) -> list[WrittenFile]:
        """Flush the resamplers and close every file; returns the files written."""
        if self.in_file is not None and self.in_conv is not None:
            self._input_pieces(self.in_file.flush(), self.in_conv is self.in_file)
            if self.in_conv is not self.in_file:
                self._user_conv_pieces(self.in_conv.flush())
        if self.out_file is not None and self.out_conv is not None:
            self._output_pieces(self.out_file.flush(), self.out_conv is self.out_file)
            if self.out_conv is not self.out_file:
                self._assistant_conv_pieces(self.out_conv.flush())
        files = [w.close() if w is not None else None
                 for w in (self.input_wav, self.output_wav)]
        files.append(self.mixer.finish() if self.mixer is not None else None)
        written = [f for f in files if f is not None]
        turn_files: list[WrittenFile] = []
        if self.user_turns is not None:
            turn_files += self.user_turns.finish()
        if self.assistant_turns is not None:
            turn_files += self.assistant_turns.finish()
        if self.folder is not None and self._folder_ready:
            self.folder.remove_if_empty()
        return written + sorted(turn_files, key=lambda f: f.path.name)

    @property
    def late_ms(self) -> float:
        """Conversation audio that could not be placed or silenced in time."""
        return 0.0 if self.mixer is None else self.mixer.late_frames * 1000 / self.mixer.rate

    def discard(self) -> None:
        """Close and delete everything written so far (before starting over)."""
        for writer in (self.input_wav, self.output_wav):
            if writer is not None:
                writer.discard()
        if self.mixer is not None:
            self.mixer.discard()
        for turns in (self.user_turns, self.assistant_turns):
            if turns is not None:
                turns.discard()
