"""``rtcapture record``: the man-in-the-middle recorder."""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import ipaddress
import signal
import ssl
from pathlib import Path

import click

from ..baseurl import websocket_base
from ..cli import AppContext, pass_app
from ..errors import EXIT_INTERRUPTED, UsageError
from ..proxy.listener import raise_fd_limit
from ..proxy.recorder import Recorder, RecorderStats, is_self_target, parse_upstream
from ..proxy.relay import RelayConfig
from .options import HOST_PORT, ice_address_option, listen_failure, server_ssl_context, tls_options

DEFAULT_UPSTREAM = "wss://api.openai.com"
STOP_SIGNALS = (signal.SIGINT, signal.SIGTERM, signal.SIGHUP)
"""Ctrl-C, a service manager's stop and a closed terminal all stop cleanly."""


def _is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


@click.command(name="record")
@click.option("--listen", type=HOST_PORT, default="127.0.0.1:8765", show_default=True,
              help="Where clients connect (port 0: any free port).")
@click.option("--upstream", default=DEFAULT_UPSTREAM, show_default=True,
              help="Base URL (ws:// or wss://; http:// and https:// mean the same) the "
                   "client's path and query are appended to; 'mock' runs the embedded mock.")
@click.option("--label", help="Label stored on every session (select with @label).")
@click.option("--max-frame", type=click.IntRange(min=1024), default=16 << 20, show_default=True,
              metavar="BYTES", help="Larger messages close the session with 1009.")
@click.option("--upstream-timeout", type=click.FloatRange(min=0.1), default=10.0,
              show_default=True, metavar="S", help="Upstream connect + handshake; else HTTP 504.")
@click.option("--handshake-timeout", type=click.FloatRange(min=0.1), default=10.0,
              show_default=True, metavar="S",
              help="A client must send its whole handshake request within S; else HTTP 408.")
@click.option("--ping-interval", type=click.FloatRange(min=0), default=20.0, show_default=True,
              metavar="S", help="Keepalive ping on each leg (0: off).")
@click.option("--ping-timeout", type=click.FloatRange(min=0), default=20.0, show_default=True,
              metavar="S", help="A leg that does not answer a ping in time is dropped.")
@click.option("--upstream-ca", type=click.Path(exists=True, dir_okay=False),
              help="CA bundle for wss:// upstreams (default: system store; always verified).")
@click.option("--token", envvar="RTCAPTURE_TOKEN",
              help="Clients must present it (header X-Rtcapture-Token or subprotocol "
                   "rtcapture-token.<token>); env RTCAPTURE_TOKEN. Required off loopback.")
@click.option("--allow-origin", "allow_origins", multiple=True, metavar="ORIGIN",
              help="Browser Origin allowed besides loopback origins (repeatable).")
@click.option("--spill-dir", type=click.Path(exists=True, file_okay=False, writable=True,
                                         path_type=Path),
              help="Where recording spills while the writer is behind (default: beside the "
                   "SQLite database, else the temp folder).")
@tls_options
@ice_address_option
@pass_app
def record_cmd(app: AppContext, listen: tuple[str, int], upstream: str, label: str | None,
               max_frame: int, upstream_timeout: float, handshake_timeout: float,
               ping_interval: float,
               ping_timeout: float, upstream_ca: str | None, token: str | None,
               allow_origins: tuple[str, ...], tls_cert: str | None,
               tls_key: str | None, ice_addresses: tuple[str, ...],
               spill_dir: Path | None) -> None:
    """Record every Realtime session between your client and the upstream.

    Point the client at the printed URL instead of the API (e.g. the openai SDK's
    websocket_base_url="ws://127.0.0.1:8765/v1"); frames are relayed unchanged and
    stored byte-exact in the database. Ctrl-C closes open sessions and prints a summary.

    \b
    Example:
      rtcapture record --upstream wss://api.openai.com --label staging
      rtcapture record --upstream mock --listen 127.0.0.1:0
    """
    host, port = listen
    if not _is_loopback(host) and not token:
        raise UsageError(f"listening on {host} (not loopback) needs --token")
    if upstream != "mock":
        upstream = websocket_base(upstream, "--upstream", keywords="or 'mock'")
    tls = server_ssl_context(tls_cert, tls_key)
    raise_fd_limit()  # two descriptors per session: use all the system allows
    try:
        asyncio.run(_serve(app, host, port, upstream, label, tls, RelayConfig(
            upstream=parse_upstream(DEFAULT_UPSTREAM if upstream == "mock" else upstream),
            upstream_ssl=None, upstream_timeout=upstream_timeout,
            handshake_timeout=handshake_timeout, max_frame=max_frame,
            ping_interval=ping_interval or None, ping_timeout=ping_timeout or None,
            token=token, allowed_origins=frozenset(allow_origins)), upstream_ca,
            ice_addresses, spill_dir))
    except ValueError as exc:
        raise UsageError(str(exc)) from None
    except OSError as exc:
        raise listen_failure(host, port, exc) from None


