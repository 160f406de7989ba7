"""``rtcapture serve`` over real HTTP on 127.0.0.1: list, search, sort, reports, a replay
beside its original, bad input as 4xx, the token, and a database left byte for byte."""

from __future__ import annotations

import hashlib
import http.client
import json
import os
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from rtcapture.serve import ServeConfig, make_server, open_readonly
from tests.demo.helpers import run_cli
from tests.report.browser import browser, open_page  # noqa: F401 - a fixture


@dataclass
class Served:
    host: str
    port: int
    db_file: Path
    demo_id: str
    replay_id: str

    def get(self, target: str, headers: dict[str, str] | None = None
            ) -> tuple[int, dict[str, str], str]:
        conn = http.client.HTTPConnection(self.host, self.port, timeout=30)
        try:
            conn.request("GET", target, headers=headers or {})
            resp = conn.getresponse()
            return resp.status, dict(resp.getheaders()), resp.read().decode("utf-8")
        finally:
            conn.close()


def _digest(path: Path) -> dict[str, str]:
    """Hashes of the database file and of its WAL/SHM companions, where they exist."""
    return {p.name: hashlib.sha256(p.read_bytes()).hexdigest()
            for p in (path, Path(f"{path}-wal"), Path(f"{path}-shm")) if p.exists()}


