"""The demo session's report in headless Chromium: loads offline, shows the Parquet
latencies and the cut of conversation.wav, plays, seeks, filters its log like ``show``."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest
import soundfile as sf

from .browser import artifacts_dir, open_page
from .conftest import DemoRun

REPO = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def page(browser: Any, demo_page: Path) -> Any:
    """The demo's report, opened from file://."""
    opened = open_page(browser, demo_page.as_uri())
    yield opened
    opened.page.close()


def _demo_id(demo_run: DemoRun) -> str:
    return json.loads(demo_run.cli("sessions", "--json", "--label", "demo"))[0]["id"]


def test_loads_from_file_without_console_error_or_network(page: Any, demo_page: Path) -> None:
    """No console error, no request but the file itself; a screenshot is kept."""
    assert page.errors == []
    assert page.requests == [demo_page.as_uri()]
    shot = artifacts_dir() / "report-demo.png"
    page.page.screenshot(path=str(shot), full_page=True)
    assert shot.stat().st_size > 10_000


def test_replies_have_the_parquet_latencies(page: Any, demo_run: DemoRun) -> None:
    """Five replies, in order, with the responses table's first-audio/first-text latency."""
    table = pd.read_parquet(demo_run.out / "dataset" / "responses")
    table = table[table["session_id"] == _demo_id(demo_run)].sort_values("created_t_ms")
    shown = page.js("""Array.from(document.querySelectorAll('#conv li.reply')).map(li => [
        li.dataset.responseId, li.dataset.firstAudioLatencyMs, li.dataset.firstTextLatencyMs])""")
    assert len(shown) == 5 == len(table)
    for (rid, audio, text), row in zip(shown, table.itertuples(), strict=True):
        assert rid == row.response_id
        for value, expected in ((audio, row.first_audio_latency_ms),
                                (text, row.first_text_latency_ms)):
            if pd.isna(expected):
                assert value == ""
            else:
                assert float(value) == pytest.approx(expected, abs=1e-6)


def _last_sound_ms(wav: Path, start_ms: float, stop_ms: float) -> float:
    """Where the assistant channel of conversation.wav last sounds between two times."""
    data, rate = sf.read(wav, dtype="int16", always_2d=True)
    lo, hi = int(start_ms * rate / 1000), int(stop_ms * rate / 1000)
    loud = np.flatnonzero(data[lo:hi, 1] != 0)
    assert len(loud), "no assistant audio there"
    return (lo + loud[-1] + 1) * 1000 / rate


def test_interrupted_reply_is_cut_where_conversation_wav_is(page: Any,
                                                           demo_run: DemoRun) -> None:
    """The cancelled reply's cut mark is where its audio stops in conversation.wav."""
    replies = page.js("""Array.from(document.querySelectorAll('#conv li.reply')).map(li => [
        li.dataset.cutMs, li.querySelector('.cut') ? li.querySelector('.cut').textContent : ''])""")
    cut = [(float(ms), text) for ms, text in replies if ms]
    assert len(cut) == 1 and "cut at" in cut[0][1]
    cut_ms = cut[0][0]
    model = page.js("JSON.parse(document.getElementById('rtc-model').textContent)")
    reply = next(r for r in model["replies"] if r["cut_ms"] is not None)
    later = [r["start_ms"] for r in model["replies"]
             if r["start_ms"] is not None and r["start_ms"] > cut_ms]
    measured = _last_sound_ms(demo_run.out / "conversation.wav", reply["start_ms"],
                              min(later) if later else model["duration_ms"])
    assert measured == pytest.approx(cut_ms, abs=25)
    assert reply["status"] == "cancelled"


def test_play_advances_time_and_moves_the_playhead(page: Any) -> None:
    """Play: the audio's currentTime grows and the playhead moves right."""
    page.page.click("#zoom-fit")
    page.js("document.getElementById('player').currentTime = 0")
    page.wait_for("document.getElementById('player').currentTime === 0")
    before = page.js("parseFloat(document.getElementById('playhead').style.left)")
    page.page.click("#play")
    page.wait_for("document.getElementById('player').currentTime > 0.6")
    page.page.click("#play")  # pause
    after = page.js("parseFloat(document.getElementById('playhead').style.left)")
    assert after > before + 5


@pytest.mark.parametrize("t_ms", [2500.0, 9000.0])
def test_clicking_the_timeline_seeks_there(page: Any, t_ms: float) -> None:
    """A click on the timeline at t sets the audio's currentTime to t (within 100 ms)."""
    page.page.click("#zoom-fit")
    geo = page.js("""(() => { const c = document.getElementById('tl');
        const r = c.getBoundingClientRect();
        return [r.left, r.top, c.clientWidth, +c.dataset.t0Ms, +c.dataset.t1Ms, +c.dataset.gutter]; })()""")
    left, top, width, t0, t1, gutter = geo
    x = left + gutter + (t_ms - t0) / (t1 - t0) * (width - gutter - 8)
    page.page.mouse.click(x, top + 30)
    page.wait_for("document.getElementById('player').seeking === false")
    current = page.js("document.getElementById('player').currentTime") * 1000
    assert current == pytest.approx(t_ms, abs=100)
    assert float(page.js("document.getElementById('playhead').dataset.tMs")) == \
        pytest.approx(t_ms, abs=100)


