"""The service base: one socket, its pump task and its handler tasks, all owned
by a task group that the service's ``async with`` opens and closes."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from types import TracebackType
from typing import ClassVar, Final, Self, TypeAlias

import anyio
import zmq

from ._backend import Backend, current_backend
from ._codec import Codec, TranslationTable
from ._context import note_linger, shared_context
from ._curve import CurveClient, CurveServer, CurveServerSession, check_curve_options
from ._errors import ServiceClosedError
from ._log import logger
from ._socket import Frame, SocketPump, zmq_errors_as_oserror
from ._transport import Transport, endpoints, set_option

__all__ = [
    "DEFAULT_HEARTBEAT",
    "DEFAULT_LINGER",
    "DEFAULT_MAX_MESSAGE_SIZE",
    "HEARTBEATS_MISSED",
    "Service",
    "SocketOptions",
    "check_heartbeat",
]

_NEW, _OPEN, _CLOSING, _CLOSED = range(4)

#: Default ``max_message_size``: larger messages make ZeroMQ drop the connection.
DEFAULT_MAX_MESSAGE_SIZE: Final = 16 * 1024 * 1024

#: Default ``heartbeat``: seconds between ZMTP pings on every connection.
DEFAULT_HEARTBEAT: Final = 2.0

#: A connection that answers none of this many pings in a row is dropped.
HEARTBEATS_MISSED: Final = 4


def check_heartbeat(heartbeat: float | None) -> float | None:
    """Check a ``heartbeat`` argument.

    Raises:
        TypeError, ValueError: not a positive number of seconds (at most an hour) or None.
    """
    if heartbeat is None:
        return None
    if isinstance(heartbeat, bool) or not isinstance(heartbeat, int | float):
        raise TypeError(f"heartbeat must be a number of seconds or None, got {heartbeat!r}")
    if not 0.001 <= heartbeat <= 3600:
        raise ValueError(f"heartbeat must be between 0.001 and 3600 seconds, got {heartbeat!r}")
    return float(heartbeat)


#: Default ``linger``: seconds what a service sent may still take to be delivered
#: after its block ends normally.
DEFAULT_LINGER: Final = 2.0

#: ZeroMQ socket options (``zmq.SNDHWM``, ``zmq.CURVE_SERVER``, ...) and their values.
SocketOptions: TypeAlias = Mapping[int, int | bytes | str]


def _check_max_message_size(size: int | None) -> int:
    if size is None:
        return -1
    if isinstance(size, bool) or not isinstance(size, int) or size <= 0:
        raise ValueError(f"max_message_size must be a positive int or None, got {size!r}")
    return size


def _check_linger(linger: float | None) -> int:
    """``linger`` in seconds as ZeroMQ's ``LINGER`` (milliseconds, -1 for None)."""
    if linger is None:
        return -1
    if isinstance(linger, bool) or not isinstance(linger, int | float):
        raise TypeError(f"linger must be a number of seconds or None, got {linger!r}")
    if not linger >= 0 or linger == float("inf"):
        raise ValueError(f"linger must be a finite number of seconds >= 0, got {linger!r}")
    return round(linger * 1000)


def _check_socket_options(
    options: SocketOptions | None,
) -> tuple[tuple[int, int | bytes | str], ...]:
    if options is None:
        return ()
    if not isinstance(options, Mapping):
        raise TypeError(f"socket_options must be a mapping of options to values, got {options!r}")
    checked = []
    for option, value in options.items():
        if isinstance(option, bool) or not isinstance(option, int):
            raise TypeError(f"socket_options keys must be ZeroMQ options (int), got {option!r}")
        if isinstance(value, bool) or not isinstance(value, int | bytes | str):
            raise TypeError(
                f"socket_options[{option!r}] must be an int, bytes or str, got {value!r}"
            )
        checked.append((int(option), value))
    return tuple(checked)


