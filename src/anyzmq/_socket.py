"""The socket pump: one task per ZeroMQ socket owns its file descriptor.

ZeroMQ's FD is edge-triggered and signals *any* change of the socket's state:
it becomes readable when commands arrive, and a send, a receive or a read of
``EVENTS`` may consume that edge while a message is already queued. So the pump
drains until ``EAGAIN`` and re-reads ``EVENTS`` before it parks, and a send made
while the pump is parked re-checks ``EVENTS``: if input is waiting (its edge
may be gone), the sending task drains it on the pump's behalf, synchronously,
before it returns. Only the pump ever waits on the FD. Senders blocked on a full
queue (``zmq.Again``) are woken by the pump when ``POLLOUT`` returns. A
multipart send is one synchronous call, so no other task can interleave frames
with it.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from typing import Final, final

import anyio
import anyio.lowlevel
import zmq

from ._errors import ServiceClosedError

__all__ = ["SocketPump", "zmq_errors_as_oserror"]

#: Messages handled per wake-up before the pump lets other tasks run.
_BATCH: Final = 256
#: One-way sends between two yields to other tasks.
_YIELD_EVERY: Final = 64
# Plain ints: pyzmq's flag enums cost an enum operation on every use.
_POLLIN: Final = int(zmq.POLLIN)
_POLLOUT: Final = int(zmq.POLLOUT)
_NOBLOCK: Final = int(zmq.NOBLOCK)
_EVENTS: Final = int(zmq.EVENTS)


def _events(sock: zmq.Socket[bytes]) -> int:
    events: int = sock.getsockopt(_EVENTS)  # type: ignore[assignment]
    return events


@contextmanager
def zmq_errors_as_oserror() -> Iterator[None]:
    """Re-raise pyzmq's errors as :class:`OSError` with the same errno."""
    try:
        yield
    except zmq.ZMQError as exc:
        raise OSError(exc.errno, exc.strerror) from exc


