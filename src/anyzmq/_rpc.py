"""Request-reply over DEALER (client) and ROUTER (server)."""

from __future__ import annotations

import enum
import errno
import math
from collections.abc import Callable, Iterable
from contextlib import nullcontext, suppress
from functools import cached_property, partial
from types import TracebackType
from typing import Any, Final, NamedTuple, final

import anyio
import zmq

from . import _wire
from ._backend import Backend, Waiter
from ._call_proxy import MethodCall
from ._codec import DecodeError, TranslationTable
from ._connections import ConnectionWatcher
from ._context import note_linger
from ._curve import CurveClient, CurveServer, check_curve
from ._deadlines import Deadlines
from ._error_table import ErrorTable, make_error_table, rebuild_error, wire_name
from ._errors import ConnectionLostError, ProtocolError, ServiceClosedError
from ._grace import DEFAULT_GRACE
from ._handlers import HandlerLike
from ._handshakes import Handshakes
from ._introspect import MethodInfo, request_description
from ._links import Link, Links, LinkTransport, PeerKind
from ._log import RateLimitedWarning, logger
from ._server import DEFAULT_MAX_CONCURRENT_CALLS, ServerBase, _Call, _check_timeout
from ._service import (
    DEFAULT_HEARTBEAT,
    DEFAULT_LINGER,
    DEFAULT_MAX_MESSAGE_SIZE,
    Service,
    SocketOptions,
)
from ._socket import Frame, SocketPump, zmq_errors_as_oserror
from ._stream_client import (
    DEFAULT_STREAM_WINDOW,
    DEFAULT_STREAM_WINDOW_BYTES,
    ClientStreams,
    Stream,
    StreamCall,
    check_window,
)
from ._stream_server import CallerGone, StreamWindow, run_stream
from ._transport import Transport, set_option

__all__ = ["RPCClient", "RPCClientView", "RPCServer", "connect_rpc", "serve_rpc"]


def _not_open() -> Waiter:
    raise ServiceClosedError("the client is not open")


class _ClientDefault(enum.Enum):
    TIMEOUT = enum.auto()


_CLIENT_DEFAULT: Final = _ClientDefault.TIMEOUT
_NO_TIMEOUT: Final = nullcontext()
_unpack_reply_header: Final = _wire.REPLY_HEADER.unpack

#: Milliseconds a closing client's socket may take to deliver the cancels of its
#: pending calls (ZeroMQ does this in the background: closing does not wait).
_CANCEL_LINGER_MS: Final = 1000

#: Turns a lost link gives its pump to read the answers that came before the loss.
_MAX_READ_STEPS_ON_LOSS: Final = 100

#: Messages a closing link reads at most to learn what its server is.
_MAX_READ_ON_CLOSING: Final = 1000
#: Seconds a closing link waits for the hello of a server it has sent calls to but
#: not yet heard from, to send their cancels (an aiozmq server never greets).
_HELLO_WAIT_ON_CLOSING: Final = _CANCEL_LINGER_MS / 1000


@final
class _Pending:
    """One call waiting for its answer."""

    __slots__ = (
        "answered",
        "error",
        "link",
        "lost",
        "name",
        "sent",
        "timeout",
        "value",
        "waiter",
        "waiting",
    )

    def __init__(self, waiter: Waiter, name: str, timeout: float | None, link: Link) -> None:
        self.waiter = waiter
        self.name = name
        self.timeout = timeout
        self.link = link
        self.value: Any = None
        self.error: BaseException | None = None
        self.waiting = True  # until the caller leaves, answered or not
        self.sent = False  # the request is in ZeroMQ's hands
        self.answered = False  # the server's answer came
        self.lost = False  # its connection went away

    @property
    def done(self) -> bool:
        return self.waiter.done()

    @property
    def active(self) -> bool:
        return self.waiting and not self.waiter.done()

    def resolve(self, value: Any, error: BaseException | None) -> None:
        self.value = value
        self.error = error
        self.waiter.set_result(None)

    def expire(self) -> None:
        self.resolve(None, TimeoutError(f"no answer to {self.name!r} within {self.timeout:g} s"))


