"""Request-reply over DEALER (client) and ROUTER (server)."""

from __future__ import annotations

import enum
from collections.abc import Callable, Iterable
from contextlib import nullcontext, suppress
from functools import partial
from types import TracebackType
from typing import Any, Final, final

import anyio
import zmq

from . import _wire
from ._backend import Backend, Waiter
from ._call_proxy import MethodCall
from ._codec import DecodeError, TranslationTable
from ._connections import ConnectionWatcher
from ._curve import CurveClient, CurveServer, check_curve
from ._deadlines import Deadlines
from ._error_table import ErrorTable, make_error_table, rebuild_error, wire_name
from ._errors import ConnectionLostError, ProtocolError, ServiceClosedError
from ._handlers import HandlerLike
from ._handshakes import Handshakes
from ._log import RateLimitedWarning, logger
from ._server import DEFAULT_MAX_CONCURRENT_CALLS, ServerBase, _check_timeout
from ._service import DEFAULT_MAX_MESSAGE_SIZE, Service, SocketOptions

__all__ = ["RPCClient", "RPCClientView", "RPCServer", "connect_rpc", "serve_rpc"]


def _not_open() -> Waiter:
    raise ServiceClosedError("the client is not open")


class _ClientDefault(enum.Enum):
    TIMEOUT = enum.auto()


_CLIENT_DEFAULT: Final = _ClientDefault.TIMEOUT
_NO_TIMEOUT: Final = nullcontext()


