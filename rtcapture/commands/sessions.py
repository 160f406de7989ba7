"""``rtcapture sessions`` and ``rtcapture show``: read recordings back."""

from __future__ import annotations

import fnmatch
import json

import click

from ..cli import AppContext, pass_app
from ..render import closest, frame_json, session_json, session_line, table, timeline_line


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
    records = app.store(create=False).sessions(label=label, limit=limit)
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
@click.option("--type", "type_globs", metavar="GLOB", multiple=True,
              help="Only events whose type matches (repeat it, or separate GLOBs with commas, "
                   "for any of several).")
@click.option("--direction", type=click.Choice(["client", "server"]), help="Only one side.")
@click.option("--jsonl", is_flag=True, help="Raw frames, one JSON object per line.")
@click.option("--no-redact", is_flag=True, help="Do not mask sk-/ek_ keys found in payloads.")
@pass_app
def show_cmd(app: AppContext, session: str, type_globs: tuple[str, ...], direction: str | None,
             jsonl: bool, no_redact: bool) -> None:
    """Show a session's timeline (SESSION: id, prefix, last or @label).

    \b
    Example:
      rtcapture show last --type 'response.*'
      rtcapture show @demo --type 'input_audio_buffer.speech_*,response.created' --direction server
      rtcapture show 01JC --jsonl > frames.jsonl
    """
    store = app.store(create=False)
    sid = store.resolve(session)
    if not jsonl:
        click.echo(session_line(store.session(sid)))
    globs = [g.strip() for value in type_globs for g in value.split(",") if g.strip()]
    seen_types: set[str] = set()
    shown = 0
    for ev in store.events(sid, direction=direction):
        if globs and not any(fnmatch.fnmatchcase(ev.type or "", g) for g in globs):
            seen_types.add(ev.type or "")
            continue
        shown += 1
        if jsonl:
            click.echo(json.dumps(frame_json(ev, redact=not no_redact), ensure_ascii=False))
        else:
            click.echo(timeline_line(ev))
    if not shown:
        click.echo(_nothing_shown(globs, direction, seen_types), err=True)


def _nothing_shown(globs: list[str], direction: str | None, types: set[str]) -> str:
    """Why ``show`` printed no event, with the closest type when a --type glob is a typo."""
    filters = [f"--type {g!r}" for g in globs] + ([f"--direction {direction}"] if direction
                                                  else [])
    line = "no events match " + " ".join(filters) if filters else "the session has no events"
    hints = [hit for hit in (closest(g, types) for g in globs) if hit]
    if hints:
        line += f" (closest type: {', '.join(dict.fromkeys(hints))})"
    return line


COMMANDS = [sessions_cmd, show_cmd]
