"""Watching a socket's connections through ZeroMQ's socket monitor.

ZeroMQ hides connections: a DEALER whose server went away, or whose connection
ZeroMQ dropped for a protocol error (a message over ``MAXMSGSIZE``), looks the
same as one whose answers are slow. The monitor socket reports such events; a
:class:`ConnectionWatcher` pumps it in a task of its own (one task per socket, as
everywhere) and reports each lost connection.

ZeroMQ reconnects by itself after a connection error, but never after a
protocol error: an endpoint that was ``connect()``-ed is then dead for good unless
it is connected again, which the owner does on :meth:`ConnectionWatcher.run`'s
report.

With ``on_refused``, it also reports every handshake that fails (with the event
and its value), which is how a client learns that its server refuses it (see
``_handshakes.py``). Call :meth:`ConnectionWatcher.start` before the socket
connects, or the first handshakes may pass unreported.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Final, final

import zmq
from zmq.utils.monitor import parse_monitor_message

from ._backend import Backend
from ._handshakes import HANDSHAKE_EVENTS
from ._socket import SocketPump

__all__ = ["ConnectionWatcher"]

_DISCONNECTED: Final = int(zmq.EVENT_DISCONNECTED)
_UP: Final = int(zmq.EVENT_HANDSHAKE_SUCCEEDED)


@final
class ConnectionWatcher:
    """Reports, by endpoint, each connection of ``sock`` that comes up (its
    handshake succeeded) and each that is lost; with ``on_refused``, each
    handshake that fails (endpoint, event, value)."""

    __slots__ = ("_backend", "_monitor", "_on_lost", "_on_refused", "_on_up", "_sock")

    def __init__(
        self,
        sock: zmq.Socket[bytes],
        backend: Backend,
        on_lost: Callable[[str], None],
        on_up: Callable[[str], None] | None = None,
        on_refused: Callable[[str, int, int], None] | None = None,
    ) -> None:
        self._sock = sock
        self._backend = backend
        self._on_lost = on_lost
        self._on_up = on_up
        self._on_refused = on_refused
        self._monitor: zmq.Socket[bytes] | None = None

    def start(self) -> None:
        """Begin monitoring now rather than when :meth:`run` starts.

        Raises:
            OSError: ZeroMQ refused to monitor the socket.
        """
        if self._monitor is not None:
            return
        events = _DISCONNECTED
        if self._on_up is not None:
            events |= _UP
        if self._on_refused is not None:
            events |= HANDSHAKE_EVENTS
        try:
            self._monitor = self._sock.get_monitor_socket(events)
        except zmq.ZMQError as exc:
            raise OSError(exc.errno, exc.strerror) from exc

    async def run(self) -> None:
        """Watch until cancelled; the monitor socket is closed however this ends.

        Raises:
            OSError: ZeroMQ refused to monitor the socket.
        """
        self.start()
        assert self._monitor is not None
        pump = SocketPump(self._monitor, self._backend)
        self._monitor = None  # the pump's now
        try:
            await pump.run(self._on_event)
        finally:
            if not self._sock.closed:
                self._sock.disable_monitor()
            pump.close()

    def close(self) -> None:
        """Stop a monitoring that :meth:`start` began and :meth:`run` never took
        over (idempotent)."""
        monitor, self._monitor = self._monitor, None
        if monitor is None:
            return
        if not self._sock.closed:
            self._sock.disable_monitor()
        monitor.close(linger=0)

    def _on_event(self, frames: list[bytes]) -> None:
        try:
            event = parse_monitor_message(frames)
        except Exception:  # not a monitor event: cannot come from libzmq
            return
        endpoint = event["endpoint"].decode("utf-8", "replace")
        kind = event["event"]
        if kind == _DISCONNECTED:
            self._on_lost(endpoint)
        elif kind == _UP:
            if self._on_up is not None:
                self._on_up(endpoint)
            if self._on_refused is None:
                return
        elif self._on_refused is not None:
            self._on_refused(endpoint, kind, event["value"])