@final
class RPCClient(Service):
    """The client side of request-reply; made by :func:`connect_rpc`.

    Each connected endpoint has a socket of its own (see :attr:`connected_endpoints`);
    each call goes to the next endpoint in turn whose connection is up.
    """

    _socket_type = zmq.DEALER

    def __init__(
        self,
        *,
        connect: str | Iterable[str] | None,
        bind: str | Iterable[str] | None,
        error_table: ErrorTable | None,
        timeout: float | None,
        translation_table: TranslationTable | None,
        max_message_size: int | None,
        socket_options: SocketOptions | None = None,
        heartbeat: float | None = DEFAULT_HEARTBEAT,
        linger: float | None = DEFAULT_LINGER,
        stream_window: int = DEFAULT_STREAM_WINDOW,
        stream_window_bytes: int = DEFAULT_STREAM_WINDOW_BYTES,
        curve: CurveClient | None = None,
    ) -> None:
        check_curve(curve, CurveClient)
        super().__init__(
            bind=bind,
            connect=connect,
            translation_table=translation_table,
            max_message_size=max_message_size,
            socket_options=socket_options,
            heartbeat=heartbeat,
            linger=linger,
            curve=curve,
        )
        self._error_table = make_error_table(error_table)
        self._timeout = _check_timeout(timeout)
        self._ids = _wire.RequestIds()
        self._pending: dict[int, _Pending] = {}
        self._streams = ClientStreams(
            check_window("stream_window", stream_window, _wire.MAX_WINDOW_ITEMS),
            check_window("stream_window_bytes", stream_window_bytes, _wire.MAX_WINDOW_BYTES),
            self._heartbeat or DEFAULT_HEARTBEAT,
        )
        self._stream_ids = self._streams.ids  # a live view
        self._new_waiter: Callable[[], Waiter] = _not_open
        self._now: Callable[[], float] = anyio.current_time  # the backend's, on entering
        self._effective_deadline: Callable[[], float] = anyio.current_effective_deadline
        self._deadlines = Deadlines()
        self._links = Links()
        self._by_endpoint: dict[str, Link] = {}
        self._bound_link: Link | None = None
        self._main_watcher: ConnectionWatcher | None = None
        self._later_options: list[tuple[int, int | bytes | str]] = []
        self._reconnecting: set[str] = set()
        self._handshakes = Handshakes()  # which connected endpoints refuse the client
        self._drops = RateLimitedWarning("RPCClient dropped a message")
        self._refusals = RateLimitedWarning("RPCClient refused a value")

    @cached_property  # one proxy serves every call
    def call(self) -> MethodCall:
        """``await client.call.ns.method(*args, **kwargs)`` calls ``ns.method`` remotely.

        The request carries the time the caller has left (the client's timeout,
        or its cancel scopes' deadline if earlier), and an anyzmq server cancels
        the method when the caller gives up. The call raises what the remote
        method raised (translated, see the guide), :class:`TimeoutError` when the
        client's timeout passes first, :class:`ConnectionLostError` when the
        connection the call went over is lost before the answer comes (the call
        may or may not have run), :class:`AuthenticationError` when every server
        the client connects to refuses it in the handshake (see ``curve=``; the
        call did not run), :class:`ServiceClosedError` when the client is or gets
        closed, and ``TypeError`` when an argument cannot be serialized (nothing
        is sent then).
        """
        return MethodCall(self._request)

    @property
    def stream(self) -> StreamCall:
        """``async with client.stream.ns.method(*args, **kwargs) as items:`` opens
        the stream of items of the remote async generator ``ns.method``; iterate
        ``items`` with ``async for``. See :class:`Stream` for what it raises.

        The server sends at most ``stream_window`` items (and about
        ``stream_window_bytes`` bytes) ahead of what the loop has taken. The
        client's timeout bounds each wait for the next item.
        """
        return StreamCall(self._open_stream)

    @property
    def timeout(self) -> float | None:
        """The timeout of calls made through :attr:`call`."""
        return self._timeout

    @property
    def pending_calls(self) -> int:
        """How many calls wait for their answer now."""
        return len(self._pending)

    @property
    def connected_endpoints(self) -> frozenset[str]:
        """The connected endpoints whose connection is up now (handshake done,
        not lost since); calls go to these while there are any."""
        return frozenset(
            link.endpoint
            for link in self._by_endpoint.values()
            if link.peers_up and link.endpoint is not None
        )

    async def describe(self) -> list[MethodInfo]:
        """The methods the server exposes, sorted by name (its introspection answer).

        Raises:
            NotFoundError: the server does not support introspection (an aiozmq
                server, or one made with ``introspection=False``).
            ProtocolError: the answer is not a listing of methods.
            TimeoutError, ConnectionLostError, ServiceClosedError: as :attr:`call` does.
        """
        return await request_description(self._request)

    def with_timeout(self, timeout: float | None) -> RPCClientView:
        """A view of this client whose calls use ``timeout`` (None: wait forever).

        Raises:
            TypeError, ValueError: ``timeout`` is not a positive number or None.
        """
        return RPCClientView(self, _check_timeout(timeout))

    async def _request(
        self,
        name: str,
        args: tuple[Any, ...],
        kwargs: dict[str, Any],
        timeout: float | _ClientDefault | None = _CLIENT_DEFAULT,
    ) -> Any:
        main = self._pump  # as _check_open(), without its call: the hottest path
        if not self._is_open or main is None:
            raise ServiceClosedError(self._not_open_reason())
        if self._handshakes.any_refused:
            self._check_admitted()
        if timeout is _CLIENT_DEFAULT:
            timeout = self._timeout
        budget = math.inf if timeout is None else timeout
        scope_deadline = self._effective_deadline()
        if scope_deadline != math.inf:
            budget = min(budget, scope_deadline - self._now())
        request_id, header = self._ids.issue(self._pending, self._stream_ids)
        # Packing errors raise here, before anything is registered or sent.
        frames = (
            _wire.call_frame(budget),
            header,
            name.encode("utf-8"),
            self._codec.pack_frame(args),
            self._codec.pack_frame(kwargs) if kwargs else _wire.NO_KWARGS,
        )
        links = self._links
        link = links.single or links.pick(self._bound_link or self._main_link(main))
        pump = link.pump
        # The send first, then the record: nothing can answer before this task
        # awaits, and the send is what the server waits for.
        queued = link.settling is None and pump.send_nowait(frames)
        pending = self._pending[request_id] = _Pending(self._new_waiter(), name, timeout, link)
        try:
            deadline = None if timeout is None else self._now() + timeout
            if not queued:
                with _NO_TIMEOUT if timeout is None else anyio.fail_after(timeout):
                    if link.settling is not None:  # just lost: it may not deliver
                        await link.settling.wait()
                    await pump.send(frames)
            pending.sent = True
            del frames  # a pending call keeps no copy of its request
            if deadline is not None:
                self._deadlines.add(pending, deadline, len(self._pending))
            await pending.waiter
        finally:
            pending.waiting = False
            del self._pending[request_id]
            if pending.sent and not pending.answered and not pending.lost:
                self._call_abandoned(pending.link, request_id)
        # The deadline heap may keep the finished call a while: not its answer.
        value, error = pending.value, pending.error
        pending.value = pending.error = None
        if error is not None:
            raise error
        return value

    def _check_admitted(self) -> None:
        """Raise :class:`AuthenticationError` while every server refuses the client."""
        if self._handshakes.any_refused:
            refusal = self._handshakes.refusal(self._transport)
            if refusal is not None:
                raise refusal

    def _open_stream(
        self,
        name: str,
        args: tuple[Any, ...],
        kwargs: dict[str, Any],
        timeout: float | _ClientDefault | None = _CLIENT_DEFAULT,
    ) -> Stream:
        if timeout is _CLIENT_DEFAULT:
            timeout = self._timeout
        return Stream(self, name, args, kwargs, timeout)

    def _stream_request(
        self, name: str, args: tuple[Any, ...], kwargs: dict[str, Any], opening: bytes
    ) -> tuple[Link, int, tuple[bytes, ...]]:
        """The link, request id and frames of a stream request (the name travels
        in ``opening``; the name frame is empty, so a server that does not stream
        runs nothing).

        Raises:
            ServiceClosedError: the client is not open.
            AuthenticationError: every server refuses the client.
            TypeError: an argument cannot be serialized.
        """
        main = self._check_open()
        self._check_admitted()
        request_id, header = self._ids.issue(self._pending, self._stream_ids)
        frames = (
            opening,
            header,
            b"",
            self._codec.packb(args),
            self._codec.packb(kwargs),
        )
        return self._links.pick(self._bound_link or self._main_link(main)), request_id, frames

    async def _send_request(
        self, link: Link, frames: tuple[bytes, ...], timeout: float | None
    ) -> None:
        """Queue ``frames`` on ``link``, waiting at most ``timeout`` for room."""
        pump = link.pump
        if link.settling is not None or not pump.send_nowait(frames):
            with _NO_TIMEOUT if timeout is None else anyio.fail_after(timeout):
                if link.settling is not None:  # just lost: it may not deliver
                    await link.settling.wait()
                await pump.send(frames)

    def _main_link(self, pump: SocketPump) -> Link:
        link = self._bound_link = Link(pump, None)
        return link

    def _call_abandoned(self, link: Link, request_id: int, *, stream: bool = False) -> None:
        """The caller of ``request_id`` has gone: tell the server, if it listens.

        A stream's cancel goes over a bound socket too, as its credits do: with
        one server behind it, that is the one running the stream (with several,
        an unknown cancel is ignored by the others)."""
        if not (link.cancels or stream) or link.peer is PeerKind.AIOZMQ:
            return
        if link.peer is PeerKind.UNKNOWN:
            link.defer_cancel(request_id)
            return
        self._send_cancel(link, request_id)

    def _send_cancel(self, link: Link, request_id: int) -> None:
        try:
            sent = link.pump.send_nowait([_wire.cancel_frame(request_id)])
        except (ServiceClosedError, OSError):
            return
        if not sent:
            logger.debug("cancel of call #%d not sent: the queue is full", request_id)

    def _peer_is(self, link: Link, kind: PeerKind) -> None:
        link.peer = kind
        deferred, link.deferred = link.deferred, []
        if kind is PeerKind.ANYZMQ:
            for request_id in deferred:
                if request_id not in self._pending or not self._is_open:
                    self._send_cancel(link, request_id)
                    link.cancelling = not self._is_open

    async def _learn_peer_on_closing(self, link: Link) -> None:
        """Read what arrives on a closing link (by its own pump task, the socket's
        owner, as it ends) to learn whether its server takes cancels. The server
        greets when it reads the first call, so the client may close before the
        hello arrives: wait for it up to :data:`_HELLO_WAIT_ON_CLOSING` seconds,
        shielded (an aiozmq server never greets; its answers tell it apart)."""
        sock = link.pump.socket
        with anyio.CancelScope(shield=True) as scope:
            scope.deadline = anyio.current_time() + _HELLO_WAIT_ON_CLOSING
            for _ in range(_MAX_READ_ON_CLOSING):
                try:
                    frames = sock.recv_multipart(zmq.NOBLOCK)
                except zmq.Again:
                    # The failed receive took the FD's edge: it signals anew for
                    # the next message.
                    await anyio.wait_readable(sock.FD)
                    continue
                except zmq.ZMQError:
                    return  # the socket is gone
                if frames and (frames[0] == _wire.HELLO or frames[0] == _wire.REPLY_MARK):
                    self._peer_is(link, PeerKind.ANYZMQ)
                    return
                if frames and _wire.budget_of(frames[0]) is not None:
                    self._peer_is(link, PeerKind.AIOZMQ)
                    return

    # The sockets.

    def _make_transport(self, sock: zmq.Socket[bytes]) -> Transport:
        assert self._backend is not None
        self._main_watcher = ConnectionWatcher(
            sock, self._backend, self._bound_connection_lost, self._bound_connection_up
        )
        self._main_watcher.start()  # before any bind: every peer's handshake is seen
        return LinkTransport(sock, self)

    def _bound_connection_up(self, endpoint: str) -> None:
        assert self._bound_link is not None
        self._connection_up(self._bound_link, endpoint)

    def _bound_connection_lost(self, endpoint: str) -> None:
        assert self._bound_link is not None
        self._connection_lost(self._bound_link, endpoint)

    def _connect_link(self, endpoint: str) -> None:
        assert self._backend is not None
        sock = self._make_socket()
        watcher = None
        try:
            for option, value in self._later_options:
                set_option(sock, option, value)
            link = Link(SocketPump(sock, self._backend), endpoint)
            # Watching from before the connect: a refused handshake is reported once.
            watcher = link.watcher = ConnectionWatcher(
                sock,
                self._backend,
                partial(self._connection_lost, link),
                partial(self._connection_up, link),
                partial(self._connection_refused, link),
            )
            watcher.start()
            with zmq_errors_as_oserror():
                sock.connect(endpoint)
        except BaseException:
            if watcher is not None:
                watcher.close()
            sock.close(linger=0)
            raise
        self._by_endpoint[endpoint] = link
        self._links.add(link)
        if self._handlers is not None:
            self._start_link(self._handlers, link)

    def _disconnect_link(self, endpoint: str) -> None:
        link = self._by_endpoint.pop(endpoint, None)
        if link is None:
            return
        self._links.remove(link)
        self._handshakes.forget(endpoint)
        self._fail_link(link, f"the client disconnected from {endpoint}")
        if self._handlers is None:  # its tasks have not started: nothing else closes it
            if link.watcher is not None:
                link.watcher.close()
            link.pump.socket.close(linger=0)
            return
        link.pump.stop_reading()
        link.scope.cancel()
        link.watch_scope.cancel()

    def _link_sockets(self) -> list[zmq.Socket[bytes]]:
        sockets = [link.pump.socket for link in self._by_endpoint.values()]
        if self._pump is not None:
            sockets.append(self._pump.socket)
        elif self._transport is not None:
            sockets.append(self._transport._sock)
        return sockets

    def _remember_option(self, option: int, value: int | bytes | str) -> None:
        self._later_options.append((option, value))

    def _bindings_changed(self) -> None:
        if self._bound_link is None:
            return
        if self._transport is not None and self._transport.bindings():
            self._links.add(self._bound_link)
        else:
            self._links.remove(self._bound_link)

    def _start_link(self, task_group: anyio.abc.TaskGroup, link: Link) -> None:
        task_group.start_soon(self._watch, link, name=f"connections of {link!r}")
        task_group.start_soon(self._pump_link, link, name=f"anyzmq pump of {link!r}")

    async def _watch(self, link: Link) -> None:
        assert link.watcher is not None
        with link.watch_scope:
            await link.watcher.run()

    async def _pump_link(self, link: Link) -> None:
        """Pump one connected endpoint's socket; the socket is closed however this ends."""
        try:
            with link.scope:
                await link.pump.run(partial(self._on_link_message, link))
        finally:
            link.watch_scope.cancel()
            if link.watcher is not None:
                link.watcher.close()  # before the socket: see ConnectionWatcher.close
            if link.deferred and link.peer is PeerKind.UNKNOWN and not self._is_open:
                await self._learn_peer_on_closing(link)
            linger = self._linger_at_exit()  # the same for every socket of the client
            if link.cancelling and 0 <= linger < _CANCEL_LINGER_MS:
                linger = _CANCEL_LINGER_MS  # let the cancels sent on closing leave
            with zmq_errors_as_oserror():
                link.pump.close(linger=linger)
            note_linger(linger)

    def _start_background(self, task_group: anyio.abc.TaskGroup) -> None:
        task_group.start_soon(self._deadlines.run, name=f"deadlines of {self!r}")
        assert self._pump is not None
        assert self._backend is not None
        bound = self._bound_link or self._main_link(self._pump)
        self._bindings_changed()
        assert self._main_watcher is not None
        task_group.start_soon(self._main_watcher.run, name=f"connections of {bound!r}")
        for link in list(self._by_endpoint.values()):
            self._start_link(task_group, link)

    # Connections coming and going.

    def _connection_up(self, link: Link, endpoint: str) -> None:
        link.peers_up += 1
        if link.endpoint is not None:
            self._handshakes.admitted(link.endpoint)

    def _connection_refused(self, link: Link, endpoint: str, event: int, value: int) -> None:
        """``link``'s server refused the client in the handshake: fail the calls
        that went over it (nothing was delivered)."""
        if link.endpoint is None:
            return
        self._handshakes.record(link.endpoint, event, value)
        refusal = self._handshakes.refused(link.endpoint)
        if refusal is None:
            return
        for pending in self._pending.values():
            if pending.link is link and not pending.done:
                pending.lost = True  # nothing to cancel: it never reached a server
                pending.resolve(None, refusal)
        if self._streams:
            where = link.endpoint
            self._streams.fail_link(link, lambda: self._handshakes.refused(where) or refusal)

    def _connection_lost(self, link: Link, endpoint: str) -> None:
        """A connection of ``link`` was lost: fail the calls that went over it
        (all of the link's, or for the bound socket once no peer is left), and
        connect a connected endpoint again (ZeroMQ does not after a protocol error)."""
        if not self._is_open:
            return
        link.peers_up = max(0, link.peers_up - 1)
        link.peer = PeerKind.UNKNOWN  # what answers next may be another server
        link.deferred.clear()
        if link.endpoint is not None:
            if link.endpoint not in self._reconnecting and self._handlers is not None:
                self._reconnecting.add(link.endpoint)
                link.settling = anyio.Event()
                self._handlers.start_soon(self._reconnect, link)
        elif link.peers_up:
            return  # which calls went to the lost peer is not known: they end by their timeouts
        why = (
            f"the connection to {endpoint} was lost before the answer came (the server "
            "went away or stopped answering heartbeats, or a message exceeded max_message_size)"
        )
        if self._handlers is None:
            self._fail_link(link, why)
        else:
            self._handlers.start_soon(self._fail_link_once_read, link, why)

    async def _fail_link_once_read(self, link: Link, why: str) -> None:
        """Fail the link's waiting calls once its pump has read what arrived before
        the loss: a server that answered and then went away (a graceful shutdown)
        must not have its answers taken for lost."""
        for _ in range(_MAX_READ_STEPS_ON_LOSS):
            if not link.pump.input_pending():
                break
            await anyio.lowlevel.checkpoint()  # the pump task reads meanwhile
        self._fail_link(link, why)

    def _fail_link(self, link: Link, why: str) -> None:
        for pending in self._pending.values():
            if pending.link is link and not pending.done:
                pending.lost = True
                pending.resolve(None, ConnectionLostError(f"{pending.name!r}: {why}"))
        if self._streams:
            self._streams.fail_link(link, lambda: ConnectionLostError(f"a stream: {why}"))

    async def _reconnect(self, link: Link) -> None:
        """Connect ``link``'s endpoint again after ZeroMQ's reconnect interval (a
        backoff: a server that refuses every handshake must not cost a busy loop),
        unless ZeroMQ still holds a queue for it (then it reconnects by itself;
        after a protocol error it does not, and the socket cannot send at all)."""
        endpoint = link.endpoint
        assert endpoint is not None
        sock = link.pump.socket
        try:
            if sock.closed:
                return
            interval = sock.getsockopt(zmq.RECONNECT_IVL)
            await anyio.sleep(max(int(interval), 100) / 1000)
            if sock.closed or self._by_endpoint.get(endpoint) is not link:
                return  # closed or disconnected meanwhile
            if link.peers_up or int(sock.getsockopt(zmq.EVENTS)) & zmq.POLLOUT:
                # Back up, or ZeroMQ keeps the endpoint's queue and reconnects it
                # by itself: connecting again would drop what waits in the queue.
                return
            with suppress(zmq.ZMQError):
                sock.disconnect(endpoint)
            try:
                sock.connect(endpoint)
            except zmq.ZMQError as exc:
                logger.warning("RPCClient could not connect to %s again: %s", endpoint, exc)
        finally:
            self._reconnecting.discard(endpoint)
            if link.settling is not None:
                link.settling.set()
                link.settling = None

    def _configure(self, sock: zmq.Socket[bytes], backend: Backend) -> None:
        self._new_waiter = backend.new_waiter
        self._now = backend.now
        self._effective_deadline = backend.effective_deadline
        # Answers are only ever answers to our own calls: never let ZeroMQ drop
        # them for want of queue room, or a call would wait for nothing.
        sock.setsockopt(zmq.RCVHWM, 0)

    # Answers.

    def _on_message(self, frames: list[Frame]) -> None:
        assert self._pump is not None
        self._on_link_message(self._bound_link or self._main_link(self._pump), frames)

    def _on_link_message(self, link: Link, frames: list[Frame]) -> None:
        count = len(frames)
        if count == 3:
            mark, header, body = frames
            if mark == _wire.REPLY_MARK:
                if link.peer is not PeerKind.ANYZMQ:
                    self._peer_is(link, PeerKind.ANYZMQ)
            elif _wire.budget_of(mark) is not None:  # our call frame, echoed by aiozmq
                if link.peer is not PeerKind.AIOZMQ:
                    self._peer_is(link, PeerKind.AIOZMQ)
            elif mark == _wire.ITEM_MARK or _wire.is_stream_frame(mark):
                self._on_stream_message(link, mark, header, body)
                return
            else:
                self._drops.report("an answer of 3 frames does not start with a reply mark")
                return
        elif count == 2:
            header, body = frames
        elif count == 1 and frames[0] == _wire.HELLO:
            if link.peer is not PeerKind.ANYZMQ:
                self._peer_is(link, PeerKind.ANYZMQ)
            return
        elif count == 1 and (probed := _wire.probed_id(frames[0])) is not None:
            # A server whose stream waits for credit asks whether it is still read.
            # Not here: its cancel went elsewhere (a proxy with several servers) or
            # never went. Answer with one; an id now used by another call or stream
            # is left alone (the server asks again).
            if probed not in self._pending and probed not in self._stream_ids:
                self._send_cancel(link, probed)
            return
        else:
            self._drops.report(f"an answer has 2 or 3 frames, got {count}")
            return
        if len(header) != _wire.REPLY_HEADER_SIZE:
            self._drops.report(
                f"reply header must be {_wire.REPLY_HEADER_SIZE} bytes, got {len(header)}"
            )
            return
        _pid, _rnd, request_id, _sent, is_error = _unpack_reply_header(header)
        pending = self._pending.get(request_id)
        if pending is None and self._streams.ended(request_id, is_error, body, link):
            return
        # Only the server a call went to answers it: another of the client's
        # servers cannot answer (or end) a call or stream that is not its own.
        if pending is None or pending.waiter.done() or pending.link is not link:
            logger.debug("answer to call #%d dropped: no call waits for it there", request_id)
            return
        pending.answered = True
        try:
            answer = self._codec.unpackb(body)
        except DecodeError as exc:
            self._refusals.report(f"the answer to call #{request_id}: {exc}")
            pending.resolve(None, ProtocolError(f"the answer cannot be decoded: {exc}"))
            return
        if is_error:
            pending.resolve(None, rebuild_error(answer, self._error_table))
        else:
            pending.value = answer
            pending.waiter.set_result(None)

    def _on_stream_message(self, link: Link, mark: Frame, header: Frame, body: Frame) -> None:
        """An item of a stream, or a stream request echoed by a server that does
        not stream."""
        try:
            request_id, _is_error = _wire.parse_reply_header(header)
        except ValueError as exc:
            self._drops.report(str(exc))
            return
        if mark == _wire.ITEM_MARK:
            if link.peer is not PeerKind.ANYZMQ:
                self._peer_is(link, PeerKind.ANYZMQ)
            if not self._streams.item(request_id, body, link):
                logger.debug("item of stream #%d dropped: no stream waits for it", request_id)
            return
        if link.peer is not PeerKind.AIOZMQ:
            self._peer_is(link, PeerKind.AIOZMQ)
        self._streams.refused(request_id, link)

    def _before_close(self) -> None:
        # Tell the servers that listen which calls nobody waits for any more.
        for request_id, pending in self._pending.items():
            link = pending.link
            if not pending.sent or pending.done or not link.cancels:
                continue
            if link.peer is PeerKind.ANYZMQ:
                self._send_cancel(link, request_id)
                link.cancelling = True
            elif link.peer is PeerKind.UNKNOWN:
                link.defer_cancel(request_id)  # see _learn_peer_on_closing
        for state in self._streams.unfinished():
            link = state.link
            if link.peer is PeerKind.ANYZMQ:
                self._send_cancel(link, state.request_id)
                link.cancelling = True

    def _on_closed(self) -> None:
        self._streams.close_all()
        for pending in self._pending.values():
            if not pending.done:
                pending.resolve(
                    None, ServiceClosedError("the client closed before the answer came")
                )
        # Entering failed before the tasks that own these sockets started:
        if self._main_watcher is not None and self._handlers is None:
            self._main_watcher.close()
        for link in self._by_endpoint.values():
            if not link.pump.socket.closed:
                if link.watcher is not None:
                    link.watcher.close()
                link.pump.socket.close(linger=0)

    def _on_abandoned(self) -> None:
        for link in self._by_endpoint.values():
            if link.watcher is not None:
                link.watcher.abandon()
            link.pump.socket.close(linger=0)
        if self._main_watcher is not None:
            self._main_watcher.abandon()