@pytest.fixture(scope="module")
def demo_db(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The demo (fast) recorded into a fresh SQLite file."""
    cwd = tmp_path_factory.mktemp("serve-demo")
    old = Path.cwd()
    os.chdir(cwd)
    try:
        result = run_cli("demo", "--out", "out", "--fast")
    finally:
        os.chdir(old)
    assert result.exit_code == 0, result.output
    return cwd / "out" / "rtcapture.db"


def _serve(db: Path, token: str | None) -> Iterator[Served]:
    store = open_readonly(f"sqlite:///{db}")
    server = make_server("127.0.0.1", 0, ServeConfig(store, token))
    thread = threading.Thread(target=server.serve_forever, name="serve-test", daemon=True)
    thread.start()
    ids = {r.label: r for r in store.sessions()}
    try:
        yield Served("127.0.0.1", server.server_address[1], db, ids["demo"].id,
                     ids["demo-replay"].id)
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=10)
        store.close()


@pytest.fixture(scope="module")
def served(demo_db: Path) -> Iterator[Served]:
    yield from _serve(demo_db, None)


def test_list_shows_both_sessions_with_links(served: Served) -> None:
    """The list names the demo and its replay, linking reports and the side-by-side page."""
    status, headers, body = served.get("/")
    assert status == 200 and "text/html" in headers["Content-Type"]
    assert f'href="/session/{served.demo_id}"' in body
    assert f'href="/pair/{served.replay_id}"' in body
    assert "2 sessions" in body


def test_search_by_label_model_status_and_dates(served: Served) -> None:
    """Filters narrow the list; an empty date range matches nothing."""
    body = served.get("/?label=replay")[2]
    assert f">{served.replay_id}</a>" in body and f">{served.demo_id}</a>" not in body
    assert "1 session" in body
    assert "2 sessions" in served.get("/?model=realtime&status=closed")[2]
    assert "0 sessions" in served.get("/?status=failed")[2]
    assert "0 sessions" in served.get("/?since=2001-01-01&until=2001-01-02")[2]
    assert "2 sessions" in served.get("/?since=2001-01-01")[2]


def test_sort_orders_the_rows(served: Served) -> None:
    """Sorting by started ascending puts the original first, descending the replay."""
    def order(target: str) -> list[str]:
        body = served.get(target)[2].split("<tbody>")[1]
        return sorted((served.demo_id, served.replay_id), key=lambda i: body.index(f">{i}</a>"))

    assert order("/?sort=started&order=asc") == [served.demo_id, served.replay_id]
    assert order("/?sort=started&order=desc") == [served.replay_id, served.demo_id]


def test_report_is_rendered_on_the_fly(served: Served) -> None:
    """/session/<id> is the same page ``report`` writes, with audio unless audio=0."""
    status, _, body = served.get(f"/session/{served.demo_id}")
    assert status == 200 and 'id="rtc-model"' in body and "data:audio/ogg" in body
    status, _, quiet = served.get(f"/session/{served.demo_id}?audio=0")
    assert status == 200 and '<audio id="player"' not in quiet


def test_replay_beside_its_original(served: Served) -> None:
    """/pair/<replay> frames the original's and the replay's reports; a non-replay is 404."""
    status, headers, body = served.get(f"/pair/{served.replay_id}")
    assert status == 200
    assert f'src="/session/{served.demo_id}"' in body
    assert f'src="/session/{served.replay_id}"' in body
    assert "frame-src 'self'" in headers["Content-Security-Policy"]
    assert served.get(f"/pair/{served.demo_id}")[0] == 404


@pytest.mark.parametrize("target,status", [
    ("/../../etc/passwd", 404), ("/session/../rtcapture.db", 404),
    ("/session/%2e%2e%2frtcapture.db", 404), ("/session/x'%20OR%201=1--", 404),
    ("/session/" + "A" * 65, 404), ("/session/01ZZZZZZZZZZZZZZZZZZZZZZZZ", 404),
    ("/session/", 404), ("/nothing", 404), ("/?page=0", 400), ("/?page=abc", 400),
    ("/?sort=password", 400), ("/?order=sideways", 400), ("/?status=weird", 400),
    ("/?since=yesterday", 400), ("/?label=" + "x" * 500, 400), ("/?nope=1", 400),
    ("/?label=a&label=b", 400), ("/?" + "&".join(f"k{i}=v" for i in range(50)), 400),
    ("/" + "a" * 5000, 414), ("/session/x?audio=2", 400),
])
def test_bad_requests_are_4xx_without_traceback(served: Served, target: str,
                                                status: int) -> None:
    """Path tricks, malformed ids and oversized or unknown parameters: 4xx, a short page."""
    got, _, body = served.get(target)
    assert got == status
    assert "Traceback" not in body and len(body) < 5000


def test_writes_are_refused(served: Served) -> None:
    """POST and DELETE get 405."""
    for method in ("POST", "DELETE"):
        conn = http.client.HTTPConnection(served.host, served.port, timeout=10)
        conn.request(method, "/", body=b"x")
        assert conn.getresponse().status == 405
        conn.close()


def test_browsing_leaves_the_database_byte_identical(demo_db: Path) -> None:
    """A whole browsing session (list, search, reports, pair) changes no database byte."""
    before = _digest(demo_db)
    for served in _serve(demo_db, None):
        for target in ("/", "/?label=demo&sort=model&order=asc", f"/session/{served.demo_id}",
                       f"/session/{served.replay_id}?audio=0", f"/pair/{served.replay_id}",
                       "/session/nosuch"):
            served.get(target)
    assert _digest(demo_db) == before


def test_token_is_required_when_set(demo_db: Path) -> None:
    """With a token: 401 without it; the header or ?token= (then a cookie) let one in."""
    for served in _serve(demo_db, "s3cret-token"):
        assert served.get("/")[0] == 401
        assert served.get("/", {"X-Rtcapture-Token": "wrong"})[0] == 401
        assert served.get("/", {"X-Rtcapture-Token": "s3cret-token"})[0] == 200
        status, headers, _ = served.get("/?token=s3cret-token&label=demo")
        assert status == 303 and headers["Location"] == "/?label=demo"
        cookie = headers["Set-Cookie"].split(";")[0]
        assert served.get("/?label=demo", {"Cookie": cookie})[0] == 200


def test_off_loopback_without_token_refuses_to_start(demo_db: Path) -> None:
    """``serve --listen 0.0.0.0:0`` without --token: exit 2, one line."""
    result = run_cli("--db", f"sqlite:///{demo_db}", "serve", "--listen", "0.0.0.0:0")
    assert result.exit_code == 2
    assert "needs --token" in result.output and "Traceback" not in result.output


def test_missing_database_is_one_line(tmp_path: Path) -> None:
    """A database that does not exist is not created: exit 2."""
    result = run_cli("--db", f"sqlite:///{tmp_path / 'none.db'}", "serve", "--listen",
                     "127.0.0.1:0")
    assert result.exit_code == 2 and "no database" in result.output
    assert not (tmp_path / "none.db").exists()


def test_list_and_report_in_the_browser(browser: Any, served: Served) -> None:  # noqa: F811
    """In Chromium: the list opens a report by its link, without console errors."""
    base = f"http://{served.host}:{served.port}"
    page = browser.new_page()
    errors: list[str] = []
    page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
    page.goto(base + "/")
    page.click(f'a[href="/session/{served.demo_id}"]')
    page.wait_for_selector("body[data-ready='1']", state="attached", timeout=30_000)
    replies = page.evaluate("document.querySelectorAll('#conv li.reply').length")
    assert replies == 5 and errors == []
    page.close()
    opened = open_page(browser, f"{base}/session/{served.replay_id}")
    assert opened.js("document.getElementById('diff').hidden") is False
    opened.page.close()
    assert json.dumps(errors) == "[]"


def test_postgresql_is_opened_read_only(pg_url: str) -> None:
    """On PostgreSQL the read-only store searches, and a write through it is refused."""
    from sqlalchemy.exc import DBAPIError

    from rtcapture.store import SessionQuery, open_store
    from tests.export.sessions import make_three_turns

    with open_store(pg_url) as writable:
        sid = make_three_turns(writable, label="pg-serve")
    store = open_readonly(pg_url)
    try:
        rows, total = store.search_sessions(SessionQuery(label="pg-serve"))
        assert total == 1 and rows[0].id == sid
        with pytest.raises(DBAPIError):
            store.update_session(sid, label="changed")
    finally:
        store.close()
