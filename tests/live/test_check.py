"""``rtcapture check`` and ``rtcapture report`` on GPT-Live sessions: turns from utterances,
latencies recomputed by hand from the stored timestamps, and the rules firing on a session
built to break them (and quiet on a clean one)."""

from __future__ import annotations

import asyncio
import base64
import io
import json
from pathlib import Path
from typing import Any

import numpy as np
from click.testing import CliRunner

from rtcapture.check import check_session, session_turns
from rtcapture.cli import cli
from rtcapture.codec import encode_samples
from rtcapture.mock.live import LiveMockConnection
from rtcapture.mock.live.samples import EPOCH, LiveSample, Player, build_session
from rtcapture.mock.scenario import parse_scenario
from rtcapture.mock.synth import silence, synthesize
from rtcapture.protocol import G711_ULAW, PCM16, AudioFormat, live
from rtcapture.report.page import render_report
from rtcapture.store import EventRecord, SessionRecord, Store, open_store

CASSETTES = Path(__file__).resolve().parents[2] / "samples" / "cassettes" / "live"


# ---------------------------------------------------------------------- by hand


def by_hand(events: list[EventRecord], fmt: AudioFormat) -> list[dict[str, float]]:
    """Per assistant utterance: end of user speech, first audio heard (session ms) and the
    perceived latency, recomputed from the stored frames with the documented model."""
    appends: list[tuple[float, float]] = []  # (t_ms, cumulative input ms)
    track: list[tuple[float, float, float]] = []  # (cumulative output ms, t_ms, play start)
    fragments: list[dict[str, Any]] = []
    cum_in = cum_out = 0.0
    player_end = -1e18
    for ev in events:
        t = ev.t_ns / 1e6
        if ev.type == live.INPUT_APPEND:
            cum_in += ev.audio_bytes / fmt.bytes_per_ms
            appends.append((t, cum_in))
        elif ev.type == live.OUTPUT_AUDIO_DELTA:
            ms = ev.audio_bytes / fmt.bytes_per_ms
            start = max(t, player_end)
            player_end = start + ms
            cum_out += ms
            track.append((cum_out, t, start))
        elif ev.type in (live.INPUT_TRANSCRIPT_DELTA, live.OUTPUT_TRANSCRIPT_DELTA):
            fragments.append(json.loads(ev.data))
    runs: list[list[dict[str, Any]]] = []
    for frag in fragments:
        if runs and runs[-1][0]["type"] == frag["type"]:
            runs[-1].append(frag)
        else:
            runs.append([frag])

    def captured(pos: float) -> float:
        t, end = next((t, e) for t, e in appends if e >= pos)
        return t - (end - pos)

    def heard(pos: float) -> float:
        before = 0.0
        for end, _t, start in track:
            if end > pos:
                return start + pos - before
            before = end
        raise AssertionError("no output audio there")

    out = []
    for prev, run in zip(runs, runs[1:], strict=False):
        if run[0]["type"] == live.OUTPUT_TRANSCRIPT_DELTA \
                and prev[0]["type"] == live.INPUT_TRANSCRIPT_DELTA:
            user_end = captured(max(f["end_ms"] for f in prev))
            first = heard(run[0]["start_ms"])
            out.append({"user_end": user_end, "heard": first, "perceived": first - user_end,
                        "timeline": run[0]["start_ms"] - max(f["end_ms"] for f in prev)})
    return out


def imported(db_url: str, sample: str) -> tuple[Store, SessionRecord]:
    """A sample cassette imported with the CLI; the open store and its session."""
    result = CliRunner().invoke(cli, ["--db", db_url, "import",
                                      str(CASSETTES / f"{sample}.jsonl")])
    assert result.exit_code == 0, result.output
    store = open_store(db_url)
    return store, store.session(store.resolve(f"@sample-{sample}"))


# ---------------------------------------------------------------------- a clean session


