"""Audio extraction: WAV files of what the user said, what the assistant said, and the
conversation as it was heard."""

from ..codec import decode_chunk
from .extract import AudioReport, InvalidChunk, extract_audio
from .tracks import CONVERSATION_WAV, INPUT_WAV, OUTPUT_WAV, TURNS_DIR
from .wav import WrittenFile

__all__ = [
    "CONVERSATION_WAV",
    "INPUT_WAV",
    "OUTPUT_WAV",
    "TURNS_DIR",
    "AudioReport",
    "InvalidChunk",
    "WrittenFile",
    "decode_chunk",
    "extract_audio",
]
