"""The socket pump: one task per ZeroMQ socket owns its file descriptor.

ZeroMQ's FD is edge-triggered and signals *any* change of the socket's state:
it becomes readable when commands arrive, and a send, a receive or a read of
``EVENTS`` may consume that edge while a message is already queued. So the pump
receives for as long as ``EVENTS`` reports input, and waits for the FD only
after a read of ``EVENTS`` that reports none; a send made while the pump waits
re-checks ``EVENTS``: if input is waiting (its edge may be gone), it is handed to
the pump. Senders blocked on a full queue (``zmq.Again``) are woken by the pump
when ``POLLOUT`` returns. A multipart send is one synchronous call, so no other
task can interleave frames with it.

How the pump waits depends on the event loop. On asyncio (and uvloop) its task
keeps one reader registration on the loop for as long as it runs and the socket is
handled in the loop's callback (see ``_loop_reader.py``); after sends, one callback
scheduled for the loop's next turn re-reads ``EVENTS`` for all of them. Elsewhere
(trio) the task waits with :func:`anyio.wait_readable` and handles the socket
itself; input found after a send is received by the sender, synchronously, before
it returns. Either way ``on_message`` is called synchronously, one message at a time.
"""

from __future__ import annotations

import sys
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager, suppress
from typing import Final, final

import anyio
import anyio.lowlevel
import zmq

from ._errors import ServiceClosedError
from ._loop_reader import LoopReader

__all__ = ["SocketPump", "zmq_errors_as_oserror"]

#: Messages handled per wake-up before the pump lets other tasks run.
_BATCH: Final = 256
#: One-way sends between two yields to other tasks.
_YIELD_EVERY: Final = 64
# Plain ints for flags: pyzmq's flag enums cost an enum operation on every use.
_POLLIN: Final = int(zmq.POLLIN)
_POLLOUT: Final = int(zmq.POLLOUT)
_NOBLOCK: Final = int(zmq.NOBLOCK)
_MORE_NOBLOCK: Final = int(zmq.SNDMORE) | _NOBLOCK
# But the option's enum member itself: ``get`` converts whatever it is given to
# ``SocketOption``, which is quickest for a member.
_EVENTS: Final = zmq.SocketOption.EVENTS


def _as_oserror(exc: zmq.ZMQError) -> OSError:
    """pyzmq's error as the :class:`OSError` with the same errno (raise it ``from exc``)."""
    return OSError(exc.errno, exc.strerror)


def _events(sock: zmq.Socket[bytes]) -> int:
    """The socket's ``EVENTS``: ``POLLIN`` and ``POLLOUT`` bits.

    Raises:
        OSError: ZeroMQ refused (the context was terminated, for example).
    """
    try:
        events: int = sock.get(_EVENTS)  # type: ignore[assignment]
    except zmq.ZMQError as exc:
        raise _as_oserror(exc) from exc
    return events


#: Frames this long or longer are sent without a copy (pyzmq's own threshold,
#: below which it copies even when asked not to).
_ZERO_COPY_MIN: Final = zmq.COPY_THRESHOLD


def _send_frames(sock: zmq.Socket[bytes], frames: Sequence[bytes]) -> None:
    """``send_multipart(frames, NOBLOCK)`` without its per-call type checks and
    enum arithmetic, which are most of its cost. ZeroMQ queues all frames or none:
    only the first can fail with ``zmq.Again``.

    Frames of at least :data:`_ZERO_COPY_MIN` bytes are lent to ZeroMQ rather than
    copied: pyzmq holds a reference until ZeroMQ has written them, and a ``bytes``
    cannot change meanwhile. Copying a large frame costs a fresh allocation of its
    size as well as the copy, and fresh memory costs a page fault per 4 KiB (see
    ``benchmarks/README.md``); smaller frames are copied, which is cheaper than
    pyzmq's bookkeeping for a lent buffer.
    """
    send = sock.send
    last = len(frames) - 1
    for index in range(last):
        frame = frames[index]
        if len(frame) < _ZERO_COPY_MIN:
            send(frame, _MORE_NOBLOCK)
        else:
            send(frame, _MORE_NOBLOCK, False)
    frame = frames[last]
    if len(frame) < _ZERO_COPY_MIN:
        send(frame, _NOBLOCK)
    else:
        send(frame, _NOBLOCK, False)


def _recv_frames(sock: zmq.Socket[bytes]) -> list[bytes]:
    """``recv_multipart(NOBLOCK)``, reading each frame's "more" flag from the frame
    rather than with a ``getsockopt(RCVMORE)`` per frame (half the cost)."""
    recv = sock.recv
    frame = recv(_NOBLOCK, copy=False)
    frames = [frame.bytes]
    while frame.more:
        frame = recv(_NOBLOCK, copy=False)
        frames.append(frame.bytes)
    return frames


