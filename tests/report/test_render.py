"""Unusual sessions render: no audio, incomplete, invalid JSON and binary frames, GA and beta;
no secret from the recording reaches the page; ``--no-audio`` leaves the audio out."""

from __future__ import annotations

import io
import json
import re
from pathlib import Path
from typing import Any

import pytest

from rtcapture.protocol import Flavour
from rtcapture.report import ReportOptions, render_report
from rtcapture.store import Status, Store, open_store
from tests.demo.helpers import run_cli
from tests.export.sessions import make_three_turns
from tests.factories import make_session

from .browser import open_page

CANARY = "sk-proj-CANARYcanary0123456789abcdef"
EPHEMERAL = "ek_CANARY9876543210zyxwvu"


@pytest.fixture
def store(sqlite_url: str) -> Any:
    st = open_store(sqlite_url)
    yield st
    st.close()


def _model(page: str) -> dict[str, Any]:
    found = re.search(r'<script type="application/json" id="rtc-model">(.*?)</script>', page,
                      re.S)
    assert found
    return json.loads(found.group(1))


def _events(page: str) -> list[list[Any]]:
    found = re.search(r'<script type="application/json" id="rtc-events">(.*?)</script>', page,
                      re.S)
    assert found
    return json.loads(found.group(1))


def _render(store: Store, sid: str, **kwargs: Any) -> str:
    buf = io.StringIO()
    render_report(store, sid, buf, ReportOptions(**kwargs))
    return buf.getvalue()


def _text_only(store: Store) -> str:
    return make_session(store, [
        ("server", {"type": "session.created", "event_id": "event_1", "session": {}}, 0),
        ("client", {"type": "conversation.item.create", "item": {
            "type": "message", "role": "user",
            "content": [{"type": "input_text", "text": "hi"}]}}, 5),
        ("client", {"type": "response.create"}, 6),
        ("server", {"type": "response.created", "response": {"id": "resp_1"}}, 20),
        ("server", {"type": "response.output_text.delta", "response_id": "resp_1",
                    "item_id": "item_1", "delta": "hello"}, 120),
        ("server", {"type": "response.done", "response": {"id": "resp_1",
                                                          "status": "completed"}}, 130),
    ], label="text")


def _odd_frames(store: Store) -> str:
    return make_session(store, [
        ("server", {"type": "session.created", "event_id": "event_1", "session": {}}, 0),
        ("client", b"{not json at all <script>alert(1)</script>", 3),
        ("client", b"\xff\xfe\x00binary", 4),
        ("server", {"type": "error", "error": {"code": "invalid_json", "message": "bad"}}, 5),
    ], label="odd", status=Status.INCOMPLETE)


def _secrets(store: Store) -> str:
    return make_session(store, [
        ("server", {"type": "session.created", "session": {"instructions": f"key {CANARY}"}}, 0),
        ("client", {"type": "session.update", "session": {"client_secret": EPHEMERAL}}, 1),
        ("client", f"raw text with {CANARY}".encode(), 2),
    ], label=f"label-{CANARY}")


def test_text_session_without_audio_renders(store: Store) -> None:
    """No audio at all: no player, empty envelopes, the reply and the typed turn shown."""
    page = _render(store, _text_only(store))
    model = _model(page)
    assert '<audio id="player"' not in page and model["has_audio"] is False
    assert model["user_envelope"] == "" and len(model["replies"]) == 1
    assert model["replies"][0]["first_text_latency_ms"] == pytest.approx(114.0)
    assert [e["kind"] for e in model["conversation"]] == ["user", "reply"]
    assert len(_events(page)) == 6


def test_incomplete_session_with_invalid_json_and_binary_frames_renders(store: Store) -> None:
    """Unparsed frames are logged (binary flagged), counted; markup in them stays data."""
    page = _render(store, _odd_frames(store))
    model = _model(page)
    assert model["session"]["status"] == "incomplete"
    assert model["session"]["parse_errors"] == 2
    rows = _events(page)
    assert [r[7] for r in rows] == [False, True, True, False]
    assert rows[2][6] & 1 and rows[2][4] is None
    assert "<script>alert" not in page and "</script>alert" not in page
    assert model["conversation"][0]["kind"] == "error"


