"""The client side of a stream: ``client.stream.ns.method(...)``, the async
context manager and iterator it returns, and the per-stream buffers.

The socket pump only appends what arrives to the stream's buffer and wakes its
reader; it never waits for a consumer, so a slow stream never delays other calls
or streams on the same socket. The buffer stays within the window because the
server sends no more than the window ahead of what the consumer has taken; the
consumer grants credit back (over the link that carried the request, so it
reaches the server running the stream) each time it has taken half a window.

A credit carries the totals taken since the stream began, so sending one again
is harmless. A reader that waits with an empty buffer sends its last credit again,
first after ``regrant_every / 32`` seconds, then at doubling intervals up to every
``regrant_every`` seconds (the client's heartbeat): behind a proxy with several
servers a credit may reach a server that does not run the stream, and the stream
would otherwise wait for it forever.
"""

from __future__ import annotations

import math
from collections import deque
from collections.abc import Callable, Container, Iterable
from types import TracebackType
from typing import TYPE_CHECKING, Any, Final, final

import anyio
import anyio.lowlevel

from . import _wire
from ._codec import DecodeError
from ._error_table import rebuild_error
from ._errors import ProtocolError, ServiceClosedError, StreamMismatchError
from ._socket import Frame

if TYPE_CHECKING:
    from ._links import Link
    from ._rpc import RPCClient

__all__ = [
    "DEFAULT_STREAM_WINDOW",
    "DEFAULT_STREAM_WINDOW_BYTES",
    "ClientStreams",
    "Stream",
    "StreamCall",
    "check_window",
]

#: The first pause before a waiting reader sends its credit again, as a fraction
#: of ``regrant_every``: short enough that a lost credit costs little, doubling so
#: that a slow stream costs few messages.
_FIRST_REGRANT_DIVISOR: Final = 32

#: Default window of a stream: items the server may send ahead of the consumer.
DEFAULT_STREAM_WINDOW: Final = 256
#: Default window of a stream in bytes (one larger item still goes, alone).
DEFAULT_STREAM_WINDOW_BYTES: Final = 16 * 1024 * 1024


def check_window(what: str, value: int, most: int) -> int:
    """``value`` if it is a whole number from 1 to ``most``.

    Raises:
        TypeError: ``value`` is not an int.
        ValueError: it is out of range.
    """
    if isinstance(value, bool) or not isinstance(value, int):
        raise TypeError(f"{what} must be an int, got {value!r}")
    if not 1 <= value <= most:
        raise ValueError(f"{what} must be from 1 to {most}, got {value!r}")
    return value


Opener = Callable[[str, tuple[Any, ...], dict[str, Any]], "Stream"]


@final
class StreamCall:
    """``proxy.a.b(*args, **kwargs)`` returns the :class:`Stream` of ``a.b``."""

    __slots__ = ("_names", "_open")

    def __init__(self, open_stream: Opener, names: tuple[str, ...] = ()) -> None:
        self._open = open_stream
        self._names = names

    def __getattr__(self, name: str) -> StreamCall:
        if name.startswith("__") and name.endswith("__"):
            raise AttributeError(name)
        return StreamCall(self._open, (*self._names, name))

    def __call__(self, *args: Any, **kwargs: Any) -> Stream:
        """The stream of this method, to be entered with ``async with``.

        Raises:
            ValueError: no method name was given (``client.stream()``).
        """
        if not self._names:
            raise ValueError("RPC method name is empty")
        return self._open(".".join(self._names), args, kwargs)

    def __repr__(self) -> str:
        return f"<StreamCall {'.'.join(self._names) or '(no name)'}>"


@final
class _State:
    """What the client holds for one open stream."""

    __slots__ = (
        "arrived",
        "buffer",
        "buffered_bytes",
        "credited_bytes",
        "credited_items",
        "end",
        "failure",
        "link",
        "request_id",
        "taken_bytes",
        "taken_items",
    )

    def __init__(self, request_id: int, link: Link) -> None:
        self.request_id = request_id
        self.link = link
        self.buffer: deque[Frame] = deque()
        self.buffered_bytes = 0
        self.end: tuple[bool, Frame] | None = None  # the final answer: is_error, body
        self.failure: BaseException | None = None  # ends the stream after the buffer
        self.arrived: anyio.Event | None = None  # set when the reader waits
        self.taken_items = 0  # taken since the stream began
        self.taken_bytes = 0
        self.credited_items = 0  # the totals of the last credit sent
        self.credited_bytes = 0

    @property
    def finished(self) -> bool:
        return self.end is not None or self.failure is not None

    def wake(self) -> None:
        if self.arrived is not None:
            self.arrived.set()
            self.arrived = None


