"""What the two clients that only send (pipeline PUSH, pub-sub PUB) share: they
hear nothing back, so a server that refuses them in the handshake would go
unnoticed; they watch their handshakes and fail their sends instead.

A send raises :class:`AuthenticationError` when every endpoint the client
connects to refused its last handshake (and the client binds none): at once if
that is already known, and also while it waits for queue room (it is woken when
the refusal is reported). One connection that succeeds ends this. libzmq does not
reconnect after such a refusal by itself: the client connects a refused endpoint
again after ``RECONNECT_IVL`` (at least 100 ms), so that a server that changes its
mind admits the client; meanwhile sends keep failing.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from contextlib import suppress

import anyio
import anyio.lowlevel
import zmq

from ._codec import TranslationTable
from ._connections import ConnectionWatcher
from ._curve import CurveClient, check_curve
from ._handshakes import Handshakes
from ._log import logger
from ._service import DEFAULT_HEARTBEAT, DEFAULT_LINGER, Service, SocketOptions
from ._socket import Frame, SocketPump
from ._transport import Transport

__all__ = ["OneWayClient"]


class OneWayClient(Service):
    """A client whose sends fail while every server refuses it."""

    _receives = False

    def __init__(
        self,
        *,
        bind: str | Iterable[str] | None,
        connect: str | Iterable[str] | None,
        translation_table: TranslationTable | None,
        socket_options: SocketOptions | None = None,
        heartbeat: float | None = DEFAULT_HEARTBEAT,
        linger: float | None = DEFAULT_LINGER,
        curve: CurveClient | None = None,
    ) -> None:
        check_curve(curve, CurveClient)
        super().__init__(
            bind=bind,
            connect=connect,
            translation_table=translation_table,
            socket_options=socket_options,
            heartbeat=heartbeat,
            linger=linger,
            curve=curve,
        )
        self._handshakes = Handshakes()
        self._blocked: set[anyio.CancelScope] = set()
        self._reconnecting: set[str] = set()
        self._watcher: ConnectionWatcher | None = None

    async def _send(self, pump: SocketPump, frames: Sequence[Frame]) -> None:
        """Queue one message through this client's ``pump``, waiting for room.

        Raises:
            ServiceClosedError: the client is or gets closed.
            AuthenticationError: every server refuses the client.
        """
        if self._handshakes.any_refused:
            refusal = self._handshakes.refusal(self._transport)
            if refusal is not None:
                raise refusal
        await anyio.lowlevel.checkpoint_if_cancelled()
        if pump.send_nowait(frames):
            await pump.pace()
            return
        # No room: wait, but give up when a refusal is reported meanwhile.
        while True:
            with anyio.CancelScope() as scope:
                self._blocked.add(scope)
                try:
                    await pump.send(frames)
                finally:
                    self._blocked.discard(scope)
            if not scope.cancelled_caught:
                return
            refusal = self._handshakes.refusal(self._transport)
            if refusal is not None:
                raise refusal

    def _make_transport(self, sock: zmq.Socket[bytes]) -> Transport:
        # Watching from before the first connect: a refused handshake is reported once.
        assert self._backend is not None
        self._watcher = ConnectionWatcher(
            sock, self._backend, self._connection_lost, self._admitted, self._refused
        )
        self._watcher.start()
        return super()._make_transport(sock)

    def _start_background(self, task_group: anyio.abc.TaskGroup) -> None:
        assert self._watcher is not None
        task_group.start_soon(self._watcher.run, name=f"connections of {self!r}")

    def _on_closed(self) -> None:
        if self._watcher is not None:
            self._watcher.close()  # if it never ran

    def _on_abandoned(self) -> None:
        if self._watcher is not None:
            self._watcher.abandon()

    def _admitted(self, endpoint: str) -> None:
        self._handshakes.admitted(endpoint)

    def _refused(self, endpoint: str, event: int, value: int) -> None:
        self._handshakes.record(endpoint, event, value)
        if self._blocked and self._handshakes.refusal(self._transport) is not None:
            for scope in self._blocked:
                scope.cancel()

    def _connection_lost(self, endpoint: str) -> None:
        transport = self._transport
        if not self._is_open or transport is None or self._handlers is None:
            return
        refused = self._handshakes.is_refused(endpoint) or (
            len(transport.connections()) == 1 and self._handshakes.any_refused
        )
        if not refused or endpoint not in transport.connections():
            return  # libzmq reconnects after other losses by itself
        if endpoint not in self._reconnecting:
            self._reconnecting.add(endpoint)
            self._handlers.start_soon(self._reconnect, endpoint)

    async def _reconnect(self, endpoint: str) -> None:
        """Connect ``endpoint`` again after ZeroMQ's reconnect interval."""
        try:
            assert self._pump is not None
            sock = self._pump.socket
            await anyio.sleep(max(int(sock.getsockopt(zmq.RECONNECT_IVL)), 100) / 1000)
            with suppress(zmq.ZMQError):
                sock.disconnect(endpoint)
            try:
                sock.connect(endpoint)
            except zmq.ZMQError as exc:
                logger.warning(
                    "%s could not connect to %s again: %s", type(self).__name__, endpoint, exc
                )
        finally:
            self._reconnecting.discard(endpoint)