def test_voice_sample_turns_latencies_check_and_report(sqlite_url: str,
                                                       tmp_path: Path) -> None:
    runner = CliRunner()
    store, rec = imported(sqlite_url, "live-voice-turn")
    try:
        events = list(store.events(rec.id))
        turns, obs, _ = session_turns(store, rec)
        replies = [t for t in turns if t.item_id is not None]
        assert [t.item_id for t in replies] == ["utterance-1", "utterance-3"]
        assert [t.user_item_id for t in replies] == ["utterance-0", "utterance-2"]
        expected = by_hand(events, G711_ULAW)
        assert len(expected) == 2
        for turn, want in zip(replies, expected, strict=True):
            assert turn.speech_end_t_ms == round(want["user_end"], 3)
            assert turn.first_audio_heard_t_ms == round(want["heard"], 3)
            assert abs(turn.perceived_latency_ms - want["perceived"]) < 0.01
            assert 0 < turn.perceived_latency_ms < 1000  # the mock answers at once
            assert not turn.interrupted and turn.status == "completed"
        assert obs.errors == [] and check_session(store, rec).violations == []
        model = render_report(store, rec.id, io.StringIO())
        assert [r["transcript"] for r in model["replies"]] == ["It is noon.",
                                                               "You are welcome."]
        assert [r["latency_ms"] for r in model["replies"]] == [w["timeline"]
                                                               for w in expected]
        users = [e["text"] for e in model["conversation"] if e["kind"] == "user"]
        assert users == ["What time is it?", "Thank you."]
        assert model["session"]["responses"] == 2 and model["violations"] == []
        assert model["session"]["usage_seconds"] == 7.72
        assert len(model["vad"]) == 2
    finally:
        store.close()
    check = runner.invoke(cli, ["--db", sqlite_url, "check", "@sample-live-voice-turn"])
    assert check.exit_code == 0 and "0 violation(s)" in check.output, check.output
    page = tmp_path / "live.html"
    made = runner.invoke(cli, ["--db", sqlite_url, "report", "@sample-live-voice-turn",
                               "--out", str(page)])
    assert made.exit_code == 0, made.output
    html = page.read_text(encoding="utf-8")
    assert "You are welcome." in html and "What time is it?" in html


# ---------------------------------------------------------------------- a broken session

STORY = "Once upon a time there was a lighthouse by the sea. " * 3
BROKEN = {"user_audio": [{"transcript": "What time is it?"},
                         {"transcript": "Tell me a story."},
                         {"transcript": "Stop."},
                         {"transcript": "Break something."}],
          "rules": [{"turn": 1, "reply": "It is noon.", "latency_ms": 3000},
                    {"turn": 2, "reply": STORY},
                    {"turn": 3, "reply": "Sure."},
                    {"turn": 4, "error": {"type": "server_error", "code": "boom",
                                          "message": "Injected."}}]}


async def _stream(p: Player, pcm: np.ndarray, step_ms: float = 100.0) -> None:
    """PCM16 audio in 100 ms appends, one every ``step_ms`` of session time (100: real
    time; less: faster than real time, as a client sending a file would)."""
    data = encode_samples(pcm, PCM16)
    chunk = int(100 * PCM16.bytes_per_ms)
    for i in range(0, len(data), chunk):
        p.t_ns = max(p.t_ns, p.base_ns)
        p.base_ns = p.t_ns + int(step_ms * 1e6)
        await p.send({"type": live.INPUT_APPEND,
                      "audio": base64.b64encode(data[i:i + chunk]).decode()})


def _pcm(text: str, tail_ms: float = 2500) -> np.ndarray:
    rate = PCM16.rate
    return np.concatenate([silence(300, rate), synthesize(text, rate, voice="user-voice")
                           .samples, silence(tail_ms, rate)])


async def _broken(p: Player) -> None:
    await p.send({"type": live.SESSION_START, "event_id": "start", "session": {
        "model": "gpt-live-1", "audio": {"format": {"type": "audio/pcm", "rate": 24000}}}})
    await _stream(p, _pcm("What time is it", tail_ms=4500))  # the reply comes 3 s late
    await _stream(p, _pcm("Tell me a story", tail_ms=600))
    # the client sends faster than real time: the output piles up in its player, so the
    # user still hears the story long after talking over it
    await _stream(p, silence(2500, PCM16.rate), step_ms=25)
    await _stream(p, _pcm("Stop"), step_ms=25)
    await _stream(p, _pcm("Break something"))
    await p.send({"type": live.COMMENTARY_APPEND, "event_id": "bad-commentary",
                  "delegation_id": "del_nope", "content": "x"})
    p.t_ns += 1_000_000
    await p.send({"type": live.INPUT_APPEND, "audio": base64.b64encode(b"\0\0\0").decode()})
    await p.send({"type": live.SESSION_CLOSE})


def _store_sample(store: Store, sample: LiveSample) -> str:
    """The sample played against the Live mock (scenario latencies kept), stored as the
    recorder would store it."""
    async def run() -> Player:
        conn = LiveMockConnection(None, scenario=parse_scenario(sample.scenario), seed=0,
                                  fast=False, clock=lambda: EPOCH.timestamp())
        conn.keep_sent = True
        player = Player(conn)
        await sample.run(player)
        return player

    rec, events = build_session(sample, 5, asyncio.run(run()))
    store.save_session(rec, events)
    return rec.id