@final
class RPCClientView:
    """An :class:`RPCClient` seen with another timeout (from ``with_timeout``).

    Usable directly (``await client.with_timeout(1).call.f()``) and as a ``with`` block.
    """

    __slots__ = ("_client", "_timeout")

    def __init__(self, client: RPCClient, timeout: float | None) -> None:
        self._client = client
        self._timeout = timeout

    @property
    def call(self) -> MethodCall:
        """As :attr:`RPCClient.call`, with this view's timeout."""
        return MethodCall(partial(self._client._request, timeout=self._timeout))

    @property
    def stream(self) -> StreamCall:
        """As :attr:`RPCClient.stream`, with this view's timeout for each item."""
        return StreamCall(partial(self._client._open_stream, timeout=self._timeout))

    @property
    def timeout(self) -> float | None:
        return self._timeout

    async def describe(self) -> list[MethodInfo]:
        """As :meth:`RPCClient.describe`, with this view's timeout."""
        return await request_description(partial(self._client._request, timeout=self._timeout))

    def with_timeout(self, timeout: float | None) -> RPCClientView:
        """Another view of the same client."""
        return self._client.with_timeout(timeout)

    def __enter__(self) -> RPCClientView:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        return None


@final
class RPCServer(ServerBase):
    """The server side of request-reply; made by :func:`serve_rpc`."""

    _socket_type = zmq.ROUTER
    _answers_calls = True

    def __init__(self, handler: HandlerLike, *, introspection: bool = True, **options: Any) -> None:
        super().__init__(handler, **options)
        self._headers = _wire.ReplyHeaders()
        self._greeted: set[bytes | tuple[bytes, ...]] = set()
        self._introspection = bool(introspection)
        self._user_router_mandatory = any(
            option == zmq.ROUTER_MANDATORY and value for option, value in self._socket_options
        )

    def _on_message(self, frames: list[Frame]) -> None:
        count = len(frames)
        budget = None
        stream = None
        if count >= 6:
            budget = _wire.budget_of(frames[-5])
            if budget is None and (stream := _wire.stream_request_of(frames[-5])) is not None:
                budget = stream.budget
        if budget is None:
            if count >= 2:
                request_id = _wire.cancelled_id(frames[-1])
                if request_id is not None:
                    self._cancel((_peer_of(frames[:-1]), request_id))
                    return
                credit = _wire.credit_of(frames[-1])
                if credit is not None:
                    self._credit((_peer_of(frames[:-1]), credit[0]), credit[1], credit[2])
                    return
            if count < 5:
                self._drop(f"a request has at least 5 frames, got {count}")
                return
            envelope = frames[:-4]
        else:
            envelope = frames[:-5]
        header, name, args, kwargs = frames[-4:]
        try:
            request_id = _wire.request_id_of(header)
        except ValueError as exc:
            self._drop(str(exc))
            return
        if budget is None:  # an aiozmq client: no deadline, no cancel, plain answers
            self._call(name, args, kwargs, tuple.__new__(_Reply, (envelope, request_id, False)))
            return
        # A routing id (at most 255 bytes) names the peer; a longer envelope, a tuple.
        peer = bytes(envelope[0]) if len(envelope) == 1 else _peer_of(envelope)
        if peer not in self._greeted:
            self._greet(peer, envelope)
        reply = tuple.__new__(_Reply, (envelope, request_id, True))
        if stream is not None:
            window = StreamWindow(stream.window_items, stream.window_bytes)
            self._call(stream.name, args, kwargs, reply, budget, (peer, request_id), window)
            return
        self._call(name, args, kwargs, reply, budget, (peer, request_id))

    async def _stream(self, call: _Call, window: StreamWindow) -> None:
        items = call.target.func(*call.call_args, **call.call_kwargs)
        send = partial(self._send_item, call.reply)
        connected = partial(self._still_connected, call.reply.envelope, call.reply.request_id)
        every = self._heartbeat or DEFAULT_HEARTBEAT
        try:
            await run_stream(
                items,
                window,
                self._codec.packb,
                send,
                call.name,
                self._stream_starving,
                connected,
                every,
            )
        except CallerGone:
            self._abandon_call(call, "its caller's connection is gone")

    def _still_connected(self, envelope: list[Frame], request_id: int) -> bool:
        """Whether the peer of ``envelope`` still has a connection to this server.

        Probes with a probe frame naming stream ``request_id``, sent with
        ``ROUTER_MANDATORY`` on for that one send: a ROUTER reports a routing id it
        no longer knows with ``EHOSTUNREACH`` rather than dropping the message.
        Behind a proxy this sees the proxy's connection, not the caller's; but a
        client that no longer reads the stream answers the probe with a cancel,
        which ends it (through a proxy, once a cancel reaches this server).
        """
        pump = self._pump
        if pump is None or pump.closed:
            return True  # closing: the stream ends anyway
        sock = pump.socket
        sock.setsockopt(zmq.ROUTER_MANDATORY, 1)
        try:
            # Through the pump, which re-checks the FD's edge a send may take.
            # False: there, its queue is full.
            pump.send_nowait([*envelope, _wire.probe_frame(request_id)])
        except OSError as exc:
            return exc.errno != errno.EHOSTUNREACH
        finally:
            if not self._user_router_mandatory:
                sock.setsockopt(zmq.ROUTER_MANDATORY, 0)
        return True

    async def _send_item(self, reply: _Reply, body: bytes) -> None:
        header = self._headers.header(reply.request_id, is_error=False)
        await self._check_open().send([*reply.envelope, _wire.ITEM_MARK, header, body])

    def _greet(self, peer: bytes | tuple[bytes, ...], envelope: list[Frame]) -> None:
        """Tell a new anyzmq peer at once that this server understands cancels."""
        if len(self._greeted) >= _MAX_GREETED:
            self._greeted.clear()  # a forgotten peer is greeted again: harmless
        self._greeted.add(peer)
        with suppress(ServiceClosedError, OSError):
            self._check_open().send_nowait([*envelope, _wire.HELLO])

    def _succeeded(self, reply: Any, name: str, result: Any) -> None:
        try:
            body = self._codec.pack_frame(result)
        except Exception as exc:
            error = TypeError(f"the result of {name!r} cannot be serialized: {exc}")
            self._answer(reply, True, self._error_body(error))
            return
        self._answer(reply, False, body)

    def _failed(self, reply: Any, name: str, exc: BaseException, args: Any, kwargs: Any) -> None:
        self._log_failure(name, exc, args, kwargs)
        self._answer(reply, True, self._error_body(exc))

    def _error_body(self, exc: BaseException) -> bytes:
        name = wire_name(type(exc))
        text = repr(exc)
        try:
            return self._codec.packb((name, exc.args, text))
        except Exception:
            # Arguments that cannot be serialized travel as their reprs.
            return self._codec.packb((name, tuple(repr(arg) for arg in exc.args), text))

    def _answer(self, reply: _Reply, is_error: bool, body: Frame) -> None:
        request_id = reply.request_id
        header = self._headers.header(request_id, is_error=is_error)
        if reply.marked:
            frames = [*reply.envelope, _wire.REPLY_MARK, header, body]
        else:
            frames = [*reply.envelope, header, body]
        pump = self._pump
        if not self._is_open or pump is None:
            return  # closing: the caller goes with the connection
        try:
            sent = pump.send_nowait(frames)
        except ServiceClosedError:
            return  # closed meanwhile
        except OSError as exc:  # for example EHOSTUNREACH with zmq.ROUTER_MANDATORY
            self._drop(f"the answer to call #{request_id} could not be sent: {exc}")
            return
        if not sent:  # the peer's queue is full (with zmq.ROUTER_MANDATORY)
            self._drop(f"the answer to call #{request_id} could not be sent: the queue is full")