class Service:
    """Base of every client and server.

    Use it as an async context manager: entering creates the socket, sets its
    options, binds and connects it and starts its pump. Leaving the block normally
    closes the socket with the service's ``linger`` (a server first lets its
    running calls finish, see the servers' ``shutdown()``); leaving it by an
    exception or cancellation, or :meth:`close`, stops reading, cancels the pump
    and every running handler, then closes the socket with linger 0. A
    ``zmq.LINGER`` set in ``socket_options`` or through :attr:`transport` is used
    on every close instead. A service can be entered once.
    """

    _socket_type: ClassVar[int]
    _receives: ClassVar[bool] = True

    def __init__(
        self,
        *,
        bind: str | Iterable[str] | None,
        connect: str | Iterable[str] | None,
        translation_table: TranslationTable | None,
        max_message_size: int | None = DEFAULT_MAX_MESSAGE_SIZE,
        socket_options: SocketOptions | None = None,
        heartbeat: float | None = DEFAULT_HEARTBEAT,
        linger: float | None = DEFAULT_LINGER,
        curve: CurveServer | CurveClient | None = None,
    ) -> None:
        self._heartbeat = check_heartbeat(heartbeat)
        self._bind = endpoints(bind, "bind")
        self._max_message_size = _check_max_message_size(max_message_size)
        self._connect = endpoints(connect, "connect")
        self._socket_options = _check_socket_options(socket_options)
        self._linger = _check_linger(linger)
        self._user_linger = any(option == zmq.LINGER for option, _ in self._socket_options)
        self._leaving_normally = False  # set once a normal exit decides to close
        self._exit_linger = 0  # what every socket of the service closes with
        check_curve_options(curve, (option for option, _ in self._socket_options))
        self._codec = Codec(translation_table)
        self._state = _NEW
        #: Whether the service is open (``_state == _OPEN``; an attribute: it is
        #: read on every message).
        self._is_open = False
        self._backend: Backend | None = None
        self._pump: SocketPump | None = None
        self._transport: Transport | None = None
        self._background: anyio.CancelScope | None = None
        self._task_group: anyio.abc.TaskGroup | None = None
        self._handlers: anyio.abc.TaskGroup | None = None
        self._closed_event: anyio.Event | None = None
        self._curve = curve
        self._curve_session: CurveServerSession | None = None

    @property
    def transport(self) -> Transport:
        """Endpoints and options of the socket.

        Raises:
            ServiceClosedError: the service is not open (not entered yet, or closed).
        """
        if self._state != _OPEN or self._transport is None:
            raise ServiceClosedError(self._not_open_reason())
        return self._transport

    def close(self) -> None:
        """Start closing (idempotent): nothing more is received and no new handler
        starts; running handlers are cancelled and the socket is closed. Await
        :meth:`wait_closed` or leave the ``async with``.

        Callable from outside the event loop too (for example after the loop has
        stopped, or from another thread): closing then happens in the loop, the
        next time it runs.
        """
        if self._state == _NEW:
            self._set_state(_CLOSED)
            return
        if self._state != _OPEN:
            return
        assert self._backend is not None
        if not self._backend.in_loop():
            try:
                self._backend.run_soon_threadsafe(self.close)
            except RuntimeError:  # the loop is closed: nothing runs the service any more
                self._abandon()
            return
        assert self._background is not None
        assert self._pump is not None
        self._before_close()
        self._set_state(_CLOSING)
        self._pump.stop_reading()
        self._background.cancel()

    async def wait_closed(self) -> None:
        """Wait until the socket is closed; return at once if never opened."""
        if self._closed_event is not None:
            await self._closed_event.wait()
        else:
            await anyio.lowlevel.checkpoint()

    async def __aenter__(self) -> Self:
        if self._state != _NEW:
            raise RuntimeError("a service can be entered only once")
        backend = current_backend()
        self._backend = backend
        sock = self._make_socket()
        try:
            if isinstance(self._curve, CurveServer):  # its ZAP domain answers before it binds
                self._curve_session = self._curve._attach(sock, backend, type(self).__name__)
            transport = self._make_transport(sock)
            for endpoint in self._bind:
                transport.bind(endpoint)
            for endpoint in self._connect:
                transport.connect(endpoint)
            self._closed_event = anyio.Event()
            self._background = anyio.CancelScope()
            task_group = anyio.create_task_group()
            await task_group.__aenter__()
        except BaseException:
            self._backend = None
            self._on_closed()  # first: it stops the socket's monitor
            if self._curve_session is not None:
                self._curve_session.close()
            sock.close(linger=0)
            raise
        # A CURVE server reads each message's peer key from its last frame.
        self._pump = SocketPump(sock, backend, keep_last_frame=self._curve_session is not None)
        self._transport = transport
        self._task_group = task_group
        self._set_state(_OPEN)
        self._task_group.start_soon(self._run_background, name=f"anyzmq pump of {self!r}")
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> bool | None:
        assert self._task_group is not None
        if exc_type is None:
            self._leave()
        else:
            self.close()
        try:
            return await self._task_group.__aexit__(exc_type, exc, tb)
        except BaseExceptionGroup as group:
            _raise_single(group)
            raise
        finally:
            self._task_group = None

    def _make_socket(self) -> zmq.Socket[bytes]:
        """A new socket of the service's type with every option set: anyzmq's,
        the concrete service's (:meth:`_configure`), then the user's.

        Raises:
            OSError: ZeroMQ refused an option.
        """
        assert self._backend is not None
        sock: zmq.Socket[bytes] = shared_context().socket(self._socket_type)
        try:
            sock.setsockopt(zmq.LINGER, 0)
            if self._receives:
                sock.setsockopt(zmq.MAXMSGSIZE, self._max_message_size)
            if self._heartbeat is not None:
                interval = max(1, round(self._heartbeat * 1000))
                sock.setsockopt(zmq.HEARTBEAT_IVL, interval)
                sock.setsockopt(zmq.HEARTBEAT_TIMEOUT, interval * HEARTBEATS_MISSED)
                sock.setsockopt(zmq.HEARTBEAT_TTL, min(interval * HEARTBEATS_MISSED, 6_553_500))
            self._configure(sock, self._backend)
            if isinstance(self._curve, CurveClient):
                self._curve._attach(sock, self._backend, type(self).__name__)
            # Before any bind or connect: ZeroMQ applies many options only then.
            for option, value in self._socket_options:
                set_option(sock, option, value)
        except BaseException:
            sock.close(linger=0)
            raise
        return sock

    def _make_transport(self, sock: zmq.Socket[bytes]) -> Transport:
        """The :attr:`transport` of the service, over its first socket."""
        return Transport(sock)

    async def _run_background(self) -> None:
        assert self._pump is not None
        assert self._closed_event is not None
        assert self._background is not None
        try:
            with self._background:
                try:
                    async with anyio.create_task_group() as handlers:
                        self._handlers = handlers
                        self._start_background(handlers)
                        if self._curve_session is not None:
                            self._curve_session.start(handlers)
                        await self._pump.run(self._receive if self._receives else None)
                except BaseExceptionGroup as group:
                    _raise_single(group)  # the outer task group adds its own level
                    raise
        finally:
            self._handlers = None
            self._set_state(_CLOSED)
            self._transport = None
            self._on_closed()
            if self._curve_session is not None:
                self._curve_session.close()
            with zmq_errors_as_oserror():
                self._exit_linger = self._linger_at_exit()
                self._pump.close(linger=self._exit_linger)
            note_linger(self._exit_linger)
            self._closed_event.set()

    def _linger_at_exit(self) -> int:
        """The ``LINGER`` the service's sockets close with: the user's own if set,
        else the service's ``linger`` after a normal exit and 0 after any other."""
        assert self._pump is not None
        current = int(self._pump.socket.getsockopt(zmq.LINGER))
        if self._user_linger or current != 0:  # 0 is anyzmq's; another is the user's
            return current
        return self._linger if self._leaving_normally else 0

    def _close_normally(self) -> None:
        """Close as after a normal exit: with the service's ``linger``."""
        if self._state == _OPEN:
            self._leaving_normally = True
        self.close()

    def _abandon(self) -> None:
        """Close the socket of a service whose event loop is gone."""
        self._set_state(_CLOSED)
        self._transport = None
        if self._curve_session is not None:
            self._curve_session.close()
        self._on_abandoned()  # first: it stops the sockets' monitors
        if self._pump is not None:
            self._pump.socket.close(linger=0)

    def _receive(self, frames: list[Frame]) -> None:
        # Whatever goes wrong with one message must not stop the service.
        try:
            self._on_message(frames)
        except Exception:
            logger.exception("%s failed to handle a message and dropped it", type(self).__name__)

    def _not_open_reason(self) -> str:
        if self._state == _NEW:
            return f"{type(self).__name__} is not open yet: enter it with 'async with'"
        return f"{type(self).__name__} is closed"

    def _peer_key(self) -> bytes | None:
        """The CURVE public key (Z85) of the peer whose message is being handled,
        on a CURVE server (None elsewhere): the user id its ZAP handler gave."""
        pump = self._pump
        if self._curve_session is None or pump is None or pump.last_frame is None:
            return None
        try:
            key = pump.last_frame.get("User-Id")
        except zmq.ZMQError:
            return None
        return key.encode("ascii") if isinstance(key, str) and key else None

    def _check_open(self) -> SocketPump:
        if not self._is_open or self._pump is None:
            raise ServiceClosedError(self._not_open_reason())
        return self._pump

    def _set_state(self, state: int) -> None:
        self._state = state
        self._is_open = state == _OPEN

    # Hooks for the concrete services.

    def _configure(self, sock: zmq.Socket[bytes], backend: Backend) -> None:
        """Set socket options before binding and connecting."""

    def _leave(self) -> None:
        """The block ends normally: close with the service's ``linger``."""
        self._close_normally()

    def _start_background(self, task_group: anyio.abc.TaskGroup) -> None:
        """Start the service's own background tasks, beside its pump."""

    def _before_close(self) -> None:
        """Called once in :meth:`close`, while the sockets are still open."""

    def _on_message(self, frames: list[Frame]) -> None:
        """Handle one received multipart message (receiving services only)."""
        raise NotImplementedError

    def _on_closed(self) -> None:
        """Called once when the service stops (or fails to enter), before the
        socket closes."""

    def _on_abandoned(self) -> None:
        """Called once when the service's event loop is gone, before its socket
        closes: stop monitors and close other sockets, without the loop."""


def _raise_single(group: BaseExceptionGroup[BaseException]) -> None:
    """Re-raise the only exception of the group our task group made, as itself.

    Only that one level is removed: a group the user's own code raised stays whole.
    """
    if len(group.exceptions) != 1:
        return
    inner = group.exceptions[0]
    context = inner.__context__
    try:
        raise inner
    finally:
        inner.__context__ = context
        del inner, context
