"""The aiozmq 1.0 names that aiozmq's rpc tests use, on anyzmq (test code only).

Services run on the standard asyncio event loops: ``ZmqEventLoop`` is a plain
selector loop here. aiozmq's core transport API (``create_zmq_connection``) is
not part of ``aiozmq.rpc`` and is not offered.
"""

from __future__ import annotations

import asyncio
from typing import Any, NoReturn

from anyzmq.rpc import Transport

from . import rpc

__all__ = [
    "ZmqEventLoop",
    "ZmqEventLoopPolicy",
    "ZmqProtocol",
    "ZmqTransport",
    "create_zmq_connection",
    "rpc",
]

#: ``service.transport`` of a service.
ZmqTransport = Transport


class ZmqEventLoop(asyncio.SelectorEventLoop):
    """aiozmq's own event loop; anyzmq needs none, so a plain selector loop."""


class ZmqEventLoopPolicy(asyncio.DefaultEventLoopPolicy):
    """Makes :class:`ZmqEventLoop` loops."""

    def new_event_loop(self) -> asyncio.AbstractEventLoop:
        return ZmqEventLoop()


class ZmqProtocol(asyncio.BaseProtocol):
    """The base class of aiozmq's raw-socket protocols (only subclassed here)."""

    def msg_received(self, data: tuple[bytes, ...]) -> None:
        """Called with each received multipart message."""


async def create_zmq_connection(*args: Any, **kwargs: Any) -> NoReturn:
    """aiozmq's raw-socket API, outside ``aiozmq.rpc``: not offered.

    Raises:
        NotImplementedError: always.
    """
    raise NotImplementedError("aiozmq's core transport API is not part of the rpc adapter")
