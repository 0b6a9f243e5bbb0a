"""``rpc.current_call()``: what a handler can know about the call it is running."""

from __future__ import annotations

import math
from collections.abc import Callable
from contextvars import ContextVar
from typing import Final, NamedTuple

__all__ = ["CallInfo", "current_call", "enter"]


class CallInfo(NamedTuple):
    """The call a handler is running, from :func:`current_call`: its ``name`` (the
    dotted method name, as the caller sent it); its ``deadline``, on
    :func:`anyio.current_time`'s clock (the earlier of the caller's deadline, sent
    with the request by anyzmq clients, and the server's ``timeout``; ``math.inf``
    when there is none); and ``peer_key``, the caller's CURVE public key (Z85) on a
    CURVE server, else None."""

    name: str
    deadline: float = math.inf
    peer_key: bytes | None = None


_current: ContextVar[CallInfo] = ContextVar("anyzmq_current_call")


def current_call() -> CallInfo:
    """The call that the running handler serves.

    Callable from synchronous and asynchronous handlers (and what they call, in
    the same task or thread).

    Raises:
        LookupError: not called from within a handler.
    """
    try:
        return _current.get()
    except LookupError:
        raise LookupError("rpc.current_call() is only available inside a handler") from None


#: ``enter(info)`` makes ``info`` the current call of the running context (the
#: context variable's own ``set``: no Python call).
enter: Final[Callable[[CallInfo], object]] = _current.set
