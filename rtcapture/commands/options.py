"""Shared click parameter types and option bundles."""

from __future__ import annotations

import ssl
from collections.abc import Callable
from typing import TYPE_CHECKING, Any, TypeVar

import click

if TYPE_CHECKING:
    from ..errors import UsageError

F = TypeVar("F", bound=Callable[..., Any])


class HostPort(click.ParamType):
    """``HOST:PORT`` (port 0 picks a free port); ``[::1]:PORT`` for IPv6."""

    name = "HOST:PORT"

    def convert(self, value: Any, param: click.Parameter | None,
                ctx: click.Context | None) -> tuple[str, int]:
        if isinstance(value, tuple):
            return value
        text = str(value).strip()
        host, sep, port_text = text.rpartition(":")
        if not sep or not host:
            self.fail(f"expected HOST:PORT, got {text!r}", param, ctx)
        host = host.strip("[]")
        try:
            port = int(port_text)
        except ValueError:
            self.fail(f"port must be a number in {text!r}", param, ctx)
        if not 0 <= port <= 65535:
            self.fail(f"port out of range in {text!r}", param, ctx)
        return host, port


class Header(click.ParamType):
    """``'Name: value'`` header."""

    name = "'K: V'"

    def convert(self, value: Any, param: click.Parameter | None,
                ctx: click.Context | None) -> tuple[str, str]:
        if isinstance(value, tuple):
            return value
        name, sep, text = str(value).partition(":")
        if not sep or not name.strip() or any(c in str(value) for c in "\r\n"):
            self.fail("expected 'Name: value'", param, ctx)
        return name.strip(), text.strip()


def listen_failure(host: str, port: int, exc: OSError) -> UsageError:
    """The one-line error for a socket that cannot listen; a port in use gets the hint
    to let the system pick one."""
    import errno

    from ..errors import UsageError

    hint = " (another process holds it: --listen 127.0.0.1:0 picks a free port)" \
        if exc.errno == errno.EADDRINUSE else ""
    return UsageError(f"cannot listen on {host}:{port}: {exc.strerror or exc}{hint}")


def tls_options(func: F) -> F:
    """``--tls-cert`` / ``--tls-key``: also serve wss:// with this certificate."""
    func = click.option("--tls-key", type=click.Path(exists=True, dir_okay=False),
                        help="TLS private key (PEM) for --tls-cert.")(func)
    func = click.option("--tls-cert", type=click.Path(exists=True, dir_okay=False),
                        help="Serve wss:// with this certificate chain (PEM).")(func)
    return func


def server_ssl_context(cert: str | None, key: str | None) -> ssl.SSLContext | None:
    """A server TLS context from --tls-cert/--tls-key, or None; bad files exit 2."""
    if cert is None and key is None:
        return None
    if cert is None:
        raise click.UsageError("--tls-key needs --tls-cert")
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    try:
        ctx.load_cert_chain(cert, key)
    except (ssl.SSLError, OSError) as exc:
        raise click.BadParameter(f"cannot load certificate/key: {exc}",
                                 param_hint="--tls-cert") from exc
    return ctx


HOST_PORT = HostPort()
HEADER = Header()


class IceAddress(click.ParamType):
    """An IP address to gather WebRTC ICE candidates on."""

    name = "ADDR"

    def convert(self, value: Any, param: click.Parameter | None,
                ctx: click.Context | None) -> str:
        import ipaddress

        try:
            return str(ipaddress.ip_address(str(value).strip("[]")))
        except ValueError:
            self.fail(f"{value!r} is not an IP address", param, ctx)


def ice_address_option(func: F) -> F:
    """``--ice-address ADDR`` (repeatable): where WebRTC peers gather ICE candidates."""
    return click.option(
        "--ice-address", "ice_addresses", type=IceAddress(), multiple=True,
        help="WebRTC: gather ICE candidates on this address (repeatable).  "
             "[default: loopback when facing loopback, else the host's interfaces]")(func)
