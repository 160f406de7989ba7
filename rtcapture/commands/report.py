"""``rtcapture report``: one self-contained HTML page of a session."""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

import click
import soundfile as sf

from ..cli import AppContext, pass_app
from ..errors import UsageError
from ..report import ReportOptions, render_report


@click.command(name="report")
@click.argument("session")
@click.option("--out", "out_path", type=click.Path(path_type=Path, dir_okay=False),
              metavar="FILE.html", help="Where to write the page  [default: report-<id>.html].")
@click.option("--no-audio", is_flag=True,
              help="Leave the audio out (waveforms stay); a much smaller file.")
@pass_app
def report_cmd(app: AppContext, session: str, out_path: Path | None, no_audio: bool) -> None:
    """Write a session's report: one HTML file that needs no network (SESSION: id, prefix,
    last or @label).

    Header, the conversation turn by turn with latencies, a zoomable timeline with
    waveforms and playback, the event log with filters, and for a replay its diff
    against the original. Open it from disk, attach it to a CI run or an email.

    \b
    Example:
      rtcapture report last --out session.html
      rtcapture report @demo --no-audio
    """
    store = app.store(create=False)
    sid = store.resolve(session)
    out = out_path if out_path is not None else Path(f"report-{sid}.html")
    if out.is_dir():
        raise UsageError(f"--out {out} is a directory")
    parent = out.resolve().parent
    if not parent.is_dir():
        raise UsageError(f"folder {parent} does not exist")
    fd, tmp = tempfile.mkstemp(prefix=f".{out.name}.", suffix=".tmp", dir=parent)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            model = render_report(store, sid, fh, ReportOptions(with_audio=not no_audio))
        os.replace(tmp, out)
    except (OSError, sf.SoundFileError) as exc:
        Path(tmp).unlink(missing_ok=True)
        raise UsageError(f"cannot write {out}: {exc}") from exc
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    click.echo(f"{out}  ({out.stat().st_size / 1e6:.1f} MB, {model['session']['events']} "
               f"events, {len(model['replies'])} replies)")


COMMANDS = [report_cmd]