#: Peers a server remembers having greeted (beyond it, it starts over).
_MAX_GREETED: Final = 4096


def _peer_of(envelope: list[Frame]) -> bytes | tuple[bytes, ...]:
    """A hashable name for the peer that sent a message with this envelope."""
    if len(envelope) == 1:
        return bytes(envelope[0])  # a routing id: at most 255 bytes
    return tuple(bytes(frame) for frame in envelope)


class _Reply(NamedTuple):
    """Where and how to answer one request (built by ``tuple.__new__``, without
    the named tuple's Python ``__new__``: one per request)."""

    envelope: list[Frame]
    request_id: int
    marked: bool  # the request had a call frame: the answer gets a reply mark


def connect_rpc(
    *,
    connect: str | Iterable[str] | None = None,
    bind: str | Iterable[str] | None = None,
    error_table: ErrorTable | None = None,
    timeout: float | None = None,
    translation_table: TranslationTable | None = None,
    max_message_size: int | None = DEFAULT_MAX_MESSAGE_SIZE,
    socket_options: SocketOptions | None = None,
    heartbeat: float | None = DEFAULT_HEARTBEAT,
    linger: float | None = DEFAULT_LINGER,
    stream_window: int = DEFAULT_STREAM_WINDOW,
    stream_window_bytes: int = DEFAULT_STREAM_WINDOW_BYTES,
    curve: CurveClient | None = None,
) -> RPCClient:
    """A request-reply client, to be entered with ``async with``.

    Args:
        connect, bind: an endpoint or an iterable of endpoints (usually ``connect``).
        error_table: ``{"pkg.mod.Error": Error}``, searched before the builtins.
        timeout: seconds a call may take before raising :class:`TimeoutError`;
            a late answer is dropped. None waits forever.
        translation_table: custom value translators (see the guide).
        max_message_size: bytes an answer may have; ZeroMQ drops the connection
            of a server that sends a larger one. None: no limit.
        socket_options: ZeroMQ socket options (``{zmq.SNDHWM: 100}``), set before
            any bind or connect, after anyzmq's own (so they win).
        heartbeat: seconds between ZMTP heartbeats on each connection; a peer
            that answers none for four of them (8 s by default) is taken as gone,
            and the calls that went to it fail with :class:`ConnectionLostError`.
            None: no heartbeats (a dead or frozen peer is then never noticed).
        linger: seconds what the client sent may still take to be delivered
            after its block ends normally (also when the program exits right
            after it); leaving by an exception or cancellation, or ``close()``,
            drops it at once. None: no bound; 0: drop. A ``zmq.LINGER`` in
            ``socket_options`` wins.
        stream_window: items a stream's server may send ahead of what the
            ``async for`` has taken (default 256); the client's buffer per stream.
        stream_window_bytes: bytes likewise (default 16 MiB); an item larger
            than this still goes, alone.
        curve: encrypt with CURVE and authenticate to the server (see the
            security guide). While every server refuses the client, calls raise
            :class:`AuthenticationError`.

    Raises:
        TypeError, ValueError: an argument has the wrong type or value.
        RuntimeError: ``curve`` is given and libzmq has no CURVE.
        OSError: (on entering) ZeroMQ refused an endpoint.
    """
    return RPCClient(
        connect=connect,
        bind=bind,
        error_table=error_table,
        timeout=timeout,
        translation_table=translation_table,
        max_message_size=max_message_size,
        socket_options=socket_options,
        heartbeat=heartbeat,
        linger=linger,
        stream_window=stream_window,
        stream_window_bytes=stream_window_bytes,
        curve=curve,
    )


