"""The recorder's listening sockets: accepts clients within the file-descriptor budget.

asyncio's own accept loop, once ``ulimit -n`` is reached, logs a traceback for every
failed ``accept()`` (up to 100 per event-loop turn, and more from the retries it queues),
and every client it did accept then fails to open its upstream. Here each session counts
as two descriptors (client and upstream) against the limit, so an accepted client can
always reach its upstream; past the budget a new client gets HTTP 503 at once, and when
not even that fits, accepting pauses until a session ends. The recorder says so on stderr
at most once a minute.

Connections that never finish their handshake (slowloris) cannot starve real clients:
each has ``handshake_timeout`` to send its request (the relay answers HTTP 408), and when
the budget is full the connection that has waited longest for its request (at least
``EVICT_AFTER_S``) gets that 408 early to make room for the new one. While any connection
still waits for its request, a full budget never answers 503: accepting pauses until that
connection completes its request, is dropped for room, or times out. The kernel's accept
queue is first-in first-out, so a real client queued behind stalled ones must not be
refused just because the stalled ones admitted before it are still young; it waits its
turn (about ``EVICT_AFTER_S`` per budget's worth of stalled connections ahead of it) and is
served. HTTP 503 is for a budget full of established sessions, which will not make room.
"""

from __future__ import annotations

import asyncio
import contextlib
import errno
import logging
import os
import socket
import ssl
from collections.abc import Callable
from typing import Protocol, runtime_checkable

from .leg import CLOSE_TIMEOUT_S

logger = logging.getLogger("rtcapture.recorder")

FD_RESERVE = 16
"""Descriptors left free for the writer's pipes, DNS look-ups, TLS and 503 answers."""
FDS_PER_SESSION = 2
"""The client's connection and the upstream's (3 with the mock upstream in-process)."""
ACCEPT_BATCH = 100
"""Connections accepted per wake-up of the event loop (as asyncio does)."""
RETRY_S = 1.0
"""After an unexpected EMFILE (descriptors held elsewhere), try accepting again after this."""
WARN_INTERVAL_S = 60.0
BACKLOG = 100
EVICT_AFTER_S = 1.0
"""Only a connection that has waited this long for its request is dropped for room (a
real client sends its request at once; a burst of them must not push each other out)."""
EVICT_IN_FLIGHT = FD_RESERVE // 4
"""Connections dropped for room whose descriptors are not freed yet (within the reserve)."""

_OUT_OF_RESOURCES = frozenset({errno.EMFILE, errno.ENFILE, errno.ENOBUFS, errno.ENOMEM})
_REASON = b"recorder at its file-descriptor limit (ulimit -n); try again later\n"
REFUSAL = (b"HTTP/1.1 503 Service Unavailable\r\nConnection: close\r\n"
           b"Content-Type: text/plain; charset=utf-8\r\n"
           b"Content-Length: " + str(len(_REASON)).encode() + b"\r\n\r\n" + _REASON)


@runtime_checkable
class Handshaking(Protocol):
    """A session's client connection, as far as the listener asks about it."""

    lost: bool
    transport: asyncio.Transport | None

    def awaiting_request(self, older_than: float = 0.0) -> bool: ...

    def request_wait(self) -> float | None: ...

    def drop(self) -> None: ...


def _may_wait(proto: Handshaking) -> bool:
    """Still connecting, or connected and waiting for its request."""
    return not proto.lost and (proto.transport is None or proto.awaiting_request())


class _Refusal(asyncio.Protocol):
    """Answers HTTP 503 without parsing the request, then closes once the client has."""

    def __init__(self, done: Callable[[], None]) -> None:
        self.done = done
        self.made = False
        self._timer: asyncio.TimerHandle | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        assert isinstance(transport, asyncio.Transport)
        self.made = True
        transport.write(REFUSAL)
        if transport.can_write_eof():
            transport.write_eof()  # keep reading until the client closes: no RST over the 503
        else:
            transport.close()
        self._timer = asyncio.get_running_loop().call_later(CLOSE_TIMEOUT_S, transport.abort)

    def data_received(self, data: bytes) -> None:
        pass

    def eof_received(self) -> bool:
        return False

    def connection_lost(self, exc: Exception | None) -> None:
        if self._timer is not None:
            self._timer.cancel()
        self.done()


def _open_fds() -> int | None:
    for folder in ("/proc/self/fd", "/dev/fd"):
        with contextlib.suppress(OSError):
            return len(os.listdir(folder)) - 1  # minus the one listdir used
    return None


def raise_fd_limit(ceiling: int = 1 << 20) -> int | None:
    """Lift the soft ``RLIMIT_NOFILE`` to the hard limit (at most ``ceiling``), as servers
    do: the common default of 1,024 would cap the recorder near 500 sessions. Returns the
    soft limit in force afterwards (None where there is no such limit)."""
    try:
        import resource
    except ImportError:  # pragma: no cover - not POSIX
        return None
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    target = ceiling if hard == resource.RLIM_INFINITY else min(hard, ceiling)
    if soft != resource.RLIM_INFINITY and soft < target:
        with contextlib.suppress(ValueError, OSError):
            resource.setrlimit(resource.RLIMIT_NOFILE, (target, hard))
    return resource.getrlimit(resource.RLIMIT_NOFILE)[0]