def test_rules_fire_on_a_live_session_built_to_break_them(sqlite_url: str) -> None:
    store = open_store(sqlite_url)
    try:
        sid = _store_sample(store, LiveSample("live-broken", "", BROKEN, _broken))
        rec = store.session(sid)
        assert rec.flavour == "live"
        result = check_session(store, rec)
        rules = [v.rule for v in result.violations]
        turns, _obs, _ = session_turns(store, rec)
        expected = by_hand(list(store.events(sid)), PCM16)
        first = next(t for t in turns if t.item_id == "utterance-1")
        assert abs(first.perceived_latency_ms - expected[0]["perceived"]) < 0.01
        assert first.perceived_latency_ms > 3000  # latency_ms 3000 on the timeline
        slow = next(v for v in result.violations if v.rule == "latency.perceived")
        assert slow.item_id == "utterance-1"
        story = next(t for t in turns if t.interrupted)
        assert story.yield_by == "model" and story.yield_latency_ms > 1000
        assert story.talk_over_ms and story.talk_over_ms > 0
        late = next(v for v in result.violations if v.rule == "barge-in.late-yield")
        assert late.item_id == story.item_id and late.t_ms == story.interrupted_t_ms
        assert "errors.server-error" in rules  # the scenario's injected error
        rejected = next(v for v in result.violations if v.rule == "hygiene.rejected-event")
        assert rejected.expected == f"{live.COMMENTARY_APPEND} accepted"
        assert "hygiene.audio-format" in rules  # 3 bytes of PCM16
        assert "barge-in.missing-truncate" not in rules  # Live has no truncate
    finally:
        store.close()


# ---------------------------------------------------------------------- delegated responses


def _wrapped(store: Store, sid: str, inner_type: str) -> list[dict[str, Any]]:
    """The Responses events of ``inner_type`` a session's ``response.event`` frames wrap."""
    out = []
    for ev in store.events(sid):
        if ev.type == live.RESPONSE_EVENT:
            inner = json.loads(ev.data)["event"]
            if inner["type"] == inner_type:
                out.append(inner)
    return out


def test_live_tool_calls_carry_the_delegated_response_id(sqlite_url: str) -> None:
    store, rec = imported(sqlite_url, "live-delegation")
    try:
        # the function call's own event (output_item.done) names no response: the
        # response.created wrapped before it in the same delegation does
        calling = _wrapped(store, rec.id, "response.created")[0]["response"]["id"]
        call_id = _wrapped(store, rec.id, "response.output_item.done")[0]["item"]["call_id"]
        turns, obs, _ = session_turns(store, rec)
        assert [(t.call_id, t.response_id) for t in obs.tools] == [(call_id, calling)]
        reply = next(t for t in turns if t.tool_call_id == call_id)
        assert reply.response_id == calling
        model = render_report(store, rec.id, io.StringIO())
        tools = [e for e in model["conversation"] if e["kind"] == "tool"]
        assert [e["response_id"] for e in tools] == [calling]
    finally:
        store.close()


async def _failing_delegation(p: Player) -> None:
    await p.send({"type": live.SESSION_START, "event_id": "start", "session": {
        "model": "gpt-live-1", "audio": {"format": {"type": "audio/pcm", "rate": 24000}},
        "delegation": {"type": "responses", "responses": {"model": "gpt-5.2"}}}})
    await _stream(p, _pcm("Look it up", tail_ms=1500))
    await p.send({"type": live.SESSION_CLOSE})


def test_delegated_response_failed_breaks_errors_response_failed(sqlite_url: str) -> None:
    scenario = {"user_audio": [{"transcript": "Look it up."}],
                "rules": [{"fail": {"type": "server_error", "code": "backend_down",
                                    "message": "The backend failed."}}]}
    store = open_store(sqlite_url)
    try:
        sid = _store_sample(store, LiveSample("live-failed", "", scenario,
                                              _failing_delegation))
        failed = _wrapped(store, sid, "response.failed")
        assert len(failed) == 1  # the mock sent the failure inside response.event
        result = check_session(store, store.session(sid))
        hits = [v for v in result.violations if v.rule == "errors.response-failed"]
        assert len(hits) == 1, result.violations
        assert hits[0].response_id == failed[0]["response"]["id"]
        assert hits[0].observed == "status failed"
        turns, _obs, _ = session_turns(store, store.session(sid))
        assert [(t.user_item_id, t.status, t.response_id) for t in turns] == [
            ("utterance-0", "failed", failed[0]["response"]["id"])]
    finally:
        store.close()