@pytest.mark.parametrize("flavour", [Flavour.GA, Flavour.BETA])
def test_ga_and_beta_sessions_render_the_same_replies(store: Store, flavour: Flavour) -> None:
    """Both dialects give the export's three replies with their latencies."""
    sid = make_three_turns(store, flavour)
    model = _model(_render(store, sid))
    assert model["session"]["dialect"] == flavour.value
    from rtcapture.analysis import Recordings

    expected = Recordings(store).responses(sid)
    assert [r["response_id"] for r in model["replies"]] == list(expected["response_id"])
    assert [r["first_audio_latency_ms"] for r in model["replies"]] == pytest.approx(
        [None if v != v else v for v in expected["first_audio_latency_ms"]], nan_ok=True)


def test_no_secret_reaches_the_page(store: Store) -> None:
    """Keys in payloads, raw frames and the label are masked in the HTML."""
    page = _render(store, _secrets(store))
    assert CANARY not in page and EPHEMERAL not in page
    assert CANARY[-4:] in page  # the marker keeps the last four characters


def test_cli_report_no_audio_is_smaller(demo_page: Path, tmp_path: Path, demo_run: Any) -> None:
    """``--no-audio`` drops the player and the audio's bytes; the envelopes stay."""
    out = tmp_path / "quiet.html"
    demo_run.cli("report", "@demo", "--no-audio", "--out", str(out))
    quiet, full = out.read_text(), demo_page.read_text()
    assert '<audio id="player"' not in quiet and "data:audio/ogg;base64," in full
    src = re.search(r'src="(data:audio/ogg;base64,[^"]+)"', full)
    assert src and len(full) - len(quiet) >= len(src.group(1))
    assert _model(quiet)["user_envelope"] == _model(full)["user_envelope"] != ""


def test_replay_page_carries_its_diff(demo_run: Any, tmp_path: Path) -> None:
    """The demo's replay page holds ``rtcapture diff``'s verdict on it and its original."""
    out = tmp_path / "replay.html"
    demo_run.cli("report", "@demo-replay", "--out", str(out))
    diff = _model(out.read_text())["diff"]
    verdict = run_cli("--db", demo_run.db, "diff", "@demo", "@demo-replay")
    assert verdict.exit_code in (0, 1), verdict.output
    assert diff["equal"] is (verdict.exit_code == 0)
    assert diff["exit_code"] == verdict.exit_code
    assert len(diff["responses"]) == 5


def test_bad_session_and_out_are_one_line_errors(demo_run: Any, tmp_path: Path) -> None:
    """Unknown session, or --out in a missing folder: exit 2, one line, no traceback."""
    result = run_cli("--db", demo_run.db, "report", "nosuchsession")
    assert result.exit_code == 2 and "no session matches" in result.output
    result = run_cli("--db", demo_run.db, "report", "@demo", "--out",
                     str(tmp_path / "missing" / "x.html"))
    assert result.exit_code == 2 and "does not exist" in result.output


def test_unusual_sessions_load_in_the_browser(browser: Any, store: Store, tmp_path: Path) -> None:
    """The odd, secret and text-only pages load in Chromium without a console error."""
    for make in (_text_only, _odd_frames, _secrets):
        path = tmp_path / f"{make.__name__}.html"
        path.write_text(_render(store, make(store)), encoding="utf-8")
        opened = open_page(browser, path.as_uri())
        assert opened.errors == [], make.__name__
        assert opened.js("document.querySelectorAll('#log-rows .row').length") > 0
        opened.page.close()


def test_page_shows_what_check_finds(sqlite_url: str, tmp_path: Path) -> None:
    """A session with a server error: the page's violations are exactly the rule ids and
    times that ``rtcapture check --format json`` reports for it."""
    from tests.demo.helpers import SAMPLES

    assert run_cli("--db", sqlite_url, "import",
                   str(SAMPLES / "cassettes" / "error-ga.jsonl")).exit_code == 0
    checked = run_cli("--db", sqlite_url, "check", "last", "--format", "json")
    assert checked.exit_code == 1, checked.output
    found = json.loads(checked.output)
    expected = sorted((v["rule"], v["t_ms"]) for s in found["sessions"]
                      for v in s["violations"])
    assert expected
    with open_store(sqlite_url) as st:
        model = _model(_render(st, st.resolve("last")))
    assert sorted((v["rule"], v["t_ms"]) for v in model["violations"]) == expected