def _upstream_ssl(upstream_ca: str | None) -> ssl.SSLContext:
    try:
        return ssl.create_default_context(cafile=upstream_ca)
    except (ssl.SSLError, OSError) as exc:
        raise UsageError(f"cannot load --upstream-ca: {exc}") from None


async def _serve(app: AppContext, host: str, port: int, upstream: str, label: str | None,
                 tls: ssl.SSLContext | None, config: RelayConfig,
                 upstream_ca: str | None, ice_addresses: tuple[str, ...] = (),
                 spill_dir: Path | None = None) -> None:
    async with contextlib.AsyncExitStack() as stack:
        in_process_mock = upstream == "mock"
        if in_process_mock:
            from ..mock import serve_mock

            mock = await stack.enter_async_context(serve_mock("127.0.0.1", 0))
            upstream = mock.url
        uri = parse_upstream(upstream)
        if is_self_target(uri, host, port):
            raise UsageError("--upstream points at the recorder itself")
        config = dataclasses.replace(
            config, upstream=uri, upstream_ssl=_upstream_ssl(upstream_ca) if uri.secure else None)
        from ..webrtc.gateway import WebRTCGateway

        recorder = Recorder(host, port, upstream, app.db_url, config, label=label, tls=tls,
                            echo=lambda line: _say(line) if not app.quiet else None,
                            fds_per_session=3 if in_process_mock else 2,
                            ice_addresses=ice_addresses, gateway=WebRTCGateway,
                            spill_dir=spill_dir)
        stop, force = asyncio.Event(), asyncio.Event()
        signals = 0

        def on_signal() -> None:
            nonlocal signals
            signals += 1
            if signals == 1:
                stop.set()
            elif signals == 2:
                _say(f"stopping: {recorder.waiting_for()}; Ctrl-C again to exit without "
                     "storing it", err=True)
            else:
                force.set()

        loop = asyncio.get_running_loop()
        for sig in STOP_SIGNALS:  # before the writer starts: no signal may catch it alone
            loop.add_signal_handler(sig, on_signal)
        await recorder.start()
        if not stop.is_set():
            click.echo(f"rtcapture recording on {recorder.url} -> "
                       f"{recorder.upstream_display}")
            click.echo(f"point your client at {recorder.url}/v1  (openai SDK: "
                       f"websocket_base_url=\"{recorder.url}/v1\")", err=app.quiet)
            app.info(f"database: {_display_db(app.db_url)}; Ctrl-C to stop")
        await stop.wait()
        stats = await recorder.stop(force=force)
        _print_summary(stats)
        if stats.forced:
            raise click.exceptions.Exit(EXIT_INTERRUPTED)


def _display_db(url: str) -> str:
    from ..protocol import redact_url

    return redact_url(url)


def _say(line: str, err: bool = False) -> None:
    """A line on stdout/stderr; nothing if the terminal has gone (the window closed)."""
    with contextlib.suppress(OSError):
        click.echo(line, err=err)


def _print_summary(stats: RecorderStats) -> None:
    _say(f"recorded {stats.sessions} sessions ({stats.failed} failed, "
         f"{stats.open_sessions} closed at shutdown): {stats.frames} frames relayed, "
         f"{stats.stored} stored, {stats.lost} lost; {stats.bytes} bytes"
         + (f"; {stats.refused} clients refused at the file-descriptor limit"
            if stats.refused else "")
         + ("; exited without waiting for the writer" if stats.forced else ""))
    for session_id, (lost, relayed) in stats.lost_by_session.items():
        _say(f"  session {session_id}: {lost} of {relayed} frames not stored")


COMMANDS = [record_cmd]
