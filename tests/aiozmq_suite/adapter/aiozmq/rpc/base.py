"""``aiozmq.rpc.base``: errors, handlers and the service wrapper.

A service is an anyzmq async context manager; :func:`open_service` enters it in a
task of its own on the running loop, so that it stays open between the awaits of
aiozmq-style code until :meth:`Service.close`.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Any, Generic, TypeVar

from anyzmq import rpc
from anyzmq.rpc import (
    AbstractHandler,
    AttrHandler,
    Error,
    GenericError,
    NotFoundError,
    ParametersError,
    ServiceClosedError,
    method,
)

from .log import logger

__all__ = [
    "AbstractHandler",
    "AttrHandler",
    "Error",
    "GenericError",
    "MethodCall",
    "NotFoundError",
    "ParametersError",
    "Service",
    "ServiceClosedError",
    "logger",
    "method",
    "open_service",
]

S = TypeVar("S", bound=rpc.Service)


class MethodCall:
    """``proxy.a.b(...)`` as aiozmq has it: the call starts when made and returns
    an :class:`asyncio.Task`; errors in the name or the topic raise at once."""

    __slots__ = ("_inner",)

    def __init__(self, inner: Any) -> None:
        self._inner = inner

    def __getattr__(self, name: str) -> MethodCall:
        return MethodCall(getattr(self._inner, name))

    def __call__(self, *args: Any, **kwargs: Any) -> asyncio.Task[Any]:
        return asyncio.ensure_future(self._inner(*args, **kwargs))


class Service(Generic[S]):
    """An open anyzmq service seen through aiozmq's ``Service`` API."""

    def __init__(self, service: S, host: asyncio.Task[None]) -> None:
        self._service = service
        self._host = host
        self._loop = host.get_loop()

    @property
    def transport(self) -> rpc.Transport:
        """The service's transport.

        Raises:
            ServiceClosedError: the service is closed.
        """
        return self._service.transport

    def close(self) -> None:
        """Start closing the service (also outside a running loop, as aiozmq allows)."""
        self._service.close()

    async def wait_closed(self) -> None:
        """Wait until the service is closed."""
        await asyncio.shield(self._host)


async def open_service(service: S, wrap: Callable[[S, asyncio.Task[None]], Any]) -> Any:
    """Enter ``service`` in a task of its own and return ``wrap(service, task)``.

    Raises:
        Exception: whatever entering the service raised.
    """
    loop = asyncio.get_running_loop()
    entered: asyncio.Future[None] = loop.create_future()

    async def host() -> None:
        try:
            async with service:
                entered.set_result(None)
                await service.wait_closed()
        except Exception as exc:
            if entered.done():
                raise
            entered.set_exception(exc)

    task = loop.create_task(host())
    await entered
    return wrap(service, task)