def _shown_seqs(page: Any) -> list[int]:
    return page.js("Array.from(document.querySelectorAll('#log-rows .row')).map(r => +r.dataset.seq)")


def _show_seqs(demo_run: DemoRun, *args: str) -> list[int]:
    out = demo_run.cli("show", "@demo", "--jsonl", *args)
    return [json.loads(line)["seq"] for line in out.splitlines()]


def test_type_filter_shows_what_show_lists(page: Any, demo_run: DemoRun) -> None:
    """Filtering the log by ``response.*`` shows exactly ``show --type 'response.*'``."""
    page.page.fill("#f-text", "")
    page.page.select_option("#f-dir", "")
    page.page.fill("#f-type", "response.*")
    expected = _show_seqs(demo_run, "--type", "response.*")
    assert 0 < len(expected) < 273
    assert _shown_seqs(page) == expected
    page.page.fill("#f-type", "")


def test_direction_and_text_filters(page: Any, demo_run: DemoRun) -> None:
    """Direction matches ``show --direction``; text narrows to frames containing it."""
    page.page.fill("#f-type", "")
    page.page.fill("#f-text", "")
    page.page.select_option("#f-dir", "client")
    assert _shown_seqs(page) == _show_seqs(demo_run, "--direction", "client")
    page.page.select_option("#f-dir", "")
    page.page.fill("#f-text", "get_weather")
    seqs = _show_seqs(demo_run)
    frames = demo_run.cli("show", "@demo", "--jsonl").splitlines()
    expected = [s for s, line in zip(seqs, frames, strict=True) if "get_weather" in line]
    assert expected and _shown_seqs(page) == expected
    page.page.fill("#f-text", "")


def test_clicking_a_frame_shows_its_json_without_audio(page: Any) -> None:
    """A frame's detail is its pretty JSON, with audio base64 replaced by the marker."""
    page.page.fill("#f-type", "input_audio_buffer.append")
    page.page.click("#log-rows .row")
    detail = page.page.text_content("#log-detail")
    assert '"type": "input_audio_buffer.append"' in detail
    assert "<audio " in detail and len(detail) < 2000
    page.page.fill("#f-type", "")


def test_screenshot_for_the_docs_is_committed() -> None:
    """docs/report.png exists and stays small."""
    shot = REPO / "docs" / "report.png"
    assert shot.exists() and shot.stat().st_size < 400_000



def _geometry(page: Any) -> tuple[float, float, float, float, float, float, float]:
    return tuple(page.js("""(() => { const c = document.getElementById('tl');
        const r = c.getBoundingClientRect();
        return [r.left, r.top, c.clientWidth, c.clientHeight, +c.dataset.t0Ms,
                +c.dataset.t1Ms, +c.dataset.gutter]; })()"""))


def test_wheel_zooms_and_drag_pans(page: Any) -> None:
    """The wheel narrows the visible span around the pointer; a drag shifts it."""
    page.page.click("#zoom-fit")
    left, top, width, height, t0, t1, gutter = _geometry(page)
    page.page.mouse.move(left + gutter + (width - gutter) / 2, top + 40)
    page.page.mouse.wheel(0, -300)
    _, _, _, _, z0, z1, _ = _geometry(page)
    assert z1 - z0 < (t1 - t0) * 0.9 and z0 > t0
    page.page.mouse.down()
    page.page.mouse.move(left + gutter + (width - gutter) / 2 - 200, top + 40, steps=5)
    page.page.mouse.up()
    _, _, _, _, p0, p1, _ = _geometry(page)
    assert p0 > z0 and p1 - p0 == pytest.approx(z1 - z0)
    page.page.click("#zoom-fit")


def test_clicking_a_tool_call_lists_its_events(page: Any, demo_run: DemoRun) -> None:
    """A click on the tool call's mark names its frames; one opens in the log."""
    page.page.click("#zoom-fit")
    model = page.js("JSON.parse(document.getElementById('rtc-model').textContent)")
    tool = next(e for e in model["conversation"] if e["kind"] == "tool")
    left, top, width, height, t0, t1, gutter = _geometry(page)
    lane_h = (height - 18) / 8
    x = left + gutter + (tool["t_ms"] - t0) / (t1 - t0) * (width - gutter - 8) + 1
    page.page.mouse.click(x, top + 18 + 5.5 * lane_h)
    links = page.js("Array.from(document.querySelectorAll('#selection a')).map(a => a.textContent)")
    assert f"seq {tool['seq']}" in links and f"seq {tool['output_seq']}" in links
    page.page.click(f"#selection a:has-text('seq {tool['seq']}')")
    assert "get_weather" in page.page.text_content("#log-detail")
