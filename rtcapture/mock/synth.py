"""Deterministic speech-like audio: voiced syllables with formants, word gaps, pauses.

Not speech, but it sounds and measures like it: a gliding fundamental with harmonics shaped
by two vowel formants, short noise bursts for consonants, ~70 ms per letter, short gaps
between words. The same text, voice, speed and seed always give the same samples, so the
mock's audio replies are byte-identical across runs; tests use it as the "user speaking".
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass

import numpy as np

MS_PER_LETTER = 70.0
"""Spoken duration per letter or digit at speed 1 (about 14 letters a second)."""
WORD_GAP_MS = 70.0
CLAUSE_GAP_MS = 120.0  # after , ; :
SENTENCE_GAP_MS = 170.0  # after . ! ? -- kept under the default 200 ms VAD silence
LEAD_IN_MS = 30.0
PEAK = 0.35 * 32767

_VOWELS = ((730, 1090), (530, 1840), (270, 2290), (570, 840), (300, 870), (660, 1720))
_WORD_RE = re.compile(r"\S+")


@dataclass(frozen=True, slots=True)
class Word:
    """A word's place in the synthesised audio."""

    text: str
    start_ms: float
    end_ms: float


@dataclass(frozen=True, slots=True)
class Speech:
    """Synthesised samples (int16, mono) and where each word lies in them."""

    samples: np.ndarray
    rate: int
    words: tuple[Word, ...]

    @property
    def duration_ms(self) -> float:
        return self.samples.size * 1000.0 / self.rate


def _rng(*parts: object) -> np.random.Generator:
    digest = hashlib.sha256("|".join(str(p) for p in parts).encode("utf-8", "replace")).digest()
    return np.random.default_rng(int.from_bytes(digest[:8], "big"))


def _voice_f0(voice: str) -> float:
    digest = hashlib.sha256(voice.encode("utf-8", "replace")).digest()
    return 105.0 + (digest[0] / 255.0) * 110.0


def _syllable(n: int, rate: int, f0: float, rng: np.random.Generator) -> np.ndarray:
    """One syllable: consonant burst then a voiced vowel, with a smooth envelope."""
    t = np.arange(n, dtype=np.float64) / rate
    dur = max(n / rate, 1e-3)
    f1, f2 = _VOWELS[int(rng.integers(len(_VOWELS)))]
    glide = f0 * (1.0 + 0.08 * np.sin(np.pi * t / dur) - 0.06 * t / dur)
    phase = 2 * np.pi * np.cumsum(glide) / rate
    out = np.zeros(n, dtype=np.float64)
    nyquist = rate / 2 * 0.9
    for k in range(1, 40):
        freq = k * f0
        if freq > min(nyquist, 3800.0):
            break
        amp = 1.0 / (1 + ((freq - f1) / 90.0) ** 2) + 0.6 / (1 + ((freq - f2) / 120.0) ** 2)
        out += (amp + 0.02) * np.sin(k * phase)
    burst = int(n * float(rng.uniform(0.12, 0.25)))
    if burst > 0:
        noise = np.diff(rng.standard_normal(burst + 1)) * 0.35
        out[:burst] = out[:burst] * np.linspace(0.0, 1.0, burst) + noise * np.linspace(1, 0.2, burst)
    attack, release = min(n // 4, int(0.015 * rate)), min(n // 3, int(0.035 * rate))
    env = np.ones(n)
    if attack:
        env[:attack] = 0.5 - 0.5 * np.cos(np.linspace(0, np.pi, attack))
    if release:
        env[-release:] = 0.5 + 0.5 * np.cos(np.linspace(0, np.pi, release))
    return out * env


def estimate_ms(text: str, speed: float = 1.0) -> float:
    """The duration ``synthesize`` gives a text, without synthesising it."""
    words = _WORD_RE.findall(text)
    total = LEAD_IN_MS
    for word in words:
        total += _word_ms(word) + _gap_ms(word)
    return total / max(speed, 0.1)


def _word_ms(word: str) -> float:
    letters = sum(ch.isalnum() for ch in word)
    return max(letters, 1) * MS_PER_LETTER + 40.0


def _gap_ms(word: str) -> float:
    if word[-1] in ".!?":
        return SENTENCE_GAP_MS
    if word[-1] in ",;:":
        return CLAUSE_GAP_MS
    return WORD_GAP_MS


def synthesize(text: str, rate: int = 24000, *, voice: str = "alloy", speed: float = 1.0,
               seed: int = 0) -> Speech:
    """Speech-like int16 audio for ``text`` at ``rate`` Hz; deterministic.

    Duration follows the text (``estimate_ms``); ``speed`` > 1 speaks faster.
    """
    speed = min(max(float(speed), 0.25), 4.0)
    rng = _rng(seed, voice, rate, speed, text)
    f0 = _voice_f0(voice)
    scale = rate / 1000.0 / speed
    pieces: list[np.ndarray] = [np.zeros(int(LEAD_IN_MS * scale))]
    words: list[Word] = []
    cursor = pieces[0].size
    for word in _WORD_RE.findall(text):
        letters = sum(ch.isalnum() for ch in word)
        n_syl = max(1, round(letters / 3))
        n_word = int(_word_ms(word) * scale)
        cuts = np.sort(rng.uniform(0.2, 0.8, n_syl - 1)) if n_syl > 1 else np.array([])
        bounds = [0, *[int(c * n_word) for c in cuts], n_word]
        start = cursor
        for a, b in zip(bounds[:-1], bounds[1:], strict=True):
            if b - a > 0:
                seg = _syllable(b - a, rate, f0 * float(rng.uniform(0.92, 1.08)), rng)
                pieces.append(seg * float(rng.uniform(0.75, 1.0)))
                cursor += b - a
        words.append(Word(word, start / rate * 1000, cursor / rate * 1000))
        gap = np.zeros(int(_gap_ms(word) * scale))
        pieces.append(gap)
        cursor += gap.size
    signal = np.concatenate(pieces) if pieces else np.zeros(0)
    peak = float(np.max(np.abs(signal))) if signal.size else 0.0
    if peak > 0:
        signal = signal / peak * PEAK
    samples = np.clip(np.round(signal), -32768, 32767).astype(np.int16)
    return Speech(samples=samples, rate=rate, words=tuple(words))


def silence(ms: float, rate: int = 24000) -> np.ndarray:
    """``ms`` of digital silence as int16 samples."""
    return np.zeros(int(round(ms * rate / 1000)), dtype=np.int16)


def noise(ms: float, rate: int = 24000, *, dbfs: float = -60.0, seed: int = 0) -> np.ndarray:
    """``ms`` of low white noise (a room's floor) at ``dbfs`` RMS; deterministic."""
    n = int(round(ms * rate / 1000))
    level = 32767 * 10 ** (dbfs / 20)
    return np.clip(np.round(_rng("noise", seed, rate).standard_normal(n) * level),
                   -32768, 32767).astype(np.int16)
