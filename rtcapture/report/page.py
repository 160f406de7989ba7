"""One self-contained HTML page of a session: the renderer ``report`` and ``serve`` share.

Scripts, styles, data and audio are inline; a Content-Security-Policy forbids every
network fetch, so the page opened from ``file://`` or served by ``serve`` loads nothing
else. Data sits in ``<script type="application/json">`` elements with ``<`` escaped, and
the script puts recorded strings into the page as text only.
"""

from __future__ import annotations

import html
import json
import tempfile
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from functools import lru_cache
from importlib import resources
from typing import IO, Any

from ..export.tables import redacted_session
from ..store import Store
from .media import Media, read_media
from .model import page_model
from .scan import scan_events, script_safe

CSP = ("default-src 'none'; script-src 'unsafe-inline'; style-src 'unsafe-inline'; "
       "media-src data:; img-src data:; base-uri 'none'; form-action 'none'")
"""Nothing may be fetched: the page is complete as written."""


@dataclass(frozen=True)
class ReportOptions:
    """How to render a report."""

    with_audio: bool = True
    """Embed the conversation audio (the waveform envelopes are always there)."""


@lru_cache(maxsize=2)
def _asset(name: str) -> str:
    return resources.files(__package__).joinpath("static", name).read_text(encoding="utf-8")


def _json_for_script(value: Any) -> str:
    """JSON safe inside a ``<script>`` element (no ``</script>``, no ``<!--``)."""
    return script_safe(json.dumps(value, ensure_ascii=False, separators=(",", ":")))


_BODY = """<header>
<h1 id="title">Session</h1>
<div class="kv" id="header-kv"></div>
</header>
<section id="timeline-section">
<h2>Timeline</h2>
<div class="bar">
<button id="play" type="button">Play</button><span id="clock" class="mono"></span>
<button id="zoom-in" type="button" title="zoom in">+</button>
<button id="zoom-out" type="button" title="zoom out">&minus;</button>
<button id="zoom-fit" type="button">Fit</button>
<span class="muted">wheel: zoom · drag: pan · click: seek and show the events behind a mark</span>
</div>
<div id="tl-wrap"><canvas id="tl"></canvas><div id="playhead"></div></div>
<div id="selection"></div>
{audio}
</section>
<section id="violations" hidden><h2>Violations</h2><ul class="conv"></ul></section>
<section><h2>Conversation</h2><ul class="conv" id="conv"></ul></section>
<section id="diff" hidden>
<h2>Replay diff against the original</h2>
<p id="diff-verdict"></p>
<table class="grid" id="diff-table"><thead><tr><th>#</th><th>original</th><th>replay</th></tr>
</thead><tbody></tbody></table>
<ul id="diff-list"></ul>
</section>
<section id="log">
<h2>Event log</h2>
<div class="bar">
<select id="f-dir"><option value="">both directions</option><option value="client">client</option>
<option value="server">server</option></select>
<input id="f-type" placeholder="type glob, e.g. response.*" size="28">
<input id="f-text" placeholder="text" size="24">
<span id="log-count" class="muted"></span>
</div>
<div id="log-list"><div id="log-spacer"></div><div id="log-rows"></div></div>
<pre id="log-detail">click a frame to see its JSON</pre>
</section>
"""


def write_page(out: IO[str], model: dict[str, Any], events_file: IO[str], media: Media,
               title: str) -> None:
    """Write the page: head, body, the model, the event rows (copied), the script."""
    out.write('<!DOCTYPE html>\n<html lang="en"><head><meta charset="utf-8">\n'
              f'<meta http-equiv="Content-Security-Policy" content="{CSP}">\n'
              '<meta name="viewport" content="width=device-width, initial-scale=1">\n'
              f'<title>{html.escape(title)}</title>\n<style>{_asset("report.css")}</style>\n'
              '</head><body>\n')
    url = media.data_url()
    player = f'<audio id="player" preload="auto" src="{url}"></audio>' if url else ""
    out.write(_BODY.replace("{audio}", player))
    out.write('<script type="application/json" id="rtc-model">')
    out.write(_json_for_script(model))
    out.write('</script>\n<script type="application/json" id="rtc-events">[')
    events_file.seek(0)
    while True:
        block = events_file.read(1 << 20)
        if not block:
            break
        out.write(block)
    out.write(']</script>\n<script>')
    out.write(_asset("report.js"))
    out.write('</script>\n</body></html>\n')


def render_report(store: Store, session_id: str, out: IO[str],
                  options: ReportOptions = ReportOptions()) -> dict[str, Any]:
    """Render one session's page into ``out``; returns the page's model (for callers).

    The audio (extraction and encoding) runs on a worker thread while this one reads the
    events: they are independent passes and the encoder releases the GIL.
    """
    rec = redacted_session(store.session(session_id))
    with tempfile.TemporaryFile("w+", encoding="utf-8") as log, \
            ThreadPoolExecutor(max_workers=1, thread_name_prefix="report-audio") as pool:
        media_job = pool.submit(read_media, store, session_id, with_audio=options.with_audio)
        scan = scan_events(store, rec, log)
        media = media_job.result()
        model = page_model(store, rec, scan, media)
        label = f" @{rec.label}" if rec.label else ""
        write_page(out, model, log, media, f"rtcapture report {rec.id}{label}")
    return model
