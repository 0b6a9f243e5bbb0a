"""The socket pump: one task per ZeroMQ socket owns its file descriptor.

ZeroMQ's FD is edge-triggered and signals *any* change of the socket's state:
it becomes readable when commands arrive, and a send, a receive or a read of
``EVENTS`` may consume that edge while a message is already queued. So the pump
receives for as long as ``EVENTS`` reports input, and waits only after a read of
``EVENTS`` that reports none. Senders never receive: a send made while the pump
waits has ``EVENTS`` looked at again (at once on trio; on asyncio at once for the
first send since the pump began to wait, then one look on the loop's next turn for
the rest of a burst), and input found there wakes the pump.
Senders blocked on a full queue (``zmq.Again``) are woken when ``POLLOUT`` returns.
A multipart send is one synchronous call, so no other task can interleave frames
with it.

The pump's whole condition is one :class:`PumpState`, which only these moves change:

- ``IDLE`` -> ``RECEIVING`` when :meth:`SocketPump.run` starts, and back when it ends;
- ``RECEIVING`` -> ``PARKED`` when ``EVENTS`` reports no input, and back when the
  FD signals or a send finds input;
- ``RECEIVING``/``PARKED`` -> ``PAUSED`` by :meth:`~SocketPump.pause_reading`, and
  ``PAUSED`` -> ``PARKED`` (then receiving again) by :meth:`~SocketPump.resume_reading`;
- any -> ``STOPPED`` by :meth:`~SocketPump.stop_reading` (for good; sends still work);
- any -> ``CLOSED`` by :meth:`~SocketPump.close`.

How the pump task waits depends on the event loop: see ``_backend.py``.
"""

from __future__ import annotations

import enum
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from functools import partial
from typing import Final, TypeAlias, cast, final

import anyio
import anyio.lowlevel
import zmq

from ._backend import Backend, Readiness
from ._errors import ServiceClosedError

__all__ = ["Frame", "PumpState", "SocketPump", "zmq_errors_as_oserror"]

#: A received frame: ``bytes``, or for a large one a view of ZeroMQ's message
#: (kept alive by the view; see ``_recv_frames``).
Frame: TypeAlias = bytes | memoryview


class PumpState(enum.Enum):
    """Where a :class:`SocketPump` is."""

    IDLE = "idle"  #: run() is not running; sends work
    RECEIVING = "receiving"  #: the pump task receives and hands messages on
    PARKED = "parked"  #: the pump task waits for the FD or a wake-up
    PAUSED = "paused"  #: reading paused by the owner until resume_reading()
    STOPPED = "stopped"  #: reading stopped for good; sends still work
    CLOSED = "closed"  #: the socket is closed


_IDLE: Final = PumpState.IDLE
_RECEIVING: Final = PumpState.RECEIVING
_PARKED: Final = PumpState.PARKED
_PAUSED: Final = PumpState.PAUSED
_STOPPED: Final = PumpState.STOPPED
_CLOSED: Final = PumpState.CLOSED

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


#: Frames this long or longer are received as views, not copies (pyzmq's own
#: threshold for zero-copy sends).
_ZERO_COPY_MIN: Final = zmq.COPY_THRESHOLD
#: Frames this long or longer are lent to ZeroMQ when sent. Below it a copy costs
#: less than lending (pyzmq's garbage-collector thread wakes for every lent frame
#: it releases), and glibc serves the copy's allocation from the heap, not with a
#: fresh ``mmap`` (its first threshold is 128 KiB). Measured: benchmarks/README.md.
_LEND_MIN: Final = 128 * 1024


#: pyzmq's ``Socket.send`` is a Python wrapper that only handles the ``routing_id``
#: and ``group`` of draft sockets (never passed here) before calling its compiled
#: base class's ``send``: calling that directly halves the cost of a small send.
_WRAPPED_SEND: Final = zmq.Socket.send
_BASE_SEND: Final = super(zmq.Socket, zmq.Socket).send


