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

from collections.abc import Callable
from typing import Final, final

import zmq
from zmq.utils.monitor import parse_monitor_message

from ._backend import Backend
from ._socket import Frame, SocketPump

__all__ = ["ConnectionWatcher"]

_DISCONNECTED: Final = int(zmq.EVENT_DISCONNECTED)


@final
class ConnectionWatcher:
    """Reports the connections of ``sock`` that are lost, by endpoint."""

    __slots__ = ("_backend", "_on_lost", "_sock")

    def __init__(
        self, sock: zmq.Socket[bytes], backend: Backend, on_lost: Callable[[str], None]
    ) -> None:
        self._sock = sock
        self._backend = backend
        self._on_lost = on_lost

    async def run(self) -> None:
        """Watch until cancelled; the monitor socket is closed however this ends.

        Raises:
            OSError: ZeroMQ refused to monitor the socket.
        """
        try:
            monitor: zmq.Socket[bytes] = self._sock.get_monitor_socket(_DISCONNECTED)
        except zmq.ZMQError as exc:
            raise OSError(exc.errno, exc.strerror) from exc
        pump = SocketPump(monitor, self._backend)
        try:
            await pump.run(self._on_event)
        finally:
            if not self._sock.closed:
                self._sock.disable_monitor()
            pump.close()

    def _on_event(self, frames: list[Frame]) -> None:
        try:
            event = parse_monitor_message([bytes(frame) for frame in frames])
        except Exception:  # not a monitor event: cannot come from libzmq
            return
        if event["event"] == _DISCONNECTED:
            self._on_lost(event["endpoint"].decode("utf-8", "replace"))
