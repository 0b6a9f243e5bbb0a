"""The part shared by the three servers: decode a call, look its method up, bind
its arguments, run it and hand the outcome to the concrete server.

Every call starts in the pump task, from the server's own context: a synchronous
method runs there, in a copy of that context (or, with ``sync_handler_threads``,
in a worker thread); an asynchronous one runs as a task in the service's handler
task group, in its own cancel scope, under the server ``timeout``. When the
timeout passes, the caller is answered at once, whatever the method does, and a
late result is dropped.
"""

from __future__ import annotations

import contextlib
import contextvars
import logging
import math
from collections import deque
from collections.abc import Callable, Hashable, Iterable, Mapping
from functools import partial
from typing import Any, ClassVar, Final, final

import anyio
import anyio.to_thread
import zmq

from ._backend import Backend
from ._calls import CallInfo, enter
from ._codec import DecodeError, TranslationTable
from ._curve import CurveServer, check_curve
from ._deadlines import Deadlines
from ._errors import NotFoundError, ParameterError, ServiceClosedError, StreamMismatchError
from ._format import bounded_repr
from ._grace import DEFAULT_GRACE, Grace, check_grace
from ._handlers import AbstractHandler, HandlerLike, Target, lookup
from ._introspect import DESCRIBE, DESCRIBE_FRAME, describe
from ._log import RateLimitedWarning, bounded_exception, logger, shorten
from ._service import DEFAULT_HEARTBEAT, DEFAULT_MAX_MESSAGE_SIZE, Service, SocketOptions
from ._socket import Frame
from ._stream_server import StreamWindow
from ._wire import NO_KWARGS

__all__ = ["DEFAULT_MAX_CONCURRENT_CALLS", "ServerBase"]

_NO_SCOPE: Final = contextlib.nullcontext()


def _check_timeout(timeout: float | None) -> float | None:
    if timeout is None:
        return None
    if isinstance(timeout, bool) or not isinstance(timeout, int | float):
        raise TypeError(f"timeout must be a number of seconds or None, got {timeout!r}")
    if not timeout > 0:
        raise ValueError(f"timeout must be positive, got {timeout!r}")
    return float(timeout)


def _check_exclude(exclude: Iterable[type[BaseException]]) -> tuple[type[BaseException], ...]:
    classes = tuple(exclude)
    for cls in classes:
        if not (isinstance(cls, type) and issubclass(cls, BaseException)):
            raise TypeError(f"exclude_log_exceptions must hold exception classes, got {cls!r}")
    return classes


#: Default ``max_concurrent_calls``: method calls running at once.
DEFAULT_MAX_CONCURRENT_CALLS: Final = 1000

#: Calls a server lets wait for a free slot, at least (else ``max_concurrent_calls``).
MIN_QUEUED_CALLS: Final = 64


def _check_positive(what: str, value: int | None) -> int | None:
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int) or value <= 0:
        raise ValueError(f"{what} must be a positive int or None, got {value!r}")
    return value


@final
class _Call:
    """One call that runs as a task: what it needs, its deadlines, and whether it
    has been answered (or needs no answer any more)."""

    __slots__ = (
        "abandoned",
        "args",
        "call_args",
        "call_kwargs",
        "caller_deadline",
        "finished",
        "info",
        "key",
        "kwargs",
        "name",
        "reply",
        "scope",
        "server",
        "stream",
        "target",
        "timed_by_server",
    )

    def __init__(
        self,
        server: ServerBase,
        target: Target,
        call_args: tuple[Any, ...],
        call_kwargs: dict[str, Any],
        name: str,
        args: Any,
        kwargs: Any,
        reply: Any,
        caller_deadline: float,
        key: Hashable | None,
    ) -> None:
        self.server = server
        self.target = target
        self.call_args = call_args
        self.call_kwargs = call_kwargs
        self.name = name
        self.args = args
        self.kwargs = kwargs
        self.reply = reply
        self.caller_deadline = caller_deadline
        self.key = key
        self.scope: anyio.CancelScope | None = None
        self.info = CallInfo(name, caller_deadline)
        self.timed_by_server = False  # the server's timeout ends it, not the caller's
        self.finished = False
        self.abandoned = False  # its caller has gone: no answer is wanted
        self.stream: StreamWindow | None = None  # a stream's window, for stream methods

    @property
    def active(self) -> bool:
        return not self.finished

    def expire(self) -> None:
        """The server's timeout passed: answer now, cancel the method."""
        if self.scope is not None:
            self.scope.cancel()
        self.server._finish(self, None, self.server._timeout_error(self.name))