@final
class _Pending:
    """One call waiting for its answer."""

    __slots__ = ("error", "name", "timeout", "value", "waiter", "waiting")

    def __init__(self, waiter: Waiter, name: str, timeout: float | None) -> None:
        self.waiter = waiter
        self.name = name
        self.timeout = timeout
        self.value: Any = None
        self.error: BaseException | None = None
        self.waiting = True  # until the caller leaves, answered or not

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
    """The client side of request-reply; made by :func:`connect_rpc`."""

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
        curve: CurveClient | None = None,
    ) -> None:
        check_curve(curve, CurveClient)
        super().__init__(
            bind=bind,
            connect=connect,
            translation_table=translation_table,
            max_message_size=max_message_size,
            socket_options=socket_options,
            curve=curve,
        )
        self._error_table = make_error_table(error_table)
        self._timeout = _check_timeout(timeout)
        self._ids = _wire.RequestIds()
        self._pending: dict[int, _Pending] = {}
        self._new_waiter: Callable[[], Waiter] = _not_open
        self._deadlines = Deadlines()
        self._reconnecting: set[str] = set()
        self._handshakes = Handshakes()
        self._watcher: ConnectionWatcher | None = None
        self._drops = RateLimitedWarning("RPCClient dropped a message")
        self._refusals = RateLimitedWarning("RPCClient refused a value")

    @property
    def call(self) -> MethodCall:
        """``await client.call.ns.method(*args, **kwargs)`` calls ``ns.method`` remotely.

        The call raises what the remote method raised (translated, see the guide),
        :class:`TimeoutError` when the client's timeout passes first,
        :class:`ConnectionLostError` when the client's only connection is lost
        before the answer comes (the call may or may not have run),
        :class:`AuthenticationError` when every server the client connects to
        refuses it in the handshake (see ``curve=``; the call did not run),
        :class:`ServiceClosedError` when the client is or gets closed, and
        ``TypeError`` when an argument cannot be serialized (nothing is sent then).
        """
        return MethodCall(self._request)

    @property
    def timeout(self) -> float | None:
        """The timeout of calls made through :attr:`call`."""
        return self._timeout

    @property
    def pending_calls(self) -> int:
        """How many calls wait for their answer now."""
        return len(self._pending)

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
        pump = self._check_open()
        if self._handshakes.any_refused:
            refusal = self._handshakes.refusal(self._transport)
            if refusal is not None:
                raise refusal
        if timeout is _CLIENT_DEFAULT:
            timeout = self._timeout
        request_id = self._ids.next_id(self._pending)
        # Packing errors raise here, before anything is registered or sent.
        frames = (
            self._ids.header(request_id),
            name.encode("utf-8"),
            self._codec.packb(args),
            self._codec.packb(kwargs),
        )
        pending = self._pending[request_id] = _Pending(self._new_waiter(), name, timeout)
        try:
            deadline = None if timeout is None else anyio.current_time() + timeout
            if not pump.send_nowait(frames):
                with _NO_TIMEOUT if timeout is None else anyio.fail_after(timeout):
                    await pump.send(frames)
            del frames  # a pending call keeps no copy of its request
            if deadline is not None:
                self._deadlines.add(pending, deadline, len(self._pending))
            await pending.waiter
        finally:
            pending.waiting = False
            del self._pending[request_id]
        # The deadline heap may keep the finished call a while: not its answer.
        value, error = pending.value, pending.error
        pending.value = pending.error = None
        if error is not None:
            raise error
        return value

    def _start_background(self, task_group: anyio.abc.TaskGroup) -> None:
        task_group.start_soon(self._deadlines.run, name=f"deadlines of {self!r}")
        assert self._watcher is not None
        task_group.start_soon(self._watcher.run, name=f"connections of {self!r}")

    async def _reconnect(self, endpoint: str) -> None:
        """Connect ``endpoint`` again after ZeroMQ's reconnect interval (a backoff:
        a server that refuses every handshake must not cost a busy loop)."""
        try:
            assert self._pump is not None
            interval = self._pump.socket.getsockopt(zmq.RECONNECT_IVL)
            await anyio.sleep(max(int(interval), 100) / 1000)
            try:
                self._pump.socket.connect(endpoint)
            except zmq.ZMQError as exc:
                logger.warning("RPCClient could not connect to %s again: %s", endpoint, exc)
        finally:
            self._reconnecting.discard(endpoint)

    def _connection_lost(self, endpoint: str) -> None:
        """A connection of the socket was lost: connect its endpoint again (ZeroMQ
        does not after a protocol error), and fail the calls that went over it."""
        transport = self._transport
        if not self._is_open or transport is None or self._pump is None:
            return
        connections = transport.connections()
        if endpoint in connections and endpoint not in self._reconnecting:
            with suppress(zmq.ZMQError):
                self._pump.socket.disconnect(endpoint)
            self._reconnecting.add(endpoint)
            assert self._handlers is not None
            self._handlers.start_soon(self._reconnect, endpoint)
        if len(connections) != 1 or transport.bindings():
            return  # which calls went over it is not known: they end by their timeouts
        for pending in self._pending.values():
            if not pending.done:
                pending.resolve(
                    None,
                    ConnectionLostError(
                        f"the connection to {endpoint} was lost before the answer to "
                        f"{pending.name!r} came (the server went away, or a message "
                        "exceeded max_message_size)"
                    ),
                )

    def _handshake(self, endpoint: str, event: int, value: int) -> None:
        """A handshake ended: when every server now refuses the client, fail the
        calls that wait (they never reached a server)."""
        self._handshakes.record(endpoint, event, value)
        refusal = self._handshakes.refusal(self._transport)
        if refusal is None:
            return
        for pending in self._pending.values():
            if not pending.done:
                pending.resolve(None, refusal)

    def _configure(self, sock: zmq.Socket[bytes], backend: Backend) -> None:
        self._new_waiter = backend.new_waiter
        # Watching from before the first connect: a refused handshake is reported once.
        self._watcher = ConnectionWatcher(sock, backend, self._connection_lost, self._handshake)
        self._watcher.start()
        # Answers are only ever answers to our own calls: never let ZeroMQ drop
        # them for want of queue room, or a call would wait for nothing.
        sock.setsockopt(zmq.RCVHWM, 0)

    def _on_message(self, frames: list[bytes]) -> None:
        if len(frames) != 2:
            self._drops.report(f"an answer has 2 frames, got {len(frames)}")
            return
        header, body = frames
        try:
            request_id, is_error = _wire.parse_reply_header(header)
        except ValueError as exc:
            self._drops.report(str(exc))
            return
        pending = self._pending.get(request_id)
        if pending is None or pending.done:
            logger.debug("answer to call #%d dropped: no call waits for it", request_id)
            return
        try:
            answer = self._codec.unpackb(body)
        except DecodeError as exc:
            self._refusals.report(f"the answer to call #{request_id}: {exc}")
            pending.resolve(None, ProtocolError(f"the answer cannot be decoded: {exc}"))
            return
        if is_error:
            pending.resolve(None, rebuild_error(answer, self._error_table))
        else:
            pending.resolve(answer, None)

    def _on_closed(self) -> None:
        if self._watcher is not None:
            self._watcher.close()  # if it never ran
        for pending in self._pending.values():
            if not pending.done:
                pending.resolve(
                    None, ServiceClosedError("the client closed before the answer came")
                )


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
    def timeout(self) -> float | None:
        return self._timeout

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

    def __init__(self, handler: HandlerLike, **options: Any) -> None:
        super().__init__(handler, **options)
        self._headers = _wire.ReplyHeaders()

    def _on_message(self, frames: list[bytes]) -> None:
        if len(frames) < 5:
            self._drop(f"a request has at least 5 frames, got {len(frames)}")
            return
        header, name, args, kwargs = frames[-4:]
        try:
            request_id = _wire.request_id_of(header)
        except ValueError as exc:
            self._drop(str(exc))
            return
        self._call(name, args, kwargs, (frames[:-4], request_id))

    def _succeeded(self, reply: Any, name: str, result: Any) -> None:
        envelope, request_id = reply
        try:
            body = self._codec.packb(result)
        except Exception as exc:
            error = TypeError(f"the result of {name!r} cannot be serialized: {exc}")
            self._answer(envelope, request_id, True, self._error_body(error))
            return
        self._answer(envelope, request_id, False, body)

    def _failed(self, reply: Any, name: str, exc: BaseException, args: Any, kwargs: Any) -> None:
        self._log_failure(name, exc, args, kwargs)
        envelope, request_id = reply
        self._answer(envelope, request_id, True, self._error_body(exc))

    def _error_body(self, exc: BaseException) -> bytes:
        name = wire_name(type(exc))
        text = repr(exc)
        try:
            return self._codec.packb((name, exc.args, text))
        except Exception:
            # Arguments that cannot be serialized travel as their reprs.
            return self._codec.packb((name, tuple(repr(arg) for arg in exc.args), text))

    def _answer(self, envelope: list[bytes], request_id: int, is_error: bool, body: bytes) -> None:
        header = self._headers.header(request_id, is_error=is_error)
        try:
            sent = self._check_open().send_nowait([*envelope, header, body])
        except ServiceClosedError:
            return  # closing: the caller goes with the connection
        except OSError as exc:  # for example EHOSTUNREACH with zmq.ROUTER_MANDATORY
            self._drop(f"the answer to call #{request_id} could not be sent: {exc}")
            return
        if not sent:  # the peer's queue is full (with zmq.ROUTER_MANDATORY)
            self._drop(f"the answer to call #{request_id} could not be sent: the queue is full")


def connect_rpc(
    *,
    connect: str | Iterable[str] | None = None,
    bind: str | Iterable[str] | None = None,
    error_table: ErrorTable | None = None,
    timeout: float | None = None,
    translation_table: TranslationTable | None = None,
    max_message_size: int | None = DEFAULT_MAX_MESSAGE_SIZE,
    socket_options: SocketOptions | None = None,
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
        curve=curve,
    )
