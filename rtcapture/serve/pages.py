"""HTML of ``serve``'s own pages: the sessions list and a replay beside its original.

Plain server-rendered HTML (no script): every value from the database goes through
``html.escape``; links carry only validated ids and re-encoded query parameters.
"""

from __future__ import annotations

from html import escape
from urllib.parse import urlencode

from ..export.tables import redacted_session
from ..render import iso
from ..store import SessionRecord

LIST_CSP = "default-src 'none'; style-src 'unsafe-inline'; form-action 'self'"
PAIR_CSP = "default-src 'none'; style-src 'unsafe-inline'; frame-src 'self'"

_STYLE = """body{font:14px/1.45 system-ui,sans-serif;color:#1d2330;margin:0;padding:16px 20px}
h1{font-size:18px;margin:0 0 10px}table{border-collapse:collapse;width:100%}
th,td{border-bottom:1px solid #e1e4ea;padding:4px 6px;text-align:left;font-size:13px;white-space:nowrap}
th a{color:inherit}form{display:flex;gap:8px;flex-wrap:wrap;margin-bottom:10px}
input,select,button{font:inherit;padding:3px 6px}.muted{color:#6b7385}
.pair{display:flex;gap:8px;height:calc(100vh - 70px)}.pair iframe{flex:1;border:1px solid #d9dde5}
.pages a{margin-right:10px}"""

COLUMNS = [("id", None), ("started (UTC)", "started"), ("duration s", None),
           ("model", "model"), ("status", "status"), ("label", "label"),
           ("client", "client_events"), ("server", "server_events"),
           ("audio in s", "input_audio_ms"), ("audio out s", "output_audio_ms"),
           ("replay of", None)]


def _page(title: str, body: str) -> str:
    return (f'<!DOCTYPE html><html lang="en"><head><meta charset="utf-8"><title>'
            f'{escape(title)}</title><style>{_STYLE}</style></head><body>{body}</body></html>')


def _row(rec: SessionRecord) -> str:
    rec = redacted_session(rec)
    sid = escape(rec.id)
    replay = (f'<a href="/session/{escape(rec.replay_of)}">{escape(rec.replay_of[:10])}</a> '
              f'<a href="/pair/{sid}">side by side</a>') if rec.replay_of else ""
    cells = [f'<a href="/session/{sid}">{sid}</a>',
             escape((iso(rec.started) or "")[:19].replace("T", " ")),
             "-" if rec.duration_s is None else f"{rec.duration_s:.1f}",
             escape(rec.model or "-"), escape(rec.status), escape(rec.label or ""),
             str(rec.client_events), str(rec.server_events),
             f"{rec.input_audio_ms / 1000:.1f}", f"{rec.output_audio_ms / 1000:.1f}", replay]
    return "<tr>" + "".join(f"<td>{c}</td>" for c in cells) + "</tr>"


def sessions_page(rows: list[SessionRecord], total: int, params: dict[str, str], page: int,
                  per_page: int, statuses: list[str]) -> str:
    """The sessions list: search form, sortable headers, one page of rows, pager."""
    def link(**changes: str | int) -> str:
        merged = {**params, **{k: str(v) for k, v in changes.items()}}
        return "/?" + urlencode({k: v for k, v in merged.items() if v})

    sort, order = params.get("sort", "started"), params.get("order", "desc")
    heads = []
    for title, key in COLUMNS:
        if key is None:
            heads.append(f"<th>{escape(title)}</th>")
            continue
        flip = "asc" if sort == key and order == "desc" else "desc"
        arrow = (" ▼" if order == "desc" else " ▲") if sort == key else ""
        heads.append(f'<th><a href="{escape(link(sort=key, order=flip, page=1))}">'
                     f'{escape(title)}{arrow}</a></th>')
    options = "".join(
        f'<option value="{escape(s)}"{" selected" if params.get("status") == s else ""}>'
        f'{escape(s or "any status")}</option>' for s in ["", *statuses])
    form = (
        '<form method="get" action="/">'
        f'<input name="label" placeholder="label" value="{escape(params.get("label", ""))}">'
        f'<input name="model" placeholder="model" value="{escape(params.get("model", ""))}">'
        f'<select name="status">{options}</select>'
        f'<label>from <input name="since" type="date" value="{escape(params.get("since", ""))}">'
        f'</label><label>to <input name="until" type="date" '
        f'value="{escape(params.get("until", ""))}"></label>'
        f'<input type="hidden" name="sort" value="{escape(sort)}">'
        f'<input type="hidden" name="order" value="{escape(order)}">'
        '<button type="submit">Search</button></form>')
    last = max(1, -(-total // per_page))
    pager = ['<p class="pages">']
    if page > 1:
        pager.append(f'<a href="{escape(link(page=page - 1))}">← newer</a>')
    pager.append(f'<span class="muted">page {page} of {last} · {total} sessions</span>')
    if page < last:
        pager.append(f' <a href="{escape(link(page=page + 1))}">older →</a>')
    pager.append("</p>")
    table = (f'<table><thead><tr>{"".join(heads)}</tr></thead><tbody>'
             + "".join(_row(r) for r in rows) + "</tbody></table>")
    return _page("rtcapture sessions",
                 f"<h1>rtcapture sessions</h1>{form}{''.join(pager)}{table}{''.join(pager)}")


def pair_page(original: SessionRecord, replay: SessionRecord) -> str:
    """A replay beside its original: both reports, side by side."""
    a, b = escape(original.id), escape(replay.id)
    body = (f'<h1>Replay <a href="/session/{b}">{b}</a> beside its original '
            f'<a href="/session/{a}">{a}</a> <a class="muted" href="/">all sessions</a></h1>'
            f'<div class="pair"><iframe title="original" src="/session/{a}"></iframe>'
            f'<iframe title="replay" src="/session/{b}"></iframe></div>')
    return _page(f"replay {replay.id}", body)


def message_page(status: int, text: str) -> str:
    """A short error page."""
    return _page(f"{status}", f'<h1>{status}</h1><p>{escape(text)}</p><p><a href="/">sessions</a></p>')