@final
class ClientStreams:
    """The open streams of one client, by request id; the pump hands them what
    arrives for them."""

    __slots__ = ("_open", "regrant_every", "window_bytes", "window_items")

    def __init__(self, window_items: int, window_bytes: int, regrant_every: float) -> None:
        self.window_items = window_items
        self.window_bytes = window_bytes
        self.regrant_every = regrant_every
        self._open: dict[int, _State] = {}

    def __contains__(self, request_id: object) -> bool:
        return request_id in self._open

    def __len__(self) -> int:
        return len(self._open)

    @property
    def ids(self) -> Container[int]:
        """The request ids of the open streams (a live view)."""
        return self._open

    def add(self, state: _State) -> None:
        self._open[state.request_id] = state

    def remove(self, state: _State) -> None:
        if self._open.get(state.request_id) is state:
            del self._open[state.request_id]

    def item(self, request_id: int, body: Frame, link: Link) -> bool:
        """An item arrived over ``link``; False when no open stream of that link
        has ``request_id``."""
        state = self._open.get(request_id)
        if state is None or state.finished or state.link is not link:
            return False
        state.buffer.append(body)
        state.buffered_bytes += len(body)
        if len(state.buffer) > self.window_items or (
            state.buffered_bytes - len(body) >= self.window_bytes
        ):
            state.failure = ProtocolError("the server sent more than the stream's window")
        state.wake()
        return True

    def ended(self, request_id: int, is_error: bool, body: Frame, link: Link) -> bool:
        """The stream's final answer arrived over ``link``; False when no stream of
        that link has ``request_id``."""
        state = self._open.get(request_id)
        if state is None or state.finished or state.link is not link:
            return False
        state.end = (is_error, body)
        state.wake()
        return True

    def refused(self, request_id: int, link: Link) -> bool:
        """A server that does not stream echoed the stream's request over ``link``."""
        state = self._open.get(request_id)
        if state is None or state.link is not link:
            return False
        where = f" at {link.endpoint}" if link.endpoint else ""
        return self.fail(
            request_id,
            StreamMismatchError(f"the server{where} does not stream (an aiozmq server?)"),
        )

    def fail(self, request_id: int, error: BaseException) -> bool:
        state = self._open.get(request_id)
        if state is None or state.finished:
            return False
        state.failure = error
        state.wake()
        return True

    def fail_link(self, link: Link, error: Callable[[], BaseException]) -> None:
        """The connection of ``link`` was lost: its streams end after their buffers."""
        for state in self._open.values():
            if state.link is link and not state.finished:
                state.failure = error()
                state.wake()

    def close_all(self) -> None:
        """The client closed: every open stream fails at once."""
        for state in self._open.values():
            state.buffer.clear()
            state.buffered_bytes = 0
            state.end = None
            state.failure = ServiceClosedError("the client closed while the stream was open")
            state.wake()

    def unfinished(self) -> Iterable[_State]:
        return [state for state in self._open.values() if not state.finished]