def fd_budget() -> int | None:
    """Descriptors sessions may use: the soft limit minus those open now and a reserve."""
    try:
        import resource
    except ImportError:  # pragma: no cover - not POSIX
        return None
    soft, _hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    open_now = _open_fds()
    if soft == resource.RLIM_INFINITY or open_now is None:
        return None
    return soft - open_now - FD_RESERVE


class Listener:
    """Listening sockets with their own accept loop (see the module docstring)."""

    def __init__(self, host: str, port: int, new_session: Callable[[], asyncio.Protocol],
                 sessions: Callable[[], int],
                 session_failed: Callable[[asyncio.Protocol, BaseException], None], *,
                 tls: ssl.SSLContext | None = None,
                 fds_per_session: int = FDS_PER_SESSION,
                 handshake_timeout: float | None = None,
                 route: Callable[[asyncio.Protocol], asyncio.Protocol] | None = None) -> None:
        self.host = host
        self.port = port
        self.new_session = new_session
        """Makes the protocol of an accepted client (the recorder counts it at once)."""
        self.sessions = sessions
        """Sessions alive, each holding up to ``fds_per_session`` descriptors."""
        self.session_failed = session_failed
        """A session's connection was never made (failed TLS handshake, shutdown)."""
        self.tls = tls
        self.fds_per_session = fds_per_session
        self.handshake_timeout = handshake_timeout
        """Bounds the TLS handshake too (the relay bounds the HTTP request)."""
        self.route = route
        """Wraps a session's protocol for the wire (WebRTC: a ``POST`` goes elsewhere)."""
        self.sockets: list[socket.socket] = []
        self.budget: int | None = None
        self.refused = 0
        """Clients answered HTTP 503 for lack of descriptors."""
        self.evicted = 0
        """Connections dropped, still without a request, to make room for a new one."""
        self._waiting: dict[Handshaking, None] = {}
        """Session connections in accept order (pruned of handshaken ones now and then)."""
        self._prune_at = 64
        self._dropping: set[Handshaking] = set()
        self._refusing = 0
        self._paused = False
        self._retry: asyncio.TimerHandle | None = None
        self._warned_at: float | None = None
        self._tasks: set[asyncio.Task[tuple[asyncio.Transport, asyncio.Protocol]]] = set()
        self._loop: asyncio.AbstractEventLoop | None = None

    async def start(self) -> None:
        """Bind (like ``loop.create_server``), measure the budget, start accepting."""
        loop = self._loop = asyncio.get_running_loop()
        infos = await loop.getaddrinfo(self.host or None, self.port, type=socket.SOCK_STREAM,
                                       flags=socket.AI_PASSIVE)
        try:
            for family, kind, proto, _name, address in dict.fromkeys(infos):
                sock = socket.socket(family, kind, proto)
                self.sockets.append(sock)
                sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
                if family == socket.AF_INET6 and hasattr(socket, "IPPROTO_IPV6"):
                    sock.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 1)
                try:
                    sock.bind(address)
                except OSError as exc:
                    raise OSError(exc.errno, f"error while attempting to bind on address "
                                             f"{address!r}: {(exc.strerror or '').lower()}"
                                  ) from None
                sock.listen(BACKLOG)
                sock.setblocking(False)
        except BaseException:
            self.close()
            raise
        self.budget = fd_budget()
        self._add_readers()

    def close(self) -> None:
        """Stop listening; connections still being set up are cancelled."""
        self._remove_readers()
        if self._retry is not None:
            self._retry.cancel()
        for sock in self.sockets:
            sock.close()
        for task in list(self._tasks):
            task.cancel()

    def released(self) -> None:
        """A session ended: its descriptors are free again."""
        if self._dropping:
            self._dropping = {p for p in self._dropping if not p.lost}
        if self._paused:
            self._resume()

    # accepting --------------------------------------------------------------------------

    def _add_readers(self) -> None:
        assert self._loop is not None
        for sock in self.sockets:
            if sock.fileno() >= 0:
                self._loop.add_reader(sock.fileno(), self._accept, sock)

    def _remove_readers(self) -> None:
        if self._loop is None:
            return
        for sock in self.sockets:
            if sock.fileno() >= 0:
                self._loop.remove_reader(sock.fileno())

    def _pause(self, retry: float | None = None) -> None:
        if not self._paused:
            self._paused = True
            self._remove_readers()
        if retry is not None and self._retry is None:
            assert self._loop is not None
            self._retry = self._loop.call_later(retry, self._resume)

    def _resume(self) -> None:
        if self._retry is not None:
            self._retry.cancel()
            self._retry = None
        if self._paused:
            self._paused = False
            self._add_readers()

    def _room(self, fds: int, headroom: int = 0) -> bool:
        if self.budget is None:
            return True
        # connections being dropped free their descriptors within this loop turn
        in_use = self.fds_per_session * (self.sessions() - len(self._dropping)) + self._refusing
        return in_use + fds <= self.budget + headroom

    def _make_room(self) -> bool:
        """Drop the connection that has waited longest for its request; False if none."""
        if len(self._dropping) >= EVICT_IN_FLIGHT:
            return False
        age = min(EVICT_AFTER_S, self.handshake_timeout or EVICT_AFTER_S)
        for proto in list(self._waiting):
            if proto.awaiting_request(age):
                del self._waiting[proto]
                self._dropping.add(proto)
                self.evicted += 1
                proto.drop()
                logger.debug("dropped a connection still without a request to make room")
                return True
            if not _may_wait(proto):
                del self._waiting[proto]
        return False

    def _until_evictable(self) -> float | None:
        """Seconds until the oldest connection still without a request may be dropped for
        room (0 while drops are in flight); None if no connection waits for its request."""
        if self._dropping:
            return 0.0
        age = min(EVICT_AFTER_S, self.handshake_timeout or EVICT_AFTER_S)
        for proto in list(self._waiting):
            if _may_wait(proto):
                return max(age - (proto.request_wait() or 0.0), 0.0)
            del self._waiting[proto]  # handshaken or gone
        return None

    def _accept(self, sock: socket.socket) -> None:
        for _ in range(ACCEPT_BATCH):
            if not self._room(self.fds_per_session) and not self._make_room():
                wait = self._until_evictable()
                if wait is not None:
                    # a stalled handshake will make room (or complete, or time out): the
                    # next client waits in the accept queue instead of getting a 503 that
                    # a slowloris would earn it; resumed when a dropped one is released
                    self._pause(retry=max(wait, 0.01) if not self._dropping else RETRY_S)
                    return
                if not self._room(1, headroom=FD_RESERVE // 2):
                    self._pause()  # not even a 503 fits: resumed when a session ends
                    return
            try:
                conn, _address = sock.accept()
            except (BlockingIOError, InterruptedError):
                return
            except ConnectionAbortedError:
                continue
            except OSError as exc:
                if exc.errno not in _OUT_OF_RESOURCES:
                    logger.warning("accepting a connection failed: %s", exc.strerror or exc)
                    return
                self._warn()
                self._pause(retry=RETRY_S)  # descriptors held outside the budget
                return
            if self._room(self.fds_per_session) or self._make_room():
                session = self.new_session()
                self._connect(conn, session, self.route(session) if self.route else None)
            else:
                self._refuse(conn)

    def _connect(self, conn: socket.socket, protocol: asyncio.Protocol,
                 wire: asyncio.Protocol | None = None) -> None:
        assert self._loop is not None
        if isinstance(protocol, Handshaking):
            self._wait_for_request(protocol)
        timeout = self.handshake_timeout if self.tls is not None else None
        task = self._loop.create_task(
            self._loop.connect_accepted_socket(lambda: wire or protocol, conn, ssl=self.tls,
                                               ssl_handshake_timeout=timeout),
            name="rtcapture-accept")
        self._tasks.add(task)
        task.add_done_callback(lambda t: self._connected(t, protocol))

    def _wait_for_request(self, protocol: Handshaking) -> None:
        self._waiting[protocol] = None
        if len(self._waiting) > self._prune_at:  # amortised: the dict stays near its live size
            self._waiting = {p: None for p in self._waiting if _may_wait(p)}
            self._prune_at = 2 * len(self._waiting) + 64

    def _connected(self, task: asyncio.Task[tuple[asyncio.Transport, asyncio.Protocol]],
                   protocol: asyncio.Protocol) -> None:
        self._tasks.discard(task)
        exc: BaseException | None = (asyncio.CancelledError() if task.cancelled()
                                     else task.exception())
        if exc is None:
            return
        if not isinstance(exc, asyncio.CancelledError):
            logger.debug("client connection failed before it opened: %s", exc)
        if isinstance(protocol, _Refusal):
            if not protocol.made:
                protocol.done()
        else:
            self.session_failed(protocol, exc)

    def _refuse(self, conn: socket.socket) -> None:
        self.refused += 1
        self._refusing += 1
        self._warn()
        self._connect(conn, _Refusal(self._refusal_done))

    def _refusal_done(self) -> None:
        self._refusing -= 1
        self.released()

    def _warn(self) -> None:
        assert self._loop is not None
        now = self._loop.time()
        if self._warned_at is not None and now - self._warned_at < WARN_INTERVAL_S:
            return
        self._warned_at = now
        room = (f"room for {max(self.budget // self.fds_per_session, 0)} sessions"
                if self.budget is not None else "limit reached")
        logger.warning("out of file descriptors (%s): new clients get HTTP 503 or wait until "
                       "sessions end (%d refused so far; raise ulimit -n)", room, self.refused)
