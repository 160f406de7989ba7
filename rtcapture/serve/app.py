"""The HTTP side of ``serve``: routes, parameter checks, the token, on the standard library.

``http.server.ThreadingHTTPServer`` serves: a handful of GET routes for one local user
need no framework, and the standard library adds no dependency (``docs/report.md``).
Every route only reads; ids and parameters are checked before any query (which are all
parameterised, through ``Store``), and anything unexpected is a short error page, never
a traceback.
"""

from __future__ import annotations

import hmac
import io
import logging
import re
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qsl, urlencode, urlsplit

from ..errors import UsageError
from ..proxy.handshake import TOKEN_HEADER
from ..report import ReportOptions, render_report
from ..store import SORT_COLUMNS, SessionQuery, Status, Store
from .pages import LIST_CSP, PAIR_CSP, message_page, pair_page, sessions_page

log = logging.getLogger(__name__)

SESSION_ID_RE = re.compile(r"[0-9A-Za-z_-]{1,64}")
"""What a session id in a URL may look like (checked before any query)."""
MAX_TARGET = 2048
MAX_PARAM = 200
PER_PAGE = 50
MAX_PAGE = 1_000_000
TOKEN_COOKIE = "rtcapture_token"
LIST_PARAMS = frozenset({"label", "model", "status", "since", "until", "sort", "order", "page",
                         "token"})


class BadRequest(Exception):
    """A request the server refuses with 400 (or another status)."""

    def __init__(self, message: str, status: int = 400) -> None:
        super().__init__(message)
        self.status = status


@dataclass(frozen=True)
class ServeConfig:
    """What ``serve`` needs: the database and the token (None: loopback, no token)."""

    store: Store
    token: str | None = None


def _date(name: str, value: str) -> datetime:
    try:
        parsed = datetime.fromisoformat(value)
    except ValueError:
        raise BadRequest(f"{name}: expected a date like 2026-01-31") from None
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)


def list_query(params: dict[str, str]) -> tuple[SessionQuery, int]:
    """The sessions query (and page number) of the list's parameters; BadRequest if off."""
    unknown = set(params) - LIST_PARAMS
    if unknown:
        raise BadRequest(f"unknown parameter {sorted(unknown)[0]!r}")
    sort = params.get("sort") or "started"
    if sort not in SORT_COLUMNS:
        raise BadRequest(f"sort: one of {', '.join(SORT_COLUMNS)}")
    order = params.get("order") or "desc"
    if order not in ("asc", "desc"):
        raise BadRequest("order: asc or desc")
    status = params.get("status") or None
    if status is not None and status not in {s.value for s in Status}:
        raise BadRequest("status: one of " + ", ".join(s.value for s in Status))
    page_text = params.get("page") or "1"
    if not page_text.isdigit() or not 1 <= int(page_text) <= MAX_PAGE:
        raise BadRequest(f"page: a number from 1 to {MAX_PAGE}")
    page = int(page_text)
    since = _date("since", params["since"]) if params.get("since") else None
    until = _date("until", params["until"]) if params.get("until") else None
    if until is not None and len(params["until"]) == 10:  # a date: up to its end
        until += timedelta(days=1)
    return SessionQuery(label=params.get("label") or None, model=params.get("model") or None,
                        status=status, since=since, until=until, sort=sort,
                        descending=order == "desc", offset=(page - 1) * PER_PAGE,
                        limit=PER_PAGE), page