@final
class Stream:
    """The items of one stream method call, in order; made by ``client.stream``.

    Enter it with ``async with`` (that sends the request), then iterate it with
    ``async for``. Leaving the block before the end cancels the method on the
    server (its ``finally`` runs). Each wait for the next item is bounded by the
    client's (or view's) timeout; the caller's cancel scopes bound the whole stream.

    Iterating raises what the method raised (translated as for calls), after
    every item it yielded before; :class:`TimeoutError` when no item comes within
    the timeout; :class:`ConnectionLostError` when the connection is lost (after
    the items already received); :class:`AuthenticationError` when the server
    refuses the client in the handshake; :class:`ServiceClosedError` when the client
    closes; :class:`StreamMismatchError` when the method is not a stream method
    or the server does not stream; :class:`ProtocolError` when an item cannot be
    decoded.
    """

    __slots__ = ("_args", "_client", "_kwargs", "_name", "_state", "_timeout")

    def __init__(
        self,
        client: RPCClient,
        name: str,
        args: tuple[Any, ...],
        kwargs: dict[str, Any],
        timeout: float | None,
    ) -> None:
        self._client = client
        self._name = name
        self._args = args
        self._kwargs = kwargs
        self._timeout = timeout
        self._state: _State | None = None

    @property
    def name(self) -> str:
        """The dotted name of the stream method."""
        return self._name

    async def __aenter__(self) -> Stream:
        """Send the request.

        Raises:
            RuntimeError: the stream was entered already.
            ServiceClosedError: the client is not open.
            AuthenticationError: every server refuses the client (nothing is sent then).
            TypeError: an argument cannot be serialized (nothing is sent then).
            TimeoutError: the request could not be queued within the timeout.
        """
        if self._state is not None:
            raise RuntimeError("a stream can be entered only once")
        client = self._client
        streams = client._streams
        budget = math.inf
        scope_deadline = anyio.current_effective_deadline()
        if scope_deadline != math.inf:
            budget = scope_deadline - anyio.current_time()
        link, request_id, frames = client._stream_request(
            self._name,
            self._args,
            self._kwargs,
            _wire.stream_frame(budget, streams.window_items, streams.window_bytes, self._name),
        )
        state = self._state = _State(request_id, link)
        streams.add(state)
        try:
            await client._send_request(link, frames, self._timeout)
        except BaseException:
            streams.remove(state)
            state.end = (False, b"")  # never sent: nothing to cancel
            raise
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        state = self._state
        if state is None:
            return
        self._client._streams.remove(state)
        if state.end is None:
            # Left before the end: the server stops the method (when it listens).
            self._client._call_abandoned(state.link, state.request_id, stream=True)
        state.buffer.clear()
        state.end = (False, b"")  # nothing more comes through this object

    def __aiter__(self) -> Stream:
        return self

    async def __anext__(self) -> Any:
        state = self._state
        if state is None:
            raise RuntimeError("enter the stream with 'async with' before iterating it")
        while not state.buffer:
            if state.failure is not None:
                raise state.failure
            if state.end is not None:
                return self._finish(state.end)
            await self._wait(state)
        body = state.buffer[0]
        await self._credit(state, len(body))
        state.buffer.popleft()
        state.buffered_bytes -= len(body)
        try:
            return self._client._codec.unpackb(body)
        except DecodeError as exc:
            raise ProtocolError(f"an item of {self._name!r} cannot be decoded: {exc}") from exc

    async def _wait(self, state: _State) -> None:
        """Wait for what comes next, sending the last credit again after a
        pause that doubles from ``regrant_every / 32`` up to ``regrant_every``
        (see the module's docstring).

        Raises:
            TimeoutError: nothing came within the timeout.
        """
        state.arrived = arrived = anyio.Event()
        longest = self._client._streams.regrant_every
        pause = longest / _FIRST_REGRANT_DIVISOR
        now = anyio.current_time()
        deadline = math.inf if self._timeout is None else now + self._timeout
        while True:
            # One scope per pause, the timeout's end included: a scope costs more
            # than the wait itself when items come fast.
            with anyio.move_on_after(min(pause, deadline - now)):
                await arrived.wait()
                return
            now = anyio.current_time()
            if now >= deadline:
                raise TimeoutError(f"no item of {self._name!r} within {self._timeout:g} s")
            if state.credited_items:
                await self._send_credit(state)
            pause = min(2 * pause, longest)

    async def _credit(self, state: _State, size: int) -> None:
        """Count an item as taken, and grant credit once half a window is taken."""
        streams = self._client._streams
        state.taken_items += 1
        state.taken_bytes += size
        items = state.taken_items - state.credited_items
        nbytes = state.taken_bytes - state.credited_bytes
        if items * 2 < streams.window_items and nbytes * 2 < streams.window_bytes:
            return
        state.credited_items, state.credited_bytes = state.taken_items, state.taken_bytes
        await self._send_credit(state)

    async def _send_credit(self, state: _State) -> None:
        """Send the totals of the last credit (again)."""
        if state.end is not None or state.failure is not None:
            return
        frames = [_wire.credit_frame(state.request_id, state.credited_items, state.credited_bytes)]
        pump = state.link.pump
        try:
            if not pump.send_nowait(frames):
                await pump.send(frames)
        except (ServiceClosedError, OSError):
            pass  # the stream ends by its connection or the client closing

    def _finish(self, end: tuple[bool, Frame]) -> Any:
        is_error, body = end
        try:
            answer = self._client._codec.unpackb(body)
        except DecodeError as exc:
            raise ProtocolError(f"the end of {self._name!r} cannot be decoded: {exc}") from exc
        if is_error:
            raise rebuild_error(answer, self._client._error_table)
        raise StopAsyncIteration

    def __repr__(self) -> str:
        return f"<Stream {self._name}>"