def _recv_frames(sock: zmq.Socket[bytes]) -> list[Frame]:
    """``recv_multipart(NOBLOCK)``, reading each frame's "more" flag from the frame
    rather than with a ``getsockopt(RCVMORE)`` per frame (half the cost).

    Frames of at least :data:`_ZERO_COPY_MIN` bytes come as views of ZeroMQ's own
    message (which lives as long as the view is referenced) instead of copies in
    new ``bytes``: msgpack decodes straight from the view, which spares a copy and
    a fresh payload-sized allocation per large frame (see ``benchmarks/README.md``).
    Smaller frames are copied, which costs less than a view's bookkeeping.
    """
    recv = sock.recv
    frame = recv(_NOBLOCK, copy=False)
    frames: list[Frame] = [frame.bytes if len(frame) < _ZERO_COPY_MIN else frame.buffer]
    while frame.more:
        frame = recv(_NOBLOCK, copy=False)
        frames.append(frame.bytes if len(frame) < _ZERO_COPY_MIN else frame.buffer)
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

    :meth:`run`, in the owner's task group, is the one place where messages are
    received and handed to ``on_message``; other tasks only send, and a send that
    may have taken the FD's edge asks the pump to look again. :meth:`run` must be
    running for sends that hit a full queue to resume.
    """

    __slots__ = (
        "_backend",
        "_fd",
        "_input_seen",
        "_on_message",
        "_read_events",
        "_readiness",
        "_recv",
        "_send",
        "_sends",
        "_sock",
        "_state",
        "_writable",
        "last_frame",
    )

    def __init__(
        self, sock: zmq.Socket[bytes], backend: Backend, *, keep_last_frame: bool = False
    ) -> None:
        self._sock = sock
        send = type(sock).send
        #: ``send(sock, frame, flags[, copy])``: pyzmq's compiled send unless a
        #: subclass of zmq.Socket sends otherwise.
        self._send: Callable[..., object] = _BASE_SEND if send is _WRAPPED_SEND else send
        #: With ``keep_last_frame``, the last frame of the message being handled,
        #: whose properties (``frame.get("User-Id")``) ``on_message`` may read.
        self.last_frame: zmq.Frame | None = None
        self._recv = self._recv_keeping_last if keep_last_frame else _recv_frames
        self._backend = backend
        self._fd: int = sock.FD
        #: ``EVENTS`` as pyzmq gives it (no Python call of ours): raises ZMQError.
        self._read_events = cast("Callable[[], int]", partial(sock.get, _EVENTS))
        self._state = _IDLE
        self._on_message: Callable[[list[Frame]], None] | None = None
        self._readiness: Readiness | None = None  # while run() runs
        self._writable: anyio.Event | None = None  # what blocked senders wait on
        self._sends = 0
        self._input_seen = False  # the probe saw input that the pump has not received

    @property
    def socket(self) -> zmq.Socket[bytes]:
        return self._sock

    @property
    def state(self) -> PumpState:
        return self._state

    @property
    def closed(self) -> bool:
        return self._state is _CLOSED

    def send_nowait(self, frames: Sequence[Frame]) -> bool:
        """Send one multipart message if the queue has room; return whether it did.

        ZeroMQ queues all frames or none: only the first can fail for want of
        room. Frames of at least :data:`_LEND_MIN` bytes are lent to ZeroMQ rather
        than copied: pyzmq holds a reference until ZeroMQ has written them, and
        nothing changes them meanwhile (a ``bytes`` cannot change, a packer
        refuses to pack while a view of its buffer lives, and received frames are
        never written). Copying a large frame costs a fresh allocation of its size
        as well as the copy, and fresh memory costs a page fault per 4 KiB (see
        ``benchmarks/README.md``); smaller frames are copied, which is cheaper than
        pyzmq's bookkeeping for a lent buffer (pyzmq copies below 64 KiB anyway).

        Raises:
            ServiceClosedError: the socket is closed.
            OSError: ZeroMQ refused the message.
        """
        if self._state is _CLOSED:
            raise ServiceClosedError("the socket is closed")
        sock = self._sock
        send = self._send
        try:
            # send_multipart(frames, NOBLOCK) without its per-call type checks and
            # enum arithmetic, which are most of its cost; large frames are lent.
            for frame in frames[:-1]:
                if len(frame) < _LEND_MIN:
                    send(sock, frame, _MORE_NOBLOCK)
                else:
                    send(sock, frame, _MORE_NOBLOCK, False)
            frame = frames[-1]
            if len(frame) < _LEND_MIN:
                send(sock, frame, _NOBLOCK)
            else:
                send(sock, frame, _NOBLOCK, False)
        except zmq.Again:
            sent = False
        except zmq.ZMQError as exc:
            raise _as_oserror(exc) from exc
        else:
            sent = True
        # The send may have taken the FD's edge: if the pump waits, or senders
        # wait for room, have the socket looked at again.
        if (self._state is _PARKED or self._writable is not None) and self._readiness is not None:
            self._readiness.check_soon()
        return sent

    async def send(self, frames: Sequence[Frame]) -> None:
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

    async def send_one_way(self, frames: Sequence[Frame]) -> None:
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
        await self.pace()

    async def pace(self) -> None:
        """After a one-way message queued without waiting: yield to other tasks
        every :data:`_YIELD_EVERY` such messages (never a cancellation point)."""
        self._sends += 1
        if self._sends >= _YIELD_EVERY:
            self._sends = 0
            await anyio.lowlevel.cancel_shielded_checkpoint()

    def pause_reading(self) -> None:
        """Receive nothing until :meth:`resume_reading`: ZeroMQ's queues fill up
        and peers feel backpressure. Takes effect before the next message."""
        if self._state is _RECEIVING or self._state is _PARKED or self._state is _IDLE:
            self._state = _PAUSED

    def resume_reading(self) -> None:
        """Undo :meth:`pause_reading`; the pump looks at the socket again (input
        that queued meanwhile may have lost its edge to a send)."""
        if self._state is _PAUSED:
            self._state = _PARKED
            if self._readiness is not None:
                self._readiness.wake()

    def stop_reading(self) -> None:
        """Receive nothing more, for good; sends still work until :meth:`close`.
        Takes effect before the next message."""
        if self._state is not _CLOSED:
            self._state = _STOPPED

    def input_pending(self) -> bool:
        """Whether a message waits to be received; if so, a parked pump is woken
        to receive it (reading ``EVENTS`` may take the FD's edge from it)."""
        if self._state is _CLOSED:
            return False
        try:
            events = _events(self._sock)
        except OSError:
            return False
        if not events & _POLLIN:
            return False
        if self._state is _PARKED and self._readiness is not None:
            self._readiness.wake()
        return True

    async def run(self, on_message: Callable[[list[Frame]], None] | None) -> None:
        """Pump the socket until cancelled or closed.

        ``on_message`` is called in this task, synchronously, with each received
        multipart message; pass None for a socket that only sends (PUSH, PUB).

        Raises:
            OSError: ZeroMQ failed to receive (a pyzmq error that ``on_message``
                lets out comes as an OSError too, with the same errno).
            BaseException: whatever else ``on_message`` raised.
        """
        self._on_message = on_message
        readiness = self._readiness = self._backend.readiness(self._fd, self._probe)
        try:
            while True:
                state = self._state
                if state is _CLOSED:
                    return
                if state is not _PAUSED and state is not _STOPPED:
                    self._state = _RECEIVING
                    events = self._receive(_BATCH)
                    if events & _POLLOUT and self._writable is not None:
                        self._wake_senders()
                    if self._state is not _RECEIVING:
                        continue  # paused, stopped or closed by a handler
                    if events & _POLLIN:
                        await anyio.lowlevel.checkpoint()  # the rest after other tasks
                        continue
                    self._state = _PARKED
                elif _events(self._sock) & _POLLOUT:  # paused or stopped
                    self._wake_senders()
                await readiness.wait()
        finally:
            self._readiness = None
            readiness.finish()
            if self._state is _RECEIVING or self._state is _PARKED:
                self._state = _IDLE

    def close(self, linger: int = 0) -> None:
        """Mark closed, end :meth:`run`, wake every waiting sender, then close the
        socket (idempotent)."""
        if self._state is _CLOSED:
            return
        self._state = _CLOSED
        readiness = self._readiness
        if readiness is not None:
            readiness.wake()
            readiness.close()  # before the FD goes: the loop must not poll it after
        self._wake_senders()
        anyio.notify_closing(self._fd)
        self._sock.close(linger=linger)

    def _receive(self, limit: int) -> int:
        """Receive and handle messages while ZeroMQ reports input, ``limit`` at
        most, and while the state stays ``RECEIVING``.

        Returns ``EVENTS`` as last read: with ``POLLIN`` set, input is left (0 when
        a handler changed the state). ``EVENTS`` is read before the first receive
        and after it, which spares a single message (the usual wake-up) an
        exception; when more input is already waiting, the rest is received until
        ``zmq.Again``, then ``EVENTS`` read once more, since the caller must know
        it before it waits for the FD again.

        Raises:
            OSError: ZeroMQ failed to receive, or ``on_message`` let a pyzmq
                error out (one handler around the loop: no cost per message).
        """
        sock = self._sock
        recv = self._recv
        read_events = self._read_events
        try:
            if self._input_seen:
                # The probe that woke the pump read EVENTS and saw input, which only
                # this task receives: it is still there (a stale read costs zmq.Again).
                self._input_seen = False
                events = _POLLIN
            else:
                events = read_events()
            on_message = self._on_message
            if on_message is None:
                return events
            burst = False
            while events & _POLLIN and limit:
                try:
                    frames = recv(sock)
                except zmq.Again:  # the burst is over, or EVENTS was stale
                    # Read again, and keep what it says: it took the FD's edge.
                    return read_events()
                on_message(frames)
                if self._state is not _RECEIVING:
                    return 0
                limit -= 1
                if not burst:
                    events = read_events()
                    # More input already: a burst. Receive the rest until zmq.Again,
                    # one exception for the burst rather than an EVENTS read per
                    # message (each read costs a poll and a getpid syscall; a
                    # receive does neither while messages wait).
                    burst = True
            return events
        except zmq.ZMQError as exc:
            raise _as_oserror(exc) from exc

    def _recv_keeping_last(self, sock: zmq.Socket[bytes]) -> list[Frame]:
        """As :func:`_recv_frames`, keeping the last ``zmq.Frame`` (its properties)."""
        frame = sock.recv(_NOBLOCK, copy=False)
        frames: list[Frame] = [frame.bytes if len(frame) < _ZERO_COPY_MIN else frame.buffer]
        while frame.more:
            frame = sock.recv(_NOBLOCK, copy=False)
            frames.append(frame.bytes if len(frame) < _ZERO_COPY_MIN else frame.buffer)
        self.last_frame = frame
        return frames

    def _probe(self) -> None:
        """Look at ``EVENTS``: wake a parked pump for input, blocked senders for room."""
        if self._state is _CLOSED:
            return
        try:
            events = self._read_events()
        except zmq.ZMQError:  # the pump's own read of EVENTS reports it
            if self._readiness is not None:
                self._readiness.wake()
            return
        if events & _POLLIN and self._state is _PARKED and self._readiness is not None:
            self._input_seen = True
            self._readiness.wake()
        if events & _POLLOUT and self._writable is not None:
            self._wake_senders()

    def _wake_senders(self) -> None:
        if self._writable is not None:
            self._writable.set()
            self._writable = None
