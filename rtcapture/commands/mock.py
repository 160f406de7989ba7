"""``rtcapture mock``: serve the mock Realtime server (scripted, or a recording played back)."""

from __future__ import annotations

import asyncio
import contextlib
import signal
import ssl
import sys
from collections.abc import Sequence

import click

from ..cli import AppContext, pass_app
from ..errors import UsageError
from ..mock import Scenario, ScenarioError, load_scenario, serve_mock
from ..mock.playback import Close, recorded_close
from ..store.records import EventRecord
from .options import HOST_PORT, ice_address_option, listen_failure, server_ssl_context, tls_options


async def _serve(app: AppContext, host: str, port: int, *, scenario: Scenario | None,
                 seed: int, fast: bool, playback: Sequence[EventRecord] | None, speed: float,
                 tls: ssl.SSLContext | None, close: Close | None,
                 ice_addresses: Sequence[str] = ()) -> None:
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP):  # Ctrl-C, stop, terminal gone
        with contextlib.suppress(NotImplementedError, RuntimeError):
            loop.add_signal_handler(sig, stop.set)
    try:
        server = serve_mock(host, port, scenario=scenario, seed=seed, fast=fast,
                            playback=playback, speed=speed, ssl=tls, close=close,
                            ice_addresses=ice_addresses)
        mock = await server.__aenter__()
    except OSError as exc:
        raise listen_failure(host, port, exc) from None
    try:
        click.echo(f"mock listening on {mock.url}", nl=True)
        sys.stdout.flush()
        app.info(f"point a client at {mock.url}/v1/realtime?model=gpt-realtime "
                 "(any key works); Ctrl-C to stop")
        await stop.wait()
    finally:
        await server.__aexit__(None, None, None)


@click.command(name="mock")
@click.option("--listen", type=HOST_PORT, default="127.0.0.1:8800", show_default=True,
              help="Address to listen on (port 0 picks a free port).")
@click.option("--scenario", "scenario_path", type=click.Path(dir_okay=False),
              help="Scenario file (JSON or TOML) scripting the replies.  [default: built-in]")
@click.option("--playback", metavar="SESSION",
              help="Serve this recorded session back instead of a scenario.")
@click.option("--speed", type=click.FloatRange(min=0, min_open=True), default=1.0,
              show_default=True, help="Playback: scale the recorded gaps by 1/SPEED.")
@click.option("--fast", is_flag=True,
              help="Reply as fast as possible (no real-time pacing, no recorded gaps).")
@click.option("--seed", type=int, default=0, show_default=True,
              help="Seed for ids and audio; same seed and scenario give the same frames.")
@tls_options
@ice_address_option
@pass_app
def mock_cmd(app: AppContext, listen: tuple[str, int], scenario_path: str | None,
             playback: str | None, speed: float, fast: bool, seed: int,
             tls_cert: str | None, tls_key: str | None, ice_addresses: tuple[str, ...]) -> None:
    """Serve a mock Realtime API (scripted, deterministic) or play a recording back.

    \b
    Example:
      rtcapture mock --listen 127.0.0.1:8800
      rtcapture mock --scenario samples/scenarios/weather.toml --fast
      rtcapture mock --playback last --speed 2
    """
    if scenario_path and playback:
        raise UsageError("--scenario and --playback cannot be used together")
    scenario = None
    if scenario_path:
        try:
            scenario = load_scenario(scenario_path)
        except ScenarioError as exc:
            raise UsageError(str(exc)) from None
    events: list[EventRecord] | None = None
    close = None
    if playback:
        store = app.store(create=False)
        sid = store.resolve(playback)
        record = store.session(sid)
        events = list(store.events(sid))
        close = recorded_close(record)
        app.info(f"playing back session {sid} ({len(events)} frames)")
    tls = server_ssl_context(tls_cert, tls_key)
    host, port = listen
    with contextlib.suppress(KeyboardInterrupt):
        asyncio.run(_serve(app, host, port, scenario=scenario, seed=seed, fast=fast,
                           playback=events, speed=speed, tls=tls, close=close,
                           ice_addresses=ice_addresses))
    app.info("mock stopped")


COMMANDS = [mock_cmd]
