"""The files the demo writes into its folder, and clearing them before a re-run.

Only these names are ever removed: anything else in the folder (notes, a user's own
recordings) stays untouched.
"""

from __future__ import annotations

import shutil
from pathlib import Path

from ..audio import CONVERSATION_WAV, INPUT_WAV, OUTPUT_WAV, TURNS_DIR

DB_FILE = "rtcapture.db"
DB_COMPANIONS = ("-wal", "-shm", "-journal")
"""SQLite's side files next to the database."""
CASSETTE_FILE = "demo.jsonl"
DATASET_DIR = "dataset"
DATASET_TABLES = ("events", "sessions", "responses")
REPORT_FILE = "replay-report.json"
DIFF_FILE = "replay-diff.txt"
WAV_FILES = (INPUT_WAV, OUTPUT_WAV, CONVERSATION_WAV)
__all__ = ["CASSETTE_FILE", "DATASET_DIR", "DB_FILE", "DIFF_FILE", "REPORT_FILE", "TURNS_DIR",
           "WAV_FILES", "clear_demo_files", "demo_files"]


def demo_files(out: Path, own_db: bool) -> list[Path]:
    """Every file (not folder) name the demo writes at the top of ``out``."""
    names = [*WAV_FILES, CASSETTE_FILE, REPORT_FILE, DIFF_FILE]
    if own_db:
        names += [DB_FILE, *(DB_FILE + suffix for suffix in DB_COMPANIONS)]
    return [out / name for name in names]


def clear_demo_files(out: Path, own_db: bool) -> None:
    """Remove what an earlier demo run wrote into ``out`` (its own database only when the
    demo owns it). The per-turn WAVs are replaced by the audio extraction itself, which
    removes only the turn files it writes."""
    for path in demo_files(out, own_db):
        if path.is_file() or path.is_symlink():
            path.unlink()
    for table in DATASET_TABLES:
        folder = out / DATASET_DIR / table
        if folder.is_dir() and not folder.is_symlink():
            shutil.rmtree(folder)
