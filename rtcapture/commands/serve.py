"""``rtcapture serve``: browse the database in a web browser, read-only."""

from __future__ import annotations

import signal
import threading

import click

from ..cli import AppContext, pass_app
from ..errors import UsageError
from ..serve import ServeConfig, make_server, open_readonly
from .options import HOST_PORT
from .record import _is_loopback


@click.command(name="serve")
@click.option("--listen", type=HOST_PORT, default="127.0.0.1:8766", show_default=True,
              help="Where to serve (port 0: any free port).")
@click.option("--token", envvar="RTCAPTURE_TOKEN",
              help="Require it (header X-Rtcapture-Token, or ?token= once: a cookie keeps it); "
                   "env RTCAPTURE_TOKEN. Required off loopback.")
@pass_app
def serve_cmd(app: AppContext, listen: tuple[str, int], token: str | None) -> None:
    """Serve a read-only web app over the database: the sessions list (search, sort,
    pages), each session's report, a replay beside its original.

    The database is opened read-only and never changed. Ctrl-C stops.

    \b
    Example:
      rtcapture serve
      rtcapture serve --listen 0.0.0.0:8766 --token "$(openssl rand -hex 16)"
    """
    host, port = listen
    if not _is_loopback(host) and not token:
        raise UsageError(f"listening on {host} (not loopback) needs --token")
    store = open_readonly(app.db_url)
    try:
        server = make_server(host, port, ServeConfig(store, token))
    except OSError as exc:
        store.close()
        raise UsageError(f"cannot listen on {host}:{port}: {exc.strerror or exc}") from None
    bound_host, bound_port = server.server_address[:2]
    host_text = str(bound_host)  # an AF_INET or AF_INET6 address: a str already
    shown = f"[{host_text}]" if ":" in host_text else host_text
    click.echo(f"rtcapture serving on http://{shown}:{bound_port}/", err=False)
    app.info("read-only; Ctrl-C to stop")

    def stop(*_: object) -> None:
        threading.Thread(target=server.shutdown, daemon=True).start()

    previous = signal.signal(signal.SIGTERM, stop)
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        pass
    finally:
        signal.signal(signal.SIGTERM, previous)
        server.server_close()
        store.close()


COMMANDS = [serve_cmd]
