"""The short tour ``rtcapture demo`` prints: what was recorded, where each file is, and the
commands to try next. Figures come from the files just written (the Parquet ``responses``
table, the stored session), so the tour shows what a user will find in them."""

from __future__ import annotations

import importlib.util
import shlex
import shutil
import sys
import sysconfig
from pathlib import Path
from typing import Any

import pyarrow.parquet as pq

from ..audio import CONVERSATION_WAV, INPUT_WAV, OUTPUT_WAV
from ..protocol import redact_url
from ..store import SessionRecord
from ..style import style
from .files import CASSETTE_FILE, DATASET_DIR, DB_FILE, DIFF_FILE, REPORT_FILE, TURNS_DIR
from .run import DEMO_LABEL, DemoResult

_TEXT_CHARS = 48


def _heading(text: str) -> str:
    return style(text, bold=True)


def _quote(text: str | None) -> str:
    if not text:
        return ""
    short = text if len(text) <= _TEXT_CHARS else text[:_TEXT_CHARS - 3] + "..."
    return f'"{short}"'


def response_rows(result: DemoResult) -> list[dict[str, Any]]:
    """The demo session's rows of the Parquet ``responses`` table, in order."""
    assert result.dataset is not None
    table = pq.read_table(result.dataset / "responses")
    rows = [r for r in table.to_pylist() if r["session_id"] == result.session_id]
    return sorted(rows, key=lambda r: r["created_t_ms"] or 0.0)


def _latency(row: dict[str, Any]) -> str:
    values = [v for v in (row["first_audio_latency_ms"], row["first_text_latency_ms"])
              if v is not None]
    return f"{min(values):5.0f} ms" if values else "      -"


def _reply(row: dict[str, Any], result: DemoResult) -> str:
    rid = row["response_id"]
    if rid in result.calls:
        return f"call   {result.calls[rid]}"
    audio_s = (row["output_audio_ms"] or 0.0) / 1000
    text = _quote(row["transcript"])
    reply = f"audio  {audio_s:.1f} s {text}" if audio_s else f"text   {text}"
    barge = result.conversation.barge
    if rid == barge.interrupted.id:
        reply += f"  <- barge-in: truncated at {barge.heard_ms / 1000:.1f} s, as heard"
    return reply


def _recorded(result: DemoResult, rec: SessionRecord) -> list[str]:
    duration = f"{rec.duration_s:.1f} s" if rec.duration_s is not None else "-"
    lines = [
        _heading("What was recorded"),
        f"  session  {rec.id}  @{rec.label or DEMO_LABEL}  {rec.flavour.upper()} dialect  "
        f"{duration}",
        f"  events   {rec.client_events} from the client, {rec.server_events} from the server",
        f"  audio    {rec.input_audio_ms / 1000:.1f} s from the user, "
        f"{rec.output_audio_ms / 1000:.1f} s from the assistant",
        f"  turns    {result.typed_turns} typed, {result.spoken_turns} spoken (server VAD)",
        "",
        "  #  trigger          status     latency   reply",
    ]
    for i, row in enumerate(response_rows(result), start=1):
        lines.append(f"  {i}  {row['trigger'] or '-':<15}  {row['status'] or '-':<9}  "
                     f"{_latency(row)}  {_reply(row, result)}")
    lines.append("  (latency: first text or audio after the trigger, from the Parquet "
                 "responses table)")
    verdict = "no differences" if result.diff_equal else \
        style(f"{result.differences} differences", fg="red")
    lines += ["", f"  replay against playback: every client frame re-sent, {verdict}", ""]
    return lines