def serve_rpc(
    handler: HandlerLike,
    *,
    bind: str | Iterable[str] | None = None,
    connect: str | Iterable[str] | None = None,
    log_exceptions: bool = False,
    exclude_log_exceptions: Iterable[type[BaseException]] = (),
    translation_table: TranslationTable | None = None,
    timeout: float | None = None,
    max_message_size: int | None = DEFAULT_MAX_MESSAGE_SIZE,
    max_concurrent_calls: int | None = DEFAULT_MAX_CONCURRENT_CALLS,
    sync_handler_threads: int | None = None,
    socket_options: SocketOptions | None = None,
    heartbeat: float | None = DEFAULT_HEARTBEAT,
    introspection: bool = True,
    grace: float | None = DEFAULT_GRACE,
    curve: CurveServer | None = None,
) -> RPCServer:
    """A request-reply server for ``handler``, to be entered with ``async with``.

    Args:
        handler: an :class:`AbstractHandler` (an ``AttrHandler`` or a ``dict``).
        bind, connect: an endpoint or an iterable of endpoints (usually ``bind``).
        log_exceptions: log exceptions raised by methods on ``anyzmq.rpc``'s logger.
        exclude_log_exceptions: exception classes not to log.
        translation_table: custom value translators (see the guide).
        timeout: seconds a method running as a task (asynchronous, or in a worker
            thread) may take: then the caller gets :class:`TimeoutError` at once,
            the method is cancelled and a late result is dropped. None lets it run.
        max_message_size: bytes a request may have; ZeroMQ drops the connection of
            a peer that sends a larger one. None: no limit.
        max_concurrent_calls: method calls that may run at once as tasks; beyond
            it the server stops reading until one ends, and requests wait in
            ZeroMQ's queues (backpressure). None: no limit.
        sync_handler_threads: run synchronous methods in anyio's worker threads,
            at most this many at once, instead of on the event loop (where a
            blocking method stalls every caller). None: on the event loop.
        socket_options: ZeroMQ socket options (``{zmq.SNDHWM: 100}``), set before
            any bind or connect, after anyzmq's own (so they win).
        heartbeat: seconds between ZMTP heartbeats on each connection; ZeroMQ
            drops the connection of a client that answers none for four of them.
            None: no heartbeats.
        introspection: answer :meth:`RPCClient.describe` (and ``anyzmq inspect``)
            with the list of ``@method`` functions; False answers NotFoundError.
        grace: seconds running calls may take to finish when the server leaves
            normally (end of its block, or ``await server.shutdown()``); then the
            rest are cancelled and their callers answered with
            :class:`ServiceClosedError`. 0 cancels at once; None waits for all.
        curve: encrypt with CURVE and admit only the clients it authorises (see
            the security guide); refusals are logged, rate-limited.

    Raises:
        TypeError, ValueError: an argument has the wrong type or value.
        OSError: (on entering) ZeroMQ refused an endpoint.
    """
    return RPCServer(
        handler,
        bind=bind,
        connect=connect,
        log_exceptions=log_exceptions,
        exclude_log_exceptions=exclude_log_exceptions,
        translation_table=translation_table,
        timeout=timeout,
        max_message_size=max_message_size,
        max_concurrent_calls=max_concurrent_calls,
        sync_handler_threads=sync_handler_threads,
        socket_options=socket_options,
        heartbeat=heartbeat,
        introspection=introspection,
        grace=grace,
        curve=curve,
    )
