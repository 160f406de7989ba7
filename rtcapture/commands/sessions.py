"""``rtcapture sessions`` and ``rtcapture show``: read recordings back."""

from __future__ import annotations

import fnmatch
import json

import click

from ..cli import AppContext, pass_app
from ..render import frame_json, session_json, table, timeline_line


def _fmt_s(value: float | None) -> str:
    return "-" if value is None else f"{value:.1f}"


@click.command(name="sessions")
@click.option("--json", "as_json", is_flag=True, help="Print a JSON array (newest first).")
@click.option("--label", help="Only sessions with this label.")
@click.option("--limit", type=click.IntRange(min=1), help="At most this many sessions.")
@pass_app
def sessions_cmd(app: AppContext, as_json: bool, label: str | None, limit: int | None) -> None:
    """List recorded sessions, newest first.

    \b
    Example:
      rtcapture sessions --limit 10
      rtcapture sessions --json | jq '.[0].id'
    """
    records = app.store().sessions(label=label, limit=limit)
    if as_json:
        click.echo(json.dumps([session_json(r) for r in records], indent=2))
        return
    if not records:
        app.info("no sessions recorded yet")
        return
    rows = [
        [r.id, r.started.strftime("%Y-%m-%d %H:%M:%S"), _fmt_s(r.duration_s), r.model or "-",
         r.flavour, str(r.client_events), str(r.server_events),
         f"{r.input_audio_ms / 1000:.1f}", f"{r.output_audio_ms / 1000:.1f}", r.status,
         r.label or "", (r.replay_of or "")[:10]]
        for r in records
    ]
    click.echo(table(rows, ["id", "started (UTC)", "dur s", "model", "flavour", "client",
                            "server", "in s", "out s", "status", "label", "replay-of"]))


@click.command(name="show")
@click.argument("session")
@click.option("--type", "type_glob", metavar="GLOB", help="Only events whose type matches.")
@click.option("--direction", type=click.Choice(["client", "server"]), help="Only one side.")
@click.option("--jsonl", is_flag=True, help="Raw frames, one JSON object per line.")
@click.option("--no-redact", is_flag=True, help="Do not mask sk-/ek_ keys found in payloads.")
@pass_app
def show_cmd(app: AppContext, session: str, type_glob: str | None, direction: str | None,
             jsonl: bool, no_redact: bool) -> None:
    """Show a session's timeline (SESSION: id, prefix, last or @label).

    \b
    Example:
      rtcapture show last --type 'response.*'
      rtcapture show 01JC --jsonl > frames.jsonl
    """
    store = app.store()
    sid = store.resolve(session)
    if not jsonl:
        rec = store.session(sid)
        app.info(f"session {rec.id}  {rec.model or '-'}  {rec.flavour}  {rec.status}  "
                 f"{rec.path or ''}")
    for ev in store.events(sid, direction=direction):
        if type_glob and not fnmatch.fnmatchcase(ev.type or "", type_glob):
            continue
        if jsonl:
            click.echo(json.dumps(frame_json(ev, redact=not no_redact), ensure_ascii=False))
        else:
            click.echo(timeline_line(ev))


COMMANDS = [sessions_cmd, show_cmd]
