"""The part shared by the three servers: decode a call, look its method up, bind
its arguments, run it (inline when synchronous, as a task in the service's task
group when asynchronous, under the server ``timeout``) and hand the outcome to
the concrete server."""

from __future__ import annotations

import reprlib
from collections.abc import Iterable, Mapping
from typing import Any, Final

import anyio

from ._codec import DecodeError, TranslationTable
from ._errors import NotFoundError, ParameterError
from ._format import bounded_repr
from ._handlers import AbstractHandler, HandlerLike, Target, lookup
from ._log import RateLimitedWarning, logger
from ._service import DEFAULT_MAX_MESSAGE_SIZE, Service

__all__ = ["DEFAULT_MAX_CONCURRENT_CALLS", "ServerBase"]


def _bounded_repr() -> reprlib.Repr:
    # Arguments come from the network: log them bounded in depth and length.
    bounded = reprlib.Repr()
    bounded.maxlevel = 6
    bounded.maxstring = bounded.maxother = 200
    bounded.maxlong = 100
    return bounded


_ARGUMENTS_REPR = _bounded_repr()


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


#: Default ``max_concurrent_calls``: asynchronous handler calls running at once.
DEFAULT_MAX_CONCURRENT_CALLS: Final = 1000


def _check_max_calls(limit: int | None) -> int | None:
    if limit is None:
        return None
    if isinstance(limit, bool) or not isinstance(limit, int) or limit <= 0:
        raise ValueError(f"max_concurrent_calls must be a positive int or None, got {limit!r}")
    return limit


class ServerBase(Service):
    """A service that calls ``handler``'s methods for the messages it receives.

    Raises (at construction):
        TypeError: ``handler`` is not an :class:`AbstractHandler`, or an argument
            has the wrong type.
        ValueError: ``timeout``, ``max_message_size`` or ``max_concurrent_calls``
            is not positive.
    """

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
    ) -> None:
        if not isinstance(handler, AbstractHandler):
            raise TypeError(f"handler must implement AbstractHandler, got {handler!r}")
        super().__init__(
            bind=bind,
            connect=connect,
            translation_table=translation_table,
            max_message_size=max_message_size,
        )
        self._max_calls = _check_max_calls(max_concurrent_calls)
        self._handler = handler
        self._log_exceptions = bool(log_exceptions)
        self._exclude_log_exceptions = _check_exclude(exclude_log_exceptions)
        self._timeout = _check_timeout(timeout)
        self._drops = RateLimitedWarning(f"{type(self).__name__} dropped a message")
        self._refusals = RateLimitedWarning(f"{type(self).__name__} refused a value")
        self._running = 0

    @property
    def running_calls(self) -> int:
        """How many asynchronous handler calls are running now."""
        return self._running

    @property
    def dropped_messages(self) -> int:
        """How many malformed messages this server has dropped."""
        return self._drops.total

    def _drop(self, reason: str) -> None:
        self._drops.report(reason)

    def _call(self, name_frame: bytes, args_frame: bytes, kwargs_frame: bytes, reply: Any) -> None:
        """Run one call; ``reply`` is passed back to :meth:`_succeeded`/:meth:`_failed`."""
        args: Any = ()
        kwargs: Any = {}
        try:
            try:
                name = name_frame.decode("utf-8")
            except UnicodeDecodeError:
                raise NotFoundError(repr(name_frame)) from None
            target = lookup(self._handler, name)
            args, kwargs = self._decode_arguments(args_frame, kwargs_frame)
            call_args, call_kwargs = target.spec.bind(target.bound_self, args, kwargs)
        except Exception as exc:  # the caller hears of it; the server carries on
            self._failed(reply, name_frame.decode("utf-8", "replace"), exc, args, kwargs)
            return
        if target.spec.is_async:
            assert self._handlers is not None
            self._running += 1
            if self._running == self._max_calls:
                self._check_open().pause_reading()  # backpressure until one finishes
            self._handlers.start_soon(
                self._run_async, target, call_args, call_kwargs, name, args, kwargs, reply
            )
            return
        try:
            result = target.spec.check_result(target.func(*call_args, **call_kwargs))
        except Exception as exc:
            self._failed(reply, name, exc, args, kwargs)
        else:
            self._succeeded(reply, name, result)

    async def _run_async(
        self,
        target: Target,
        call_args: tuple[Any, ...],
        call_kwargs: dict[str, Any],
        name: str,
        args: Any,
        kwargs: Any,
        reply: Any,
    ) -> None:
        try:
            if self._timeout is None:
                result = await target.func(*call_args, **call_kwargs)
            else:
                with anyio.fail_after(self._timeout):
                    result = await target.func(*call_args, **call_kwargs)
            result = target.spec.check_result(result)
        except Exception as exc:
            self._failed(reply, name, exc, args, kwargs)
        else:
            self._succeeded(reply, name, result)
        finally:
            if self._running == self._max_calls and self._pump is not None:
                self._pump.resume_reading()
            self._running -= 1

    def _decode_arguments(
        self, args_frame: bytes, kwargs_frame: bytes
    ) -> tuple[tuple[Any, ...], dict[str, Any]]:
        try:
            args = self._codec.unpackb(args_frame)
            kwargs = self._codec.unpackb(kwargs_frame)
        except DecodeError as exc:
            self._refusals.report(f"undecodable arguments: {exc}")
            raise ParameterError(f"cannot decode the arguments: {exc}") from exc
        if not isinstance(args, tuple):
            raise ParameterError(f"positional arguments must be an array, got {bounded_repr(args)}")
        if not isinstance(kwargs, Mapping) or not all(isinstance(k, str) for k in kwargs):
            raise ParameterError(
                f"keyword arguments must be a str-keyed map, got {bounded_repr(kwargs)}"
            )
        return args, dict(kwargs)

    def _log_failure(self, name: str, exc: Exception, args: Any, kwargs: Any) -> None:
        """Log ``exc`` if ``log_exceptions`` asks for it and it is not excluded."""
        if not self._log_exceptions or isinstance(exc, self._exclude_log_exceptions):
            return
        logger.error(
            "An exception %r from method %r call occurred.\nargs = %s\nkwargs = %s",
            exc,
            name,
            _ARGUMENTS_REPR.repr(args),
            _ARGUMENTS_REPR.repr(kwargs),
            exc_info=exc,
        )

    # Hooks for the concrete servers.

    def _succeeded(self, reply: Any, name: str, result: Any) -> None:
        raise NotImplementedError

    def _failed(self, reply: Any, name: str, exc: Exception, args: Any, kwargs: Any) -> None:
        raise NotImplementedError
