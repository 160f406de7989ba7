"""``rtcapture audio``: write a session's audio as WAV files."""

from __future__ import annotations

import json
from pathlib import Path

import click
import soundfile as sf

from ..audio import AudioReport, extract_audio
from ..cli import AppContext, pass_app
from ..errors import UsageError
from ..paths import child
from ..render import table

SHOWN_INVALID = 50
"""Skipped chunks listed one by one on stderr; the rest are counted."""


def _print_files(report: AudioReport) -> None:
    rows = [[str(f.path), f"{f.duration_s:.3f} s", f"{f.rate} Hz",
             "stereo" if f.channels == 2 else "mono"] for f in report.files]
    click.echo(table(rows, ["file", "duration", "rate", "channels"]))


def _warn_invalid(report: AudioReport) -> None:
    for chunk in report.invalid[:SHOWN_INVALID]:
        click.echo(f"seq {chunk.seq}: skipped {chunk.type} chunk: {chunk.reason}", err=True)
    more = report.invalid_count - min(len(report.invalid), SHOWN_INVALID)
    if more > 0:
        click.echo(f"... and {more} more invalid chunks", err=True)
    if report.invalid_count:
        click.echo(f"skipped {report.invalid_count} invalid audio chunk"
                   f"{'s' if report.invalid_count != 1 else ''}", err=True)


@click.command(name="audio")
@click.argument("session")
@click.option("--out", "out_dir", type=click.Path(path_type=Path), metavar="DIR",
              help="Folder for the WAV files (created if missing)  [default: audio-<id>].")
@click.option("--per-turn", is_flag=True,
              help="Also one file per user and assistant audio item, in turns/.")
@click.option("--json", "as_json", is_flag=True, help="Print the files written as JSON.")
@pass_app
def audio_cmd(app: AppContext, session: str, out_dir: Path | None, per_turn: bool,
              as_json: bool) -> None:
    """Write a session's audio as 16-bit WAV files (SESSION: id, prefix, last or @label).

    input.wav is what the client sent, output.wav what the server sent, conversation.wav
    both on the session's clock as the user heard it (left: user, right: assistant, cut
    where the user interrupted it).

    \b
    Example:
      rtcapture audio last --out ./wav
      rtcapture audio @support-call --per-turn --json
    """
    store = app.store(create=False)
    sid = store.resolve(session)
    out = out_dir if out_dir is not None else child(Path(), f"audio-{sid}")
    if out.exists() and not out.is_dir():
        raise UsageError(f"--out {out} exists and is not a directory")
    try:
        report = extract_audio(store, sid, out, per_turn=per_turn)
    except (OSError, sf.SoundFileError) as exc:
        raise UsageError(f"cannot write audio to {out}: {exc}") from exc
    _warn_invalid(report)
    if report.late_ms > 0:
        app.info(f"note: {report.late_ms:.0f} ms of conversation audio came too late to be "
                 f"placed or silenced exactly (audio queued far ahead of real time)")
    if as_json:
        click.echo(json.dumps(report.as_json(), indent=2))
    elif report.files:
        _print_files(report)
    if not report.files:
        app.info(f"no audio in session {sid}: nothing written")


COMMANDS = [audio_cmd]