@final
class SocketPump:
    """Async sends and a receive loop over one non-blocking ``zmq.Socket``.

    :meth:`run` must be running (in the owner's task group) for sends that hit
    a full queue to resume, and for :meth:`run`'s callback to see messages.
    """

    __slots__ = (
        "_closed",
        "_draining",
        "_fd",
        "_on_message",
        "_parked",
        "_paused",
        "_sends",
        "_sock",
        "_writable",
    )

    def __init__(self, sock: zmq.Socket[bytes]) -> None:
        self._sock = sock
        self._fd: int = sock.FD
        self._closed = False
        self._parked = False  # the pump waits on the FD
        self._draining = False
        self._on_message: Callable[[list[bytes]], None] | None = None
        self._writable: anyio.Event | None = None
        self._paused: anyio.Event | None = None
        self._sends = 0

    @property
    def socket(self) -> zmq.Socket[bytes]:
        return self._sock

    @property
    def closed(self) -> bool:
        return self._closed

    def send_nowait(self, frames: Sequence[bytes]) -> bool:
        """Send one multipart message if the queue has room; return whether it did.

        Raises:
            ServiceClosedError: the socket is closed.
            OSError: ZeroMQ refused the message.
        """
        if self._closed:
            raise ServiceClosedError("the socket is closed")
        try:
            self._sock.send_multipart(frames, _NOBLOCK)
        except zmq.Again:
            self._recheck_events()
            return False
        except zmq.ZMQError as exc:
            raise OSError(exc.errno, exc.strerror) from exc
        self._recheck_events()
        return True

    async def send(self, frames: Sequence[bytes]) -> None:
        """Send one multipart message, waiting while the send queue is full.

        Cancellation before the message is queued leaves nothing sent.

        Raises:
            ServiceClosedError: the socket is or gets closed.
            OSError: ZeroMQ refused the message.
        """
        while not self.send_nowait(frames):
            if self._writable is None:
                self._writable = anyio.Event()
            writable = self._writable
            if _events(self._sock) & _POLLOUT:
                # Room appeared while we failed: retry, but let others run first.
                await anyio.lowlevel.checkpoint()
                continue
            await writable.wait()

    def pause_reading(self) -> None:
        """Stop receiving until :meth:`resume_reading`: ZeroMQ's queues fill up and
        peers feel backpressure. (Senders blocked on a full queue are not woken
        meanwhile; the servers that pause never block on sends.)"""
        if self._paused is None:
            self._paused = anyio.Event()

    def resume_reading(self) -> None:
        """Undo :meth:`pause_reading`."""
        if self._paused is not None:
            self._paused.set()
            self._paused = None

    async def send_one_way(self, frames: Sequence[bytes]) -> None:
        """Send a message that gets no answer, for clients that only send.

        A cancellation point before the message is queued (a cancelled call sends
        nothing); it yields to other tasks when it has to wait for room, and at
        least every :data:`_YIELD_EVERY` messages otherwise, which keeps a burst of
        notifications from paying a trip through the event loop each.

        Raises:
            ServiceClosedError: the socket is or gets closed.
            OSError: ZeroMQ refused the message.
        """
        await anyio.lowlevel.checkpoint_if_cancelled()
        if not self.send_nowait(frames):
            await self.send(frames)
            return
        self._sends += 1
        if self._sends >= _YIELD_EVERY:
            self._sends = 0
            await anyio.lowlevel.cancel_shielded_checkpoint()

    async def run(self, on_message: Callable[[list[bytes]], None] | None) -> None:
        """Pump the socket until cancelled or closed.

        ``on_message`` is called synchronously with each received multipart
        message; pass None for a socket that only sends (PUSH, PUB).
        """
        sock = self._sock
        self._on_message = on_message
        handled = 0
        while not self._closed:
            if on_message is None:
                await self._park()
                continue
            if self._paused is not None:
                await self._paused.wait()
                continue
            try:
                frames = sock.recv_multipart(_NOBLOCK)
            except zmq.Again:
                handled = 0
                await self._park()
                continue
            except zmq.ZMQError as exc:
                if self.closed:  # closed under us (its owner stopped us first)
                    return
                raise OSError(exc.errno, exc.strerror) from exc
            on_message(frames)
            handled += 1
            if handled >= _BATCH:
                handled = 0
                await anyio.lowlevel.checkpoint()

    def close(self, linger: int = 0) -> None:
        """Mark closed, wake every waiting sender, then close the socket (idempotent).

        Call it once :meth:`run` has stopped (its task cancelled): the pump is the
        only task that waits on the FD.
        """
        if self._closed:
            return
        self._closed = True
        self.resume_reading()
        self._wake_senders()
        anyio.notify_closing(self._fd)
        self._sock.close(linger=linger)

    async def _park(self) -> None:
        events = _events(self._sock)
        if events & _POLLOUT:
            self._wake_senders()
        if events & _POLLIN:
            await anyio.lowlevel.checkpoint()
            return
        self._parked = True
        try:
            await anyio.wait_readable(self._fd)
        except anyio.ClosedResourceError:
            pass
        finally:
            self._parked = False

    def _recheck_events(self) -> None:
        # A send may have consumed the FD's edge: hand any news to whoever waits.
        if not self._parked and self._writable is None:
            return
        events = _events(self._sock)
        if events & _POLLIN and self._parked:
            self._drain()
        if events & _POLLOUT:
            self._wake_senders()

    def _drain(self) -> None:
        """Receive what is queued, for the parked pump (see the module's notes)."""
        on_message = self._on_message
        if self._draining or on_message is None:
            return  # the outer drain, further up this stack, goes on to EAGAIN
        self._draining = True
        try:
            while self._paused is None and not self._closed:
                try:
                    frames = self._sock.recv_multipart(_NOBLOCK)
                except zmq.ZMQError:  # Again; anything else is the pump's to report
                    return
                on_message(frames)
        finally:
            self._draining = False

    def _wake_senders(self) -> None:
        if self._writable is not None:
            self._writable.set()
            self._writable = None
