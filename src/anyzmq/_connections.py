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

import itertools
from collections.abc import Callable
from typing import Final, final

import zmq
from zmq.utils.monitor import parse_monitor_message

from ._backend import Backend
from ._handshakes import HANDSHAKE_EVENTS
from ._socket import Frame, SocketPump

__all__ = ["ConnectionWatcher"]

_DISCONNECTED: Final = int(zmq.EVENT_DISCONNECTED)
_UP: Final = int(zmq.EVENT_HANDSHAKE_SUCCEEDED)
_monitors = itertools.count()


@final
class ConnectionWatcher:
    """Reports, by endpoint, each connection of ``sock`` that comes up (its
    handshake succeeded) and each that is lost; with ``on_refused``, each
    handshake that fails (endpoint, event, value)."""

    __slots__ = (
        "_backend",
        "_closed",
        "_monitor",
        "_on_lost",
        "_on_refused",
        "_on_up",
        "_pump",
        "_sock",
    )

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
        self._pump: SocketPump | None = None
        self._closed = False

    def start(self) -> None:
        """Begin monitoring now rather than when :meth:`run` starts (events that
        happen before are never reported).

        Raises:
            OSError: ZeroMQ refused to monitor the socket.
        """
        if self._monitor is not None or self._closed:
            return
        events = _DISCONNECTED
        if self._on_up is not None:
            events |= _UP
        if self._on_refused is not None:
            events |= HANDSHAKE_EVENTS
        # libzmq's I/O thread sends each event to the monitor and blocks when the
        # pipe is full: an unbounded pipe (both high-water marks 0) never stops it.
        address = f"inproc://anyzmq-monitor-{id(self):x}-{next(_monitors)}"
        monitor: zmq.Socket[bytes] = self._sock.context.socket(zmq.PAIR)
        try:
            monitor.setsockopt(zmq.RCVHWM, 0)
            monitor.setsockopt(zmq.SNDHWM, 0)
            monitor.setsockopt(zmq.LINGER, 0)
            self._sock.monitor(address, events)
            monitor.connect(address)
        except zmq.ZMQError as exc:
            monitor.close(linger=0)
            raise OSError(exc.errno, exc.strerror) from exc
        self._monitor = monitor

    async def run(self) -> None:
        """Report events until cancelled or closed; monitoring stops however this ends.

        Raises:
            OSError: ZeroMQ refused to monitor the socket.
        """
        self.start()
        if self._monitor is None or self._monitor.closed:
            return  # closed before it ran
        self._pump = SocketPump(self._monitor, self._backend)
        try:
            await self._pump.run(self._on_event)
        finally:
            self.close()

    def close(self) -> None:
        """Stop monitoring (idempotent); call it before closing the watched socket.

        libzmq's own end of the monitor pipe blocks the context's I/O thread when
        it sends an event with no reader: closing our end while the watched socket
        can still report (it does until libzmq has finished closing it) would
        freeze every connection of the context. So our end is closed only after
        monitoring stopped; if the watched socket was closed first, it stays open
        (read by nobody, unbounded) and goes when the context does.
        """
        self._closed = True
        monitor = self._monitor
        if monitor is None or monitor.closed or self._sock.closed:
            return
        self._sock.disable_monitor()
        if self._pump is not None:
            self._pump.close()  # ends run() too
        else:
            monitor.close(linger=0)

    def abandon(self) -> None:
        """As :meth:`close`, for a watcher whose event loop is gone: the monitor
        socket is closed directly (no task pumps it any more); call it before
        closing the watched socket."""
        monitor = self._monitor
        if monitor is None or monitor.closed or self._sock.closed:
            return
        self._sock.disable_monitor()
        monitor.close(linger=0)

    def _on_event(self, frames: list[Frame]) -> None:
        try:
            event = parse_monitor_message([bytes(frame) for frame in frames])
        except Exception:  # not a monitor event: cannot come from libzmq
            return
        endpoint = event["endpoint"].decode("utf-8", "replace")
        kind = event["event"]
        if kind == _DISCONNECTED:
            self._on_lost(endpoint)
        elif kind == _UP:
            if self._on_up is not None:
                self._on_up(endpoint)
        elif self._on_refused is not None:
            self._on_refused(endpoint, kind, event["value"])