class Handler(BaseHTTPRequestHandler):
    """GET-only routes over a read-only store."""

    server_version = "rtcapture-serve"
    config: ServeConfig  # set on the subclass make_server builds

    def log_message(self, format: str, *args: object) -> None:  # noqa: A002 - stdlib name
        log.info("%s %s", self.address_string(), format % args)

    # ------------------------------------------------------------------ plumbing

    def _send(self, status: int, body: str | bytes, content_type: str = "text/html",
              csp: str | None = None, headers: dict[str, str] | None = None) -> None:
        data = body.encode("utf-8") if isinstance(body, str) else body
        self.send_response(status)
        self.send_header("Content-Type", f"{content_type}; charset=utf-8")
        self.send_header("Content-Length", str(len(data)))
        self.send_header("X-Content-Type-Options", "nosniff")
        self.send_header("Referrer-Policy", "no-referrer")
        self.send_header("Cache-Control", "no-store")
        if csp:
            self.send_header("Content-Security-Policy", csp)
        for name, value in (headers or {}).items():
            self.send_header(name, value)
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(data)

    def _error(self, status: int, text: str) -> None:
        self._send(status, message_page(status, text), csp=LIST_CSP)

    def _token_ok(self, params: dict[str, str]) -> bool:
        token = self.config.token
        if token is None:
            return True
        presented = [self.headers.get(TOKEN_HEADER) or "", params.get("token", "")]
        for part in (self.headers.get("Cookie") or "").split(";"):
            name, _, value = part.strip().partition("=")
            if name == TOKEN_COOKIE:
                presented.append(value)
        return any(hmac.compare_digest(p.encode(), token.encode()) for p in presented if p)

    def do_HEAD(self) -> None:  # noqa: N802 - stdlib name
        self.do_GET()

    def do_GET(self) -> None:  # noqa: N802 - stdlib name
        try:
            self._route()
        except BadRequest as exc:
            self._error(exc.status, str(exc))
        except UsageError as exc:  # e.g. an id that names no session
            self._error(404, str(exc))
        except (BrokenPipeError, ConnectionResetError):
            pass
        except Exception as exc:  # never a traceback to the client
            log.error("serve: %s on %s: %s", type(exc).__name__, self.path[:200], exc)
            self._error(500, "internal error (see the server's log)")

    def _refuse_write(self) -> None:
        self._error(405, "serve is read-only")

    do_POST = do_PUT = do_DELETE = do_PATCH = _refuse_write  # noqa: N815 - stdlib names

    # ------------------------------------------------------------------ routes

    def _route(self) -> None:
        if len(self.path) > MAX_TARGET:
            raise BadRequest("request target too long", 414)
        parts = urlsplit(self.path)
        try:
            pairs = parse_qsl(parts.query, keep_blank_values=True, strict_parsing=False,
                              max_num_fields=20)
        except ValueError:
            raise BadRequest("too many or malformed parameters") from None
        params: dict[str, str] = {}
        for name, value in pairs:
            if len(name) > 32 or len(value) > MAX_PARAM or name in params:
                raise BadRequest(f"parameter {name[:32]!r} too long or repeated")
            params[name] = value
        if not self._token_ok(params):
            raise BadRequest(f"missing or wrong token (header {TOKEN_HEADER} or ?token=)", 401)
        if "token" in params and self.config.token is not None:
            rest = urlencode({k: v for k, v in params.items() if k != "token"})
            self._send(303, "", headers={
                "Location": parts.path + ("?" + rest if rest else ""),
                "Set-Cookie": f"{TOKEN_COOKIE}={self.config.token}; HttpOnly; "
                              "SameSite=Strict; Path=/"})
            return
        segments = parts.path.split("/")[1:]
        if parts.path == "/":
            self._sessions(params)
        elif len(segments) == 2 and segments[0] in ("session", "pair"):
            if not SESSION_ID_RE.fullmatch(segments[1]):
                raise BadRequest("no such session", 404)
            if segments[0] == "session":
                self._report(segments[1], params)
            else:
                self._pair(segments[1], params)
        else:
            raise BadRequest("not found", 404)

    def _sessions(self, params: dict[str, str]) -> None:
        query, page = list_query(params)
        rows, total = self.config.store.search_sessions(query)
        shown = {k: v for k, v in params.items() if k != "token"}
        self._send(200, sessions_page(rows, total, shown, page, PER_PAGE,
                                      [s.value for s in Status]), csp=LIST_CSP)

    def _known(self, session_id: str) -> None:
        if not self.config.store.has_session(session_id):
            raise BadRequest(f"no session {session_id}", 404)

    def _report(self, session_id: str, params: dict[str, str]) -> None:
        if set(params) - {"audio", "token"} or params.get("audio", "1") not in ("0", "1"):
            raise BadRequest("the report takes only audio=0 or audio=1")
        self._known(session_id)
        buf = io.StringIO()
        render_report(self.config.store, session_id, buf,
                      ReportOptions(with_audio=params.get("audio", "1") == "1"))
        self._send(200, buf.getvalue())

    def _pair(self, session_id: str, params: dict[str, str]) -> None:
        if set(params) - {"token"}:
            raise BadRequest("the pair page takes no parameters")
        self._known(session_id)
        replay = self.config.store.session(session_id)
        if not replay.replay_of or not self.config.store.has_session(replay.replay_of):
            raise BadRequest(f"session {session_id} is not a replay of a stored session", 404)
        original = self.config.store.session(replay.replay_of)
        self._send(200, pair_page(original, replay), csp=PAIR_CSP)


def make_server(host: str, port: int, config: ServeConfig) -> ThreadingHTTPServer:
    """A bound (not yet serving) server; port 0 picks a free port."""
    handler = type("BoundHandler", (Handler,), {"config": config})
    server = ThreadingHTTPServer((host, port), handler)
    server.daemon_threads = True
    return server