def _files(result: DemoResult) -> list[str]:
    out = result.options.out
    by_kind = {f.kind: f for f in result.audio_files}
    turns = sum(1 for f in result.audio_files if f.path.parent.name == TURNS_DIR)

    def secs(kind: str) -> str:
        f = by_kind.get(kind)
        return f" ({f.duration_s:.1f} s)" if f is not None else ""

    rows = []
    if result.options.own_db:
        rows.append((DB_FILE, "the recording: every frame both ways, byte for byte (SQLite)"))
    rows += [
        (INPUT_WAV, f"what the user said{secs('input')}"),
        (OUTPUT_WAV, f"what the assistant said{secs('output')}"),
        (CONVERSATION_WAV, "both, as heard: left user, right assistant, cut at the "
                             f"barge-in{secs('conversation')}"),
        (f"{TURNS_DIR}/", f"one WAV per user and assistant turn ({turns} files)"),
        (f"{DATASET_DIR}/", "Parquet tables: events, sessions, responses"),
        (CASSETTE_FILE, f"the session as a JSONL cassette ({result.cassette_frames} frames; "
                        "rtcapture import reads it)"),
        (REPORT_FILE, "the replay diff, as JSON"),
        (DIFF_FILE, "the replay diff, readable"),
    ]
    lines = [_heading(f"Files in {out}{'' if str(out).endswith('/') else '/'}")]
    lines += [f"  {name:<20}{text}" for name, text in rows]
    if not result.options.own_db:
        lines.append(f"  (recorded into {redact_url(result.options.database)})")
    return [*lines, ""]


def _on_path(name: str, wanted: Path) -> bool:
    """Whether the shell's ``name`` is ``wanted`` (the running rtcapture's own)."""
    found = shutil.which(name)
    try:
        return found is not None and Path(found).samefile(wanted)
    except OSError:
        return False


def _programs() -> tuple[list[str], str, str]:
    """Lines to run first, and how to call rtcapture and python so that the commands work
    as printed: a virtualenv that is not active gets its activation line; an install
    outside one gets full paths."""
    scripts = Path(sysconfig.get_path("scripts"))
    if _on_path("rtcapture", scripts / "rtcapture") and _on_path("python", Path(sys.executable)):
        return [], "rtcapture", "python"
    if sys.prefix != sys.base_prefix:
        activate = shlex.quote(str(Path(sys.prefix) / "bin" / "activate"))
        return [f"  . {activate}   # puts this rtcapture and its python on PATH"], \
            "rtcapture", "python"
    return [], shlex.quote(str(scripts / "rtcapture")), shlex.quote(sys.executable)


def _next(result: DemoResult) -> list[str]:
    options = result.options
    first, rt, python = _programs()
    if options.own_db:
        lines = [*first, f"  cd {shlex.quote(str(options.out))}      # its rtcapture.db is the "
                 "default database there"]
        data = DATASET_DIR
    else:
        rt = f"{rt} --db {shlex.quote(redact_url(options.database))}"
        lines = first
        data = shlex.quote(str(options.out / DATASET_DIR))
    if importlib.util.find_spec("pandas") is None:
        lines.append(f"  {python} -m pip install pandas      # the 'analysis' extra, for the "
                     "last line")
    lines += [
        f"  {rt} sessions",
        f"  {rt} show @{DEMO_LABEL} --type 'response.*'",
        f"  {rt} replay @{DEMO_LABEL} --target playback --diff",
        f"  {python} -c \"import pandas as pd; print(pd.read_parquet('{data}/responses'))\"",
        "",
        "  Then record your own agent: rtcapture record --upstream wss://api.openai.com",
        "  and point its client at ws://127.0.0.1:8765/v1 (the README shows how for the "
        "Python",
        "  and Node SDKs, browsers and Azure OpenAI).",
    ]
    return [_heading("Try next"), *lines]


def tour_lines(result: DemoResult) -> list[str]:
    """The whole tour, line by line (terminal styles; the CLI prints them plain when not on a terminal)."""
    pace = "fast" if result.options.fast else "real time"
    head = (f"rtcapture demo: a scripted voice-agent session through the recorder, offline "
            f"(mock server, {result.client_name}, {pace}), done in {result.elapsed_s:.0f} s.")
    return [head, "", *_recorded(result, result.record), *_files(result), *_next(result)]
