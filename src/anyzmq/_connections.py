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

With ``on_handshake``, it also reports every handshake that succeeds or fails
(with the event and its value), which is how a client learns that its server
refuses it (see ``_handshakes.py``).
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


@final
class ConnectionWatcher:
    """Reports the connections of ``sock`` that are lost, by endpoint, and with
    ``on_handshake`` its handshakes (endpoint, event, value)."""

    __slots__ = ("_backend", "_monitor", "_on_handshake", "_on_lost", "_sock")

    def __init__(
        self,
        sock: zmq.Socket[bytes],
        backend: Backend,
        on_lost: Callable[[str], None],
        on_handshake: Callable[[str, int, int], None] | None = None,
    ) -> None:
        self._sock = sock
        self._backend = backend
        self._on_lost = on_lost
        self._on_handshake = on_handshake
        self._monitor: zmq.Socket[bytes] | None = None

    def start(self) -> None:
        """Begin monitoring now rather than when :meth:`run` starts: call it before
        the socket connects, or the first handshakes may pass unreported.

        Raises:
            OSError: ZeroMQ refused to monitor the socket.
        """
        if self._monitor is not None:
            return
        events = _DISCONNECTED if self._on_handshake is None else _DISCONNECTED | HANDSHAKE_EVENTS
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
        if event["event"] == _DISCONNECTED:
            self._on_lost(endpoint)
        elif self._on_handshake is not None:
            self._on_handshake(endpoint, event["event"], event["value"])