@contextmanager
def zmq_errors_as_oserror() -> Iterator[None]:
    """Re-raise pyzmq's errors as :class:`OSError` with the same errno."""
    try:
        yield
    except zmq.ZMQError as exc:
        raise _as_oserror(exc) from exc


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
        "_reader",
        "_reading_paused",
        "_resumed",
        "_sends",
        "_sock",
        "_writable",
    )

    def __init__(self, sock: zmq.Socket[bytes]) -> None:
        self._sock = sock
        self._fd: int = sock.FD
        self._closed = False
        self._parked = False  # the pump waits for the FD, and will not re-read EVENTS first
        self._draining = False  # messages are being received, further up the stack
        self._on_message: Callable[[list[bytes]], None] | None = None
        self._reader: LoopReader | None = None  # on asyncio, while the pump runs
        self._writable: anyio.Event | None = None
        self._reading_paused = False
        self._resumed: anyio.Event | None = None  # what a paused, polling pump waits on
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
            _send_frames(self._sock, frames)
        except zmq.Again:
            self._recheck_events()
            return False
        except zmq.ZMQError as exc:
            raise _as_oserror(exc) from exc
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
        peers feel backpressure. (Meanwhile a polling pump does not wake senders
        blocked on a full queue; the servers that pause never block on sends.)"""
        self._reading_paused = True

    def resume_reading(self) -> None:
        """Undo :meth:`pause_reading`."""
        if not self._reading_paused:
            return
        self._reading_paused = False
        if self._resumed is not None:
            self._resumed.set()
            self._resumed = None
        # What queued up meanwhile may have lost its edge to a send.
        self._recheck_events()

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

        Raises:
            OSError: ZeroMQ failed to receive.
            BaseException: whatever ``on_message`` raised.
        """
        self._on_message = on_message
        reader = LoopReader.start(self._fd, self._on_readable)
        if reader is None:
            await self._poll()
            return
        self._reader = reader
        self._parked = True
        try:
            self._on_readable()  # what arrived before the registration
            await reader.wait()
        finally:
            self._reader = None
            self._parked = False
            reader.stop()

    def close(self, linger: int = 0) -> None:
        """Mark closed, end :meth:`run`, wake every waiting sender, then close the
        socket (idempotent)."""
        if self._closed:
            return
        self._closed = True
        if self._reader is not None:
            self._reader.stop()  # before the FD goes: the loop must not poll it after
        self.resume_reading()
        self._wake_senders()
        anyio.notify_closing(self._fd)
        self._sock.close(linger=linger)

    def _on_readable(self) -> None:
        """The loop callback (asyncio): handle what the socket has now."""
        reader = self._reader
        if reader is None:  # stopped; a call already scheduled comes late
            return
        self._parked = False
        try:
            events = self._receive(_BATCH)
            if events & _POLLOUT:
                self._wake_senders()
            if events & _POLLIN and not self._reading_paused:
                reader.schedule()  # the rest after other callbacks and tasks
        except BaseException as exc:
            reader.fail(exc)  # raised in the pump's task
        finally:
            self._parked = True

    async def _poll(self) -> None:
        """The pump's loop where the event loop has no persistent readers (trio)."""
        while not self._closed:
            if self._reading_paused:
                self._resumed = resumed = anyio.Event()
                await resumed.wait()
                continue
            events = self._receive(_BATCH)
            if events & _POLLOUT:
                self._wake_senders()
            if events & _POLLIN:
                await anyio.lowlevel.checkpoint()  # the rest after other tasks
                continue
            self._parked = True
            try:
                await anyio.wait_readable(self._fd)
            except anyio.ClosedResourceError:
                pass
            finally:
                self._parked = False

    def _receive(self, limit: int) -> int:
        """Receive and handle messages while ZeroMQ reports input, ``limit`` at
        most; stop early when reading is paused or the pump closed.

        Returns ``EVENTS`` as last read: with ``POLLIN`` set, input is left. Checking
        ``EVENTS`` before each receive, rather than receiving until ``zmq.Again``,
        spares an exception per wake-up and tells the caller what it must know
        before it waits for the FD again.

        Raises:
            OSError: ZeroMQ failed to receive.
        """
        sock = self._sock
        events = _events(sock)
        on_message = self._on_message
        if on_message is None:
            return events
        self._draining = True
        try:
            while events & _POLLIN and limit and not self._reading_paused and not self._closed:
                try:
                    frames = _recv_frames(sock)
                except zmq.Again:  # EVENTS was stale
                    return _events(sock) & ~_POLLIN
                except zmq.ZMQError as exc:
                    raise _as_oserror(exc) from exc
                on_message(frames)
                limit -= 1
                events = _events(sock)
        finally:
            self._draining = False
        return events

    def _recheck_events(self) -> None:
        # A send may have consumed the FD's edge: hand any news to whoever waits.
        if not self._parked and self._writable is None:
            return
        if self._reader is not None:
            # One look at EVENTS on the loop's next turn serves every send until then.
            self._reader.schedule()
            return
        events = _events(self._sock)
        if events & _POLLIN and self._parked:
            self._hand_over_input()
        if events & _POLLOUT:
            self._wake_senders()

    def _hand_over_input(self) -> None:
        """Receive waiting input for a polling pump, which the FD may not wake again."""
        if self._on_message is not None and not self._reading_paused and not self._draining:
            with suppress(OSError):  # the pump's own receive reports it
                self._receive(sys.maxsize)

    def _wake_senders(self) -> None:
        if self._writable is not None:
            self._writable.set()
            self._writable = None
