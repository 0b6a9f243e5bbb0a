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
"""

from __future__ import annotations

import itertools
from collections.abc import Callable
from typing import Final, final

import zmq
from zmq.utils.monitor import parse_monitor_message

from ._backend import Backend
from ._socket import Frame, SocketPump

__all__ = ["ConnectionWatcher"]

_DISCONNECTED: Final = int(zmq.EVENT_DISCONNECTED)
_UP: Final = int(zmq.EVENT_HANDSHAKE_SUCCEEDED)
_monitors = itertools.count()


@final
class ConnectionWatcher:
    """Reports, by endpoint, each connection of ``sock`` that comes up (its
    handshake succeeded) and each that is lost."""

    __slots__ = ("_backend", "_monitor", "_on_lost", "_on_up", "_sock")

    def __init__(
        self,
        sock: zmq.Socket[bytes],
        backend: Backend,
        on_lost: Callable[[str], None],
        on_up: Callable[[str], None] | None = None,
    ) -> None:
        """Start monitoring ``sock`` now (make it before connecting: events that
        happen before the monitor exists are never reported).

        Raises:
            OSError: ZeroMQ refused to monitor the socket.
        """
        self._sock = sock
        self._backend = backend
        self._on_lost = on_lost
        self._on_up = on_up
        # libzmq's I/O thread sends each event to the monitor and blocks when the
        # pipe is full: an unbounded pipe (both high-water marks 0) never stops it.
        address = f"inproc://anyzmq-monitor-{id(self):x}-{next(_monitors)}"
        monitor: zmq.Socket[bytes] = sock.context.socket(zmq.PAIR)
        try:
            monitor.setsockopt(zmq.RCVHWM, 0)
            monitor.setsockopt(zmq.SNDHWM, 0)
            monitor.setsockopt(zmq.LINGER, 0)
            sock.monitor(address, _DISCONNECTED if on_up is None else _DISCONNECTED | _UP)
            monitor.connect(address)
        except zmq.ZMQError as exc:
            monitor.close(linger=0)
            raise OSError(exc.errno, exc.strerror) from exc
        self._monitor = monitor

    async def run(self) -> None:
        """Report events until cancelled; the monitor is closed however this ends."""
        pump = SocketPump(self._monitor, self._backend)
        try:
            await pump.run(self._on_event)
        finally:
            self.close()
            pump.close()

    def close(self) -> None:
        """Stop monitoring (idempotent). Call it before closing the watched socket.

        libzmq's own end of the monitor pipe blocks the context's I/O thread when
        it sends an event with no reader: closing our end while the watched socket
        can still report (it does until libzmq has finished closing it) would
        freeze every connection of the context. So our end is closed only after
        monitoring stopped; if the watched socket was closed first, it stays open
        (pumped by nobody, unbounded) and goes when the context does.
        """
        if self._monitor.closed:
            return
        if self._sock.closed:
            return
        self._sock.disable_monitor()
        self._monitor.close(linger=0)

    def _on_event(self, frames: list[Frame]) -> None:
        try:
            event = parse_monitor_message([bytes(frame) for frame in frames])
        except Exception:  # not a monitor event: cannot come from libzmq
            return
        endpoint = event["endpoint"].decode("utf-8", "replace")
        if event["event"] == _DISCONNECTED:
            self._on_lost(endpoint)
        elif event["event"] == _UP and self._on_up is not None:
            self._on_up(endpoint)