_BUSY: Final = (
    "the server is busy: every call slot is taken, streams wait for their callers' "
    "credit and its queue of waiting calls is full; try again later"
)


def _mismatch(name: str, is_stream: bool) -> StreamMismatchError:
    if is_stream:
        return StreamMismatchError(
            f"{name!r} is a stream method: read it with client.stream, not client.call"
        )
    return StreamMismatchError(f"{name!r} is not a stream method: call it with client.call")


class ServerBase(Service):
    """A service that calls ``handler``'s methods for the messages it receives.

    Raises (at construction):
        TypeError: ``handler`` is not an :class:`AbstractHandler`, ``curve`` is not
            a ``CurveServer``, or an argument has the wrong type.
        ValueError: ``timeout``, ``max_message_size``, ``max_concurrent_calls`` or
            ``sync_handler_threads`` is not positive, or ``grace`` is negative.
    """

    #: Whether the introspection request is answered (see :mod:`._introspect`).
    _introspection = False

    #: Whether callers wait for answers: then a server shutting down keeps reading
    #: and refuses new calls with ServiceClosedError, rather than stop reading.
    _answers_calls: ClassVar[bool] = False

    def __init__(
        self,
        handler: HandlerLike,
        *,
        bind: str | Iterable[str] | None,
        connect: str | Iterable[str] | None,
        log_exceptions: bool,
        exclude_log_exceptions: Iterable[type[BaseException]],
        translation_table: TranslationTable | None,
        timeout: float | None,
        max_message_size: int | None = DEFAULT_MAX_MESSAGE_SIZE,
        max_concurrent_calls: int | None = DEFAULT_MAX_CONCURRENT_CALLS,
        sync_handler_threads: int | None = None,
        socket_options: SocketOptions | None = None,
        heartbeat: float | None = DEFAULT_HEARTBEAT,
        grace: float | None = DEFAULT_GRACE,
        curve: CurveServer | None = None,
    ) -> None:
        if not isinstance(handler, AbstractHandler):
            raise TypeError(f"handler must implement AbstractHandler, got {handler!r}")
        check_curve(curve, CurveServer)
        super().__init__(
            bind=bind,
            connect=connect,
            translation_table=translation_table,
            max_message_size=max_message_size,
            socket_options=socket_options,
            heartbeat=heartbeat,
            curve=curve,
        )
        self._max_calls = _check_positive("max_concurrent_calls", max_concurrent_calls)
        self._threads = _check_positive("sync_handler_threads", sync_handler_threads)
        self._handler = handler
        self._log_exceptions = bool(log_exceptions)
        self._exclude_log_exceptions = _check_exclude(exclude_log_exceptions)
        self._timeout = _check_timeout(timeout)
        self._deadlines = Deadlines()
        self._drops = RateLimitedWarning(f"{type(self).__name__} dropped a message")
        self._refusals = RateLimitedWarning(f"{type(self).__name__} refused a value")
        self._running = 0
        self._abandoned = 0
        self._calls: dict[Hashable, _Call] = {}  # cancellable calls, running or waiting
        self._waiting: deque[_Call] = deque()  # behind max_concurrent_calls
        self._queue_limit = max(self._max_calls or 0, MIN_QUEUED_CALLS)
        self._starving = 0  # streams waiting for their caller's credit
        self._cancelled: type[BaseException] = BaseException  # set on entering
        self._now: Callable[[], float] = anyio.current_time  # the backend's, on entering
        self._limiter: anyio.CapacityLimiter | None = None
        self._grace: Grace[_Call] = Grace(check_grace(grace))

    @property
    def running_calls(self) -> int:
        """How many method calls are running now as tasks (asynchronous methods,
        and synchronous ones when ``sync_handler_threads`` is set)."""
        return self._running

    @property
    def queued_calls(self) -> int:
        """How many calls wait for one of the ``max_concurrent_calls`` to end.

        The server reads on while calls wait (so it sees their cancels, and their
        deadlines count from when they were read), up to ``max_concurrent_calls``
        waiting calls (at least 64); then it stops reading until one starts.
        """
        return len(self._waiting)

    @property
    def abandoned_calls(self) -> int:
        """How many calls this server did not start, or cancelled, because their
        caller had gone (its deadline passed, or it sent a cancel)."""
        return self._abandoned

    @property
    def dropped_messages(self) -> int:
        """How many messages this server has dropped (malformed ones, and answers
        that ZeroMQ refused to queue)."""
        return self._drops.total

    async def shutdown(self) -> None:
        """Close gracefully, as a normal exit of the ``async with`` does, and
        return once closed (idempotent; callable while the block runs on).

        New calls no longer start (an RPC server answers them with
        :class:`ServiceClosedError`, the others stop reading), running calls get
        ``grace`` seconds to finish, then the rest are cancelled and their callers
        answered with :class:`ServiceClosedError`, and the socket closes. Cancelling
        this wait does not cancel the shutdown;
        :meth:`~anyzmq.rpc.Service.close` makes it immediate.
        """
        self._leave()
        await self.wait_closed()

    def _leave(self) -> None:
        if self._is_open:
            self._grace.request()
        else:
            self.close()  # not entered yet: closed at once; closing: nothing to do

    def _stop_starting_calls(self) -> None:
        # Calls waiting for a free slot will not start: their callers hear so now.
        waiting, self._waiting = self._waiting, deque()
        for call in waiting:
            self._forget(call)
            if not call.abandoned:
                error = ServiceClosedError(
                    f"the server is shutting down: {call.name!r} was not started"
                )
                self._finish(call, None, error)
        pump = self._pump
        if pump is None:
            return
        if self._answers_calls:
            pump.resume_reading()  # paused at max_concurrent_calls: refuse at once
        else:
            pump.stop_reading()

    def _cancel_overdue(self, calls: list[_Call]) -> None:
        logger.warning(
            "%s shutting down: %d call(s) still running after the grace of %g s, cancelled",
            type(self).__name__,
            len(calls),
            self._grace.period,
        )
        for call in calls:
            error = ServiceClosedError(
                f"the server shut down before {call.name!r} finished "
                f"(grace of {self._grace.period:g} s)"
            )
            self._finish(call, None, error)
        # Closing, next, cancels them.

    def _configure(self, sock: zmq.Socket[bytes], backend: Backend) -> None:
        self._grace.open()
        self._cancelled = anyio.get_cancelled_exc_class()
        self._now = backend.now
        if self._threads is not None:
            self._limiter = anyio.CapacityLimiter(self._threads)

    def _start_background(self, task_group: anyio.abc.TaskGroup) -> None:
        if self._timeout is not None:
            task_group.start_soon(self._deadlines.run, name=f"timeouts of {self!r}")
        task_group.start_soon(
            self._grace.run,
            self._stop_starting_calls,
            self._cancel_overdue,
            self._close_normally,
            name=f"shutdown of {self!r}",
        )

    def _drop(self, reason: str) -> None:
        self._drops.report(reason)

    def _call(
        self,
        name_frame: Frame,
        args_frame: Frame,
        kwargs_frame: Frame,
        reply: Any,
        budget: float = math.inf,
        key: Hashable | None = None,
        stream: StreamWindow | None = None,
    ) -> None:
        """Run one call; ``reply`` is passed back to :meth:`_succeeded`/:meth:`_failed`.

        ``budget`` is what the caller said it has left (seconds); ``key`` names
        the call for a later cancel message from the same caller (None: not
        cancellable); ``stream`` is the window of a stream request (None: a call).
        """
        if not self._is_open:
            return  # closing: nothing new starts
        if not self._grace.accepting:
            name = str(name_frame, "utf-8", "replace")
            error = ServiceClosedError(f"the server is shutting down: {name!r} was not started")
            self._failed(reply, name, error, (), {})
            return
        caller_deadline = math.inf
        if budget != math.inf:
            if not budget > 0:
                self._count_abandoned(name_frame, "its caller's deadline had passed on arrival")
                return
            caller_deadline = self._now() + budget
        if self._introspection and name_frame == DESCRIBE_FRAME:
            try:
                listing = describe(self._handler)
            except Exception as exc:
                self._failed(reply, DESCRIBE, exc, (), {})
            else:
                self._succeeded(reply, DESCRIBE, listing)
            return
        args: Any = ()
        kwargs: Any = {}
        try:
            try:
                name = str(name_frame, "utf-8")
            except UnicodeDecodeError:
                raise NotFoundError(repr(bytes(name_frame))) from None
            target = lookup(self._handler, name)
            args, kwargs = self._decode_arguments(args_frame, kwargs_frame)
            call_args, call_kwargs = target.spec.bind(target.bound_self, args, kwargs)
            if target.spec.is_stream is not (stream is not None):
                raise _mismatch(name, target.spec.is_stream)
        except Exception as exc:  # the caller hears of it; the server carries on
            self._failed(reply, str(name_frame, "utf-8", "replace"), exc, args, kwargs)
            return
        # Of the message being handled, so read now (only CURVE servers have one).
        peer_key = None if self._curve_session is None else self._peer_key()
        if target.spec.is_async or stream is not None or self._limiter is not None:
            call = _Call(
                self,
                target,
                call_args,
                call_kwargs,
                name,
                args,
                kwargs,
                reply,
                caller_deadline,
                key,
            )
            call.stream = stream
            if peer_key is not None:
                call.info = CallInfo(name, caller_deadline, peer_key)
            self._start(call)
            return
        try:
            # In a copy of the server's context: what one call sets, no other sees.
            context = contextvars.copy_context()
            # tuple.__new__ builds the named tuple without its Python __new__.
            context.run(enter, tuple.__new__(CallInfo, (name, caller_deadline, peer_key)))
            result = context.run(target.func, *call_args, **call_kwargs)
            result = target.spec.check_result(result)
        except Exception as exc:
            self._failed(reply, name, exc, args, kwargs)
        except self._cancelled as exc:  # a sync method is never cancelled by us
            self._stray_cancellation(name, exc)
            self._failed(reply, name, exc, args, kwargs)
        else:
            self._succeeded(reply, name, result)

    def _start(self, call: _Call) -> None:
        """Run ``call`` now, or queue it while ``max_concurrent_calls`` run."""
        if call.key is not None:
            self._calls[call.key] = call
        if self._max_calls is None or self._running < self._max_calls:
            self._launch(call)
            return
        if self._starving and len(self._waiting) >= self._queue_room():
            # Only reading brings the credit a starving stream waits for: the
            # server reads on and refuses what its queue has no room for.
            self._forget(call)
            self._finish(call, None, ServiceClosedError(_BUSY))
            return
        self._waiting.append(call)
        if len(self._waiting) >= self._queue_room() and not self._starving:
            self._check_open().pause_reading()  # backpressure until one finishes

    def _launch(self, call: _Call) -> None:
        assert self._handlers is not None
        deadline = call.caller_deadline
        if self._timeout is not None:
            server_deadline = anyio.current_time() + self._timeout
            if server_deadline <= deadline:
                deadline = server_deadline
                call.timed_by_server = True
                call.info = call.info._replace(deadline=deadline)
        # A cancel scope only for a deadline or a cancel message: closing the
        # server cancels every call at once anyway.
        if call.key is not None or deadline != math.inf:
            call.scope = anyio.CancelScope(deadline=deadline)
        self._running += 1
        self._grace.started(call)
        if call.timed_by_server:
            self._deadlines.add(call, deadline, self._running)
        self._handlers.start_soon(self._run, call)

    def _start_waiting(self) -> None:
        """Start queued calls while there is room; drop those whose caller has gone."""
        waiting = self._waiting
        while waiting and (self._max_calls is None or self._running < self._max_calls):
            call = waiting.popleft()
            if call.abandoned:
                continue  # counted when its cancel came
            if call.caller_deadline <= anyio.current_time():
                self._forget(call)
                self._count_abandoned(call.name, "its caller's deadline passed while it waited")
                continue
            self._launch(call)
        if len(waiting) < self._queue_room():
            pump = self._pump
            if pump is not None:
                pump.resume_reading()

    def _cancel(self, key: Hashable) -> None:
        """The caller of call ``key`` has gone: cancel it, or never start it."""
        call = self._calls.pop(key, None)
        if call is None or call.abandoned or call.finished:
            return  # already answered, or never known: nothing to do
        if call.scope is None:
            self._abandon_call(call, "its caller cancelled it while it waited")
        else:
            self._abandon_call(call, "its caller cancelled it")
            call.scope.cancel()

    def _abandon_call(self, call: _Call, why: str) -> None:
        """Answer running ``call`` with nothing: its caller has gone (``why``)."""
        if call.abandoned or call.finished:
            return
        call.abandoned = True
        self._count_abandoned(call.name, why)

    def _queue_room(self) -> int:
        """Requests that may wait before the server stops reading: twice as many
        while a stream waits for credit, which only reading can bring."""
        return 2 * self._queue_limit if self._starving else self._queue_limit

    def _stream_starving(self, starving: bool) -> None:
        """A stream starts (or stops) waiting for its caller's credit."""
        self._starving += 1 if starving else -1
        pump = self._pump
        if self._max_calls is None or pump is None:
            return
        if self._starving or len(self._waiting) < self._queue_room():
            pump.resume_reading()
        else:
            pump.pause_reading()

    def _credit(self, key: Hashable, items: int, nbytes: int) -> None:
        """The caller of stream ``key`` took items: widen its window again."""
        call = self._calls.get(key)
        if call is not None and call.stream is not None:
            call.stream.credit(items, nbytes)

    def _forget(self, call: _Call) -> None:
        if call.key is not None and self._calls.get(call.key) is call:
            del self._calls[call.key]

    def _count_abandoned(self, name: str | Frame, why: str) -> None:
        self._abandoned += 1
        if logger.isEnabledFor(logging.DEBUG):
            shown = name if isinstance(name, str) else repr(bytes(name[:200]))
            logger.debug("call of %s not run or cancelled: %s", shorten(shown), why)

    async def _run(self, call: _Call) -> None:
        target = call.target
        try:
            enter(call.info)
            try:
                with call.scope or _NO_SCOPE:
                    if call.stream is not None:
                        await self._stream(call, call.stream)
                        result = None
                    elif target.spec.is_async:
                        result = await target.func(*call.call_args, **call.call_kwargs)
                        result = target.spec.check_result(result)
                    else:
                        func = partial(target.func, *call.call_args, **call.call_kwargs)
                        result = await anyio.to_thread.run_sync(func, limiter=self._limiter)
                        result = target.spec.check_result(result)
            except Exception as exc:
                self._finish(call, None, exc)
            except self._cancelled as exc:
                if anyio.current_effective_deadline() == -math.inf:
                    raise  # we, or the service's owner, are cancelling this task
                self._stray_cancellation(call.name, exc)
                self._finish(call, None, exc)
            else:
                if call.scope is not None and call.scope.cancelled_caught:
                    if call.timed_by_server:
                        self._finish(call, None, self._timeout_error(call.name))
                    elif not call.abandoned:
                        call.abandoned = True  # the caller's deadline passed: it has gone
                        self._count_abandoned(call.name, "its caller's deadline passed")
                else:
                    self._finish(call, result, None)
        finally:
            call.finished = True
            self._forget(call)
            self._running -= 1
            self._grace.finished(call)
            if self._max_calls is not None:
                self._start_waiting()

    def _finish(self, call: _Call, result: Any, error: BaseException | None) -> None:
        """Answer ``call`` once: a result or error after the timeout's answer is
        dropped, and so is the answer to a call whose caller has gone."""
        if call.finished or call.abandoned:
            if error is None:
                logger.debug("late result of %r dropped: its caller had its answer", call.name)
            return
        call.finished = True
        if error is None:
            self._succeeded(call.reply, call.name, result)
        else:
            self._failed(call.reply, call.name, error, call.args, call.kwargs)

    def _timeout_error(self, name: str) -> TimeoutError:
        return TimeoutError(
            f"{name!r} did not finish within the server's timeout of {self._timeout:g} s"
        )

    def _stray_cancellation(self, name: str, exc: BaseException) -> None:
        logger.error(
            "method %r raised %s, but nothing cancelled the call: answered as its error",
            name,
            type(exc).__name__,
            exc_info=exc,
        )

    def _decode_arguments(
        self, args_frame: Frame, kwargs_frame: Frame
    ) -> tuple[tuple[Any, ...], dict[str, Any]]:
        try:
            args = self._codec.unpackb(args_frame)
            # No keyword arguments, the usual case: an empty map.
            kwargs = {} if kwargs_frame == NO_KWARGS else self._codec.unpackb(kwargs_frame)
        except DecodeError as exc:
            self._refusals.report(f"undecodable arguments: {exc}")
            raise ParameterError(f"cannot decode the arguments: {exc}") from exc
        if not isinstance(args, tuple):
            raise ParameterError(f"positional arguments must be an array, got {bounded_repr(args)}")
        if type(kwargs) is not dict:  # a fresh dict is kept as it is: no copy
            if not isinstance(kwargs, Mapping):
                raise ParameterError(
                    f"keyword arguments must be a str-keyed map, got {bounded_repr(kwargs)}"
                )
            kwargs = dict(kwargs)
        if kwargs and not all(isinstance(k, str) for k in kwargs):
            raise ParameterError(
                f"keyword arguments must be a str-keyed map, got {bounded_repr(kwargs)}"
            )
        return args, kwargs

    def _log_failure(self, name: str, exc: BaseException, args: Any, kwargs: Any) -> None:
        """Log ``exc`` if ``log_exceptions`` asks for it and it is not excluded."""
        if not self._log_exceptions or isinstance(exc, self._exclude_log_exceptions):
            return
        if isinstance(exc, ServiceClosedError) and exc.__traceback__ is None:
            return  # the server's own refusal while shutting down, not a method's error
        shown = bounded_exception(exc)
        logger.error(
            "An exception %r from method %r call occurred.\nargs = %s\nkwargs = %s\n",
            shown,
            shorten(name),
            bounded_repr(args),
            bounded_repr(kwargs),
            exc_info=shown,
        )

    # Hooks for the concrete servers.

    async def _stream(self, call: _Call, window: StreamWindow) -> None:
        """Run stream method ``call``, sending its items (request-reply only)."""
        raise _mismatch(call.name, True)

    def _succeeded(self, reply: Any, name: str, result: Any) -> None:
        raise NotImplementedError

    def _failed(self, reply: Any, name: str, exc: BaseException, args: Any, kwargs: Any) -> None:
        raise NotImplementedError
